import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocketServer, type WebSocket } from "ws";
import { CloseCode, CodedError, type RevocationEvent } from "@patchmon-ws/protocol";
import type { Logger, OriginPolicy, ProxyTrust } from "@patchmon-ws/service-kit";
import type { AccessGuard, DashboardSession } from "./access-guard.js";
import { boardModeFor } from "./board-mode.js";
import { CLIENT_MAX_PAYLOAD, messages } from "./event-messages.js";
import { EventSocket } from "./event-socket.js";
import type { QueueEventHub } from "./queue-event-hub.js";
import type { SessionVerifier } from "./session-verifier.js";

export const EVENTS_PATH = "/bullboard/events";

/** Longest a setTimeout may wait (about 24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface EventGatewayOptions {
  guard: AccessGuard;
  verifier: SessionVerifier;
  origins: OriginPolicy;
  trust: ProxyTrust;
  hub: QueueEventHub;
  maxSockets: number;
  maxSocketsPerUser: number;
  maxQueuedEvents: number;
  highWaterBytes: number;
  pingIntervalMs: number;
  logger: Logger;
  onDropped?: (count: number) => void;
}

/**
 * The live-event WebSocket: `/bullboard/events`. Checks Origin, then the dashboard cookie (both before the
 * upgrade, answering with a JSON status), then hands the socket to the hub. Follows the user afterwards: the
 * socket closes when the token expires (1008), when the session or user is revoked (4001), when the user's
 * permissions change (4001, so the client reconnects with its new rights), and on shutdown (1012).
 */
export class EventGateway {
  private readonly wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    maxPayload: CLIENT_MAX_PAYLOAD,
    clientTracking: false,
  });
  private readonly sockets = new Set<EventSocket>();
  private readonly byUser = new Map<string, Set<EventSocket>>();
  private readonly bySession = new Map<string, Set<EventSocket>>();
  private readonly heartbeat: NodeJS.Timeout;

  constructor(private readonly options: EventGatewayOptions) {
    this.heartbeat = setInterval(() => {
      for (const socket of this.sockets) socket.heartbeat();
    }, options.pingIntervalMs);
    this.heartbeat.unref();
  }

  static handles(pathname: string): boolean {
    return pathname === EVENTS_PATH || pathname === `${EVENTS_PATH}/`;
  }

  get size(): number {
    return this.sockets.size;
  }

  async handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const { guard, origins, trust, logger } = this.options;
    const sourceAddress = trust.clientAddress(req);
    const origin = origins.isAllowed(req) ? "allowed" : "forbidden";
    let session: DashboardSession;
    try {
      session = await guard.authorizeUpgrade(origin, req.headers.cookie, sourceAddress);
    } catch (err) {
      if (err instanceof CodedError && err.code === "ORIGIN_FORBIDDEN") {
        logger.warn({ client: sourceAddress, origin: req.headers.origin?.slice(0, 200) }, "event socket refused: origin");
      }
      throw err;
    }
    if (this.sockets.size >= this.options.maxSockets) {
      throw new CodedError("RATE_LIMITED", "This replica holds its maximum of live-event sockets.", { retryAfter: 5 });
    }
    if ((this.byUser.get(session.principal.userId)?.size ?? 0) >= this.options.maxSocketsPerUser) {
      throw new CodedError("RATE_LIMITED", "Too many live-event sockets for this user; close some tabs.", { retryAfter: 5 });
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.attach(ws, session, sourceAddress, req.headers.origin));
  }

  /** Applies a revocation event to the sockets it concerns (the verifier has already forgotten the verdicts). */
  revoke(event: RevocationEvent): void {
    if (event.kind === "host") return;
    const affected = [...((event.kind === "user" ? this.byUser : this.bySession).get(event.id) ?? [])];
    for (const socket of affected) {
      if (event.kind === "user" && event.reason === "user_changed") void this.recheck(socket);
      else socket.close(CloseCode.CREDENTIALS_REVOKED, `credentials revoked (${event.reason})`);
    }
  }

  /** Closes every socket (drain): clients reconnect to another replica. */
  closeAll(code: number = CloseCode.SERVICE_RESTART, reason = "service restarting"): void {
    for (const socket of this.sockets) socket.close(code, reason);
  }

  close(): void {
    clearInterval(this.heartbeat);
    this.closeAll();
    this.wss.close();
  }

  private attach(ws: WebSocket, session: DashboardSession, sourceAddress: string, origin: string | undefined): void {
    const { hub, logger } = this.options;
    const socket = new EventSocket(ws, session.principal, session.mode, session.token, sourceAddress, {
      maxQueuedEvents: this.options.maxQueuedEvents,
      highWaterBytes: this.options.highWaterBytes,
      onSubscriptionChange: (s) => hub.snapshot(s),
      ...(this.options.onDropped ? { onDropped: this.options.onDropped } : {}),
    });
    const { userId, sessionId, username } = session.principal;
    this.sockets.add(socket);
    index(this.byUser, userId, socket);
    index(this.bySession, sessionId, socket);
    const expiry = setTimeout(
      () => socket.close(CloseCode.POLICY_VIOLATION, "authentication expired; reopen the dashboard"),
      Math.min(Math.max(session.principal.expiresAt - Date.now(), 0), MAX_TIMER_MS),
    );
    expiry.unref();
    ws.once("close", (code: number) => {
      clearTimeout(expiry);
      this.sockets.delete(socket);
      unindex(this.byUser, userId, socket);
      unindex(this.bySession, sessionId, socket);
      hub.unsubscribe(socket);
      logger.info({ user: username, client: sourceAddress, code }, "event socket closed");
    });
    logger.info({ user: username, mode: session.mode, client: sourceAddress, origin }, "event socket opened");
    socket.deliver(messages.hello({ username, mode: session.mode }, hub.queues(), this.options.pingIntervalMs));
    hub.subscribe(socket);
    hub.snapshot(socket);
  }

  /** Re-authorises a socket after its user changed; closes it when access was withdrawn or the mode changed. */
  private async recheck(socket: EventSocket): Promise<void> {
    try {
      const principal = await this.options.verifier.verify(socket.token, socket.sourceAddress);
      const mode = boardModeFor(principal);
      if (mode !== socket.mode) {
        socket.close(CloseCode.CREDENTIALS_REVOKED, mode ? "permissions changed; reconnect" : "queue access withdrawn");
      }
    } catch (err) {
      const unavailable = err instanceof CodedError && err.status === 503;
      socket.close(
        unavailable ? CloseCode.TRY_AGAIN_LATER : CloseCode.CREDENTIALS_REVOKED,
        unavailable ? "cannot re-verify credentials; reconnect later" : "credentials revoked",
      );
    }
  }
}

function index(map: Map<string, Set<EventSocket>>, key: string, socket: EventSocket): void {
  let set = map.get(key);
  if (!set) map.set(key, (set = new Set()));
  set.add(socket);
}

function unindex(map: Map<string, Set<EventSocket>>, key: string, socket: EventSocket): void {
  const set = map.get(key);
  if (!set) return;
  set.delete(socket);
  if (set.size === 0) map.delete(key);
}
