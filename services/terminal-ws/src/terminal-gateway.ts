import { randomBytes } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import {
  CodedError,
  hasPermission,
  TERMINAL_CLIENT_MAX_PAYLOAD,
  type HostRecord,
  type Principal,
} from "@patchmon-ws/protocol";
import {
  bindSocket,
  completeUpgrade,
  createSocketServer,
  HeartbeatMonitor,
  toCodedError,
  type AuthClient,
  type ConnectionQuota,
  type Logger,
  type OriginPolicy,
  type ProxyTrust,
  type RevocationHub,
} from "@patchmon-ws/service-kit";
import type { AuditTrail } from "./audit/audit-trail.js";
import type { TerminalWsMetrics } from "./metrics.js";
import { parseTerminalRoute, TICKET_SHAPE } from "./terminal-route.js";
import { TerminalSession, type TerminalSessionDeps } from "./terminal-session.js";
import { TerminalSocket, type TerminalSocketOptions } from "./terminal-socket.js";

export interface TerminalGatewayOptions {
  versions: readonly string[];
  auth: Pick<AuthClient, "consumeTicket" | "getHost">;
  trust: ProxyTrust;
  origins: OriginPolicy;
  audit: Pick<AuditTrail, "record" | "recordSoon">;
  /** Terminal sockets per process (503 OVERLOADED beyond). */
  quota: ConnectionQuota<never>;
  revocations: Pick<RevocationHub, "track" | "untrack">;
  session: Omit<TerminalSessionDeps, "onEnded" | "onLog">;
  socket: TerminalSocketOptions;
  pingIntervalMs: number;
  logger: Logger;
  metrics: TerminalWsMetrics;
}

/** What is known about an upgrade so far, for the audit entry of its refusal. */
interface Attempt {
  sourceAddress: string;
  hostId: string | null;
  host: HostRecord | null;
  principal: Principal | null;
}

/** Session ids double as the agent's session_id: 128 random bits, URL- and subject-safe. */
export function newSessionId(): string {
  return randomBytes(16).toString("base64url");
}

/**
 * The terminal endpoint `/api/{v}/ssh-terminal/:hostId?ticket=…`. Before the upgrade, in this order: path and version
 * (404), Origin (403), ticket (401 missing, invalid, spent or expired; 403 for another host), permission
 * `can_use_ssh_terminal` (403), host (404), process cap (503), and the audit entry of the granted access (503 if it
 * cannot be stored). Every refusal is audited too, with user, host, source address and reason; the ticket never
 * appears in a log. Afterwards each socket carries one TerminalSession, tracked for revocation and drained on
 * shutdown.
 */
export class TerminalGateway {
  private readonly wss = createSocketServer({ maxPayload: TERMINAL_CLIENT_MAX_PAYLOAD });
  private readonly sessions = new Map<TerminalSocket, TerminalSession>();
  private readonly heartbeats: HeartbeatMonitor<TerminalSocket>;

  constructor(private readonly options: TerminalGatewayOptions) {
    this.heartbeats = new HeartbeatMonitor(() => this.sessions.keys(), (socket) => socket.kill("heartbeat_timeout"));
    this.heartbeats.start(options.pingIntervalMs);
  }

  get size(): number {
    return this.sessions.size;
  }

  /** Live sessions (tests, metrics). */
  values(): IterableIterator<TerminalSession> {
    return this.sessions.values();
  }

