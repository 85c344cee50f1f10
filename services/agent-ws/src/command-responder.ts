import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { AgentSubjects, BatchDeliveryRequest, CommandDeliveryRequest } from "@patchmon-ws/protocol";
import { serveJson, type Logger } from "@patchmon-ws/service-kit";
import type { AgentGateway, RoutesPort } from "./agent-gateway.js";

/**
 * The holder's side of command delivery over NATS. While this replica holds a host's agent it answers that
 * host's command subject, so a sender on any replica reaches it with one request (and gets "no responders" when
 * nobody holds the agent: it is offline). Broadcasts use one batch request per replica instead of one per host.
 */
export class CommandResponder implements RoutesPort {
  private readonly perHost = new Map<string, Subscription>();
  private batch: Subscription | undefined;
  private stopped = false;

  constructor(
    private readonly nc: NatsConnection,
    private readonly gateway: AgentGateway,
    private readonly replicaId: string,
    private readonly logger: Logger,
  ) {}

  /** Answers the replica's batch subject. */
  start(): void {
    this.batch = serveJson(this.nc, {
      subject: AgentSubjects.replicaDeliver(this.replicaId),
      request: BatchDeliveryRequest,
      logger: this.logger,
      handler: async (request) => {
        const options = { awaitAck: request.awaitAck, ackTimeoutMs: request.ackTimeoutMs };
        const results = await Promise.all(
          request.targets.map((t) => this.gateway.deliver(t.hostId, t.commandId, request.message, options)),
        );
        return { ok: true, results };
      },
    });
  }

  hold(hostId: string): void {
    if (this.stopped || this.perHost.has(hostId)) return;
    const subscription = serveJson(this.nc, {
      subject: AgentSubjects.command(hostId),
      request: CommandDeliveryRequest,
      logger: this.logger,
      handler: async (request) => ({
        ok: true,
        result: await this.gateway.deliver(hostId, request.commandId, request.message, {
          awaitAck: request.awaitAck,
          ackTimeoutMs: request.ackTimeoutMs,
        }),
      }),
    });
    this.perHost.set(hostId, subscription);
  }

  release(hostId: string): void {
    const subscription = this.perHost.get(hostId);
    if (!subscription) return;
    this.perHost.delete(hostId);
    subscription.unsubscribe();
  }

  get held(): number {
    return this.perHost.size;
  }

  /** Stops answering (drain): from now on senders see this replica's agents as offline and queue for them. */
  stop(): void {
    this.stopped = true;
    this.batch?.unsubscribe();
    for (const subscription of this.perHost.values()) subscription.unsubscribe();
    this.perHost.clear();
  }
}
