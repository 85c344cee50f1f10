import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import { AgentSubjects, BatchDeliveryRequest, CodedError, CommandDeliveryRequest, isIdentifier } from "@patchmon-ws/protocol";
import { encodeJson, serveJson, type Logger } from "@patchmon-ws/service-kit";
import type { AgentGateway } from "../connection/agent-gateway.js";

/**
 * The holder's side of command delivery over NATS: three subscriptions per replica, none per agent (a
 * subscription costs about 1 KiB of heap and a SUB/UNSUB round trip; presence already says who holds what).
 * - the replica's command subject (one command for one host it holds; `not_held` when it does not);
 * - the replica's batch subject (one message for many hosts, broadcasts);
 * - the legacy per-host subject, for senders of older releases, answered only for agents held here.
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
        handler: async (request) => {
          if (!request.hostId) throw new CodedError("VALIDATION_FAILED", "hostId: required on the replica's command subject");
          return { ok: true, result: await gateway.deliver(request.hostId, request.commandId, request.message, request) };
        },
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
      this.nc.subscribe(AgentSubjects.commandAll, { callback: (err, msg) => (err ? undefined : this.legacyCommand(msg)) }),
    ];
  }

  /** Stops answering (drain): from now on senders see this replica's agents as offline and queue for them. */
  stop(): void {
    for (const subscription of this.subscriptions) subscription.unsubscribe();
    this.subscriptions = [];
  }

  /** A request of an older sender on `agents.v1.cmd.<hostId>`: answered only when the agent is held here. */
  private legacyCommand(msg: Msg): void {
    const hostId = msg.subject.slice(msg.subject.lastIndexOf(".") + 1);
    if (!msg.reply || !isIdentifier(hostId) || !this.gateway.get(hostId)) return;
    let request: CommandDeliveryRequest;
    try {
      const parsed = CommandDeliveryRequest.safeParse(msg.json());
      if (!parsed.success) return;
      request = parsed.data;
    } catch {
      return;
    }
    this.gateway.deliver(hostId, request.commandId, request.message, request).then(
      (result) => msg.respond(encodeJson({ ok: true, result })),
      (err: unknown) => this.logger.warn({ hostId, err: (err as Error)?.message }, "legacy command delivery failed"),
    );
  }
}
