import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import type { WebSocket } from "ws";
import { BULLBOARD_EVENTS_PATH, CLIENT_MAX_PAYLOAD, CloseCode, CodedError } from "@patchmon-ws/protocol";
import {
  bindSocket,
  completeUpgrade,
  ConnectionQuota,
  createSocketServer,
  HeartbeatMonitor,
  type Logger,
  type OriginPolicy,
  type PrincipalVerifier,
  type ProxyTrust,
  type RevocationHub,
} from "@patchmon-ws/service-kit";
import type { AccessGuard, DashboardSession } from "./access-guard.js";
import { boardModeFor } from "./board-mode.js";
import { messages } from "./event-messages.js";
import { EventSocket } from "./event-socket.js";
import type { QueueEventHub } from "./queue-event-hub.js";

export const EVENTS_PATH = BULLBOARD_EVENTS_PATH;

/** Longest a setTimeout may wait (about 24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface EventGatewayOptions {
  guard: AccessGuard;
  verifier: PrincipalVerifier;
  origins: OriginPolicy;
  trust: ProxyTrust;
  hub: QueueEventHub;
  revocations: Pick<RevocationHub, "track" | "untrack">;
  maxSockets: number;
  maxSocketsPerUser: number;
  maxQueuedEvents: number;
  highWaterBytes: number;
  pingIntervalMs: number;
  logger: Logger;
  onDropped?: (count: number) => void;
}

/**
 * The live-event WebSocket: `/bullboard/events`. Checks Origin, then the dashboard cookie, then the socket caps
 * (all before the upgrade, answering with a JSON status), then hands the socket to the hub. Follows the user
 * afterwards: the socket closes when the token expires (1008), when the session or user is revoked (4001, by the
 * revocation hub the moment the event arrives), when the user's access to the board changes (4001, so the client
 * reconnects with its new rights), and on shutdown (1012).
 */
export class EventGateway {
  private readonly wss = createSocketServer({ maxPayload: CLIENT_MAX_PAYLOAD });
  private readonly sockets = new Set<EventSocket>();
  private readonly quota: ConnectionQuota<"user">;
  private readonly heartbeats: HeartbeatMonitor<EventSocket>;

  constructor(private readonly options: EventGatewayOptions) {
    this.quota = new ConnectionQuota({ what: "live-event sockets", total: options.maxSockets, per: { user: options.maxSocketsPerUser } });
    this.heartbeats = new HeartbeatMonitor(() => this.sockets, (socket) => socket.kill("heartbeat_timeout"));
    this.heartbeats.start(options.pingIntervalMs);
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
    const keys = { user: session.principal.userId };
    this.quota.acquire(keys);
    const ws = await completeUpgrade(this.wss, req, socket, head);
    if (!ws) {
      this.quota.release(keys);
      return;
    }
    this.attach(ws, session, sourceAddress, req.headers.origin);
  }

  /** Closes every socket (drain): clients reconnect to another replica. */
  closeAll(code: number = CloseCode.SERVICE_RESTART, text = "service restarting"): void {
    for (const socket of this.sockets) socket.close(code, "shutdown", text);
  }

  close(): void {
    this.heartbeats.stop();
    this.closeAll();
    this.wss.close();
  }

  private attach(ws: WebSocket, session: DashboardSession, sourceAddress: string, origin: string | undefined): void {
    const { hub, logger, revocations } = this.options;
    const socket = new EventSocket(ws, session.principal, session.mode, session.token, sourceAddress, {
      maxQueuedEvents: this.options.maxQueuedEvents,
      highWaterBytes: this.options.highWaterBytes,
      onSubscriptionChange: (s) => hub.snapshot(s),
      onUserChanged: (s) => void this.recheck(s),
      onClosed: (_s, code) => {
        clearTimeout(expiry);
        this.sockets.delete(socket);
        this.quota.release({ user: userId });
        revocations.untrack(revocationKeys, socket);
        hub.unsubscribe(socket);
        logger.info({ user: username, client: sourceAddress, code, reason: socket.endReason ?? "client_closed" }, "event socket closed");
      },
      ...(this.options.onDropped ? { onDropped: this.options.onDropped } : {}),
    });
    const { userId, sessionId, username } = session.principal;
    const revocationKeys = { userId, sessionId };
    this.sockets.add(socket);
    revocations.track(revocationKeys, socket);
    const expiry = setTimeout(
      () => socket.close(CloseCode.POLICY_VIOLATION, "expired", "authentication expired; reopen the dashboard"),
      Math.min(Math.max(session.principal.expiresAt - Date.now(), 0), MAX_TIMER_MS),
    );
    expiry.unref();
    bindSocket(ws, socket);
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
        socket.close(CloseCode.CREDENTIALS_REVOKED, "user_changed", mode ? "permissions changed; reconnect" : "queue access withdrawn");
      }
    } catch (err) {
      const unavailable = err instanceof CodedError && err.status === 503;
      socket.close(
        unavailable ? CloseCode.TRY_AGAIN_LATER : CloseCode.CREDENTIALS_REVOKED,
        "revoked",
        unavailable ? "cannot re-verify credentials; reconnect later" : "credentials revoked",
      );
    }
  }
}
