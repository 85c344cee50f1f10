import {
  CloseCode,
  ObservedCloseCode,
  type AgentToServerMessage,
  type DeliveryResult,
  type DisconnectReason,
  type PresenceRecord,
  type ServerToAgentMessage,
} from "@patchmon-ws/protocol";
import { HeartbeatMonitor, type Logger, type RevocationHub } from "@patchmon-ws/service-kit";
import { AgentConnection, type AgentSocket, type ConnectionEvents } from "./agent-connection.js";
import { encodeCommandFrame, GREETING_FRAME } from "../commands/command-frame.js";
import { classifyInboundFrame } from "./inbound-frame.js";
import type { AgentWsMetrics } from "../metrics.js";
import {
  describesConnection,
  isNewerConnection,
  mayWriteConnect,
  type ConnectWrite,
  type ConnectionFacts,
  type DisconnectFacts,
  type DisconnectWrite,
} from "../presence/presence-record.js";
import { AgentRegistry } from "./registry.js";

/**
 * The first presence write of a connection waits this long for the agent's hello, so agents that announce
 * themselves (they do so at once) cost one KV write, not two; stock agents appear this much later.
 */
export const PRESENCE_HELLO_WAIT_MS = 250;
/** Hello waits end at most this much late: they are checked together, on one timer. */
const HELLO_WAIT_TICK_MS = 20;

/** Reasons logged at warn level: the peer or its network misbehaved. */
const ABNORMAL_REASONS: ReadonlySet<DisconnectReason> = new Set([
  "heartbeat_timeout",
  "policy_violation",
  "ping_flood",
  "message_too_big",
  "socket_error",
  "connection_lost",
]);

/** Why a connection the server did not end ended, from the close code the peer (or its absence) gave. */
function reasonOfPeerClose(code: number): DisconnectReason {
  if (code === CloseCode.MESSAGE_TOO_BIG) return "message_too_big";
  if (code === ObservedCloseCode.ABNORMAL_CLOSURE) return "connection_lost";
  return "agent_closed";
}

/** Where the gateway records presence (PresenceWriter in production). */
export interface PresencePort {
  connect(facts: ConnectionFacts): Promise<ConnectWrite>;
  hello(facts: ConnectionFacts): Promise<void>;
  disconnect(facts: ConnectionFacts, disconnect: DisconnectFacts): Promise<DisconnectWrite>;
  /** The end of a connection that was never recorded (it ended within the hello wait). */
  ended(facts: ConnectionFacts, disconnect: DisconnectFacts): Promise<DisconnectWrite>;
  busy(hostId: string): boolean;
}

/** Where the gateway announces things (NATS in production). */
export interface EventsPort {
  connected(record: PresenceRecord): void;
  disconnected(record: PresenceRecord): void;
  agentMessage(connection: AgentConnection, message: AgentToServerMessage): void;
}

export interface GatewayOptions {
  replicaId: string;
  /** Invalid frames tolerated per window before 1008. */
  garbageLimit: number;
  garbageWindowMs: number;
  /** A command to a connection younger than this waits for the agent's hello. */
  helloGraceMs: number;
  logger: Logger;
  metrics: AgentWsMetrics;
  presence: PresencePort;
  events: EventsPort;
  /** Live agents are registered by host, so a rotated key or a deleted host closes them the moment auth says so. */
  revocations: Pick<RevocationHub, "track" | "untrack">;
  /** Terminal relay sessions ("proxy" mode): the agents' ssh_proxy_* frames go there, never to a broadcast subject. */
  relay?: {
    fromAgent(connection: AgentConnection, message: AgentToServerMessage): boolean;
    connectionClosed(connection: AgentConnection): void;
  };
  /**
   * An agent connected here and presence records it (so a worker on any replica can route to it): queued commands
   * for it can go now.
   */
  onAgentOnline?: (hostId: string) => void;
}

export interface DeliveryOptions {
  awaitAck: boolean;
  ackTimeoutMs: number;
}

export interface AcceptedHost {
  id: string;
  apiId: string;
}

/**
 * The agents held by this replica and everything that happens to them: accept (replacing an older connection of
 * the same host), frames in (validated, acks, hello, published), commands out (size-checked, acked end to end),
 * heartbeats, revocation, drain. Socket-free: the WebSocket adapter feeds it events, so unit tests drive it with
 * fake sockets.
 */
