import { NoRespondersError, RequestError, TimeoutError, type NatsConnection } from "@nats-io/transport-node";
import {
  AgentSubjects,
  BatchDeliveryReply,
  CodedError,
  CommandDeliveryReply,
  type BatchDeliveryRequest,
  type CommandDeliveryRequest,
  type DeliveryResult,
  type ServerToAgentMessage,
} from "@patchmon-ws/protocol";
import { requestJson, toCodedError, type Logger } from "@patchmon-ws/service-kit";
import type { AgentGateway, DeliveryOptions } from "../connection/agent-gateway.js";
import { mapLimit } from "./concurrency.js";
import { planDelivery, type SendOutcome, type Target } from "./delivery-plan.js";

export interface CommandRouterOptions {
  replicaId: string;
  /** Extra time a sender waits beyond the ack timeout for the holder's answer. */
  requestMarginMs?: number;
  helloGraceMs: number;
  /** Per-host requests in flight during a multi-host send. */
  concurrency?: number;
  /**
   * The holder once presence settles (PresenceClient.locate): asked when the mirror names none, since a host whose
   * record just changed may be reconnecting (null: offline).
   */
  locateAgent?: (hostId: string) => Promise<string | null>;
  logger: Logger;
}

function isNoResponders(err: unknown): boolean {
  if (err instanceof NoRespondersError) return true;
  if (err instanceof RequestError && err.isNoResponders()) return true;
  const cause = (err as { cause?: unknown })?.cause;
  return cause !== undefined && cause !== err && isNoResponders(cause);
}

function isTimeout(err: unknown): boolean {
  if (err instanceof TimeoutError) return true;
  const cause = (err as { cause?: unknown })?.cause;
  return cause !== undefined && cause !== err && isTimeout(cause);
}

/**
 * The sender's side of command delivery: the caller names hosts, never replicas. A host held here is served
 * in-process; otherwise presence (the KV bucket every replica mirrors) names the replica holding it and one NATS
 * request on that replica's command subject reaches it. No record, an offline record, or a holder that is gone
 * ("no responders") means the agent is offline. A holder that no longer holds the host (the agent moved a moment
 * ago) answers not_held, and the sender asks the replica presence names then, once. Multi-host sends batch by
 * replica.
 */
export class CommandRouter {
  private readonly margin: number;
  private readonly concurrency: number;

  constructor(
    private readonly nc: NatsConnection,
    private readonly gateway: AgentGateway,
    private readonly ownerOf: (hostId: string) => string | null,
    private readonly options: CommandRouterOptions,
  ) {
    this.margin = options.requestMarginMs ?? 3000;
    this.concurrency = options.concurrency ?? 256;
  }

  /** Delivers one command; throws CodedError when the holder cannot be reached or refuses it. */
  async send(target: Target, message: ServerToAgentMessage, options: DeliveryOptions): Promise<SendOutcome> {
    if (this.gateway.get(target.hostId)) {
      const local = await this.gateway.deliver(target.hostId, target.commandId, message, options);
      if (local.status !== "not_held") return local as SendOutcome;
    }
    let asked: string | undefined;
    for (let attempt = 0; attempt < 2; attempt++) {
      const owner = this.ownerOf(target.hostId) ?? (attempt === 0 ? ((await this.options.locateAgent?.(target.hostId)) ?? null) : null);
      // No holder, the one just asked, or us (presence still names us for a connection that just ended here).
      if (!owner || owner === asked || owner === this.options.replicaId) break;
      asked = owner;
      const result = await this.ask(owner, target, message, options);
      if (result.status !== "not_held") return result as SendOutcome;
    }
    return { ...target, status: "offline" };
  }

  /** One request to the replica presence names as the holder; a replica that is gone answers as not_held. */
  private async ask(replica: string, target: Target, message: ServerToAgentMessage, options: DeliveryOptions): Promise<DeliveryResult> {
    const request: CommandDeliveryRequest = { hostId: target.hostId, commandId: target.commandId, message, ...options };
    const result = await this.request(AgentSubjects.replicaCommand(replica), request, options);
    return result === "no_responders" ? { ...target, status: "not_held", replica } : result;
  }

