import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { AgentSubjects, BatchDeliveryRequest, CommandDeliveryRequest } from "@patchmon-ws/protocol";
import { serveJson, type Logger } from "@patchmon-ws/service-kit";
import type { AgentGateway } from "../connection/agent-gateway.js";

/**
 * The holder's side of command delivery over NATS: two subscriptions per replica, none per agent (a
 * subscription costs about 1 KiB of heap and a SUB/UNSUB round trip; presence already says who holds what).
 * - the replica's command subject (one command for one host it holds; `not_held` when it does not);
 * - the replica's batch subject (one message for many hosts, broadcasts).
 */
export class CommandResponder {
  private subscriptions: Subscription[] = [];

  constructor(
    private readonly nc: NatsConnection,
    private readonly gateway: AgentGateway,
    private readonly replicaId: string,
    private readonly logger: Logger,
  ) {}

  start(): void {
    const { gateway, logger } = this;
    this.subscriptions = [
      serveJson(this.nc, {
        subject: AgentSubjects.replicaCommand(this.replicaId),
        request: CommandDeliveryRequest,
        logger,
        handler: async (request) => ({ ok: true, result: await gateway.deliver(request.hostId, request.commandId, request.message, request) }),
      }),
      serveJson(this.nc, {
        subject: AgentSubjects.replicaDeliver(this.replicaId),
        request: BatchDeliveryRequest,
        logger,
        handler: async (request) => {
          const results = await Promise.all(request.targets.map((t) => gateway.deliver(t.hostId, t.commandId, request.message, request)));
          return { ok: true, results };
        },
      }),
    ];
  }

  /** Stops answering (drain): from now on senders see this replica's agents as offline and queue for them. */
  stop(): void {
    for (const subscription of this.subscriptions) subscription.unsubscribe();
    this.subscriptions = [];
  }
}
