import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { Gauge, type Registry } from "prom-client";
import type { WebSocket } from "ws";
import { CloseCode, CodedError, type Principal } from "@patchmon-ws/protocol";
import type { Logger } from "../logger.js";
import type { OriginPolicy } from "../origin.js";
import type { ProxyTrust } from "../proxy-trust.js";
import type { Revocable, RevocationHub } from "../revocations.js";
import { ConnectionQuota } from "./connection-quota.js";
import { HeartbeatMonitor } from "./heartbeat.js";
import type { LiveSocket } from "./live-socket.js";
import { bindSocket, completeUpgrade, createSocketServer, type SocketEvents } from "./socket-server.js";

/** Longest a setTimeout may wait (about 24.8 days); a credential that lives longer is checked again by then. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Who was let in, as the service's `authenticate` decided. */
export interface UserSocketGrant {
  readonly principal: Principal;
  /**
   * When the credential behind the socket ends (ms since the epoch): the socket is closed with 1008 `expired` then.
   * Default: the principal's own `expiresAt`.
   */
  readonly expiresAt?: number;
}

/** A service's socket on the kit's lifecycle that a revocation can close. */
export type UserSocket = LiveSocket<string> & SocketEvents & Revocable;

/** Why the endpoint itself ended a socket (the service's socket adds its own reasons). */
export type UserSocketEndReason = "expired" | "shutdown";

export interface UserSocketEndpointOptions<G extends UserSocketGrant, S extends UserSocket> {
  /** What the endpoint holds, in the plural, for refusals, logs and the metric label: "live-event sockets". */
  what: string;
  /** Largest message a client may send (ws closes with 1009 beyond it). */
  maxPayload: number;
  /**
   * A browser endpoint's Origin allow-list, checked first (403 ORIGIN_FORBIDDEN); null for an endpoint whose clients
   * are not browsers (they send no Origin, and a cross-site page cannot attach their credentials).
   */
  origins: OriginPolicy | null;
  trust: ProxyTrust;
  revocations: Pick<RevocationHub, "track" | "untrack">;
  /** Most sockets this process holds: more → 503 OVERLOADED, so the edge's next try may land on another replica. */
  maxSockets: number;
  /** Most sockets one user holds on this replica: more → 429 RATE_LIMITED. Default: no per-user cap. */
  maxSocketsPerUser?: number;
  /** Server ping period; a peer silent for two periods is terminated. */
  pingIntervalMs: number;
  logger: Logger;
  /** Where the `websocket_connections{endpoint}` gauge is registered (the runtime's registry); default none. */
  registry?: Registry;
  /**
   * Who is connecting, before the upgrade: throw a CodedError to refuse (the runtime answers it with its status and
   * a JSON body, never a bare socket close). `sourceAddress` is the client's, through trusted proxies only.
   */
  authenticate(req: IncomingMessage, sourceAddress: string): Promise<G>;
  /** The service's socket for an accepted connection. The endpoint binds, tracks, limits and closes it. */
  open(ws: WebSocket, grant: G, sourceAddress: string): S;
  /** After the socket is bound and tracked: the place for a greeting. */
  opened?(socket: S, grant: G): void;
  /** Once, after the socket closed (either side), after the endpoint released it. */
  closed?(socket: S, code: number): void;
}

/**
 * A WebSocket endpoint for users, with what every such endpoint needs around the service's own logic: the Origin
 * check, authentication before the upgrade, per-process and per-user caps, the upgrade, the heartbeat, revocation
 * (the socket closes the moment auth announces it), the end of the credential's lifetime, a live-connections gauge,
 * and the drain close (1012, so clients reconnect to another replica). The service supplies who may connect and what
 * a socket does; `handleUpgrade` is the runtime's upgrade handler (or one branch of it).
 */
export class UserSocketEndpoint<G extends UserSocketGrant, S extends UserSocket> {
  private readonly wss;
  private readonly sockets = new Set<S>();
  private readonly quota: ConnectionQuota<"user">;
  private readonly heartbeats: HeartbeatMonitor<S>;
  private readonly gauge: Gauge<"endpoint"> | undefined;

