import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { AgentSubjects, CodedError, RelayOpenRequest, type AgentToServerMessage } from "@patchmon-ws/protocol";
import { serveJson, type Logger } from "@patchmon-ws/service-kit";
import type { AgentConnection } from "../connection/agent-connection.js";
import type { AgentGateway } from "../connection/agent-gateway.js";
import type { AgentWsMetrics } from "../metrics.js";
import { RelaySession, type RelayEndReason } from "./relay-session.js";

export interface TerminalRelaysOptions {
  replicaId: string;
  /** A session whose output waited for credit this long (the browser stopped reading) is ended. */
  stallMs: number;
  /** Relay sessions this replica holds at most. */
  maxSessions: number;
  logger: Logger;
  metrics: AgentWsMetrics;
}

/** How often stalled sessions are looked for. */
const STALL_CHECK_MS = 1000;

/**
 * agent-ws's side of terminal sessions through agents ("proxy" mode): answers `agents.v1.replica.<id>.relay` for
 * agents held here, and routes the agents' `ssh_proxy_*` frames to their sessions, only from the connection the
 * session was opened on (another agent cannot inject output into a session it does not own). Terminal output never
 * goes to a broadcast subject.
 */
export class TerminalRelays {
  private readonly sessions = new Map<string, RelaySession>();
  private subscription: Subscription | undefined;
  private readonly stallTimer: NodeJS.Timeout;

  constructor(
    private readonly nc: NatsConnection,
    private readonly gateway: Pick<AgentGateway, "get">,
    private readonly options: TerminalRelaysOptions,
  ) {
    this.stallTimer = setInterval(() => this.endStalled(), STALL_CHECK_MS);
    this.stallTimer.unref();
  }

  start(): void {
    this.subscription ??= serveJson(this.nc, {
      subject: AgentSubjects.replicaRelay(this.options.replicaId),
      request: RelayOpenRequest,
      logger: this.options.logger,
      handler: (request) => this.open(request),
    });
  }

  get size(): number {
    return this.sessions.size;
  }

  /** An `ssh_proxy_*` frame from an agent; true when a session of that connection took it. */
  fromAgent(connection: AgentConnection, message: AgentToServerMessage): boolean {
    const sessionId = (message as { session_id?: unknown }).session_id;
    const session = typeof sessionId === "string" ? this.sessions.get(sessionId) : undefined;
    if (!session || session.connection !== connection) return false;
    session.fromAgent(message);
    return true;
  }

  /** An agent's connection closed: its sessions end, and their browsers are told. */
  connectionClosed(connection: AgentConnection): void {
    for (const session of [...this.sessions.values()]) {
      if (session.connection === connection) session.agentGone(connection.endReason ?? "connection closed");
    }
  }

  /** Drain: every session ends (terminal-ws tells its browsers), then no more are opened. */
  stop(): void {
    this.subscription?.unsubscribe();
    this.subscription = undefined;
    clearInterval(this.stallTimer);
    for (const session of [...this.sessions.values()]) session.abort("shutdown", "The agent gateway holding the host's agent is restarting; reconnect.", "RELAY_LOST");
  }

  private async open(request: RelayOpenRequest & { outputWindow: number }) {
    const { logger, metrics } = this.options;
    const connection = this.gateway.get(request.hostId);
    if (!connection?.open) throw new CodedError("AGENT_OFFLINE", "The host's agent is not connected to this replica.");
    if (this.sessions.has(request.sessionId)) throw new CodedError("CONFLICT", "A relay session with this id is already open.");
    if (this.sessions.size >= this.options.maxSessions) {
      throw new CodedError("OVERLOADED", "This replica holds its maximum of relay sessions.", { retryAfter: 5 });
    }
    const session = new RelaySession(this.nc, {
      sessionId: request.sessionId,
      connection,
      terminalReplica: request.terminalReplica,
      outputWindow: request.outputWindow,
      logger,
      onEnded: (ended, reason) => this.ended(ended, reason),
    });
    this.sessions.set(request.sessionId, session);
    metrics.relaySessions.set(this.sessions.size);
    try {
      await session.open(request.ssh);
    } catch {
      session.abort("shutdown", "The host's agent disconnected.", "AGENT_OFFLINE");
      throw new CodedError("AGENT_OFFLINE", "The host's agent disconnected.");
    }
    logger.info(
      { sessionId: request.sessionId, hostId: request.hostId, connectionId: connection.connectionId, terminalReplica: request.terminalReplica, target: `${request.ssh.host}:${request.ssh.port}`, sshUser: request.ssh.username },
      "relay session opened",
    );
    return { ok: true, connectionId: connection.connectionId, inputWindow: session.inputWindow, agentVersion: connection.agentVersion };
  }

  private ended(session: RelaySession, reason: RelayEndReason): void {
    if (this.sessions.get(session.sessionId) === session) this.sessions.delete(session.sessionId);
    this.options.metrics.relaySessions.set(this.sessions.size);
    this.options.metrics.relayEnded.inc({ reason });
    this.options.logger.info(
      { sessionId: session.sessionId, hostId: session.connection.hostId, reason, inputChars: session.inputChars, outputChars: session.outputChars, ms: Date.now() - session.openedAt },
      "relay session ended",
    );
  }

  private endStalled(): void {
    const now = Date.now();
    for (const session of [...this.sessions.values()]) {
      if (session.pausedSince !== 0 && now - session.pausedSince > this.options.stallMs) {
        this.options.logger.warn({ sessionId: session.sessionId, hostId: session.connection.hostId, pausedMs: now - session.pausedSince }, "relay session stalled; ending it");
        session.abort("stalled", "The terminal did not keep up with the host's output for too long.", "RELAY_STALLED");
      }
    }
  }
}