export class AgentGateway implements ConnectionEvents {
  readonly registry = new AgentRegistry<AgentConnection>();
  private readonly logger: Logger;
  private readonly metrics: AgentWsMetrics;
  private readonly heartbeats: HeartbeatMonitor<AgentConnection>;
  /**
   * Connections not yet recorded, in accept order, which is also the order their hello waits end in: one timer
   * for all of them instead of one per connection. A connection recorded early (its hello came) is skipped.
   */
  private awaitingHello: AgentConnection[] = [];
  private awaitingHead = 0;
  private helloWaitTimer: NodeJS.Timeout | undefined;
  /**
   * Presence writes to start in the next check phase, together: the KV writes of every connection that connected
   * or closed in one turn of the event loop leave in one NATS write (a drain closes thousands at once).
   */
  private presenceBatch: (() => void)[] = [];

  constructor(private readonly options: GatewayOptions) {
    this.logger = options.logger;
    this.metrics = options.metrics;
    this.heartbeats = new HeartbeatMonitor(() => this.registry.values(), (connection) => {
      this.logger.warn({ hostId: connection.hostId, connectionId: connection.connectionId }, "agent missed two heartbeats; terminating");
      connection.kill("heartbeat_timeout");
    });
  }

  get size(): number {
    return this.registry.size;
  }

  get(hostId: string): AgentConnection | undefined {
    return this.registry.get(hostId);
  }

  /** Takes over an upgraded socket of an authenticated host. */
  accept(socket: AgentSocket, host: AcceptedHost, transport: { secure: boolean; remoteAddress: string }): AgentConnection {
    const connection = new AgentConnection(
      socket,
      {
        hostId: host.id,
        apiId: host.apiId,
        replica: this.options.replicaId,
        secure: transport.secure,
        remoteAddress: transport.remoteAddress,
      },
      this,
    );
    const replaced = this.registry.add(connection);
    this.options.revocations.track({ hostId: host.id }, connection);
    this.metrics.connections.set(this.registry.size);
    if (replaced) {
      this.logger.info({ hostId: host.id, connectionId: replaced.connectionId }, "agent connection replaced by a newer one");
      replaced.end(CloseCode.REPLACED, "replaced", "replaced by a newer connection");
    }
    // Debug: a fleet reconnecting after a restart would write thousands of these; presence and metrics hold the
    // same facts. Disconnects (with their reason) and refused upgrades stay at info.
    this.logger.debug(
      { hostId: host.id, connectionId: connection.connectionId, protocol: transport.secure ? "wss" : "ws", remoteAddress: transport.remoteAddress, total: this.registry.size },
      "agent connected",
    );
    socket.send(GREETING_FRAME, () => {});
    this.metrics.messagesOut.inc({ type: "connected" });
    this.awaitingHello.push(connection);
    this.helloWaitTimer ??= this.armHelloWait(connection);
    return connection;
  }

  /** A data frame from the agent. Frames of a connection being closed are not parsed, routed or logged. */
  frame(connection: AgentConnection, data: Buffer | string, isBinary: boolean): void {
    connection.life();
    if (!connection.open) return;
    const frame = classifyInboundFrame(data, isBinary);
    if (!frame.ok) {
      this.metrics.invalidFrames.inc({ reason: frame.reason });
      const tooMany = connection.recordGarbage({ limit: this.options.garbageLimit, windowMs: this.options.garbageWindowMs });
      connection.warn(
        this.logger,
        { hostId: connection.hostId, connectionId: connection.connectionId, reason: frame.reason, type: frame.type, detail: frame.detail, closing: tooMany },
        "invalid frame from agent",
      );
      if (tooMany) connection.end(CloseCode.POLICY_VIOLATION, "policy_violation", "too many invalid messages");
      return;
    }
    const message = frame.message;
    this.metrics.messagesIn.inc({ type: message.type });
    switch (message.type) {
      case "ack":
        if (!connection.ack(message.id, message.ok ?? true, message.error)) {
          this.logger.debug({ hostId: connection.hostId, commandId: message.id }, "ack for a command nobody waits for");
        }
        return;
      case "hello":
        connection.hello(message.agent_version, message.capabilities);
        this.logger.debug({ hostId: connection.hostId, agentVersion: message.agent_version, capabilities: connection.capabilities }, "agent hello");
        // A hello before the first presence write rides along with it; a later one needs its own write.
        if (!connection.presenceRecorded) this.recordSoon(connection);
        else if (this.registry.isCurrent(connection)) void this.options.presence.hello(connection.facts()).catch(() => {});
        return;
      case "ssh_proxy_connected":
      case "ssh_proxy_data":
      case "ssh_proxy_error":
      case "ssh_proxy_closed":
        if (!this.options.relay?.fromAgent(connection, message)) {
          this.logger.debug({ hostId: connection.hostId, type: message.type, sessionId: message.session_id }, "ssh proxy frame for no session of this connection");
        }
        return;
      default:
        this.options.events.agentMessage(connection, message);
    }
  }