  constructor(private readonly options: UserSocketEndpointOptions<G, S>) {
    this.wss = createSocketServer({ maxPayload: options.maxPayload });
    this.quota = new ConnectionQuota<"user">({
      what: options.what,
      total: options.maxSockets,
      ...(options.maxSocketsPerUser === undefined ? {} : { per: { user: options.maxSocketsPerUser } }),
    });
    this.heartbeats = new HeartbeatMonitor(() => this.sockets, (socket) => socket.kill("heartbeat_timeout"));
    this.heartbeats.start(options.pingIntervalMs);
    if (options.registry) {
      const name = "websocket_connections";
      const existing = options.registry.getSingleMetric(name) as Gauge<"endpoint"> | undefined;
      this.gauge =
        existing ??
        new Gauge({ name, help: "Live WebSocket connections, by endpoint", labelNames: ["endpoint"], registers: [options.registry] });
      this.gauge.set({ endpoint: options.what }, 0);
    }
  }

  /** Live sockets on this replica. */
  get size(): number {
    return this.sockets.size;
  }

  /** Every live socket, for a service that broadcasts. */
  values(): IterableIterator<S> {
    return this.sockets.values();
  }

  readonly handleUpgrade = async (req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> => {
    const { origins, trust, logger } = this.options;
    const sourceAddress = trust.clientAddress(req);
    if (origins && !origins.isAllowed(req)) {
      logger.warn({ endpoint: this.options.what, client: sourceAddress, origin: req.headers.origin?.slice(0, 200) }, "upgrade refused: origin");
      throw new CodedError("ORIGIN_FORBIDDEN");
    }
    const grant = await this.options.authenticate(req, sourceAddress);
    const keys = { user: grant.principal.userId };
    this.quota.acquire(keys);
    const ws = await completeUpgrade(this.wss, req, socket, head);
    if (!ws) {
      this.quota.release(keys);
      return;
    }
    this.attach(ws, grant, sourceAddress);
  };

  /** Closes every socket with a close frame (drain: 1012, clients reconnect elsewhere). */
  closeAll(code: number = CloseCode.SERVICE_RESTART, text = "service restarting"): void {
    for (const socket of this.sockets) socket.end(code, "shutdown", text);
  }

  /** Stops the heartbeat and closes every socket; for the service's drain hook. */
  close(): void {
    this.heartbeats.stop();
    this.closeAll();
    this.wss.close();
  }

  private attach(ws: WebSocket, grant: G, sourceAddress: string): void {
    const { revocations, logger } = this.options;
    const live = this.options.open(ws, grant, sourceAddress);
    const { userId, sessionId, username } = grant.principal;
    const keys = { userId, sessionId };
    this.sockets.add(live);
    revocations.track(keys, live);
    const expiresAt = grant.expiresAt ?? grant.principal.expiresAt;
    const expiry = setTimeout(
      () => live.end(CloseCode.POLICY_VIOLATION, "expired", "authentication expired; reconnect"),
      Math.min(Math.max(expiresAt - Date.now(), 0), MAX_TIMER_MS),
    );
    expiry.unref();
    // One closure per user socket is affordable (agent-ws, with tens of thousands, binds without one).
    ws.once("close", (code: number) => {
      clearTimeout(expiry);
      this.sockets.delete(live);
      this.quota.release({ user: userId });
      revocations.untrack(keys, live);
      this.gauge?.dec({ endpoint: this.options.what });
      logger.info({ endpoint: this.options.what, user: username, client: sourceAddress, code, reason: live.endReason ?? "client_closed" }, "socket closed");
      this.options.closed?.(live, code);
    });
    bindSocket(ws, live);
    this.gauge?.inc({ endpoint: this.options.what });
    logger.info({ endpoint: this.options.what, user: username, client: sourceAddress }, "socket opened");
    this.options.opened?.(live, grant);
  }
}
