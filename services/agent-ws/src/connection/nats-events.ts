import type { NatsConnection } from "@nats-io/transport-node";
import {
  AgentSubjects,
  type AgentConnectionEvent,
  type AgentMessageEnvelope,
  type AgentToServerMessage,
  type PresenceRecord,
} from "@patchmon-ws/protocol";
import { encodeJson, type Logger } from "@patchmon-ws/service-kit";
import type { AgentConnection } from "./agent-connection.js";
import type { EventsPort } from "./agent-gateway.js";
import type { AgentWsMetrics } from "../metrics.js";

/**
 * Publishes what happens to agents on NATS: connection events (AgentSubjects.connected / .disconnected) and every
 * validated agent message (AgentSubjects.fromAgent, per host and type) for any consumer — terminal-ws for the
 * SSH relay, alerting, the UI. Core NATS, at most once: consumers that need state read the presence bucket.
 */
export class NatsEvents implements EventsPort {
  constructor(
    private readonly nc: NatsConnection,
    private readonly replicaId: string,
    private readonly metrics: AgentWsMetrics,
    private readonly logger: Logger,
  ) {}

  connected(record: PresenceRecord): void {
    this.publish(AgentSubjects.connected(record.hostId), { kind: "connected", hostId: record.hostId, record, at: Date.now() } satisfies AgentConnectionEvent);
  }

  disconnected(record: PresenceRecord): void {
    this.publish(AgentSubjects.disconnected(record.hostId), { kind: "disconnected", hostId: record.hostId, record, at: Date.now() } satisfies AgentConnectionEvent);
  }

  agentMessage(connection: AgentConnection, message: AgentToServerMessage): void {
    const envelope: AgentMessageEnvelope = {
      hostId: connection.hostId,
      apiId: connection.apiId,
      replica: this.replicaId,
      connectionId: connection.connectionId,
      receivedAt: Date.now(),
      message,
    };
    if (this.publish(AgentSubjects.fromAgent(connection.hostId, message.type), envelope)) this.metrics.published.inc({ type: message.type });
  }

  private publish(subject: string, body: object): boolean {
    try {
      this.nc.publish(subject, encodeJson(body));
      return true;
    } catch (err) {
      this.logger.warn({ subject, err: (err as Error)?.message }, "could not publish on NATS");
      return false;
    }
  }
}