  /** The socket reported an error (ws closes it right after): remember why. */
  error(connection: AgentConnection, err: Error & { code?: string }): void {
    if (err.code === "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH") {
      this.metrics.invalidFrames.inc({ reason: "oversized" });
      connection.endReason ??= "message_too_big";
    } else if (typeof err.code === "string" && err.code.startsWith("WS_ERR_")) {
      this.metrics.invalidFrames.inc({ reason: "protocol" });
      connection.endReason ??= "policy_violation";
    } else {
      connection.endReason ??= "socket_error";
    }
    connection.warn(this.logger, { hostId: connection.hostId, connectionId: connection.connectionId, err: err.message, code: err.code }, "agent socket error");
  }

  /** The socket closed (any side, any reason). */
  closed(connection: AgentConnection, code: number): void {
    this.registry.remove(connection);
    this.options.revocations.untrack({ hostId: connection.hostId }, connection);
    connection.released();
    this.options.relay?.connectionClosed(connection);
    this.metrics.connections.set(this.registry.size);
    const reason: DisconnectReason = connection.endReason ?? reasonOfPeerClose(code);
    this.metrics.disconnects.inc({ reason });
    const abnormal = ABNORMAL_REASONS.has(reason);
    // A drain closes every agent at once; it logs them in one line at info (drain()).
    this.logger[abnormal ? "warn" : reason === "service_restart" ? "debug" : "info"](
      { hostId: connection.hostId, connectionId: connection.connectionId, code, reason, total: this.registry.size },
      "agent disconnected",
    );
    const disconnect = { code, reason, replica: this.options.replicaId };
    if (!connection.presenceRecorded) {
      this.presenceSoon(() => void this.options.presence.ended(connection.facts(), disconnect).catch(() => {}));
      return;
    }
    this.presenceSoon(
      () =>
        void this.options.presence
          .disconnect(connection.facts(), disconnect)
          .then((written) => {
            if (written) this.options.events.disconnected(written.record);
          })
          .catch(() => {}),
    );
  }

  /** Pings every agent every `intervalMs`; those silent for two intervals are terminated. */
  startHeartbeats(intervalMs: number): void {
    this.heartbeats.start(intervalMs);
  }

  /** One heartbeat interval (the timer calls it; tests call it directly). */
  tickHeartbeats(): void {
    this.heartbeats.tick();
  }

  /** Writes a command to the agent of `hostId` if this replica holds it, and waits for its ack when it acks. */
  async deliver(hostId: string, commandId: string, message: ServerToAgentMessage, options: DeliveryOptions): Promise<DeliveryResult> {
    const notHeld: DeliveryResult = { hostId, commandId, status: "not_held", replica: this.options.replicaId };
    let connection = this.registry.get(hostId);
    if (!connection?.open) return notHeld;
    const frame = encodeCommandFrame(message, commandId);
    if (options.awaitAck) {
      await connection.helloSettled(this.options.helloGraceMs);
      connection = this.registry.get(hostId);
      if (!connection?.open) return notHeld;
    }
    const ack = options.awaitAck && connection.acksCommands ? connection.waitForAck(commandId, options.ackTimeoutMs) : undefined;
    try {
      await connection.write(frame);
    } catch {
      return notHeld;
    }
    this.metrics.messagesOut.inc({ type: message.type });
    const base = { hostId, commandId, replica: this.options.replicaId, connectionId: connection.connectionId };
    if (!ack) return { ...base, status: "delivered" };
    const outcome = await ack;
    if (outcome.kind === "acked") {
      return outcome.ok ? { ...base, status: "acked" } : { ...base, status: "rejected", error: outcome.error ?? "the agent could not handle the command" };
    }
    return { ...base, status: "delivered", ackTimedOut: true };
  }

  /** Another replica recorded a connection of a host we hold: the older one of the two goes (same rule everywhere). */
  remoteConnected(record: PresenceRecord): void {
    if (record.replica === this.options.replicaId) return;
    const local = this.registry.get(record.hostId);
    if (!local || local.connectionId === record.connectionId) return;
    if (isNewerConnection(record, local)) {
      this.logger.info({ hostId: record.hostId, connectionId: local.connectionId, by: record.replica }, "agent reconnected through another replica; closing this connection");
      local.end(CloseCode.REPLACED, "replaced", "replaced by a newer connection");
    }
  }