  /** One request/reply with the holder; "no_responders" when nobody serves the subject. */
  private async request(subject: string, request: CommandDeliveryRequest, options: DeliveryOptions): Promise<DeliveryResult | "no_responders"> {
    let reply: CommandDeliveryReply;
    try {
      const msg = await this.nc.request(subject, JSON.stringify(request), { timeout: this.timeout(options) });
      const parsed = CommandDeliveryReply.safeParse(msg.json());
      if (!parsed.success) throw new CodedError("INTERNAL", "unexpected reply from the replica holding the agent");
      reply = parsed.data;
    } catch (err) {
      if (isNoResponders(err)) return "no_responders";
      if (err instanceof CodedError) throw err;
      if (isTimeout(err)) {
        throw new CodedError("DEPENDENCY_UNAVAILABLE", "The replica holding the agent did not answer in time.", { retryAfter: 2, cause: err });
      }
      throw new CodedError("DEPENDENCY_UNAVAILABLE", "NATS is unavailable.", { retryAfter: 2, cause: err });
    }
    if (!reply.ok) throw CodedError.fromBody(reply);
    return reply.result;
  }

  /** Delivers one message to many hosts (each with its own command id); per-host failures are outcomes, not throws. */
  async sendMany(targets: readonly Target[], message: ServerToAgentMessage, options: DeliveryOptions): Promise<SendOutcome[]> {
    const outcomes = new Map<string, SendOutcome>();
    const plan = planDelivery(targets, (hostId) => this.gateway.get(hostId) !== undefined, this.ownerOf, this.options.replicaId);
    // Hosts to ask one by one on their own subject (keyed by host so none is asked twice).
    const retry = new Map<string, Target>(plan.direct.map((t) => [t.hostId, t]));

    const local = Promise.all(
      plan.local.map(async (t) => {
        const result = await this.gateway.deliver(t.hostId, t.commandId, message, options).catch((err: unknown) => this.failed(t, err));
        if (result.status === "not_held") retry.set(t.hostId, t);
        else outcomes.set(t.hostId, result as SendOutcome);
      }),
    );
    const batches = Promise.all(
      plan.batches.map(async (batch) => {
        const request: BatchDeliveryRequest = { message, targets: batch.targets, ...options };
        try {
          const reply = await requestJson(this.nc, AgentSubjects.replicaDeliver(batch.replica), request, BatchDeliveryReply, this.timeout(options));
          if (!reply.ok) throw CodedError.fromBody(reply);
          for (const result of reply.results) {
            if (result.status !== "not_held") outcomes.set(result.hostId, result as SendOutcome);
          }
          for (const t of batch.targets) if (!outcomes.has(t.hostId)) retry.set(t.hostId, t);
        } catch (err) {
          if ((err as CodedError)?.code === "PAYLOAD_TOO_LARGE") {
            for (const t of batch.targets) outcomes.set(t.hostId, this.failed(t, err));
            return;
          }
          this.options.logger.warn({ replica: batch.replica, targets: batch.targets.length, err: (err as Error)?.message }, "batch delivery failed; asking hosts one by one");
          for (const t of batch.targets) retry.set(t.hostId, t);
        }
      }),
    );
    await Promise.all([local, batches]);

    await mapLimit([...retry.values()], this.concurrency, async (t) => {
      outcomes.set(t.hostId, await this.send(t, message, options).catch((err: unknown) => this.failed(t, err)));
    });
    return targets.map((t) => outcomes.get(t.hostId) ?? this.failed(t, new CodedError("INTERNAL")));
  }

  private timeout(options: DeliveryOptions): number {
    return (options.awaitAck ? options.ackTimeoutMs + this.options.helloGraceMs : 0) + this.margin;
  }

  private failed(target: Target, err: unknown): SendOutcome {
    const error = toCodedError(err);
    return { ...target, status: "failed", code: error.code, error: error.message };
  }
}