  readonly handleUpgrade = async (req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> => {
    const { trust, metrics } = this.options;
    const attempt: Attempt = { sourceAddress: trust.clientAddress(req), hostId: null, host: null, principal: null };
    let granted: { principal: Principal; host: HostRecord };
    try {
      granted = await this.authorize(req, attempt);
    } catch (err) {
      const error = toCodedError(err);
      metrics.upgrades.inc({ result: error.code });
      this.deny(attempt, error, req);
      throw error;
    }
    const { principal, host } = granted;
    const ws = await completeUpgrade(this.wss, req, socket, head);
    if (!ws) {
      this.options.quota.release({});
      metrics.upgrades.inc({ result: "client_gone" });
      return;
    }
    metrics.upgrades.inc({ result: "accepted" });
    const sessionId = newSessionId();
    const revocationKeys = { userId: principal.userId, sessionId: principal.sessionId, hostId: host.id };
    const terminal = new TerminalSocket(ws, this.options.socket, (closed) => this.socketClosed(closed));
    const session = new TerminalSession(sessionId, principal, host, attempt.sourceAddress, terminal, {
      ...this.options.session,
      onLog: (level, fields, message) => this.options.logger[level](fields, message),
      onEnded: (ended) => {
        metrics.sessionsEnded.inc({ outcome: ended.outcome ?? "unknown", mode: ended.connectionMode ?? "none" });
        metrics.bytes.inc({ direction: "in" }, ended.bytesIn);
        metrics.bytes.inc({ direction: "out" }, ended.bytesOut);
        this.options.revocations.untrack(revocationKeys, ended);
      },
    });
    terminal.attach(session);
    this.sessions.set(terminal, session);
    metrics.sockets.set(this.sessions.size);
    this.options.revocations.track(revocationKeys, session);
    bindSocket(ws, terminal);
  };

  /** Ends every session (1012: the browser may reconnect to another replica) and waits, bounded, for the sockets. */
  async drain(timeoutMs: number): Promise<void> {
    this.heartbeats.stop();
    for (const session of this.sessions.values()) session.shutdown();
    const deadline = Date.now() + timeoutMs;
    while (this.sessions.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const socket of [...this.sessions.keys()]) socket.kill("socket_error");
    this.wss.close();
  }

  private async authorize(req: IncomingMessage, attempt: Attempt): Promise<{ principal: Principal; host: HostRecord }> {
    const { auth, origins, audit, quota } = this.options;
    const route = parseTerminalRoute(req.url, this.options.versions);
    attempt.hostId = route.hostId;
    if (!origins.isAllowed(req)) throw new CodedError("ORIGIN_FORBIDDEN");
    if (!route.ticket) throw new CodedError("CREDENTIALS_MISSING", "Open the terminal with a one-time ticket (?ticket=…).");
    if (!TICKET_SHAPE.test(route.ticket)) throw new CodedError("TICKET_INVALID");
    const { principal } = await auth.consumeTicket({ ticket: route.ticket, purpose: "ssh-terminal", target: route.hostId, sourceAddress: attempt.sourceAddress });
    attempt.principal = principal;
    if (!hasPermission(principal, "can_use_ssh_terminal")) throw new CodedError("FORBIDDEN", "This needs the can_use_ssh_terminal permission.");
    const host = await auth.getHost(route.hostId);
    attempt.host = host;
    quota.acquire({});
    try {
      await audit.record({
        kind: "access_granted",
        sessionId: null,
        userId: principal.userId,
        username: principal.username,
        hostId: host.id,
        hostName: host.name,
        sourceAddress: attempt.sourceAddress,
        reason: "ticket",
      });
    } catch (err) {
      quota.release({});
      throw err;
    }
    return { principal, host };
  }

  private deny(attempt: Attempt, error: CodedError, req: IncomingMessage): void {
    const { principal, host } = attempt;
    this.options.audit.recordSoon({
      kind: "access_denied",
      sessionId: null,
      userId: principal?.userId ?? null,
      username: principal?.username ?? null,
      hostId: host?.id ?? attempt.hostId,
      hostName: host?.name ?? null,
      sourceAddress: attempt.sourceAddress,
      reason: error.code,
    });
    const fields = { client: attempt.sourceAddress, hostId: attempt.hostId, user: principal?.username, code: error.code };
    if (error.code === "ORIGIN_FORBIDDEN") this.options.logger.warn({ ...fields, origin: req.headers.origin?.slice(0, 200) }, "terminal refused: origin");
    else if (error.status >= 500) this.options.logger.warn(fields, "terminal refused: dependency unavailable");
    else this.options.logger.info(fields, "terminal refused");
  }

  private socketClosed(socket: TerminalSocket): void {
    if (!this.sessions.delete(socket)) return;
    this.options.quota.release({});
    this.options.metrics.sockets.set(this.sessions.size);
  }
}