  /**
   * Re-records live connections whose presence record is missing or stale (e.g. after NATS was unreachable
   * longer than the replica TTL and peers marked our agents offline). Returns how many were rewritten.
   */
  reconcile(current: (hostId: string) => PresenceRecord | null): number {
    let rewritten = 0;
    for (const connection of this.registry.values()) {
      // A connection still in its hello wait records itself; reconciling it too would write it twice.
      if (!connection.open || !connection.presenceRecorded || this.options.presence.busy(connection.hostId)) continue;
      const record = current(connection.hostId);
      if (describesConnection(record, connection.connectionId)) continue;
      if (!mayWriteConnect(record, connection)) continue;
      rewritten++;
      void this.recordConnect(connection);
    }
    return rewritten;
  }

  /** Tells every agent to reconnect elsewhere (1012) and waits, bounded, for the sockets to close. */
  async drain(timeoutMs: number): Promise<void> {
    const connections = [...this.registry.values()];
    this.heartbeats.stop();
    clearTimeout(this.helloWaitTimer);
    this.helloWaitTimer = undefined;
    this.awaitingHello = [];
    this.awaitingHead = 0;
    for (const connection of connections) connection.end(CloseCode.SERVICE_RESTART, "service_restart", "service restarting; reconnect");
    const deadline = Date.now() + timeoutMs;
    while (this.registry.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const unanswered = [...this.registry.values()];
    for (const connection of unanswered) connection.kill("service_restart");
    this.logger.info({ closed: connections.length, terminated: unanswered.length, reason: "service_restart" }, "agents told to reconnect elsewhere");
  }

  /** The first presence write of a connection whose hello came: in the next check phase, with the others. */
  private recordSoon(connection: AgentConnection): void {
    this.presenceSoon(() => this.recordFirst(connection));
  }

  private presenceSoon(write: () => void): void {
    if (this.presenceBatch.length === 0) setImmediate(() => this.writePresenceBatch());
    this.presenceBatch.push(write);
  }

  private writePresenceBatch(): void {
    const batch = this.presenceBatch;
    this.presenceBatch = [];
    for (const write of batch) write();
  }

  private armHelloWait(head: AgentConnection): NodeJS.Timeout {
    // At least HELLO_WAIT_TICK_MS apart, so that a stream of connections costs a timer every few ms, not every one.
    const timer = setTimeout(() => this.helloWaitsEnded(), Math.max(HELLO_WAIT_TICK_MS, head.since + PRESENCE_HELLO_WAIT_MS - Date.now()));
    timer.unref();
    return timer;
  }

  /** Records every connection whose hello wait is over (one write instead of two: agents that say hello do so at once). */
  private helloWaitsEnded(): void {
    this.helloWaitTimer = undefined;
    const due = Date.now() - PRESENCE_HELLO_WAIT_MS;
    const queue = this.awaitingHello;
    let head = this.awaitingHead;
    while (head < queue.length && queue[head]!.since <= due) this.recordFirst(queue[head++]!);
    if (head === queue.length) {
      this.awaitingHello = [];
      head = 0;
    } else if (head > 1024 && head * 2 > queue.length) {
      this.awaitingHello = queue.slice(head);
      head = 0;
    }
    this.awaitingHead = head;
    const next = this.awaitingHello[head];
    if (next) this.helloWaitTimer = this.armHelloWait(next);
  }

  private recordFirst(connection: AgentConnection): void {
    // Recorded already (its hello came first), or ended or replaced meanwhile: never recorded here (its successor,
    // if any, records itself).
    if (connection.presenceRecorded || connection.isReleased || connection.endReason !== null || !this.registry.isCurrent(connection)) return;
    void this.recordConnect(connection);
  }

  private async recordConnect(connection: AgentConnection): Promise<void> {
    connection.presenceRecorded = true;
    try {
      const result = await this.options.presence.connect(connection.facts());
      if (result.written) {
        this.options.events.connected(result.record);
        this.options.onAgentOnline?.(connection.hostId);
      } else if (this.registry.isCurrent(connection)) {
        this.logger.info({ hostId: connection.hostId, connectionId: connection.connectionId }, "a newer connection of this agent is recorded elsewhere; closing");
        connection.end(CloseCode.REPLACED, "replaced", "replaced by a newer connection");
      }
    } catch (err) {
      this.logger.warn({ hostId: connection.hostId, err: (err as Error)?.message }, "could not record agent connection");
    }
  }
}
