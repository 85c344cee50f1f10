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
import type { AgentGateway, DeliveryOptions } from "./agent-gateway.js";
import { mapLimit } from "./concurrency.js";
import { planDelivery, type SendOutcome, type Target } from "./delivery-plan.js";

export interface CommandRouterOptions {
  replicaId: string;
  /** Extra time a sender waits beyond the ack timeout for the holder's answer. */
  requestMarginMs?: number;
  helloGraceMs: number;
  /** Per-host requests in flight during a multi-host send. */
  concurrency?: number;
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
 * in-process; otherwise one NATS request on the host's subject reaches the replica holding it ("no responders"
 * means nobody does: offline). Multi-host sends batch by the replica presence names, falling back to the host
 * subject wherever presence was stale.
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
    const request: CommandDeliveryRequest = { commandId: target.commandId, message, ...options };
    let reply: CommandDeliveryReply;
    try {
      reply = await this.nc.request(AgentSubjects.command(target.hostId), JSON.stringify(request), { timeout: this.timeout(options) }).then((msg) => {
        const parsed = CommandDeliveryReply.safeParse(msg.json());
        if (!parsed.success) throw new CodedError("INTERNAL", "unexpected reply from the replica holding the agent");
        return parsed.data;
      });
    } catch (err) {
      if (isNoResponders(err)) return { ...target, status: "offline" };
      if (err instanceof CodedError) throw err;
      if (isTimeout(err)) {
        throw new CodedError("DEPENDENCY_UNAVAILABLE", "The replica holding the agent did not answer in time.", { retryAfter: 2, cause: err });
      }
      throw new CodedError("DEPENDENCY_UNAVAILABLE", "NATS is unavailable.", { retryAfter: 2, cause: err });
    }
    if (!reply.ok) throw CodedError.fromBody(reply);
    if (reply.result.status === "not_held") return { ...target, status: "offline" };
    return reply.result as SendOutcome;
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
