import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import type { Duplex } from "node:stream";
import { createProxyServer } from "http-proxy-3";
import { CodedError } from "@patchmon-ws/protocol";
import { redactUrl, rejectUpgrade, sendError, toCodedError, type Logger, type ProxyTrust } from "@patchmon-ws/service-kit";
import { forwardedRequestHeaders, isWebSocketRequest } from "./forwarded-headers.js";
import { processRequestTarget } from "./request-path.js";
import { canonicalHost, type Router } from "./router.js";
import type { RouteDefinition } from "./routes.js";
import { connectToLiveUpstream, PreconnectedAgent, type UpstreamConnection } from "./upstream-connector.js";
import type { UpstreamPool } from "./upstream-pool.js";
import type { UpstreamRegistry } from "./upstream-registry.js";

export interface EdgeProxyOptions {
  readonly router: Router;
  readonly upstreams: UpstreamRegistry;
  readonly trust: ProxyTrust;
  /** X-Forwarded-Server. */
  readonly serverName: string;
  readonly logger: Logger;
  /** Sent as Retry-After with 503 (the health-check period, so a retry sees a fresh verdict). */
  readonly retryAfterSeconds: number;
  readonly connectTimeoutMs: number;
}

/** Errors that say the replica (not the client) is in trouble. */
const NETWORK_ERRORS = new Set(["ECONNRESET", "EPIPE", "ECONNREFUSED", "ECONNABORTED", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH"]);

interface Target {
  readonly route: RouteDefinition<string>;
  readonly pool: UpstreamPool;
  readonly forwardUrl: string;
}

const elapsed = (since: number) => Math.round((performance.now() - since) * 10) / 10;

/**
 * Forwards one request or WebSocket upgrade: route it, rewrite its headers as Traefik, connect to a live replica
 * (failing over before anything is sent), then hand it to http-proxy-3. Every failure of its own is a JSON
 * `{error, code}` answer; an upstream's own answer (a 401 upgrade rejection included) passes through unchanged.
 */
export class EdgeProxy {
  private readonly proxy = createProxyServer({ xfwd: false, prependPath: false });
  /** Client sockets of WebSocket tunnels (cut on shutdown). */
  readonly tunnels = new Set<Duplex>();
  /** Sockets to replicas, open or in use. */
  readonly upstreamSockets = new Set<Socket>();
  /** Per upgrade request, the status the upstream answered with (101 or a refusal); unset until it answers. */
  private readonly upgradeAnswers = new WeakMap<IncomingMessage, number>();

  constructor(private readonly options: EdgeProxyOptions) {
    // Errors without a per-call callback (a client socket failing inside a tunnel) just end that connection.
    this.proxy.on("error", (err, _req, res) => {
      options.logger.debug({ err: (err as Error).message }, "proxy error");
      if (res && "destroy" in res) res.destroy();
    });
    // An upstream dying mid-response cuts the client's response too, instead of leaving it hanging.
    this.proxy.on("proxyRes", (proxyRes, _req, res) => {
      // Hop-by-hop: the upstream connection is one-shot (Connection: close), the client's is not. Traefik (Go's
      // ReverseProxy) never forwards these; passing them on closed every client connection after one response.
      delete proxyRes.headers.connection;
      delete proxyRes.headers["keep-alive"];
      proxyRes.once("close", () => {
        if (!proxyRes.complete) res.destroy();
      });
    });
    this.proxy.on("proxyReqWs", (proxyReq, req) => {
      proxyReq.once("response", (proxyRes) => this.upgradeAnswers.set(req, proxyRes.statusCode ?? 0));
      proxyReq.once("upgrade", () => this.upgradeAnswers.set(req, 101));
    });
  }

  readonly handleRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const started = performance.now();
    const entry: Record<string, unknown> = { requestId: randomUUID(), method: req.method, url: redactUrl(req.url), client: req.socket.remoteAddress };
    res.once("close", () => this.options.logger.info({ ...entry, status: res.statusCode, ms: elapsed(started) }, "http"));

    let target: Target;
    try {
      target = this.resolve(req, entry);
    } catch (err) {
      return sendError(res, toCodedError(err));
    }
    this.connect(target).then(
      (connection) => {
        entry.upstream = connection.upstream.url.origin;
        if (res.destroyed) return connection.socket.destroy();
        this.proxy.web(req, res, { target: connection.upstream.url, agent: new PreconnectedAgent(connection.socket) }, (err) => {
          const failure = this.upstreamFailed(target, connection, err as NodeJS.ErrnoException);
          if (res.headersSent) res.destroy();
          else sendError(res, failure);
        });
      },
      (err: unknown) => sendError(res, toCodedError(err)),
    );
  };

  readonly handleUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on("error", () => socket.destroy());
    const started = performance.now();
    const entry: Record<string, unknown> = { requestId: randomUUID(), method: req.method, url: redactUrl(req.url), client: req.socket.remoteAddress, upgrade: true };
    const refuse = (error: CodedError) => {
      this.options.logger.info({ ...entry, status: error.status, code: error.code, ms: elapsed(started) }, "upgrade");
      rejectUpgrade(socket, error);
    };

    if (req.method !== "GET" || !isWebSocketRequest(req.headers)) {
      return refuse(new CodedError("BAD_REQUEST", "Only WebSocket upgrades (GET with Upgrade: websocket) are proxied."));
    }
    let target: Target;
    try {
      target = this.resolve(req, entry);
    } catch (err) {
      return refuse(toCodedError(err));
    }
    this.connect(target).then(
      (connection) => {
        entry.upstream = connection.upstream.url.origin;
        if (socket.destroyed) return connection.socket.destroy();
        let failure: CodedError | undefined;
        this.tunnels.add(socket);
        socket.once("close", () => {
          this.tunnels.delete(socket);
          // One line per upgrade, at its end: 101 and the tunnel's lifetime, or the refusal relayed or sent.
          const status = this.upgradeAnswers.get(req) ?? failure?.status;
          this.options.logger.info({ ...entry, status, code: failure?.code, ms: elapsed(started) }, "upgrade");
        });
        this.proxy.ws(req, socket, head, { target: connection.upstream.url, agent: new PreconnectedAgent(connection.socket) }, (err) => {
          if (this.upgradeAnswers.has(req)) return; // a tunnel or a relayed answer broke off: the socket just closes
          failure = this.upstreamFailed(target, connection, err as NodeJS.ErrnoException);
          rejectUpgrade(socket, failure);
        });
      },
      (err: unknown) => refuse(toCodedError(err)),
    );
  };

  /** Routes the request and rewrites it for the upstream (headers as Traefik, sanitised URL); throws a CodedError. */
  private resolve(req: IncomingMessage, entry: Record<string, unknown>): Target {
    const processed = processRequestTarget(req.url ?? "");
    const route = this.options.router.match({ path: processed.routingPath, host: canonicalHost(req.headers.host) });
    if (!route) throw new CodedError("NOT_FOUND");
    entry.route = route.name;
    entry.backend = route.service;
    const pool = this.options.upstreams.get(route.service);
    // As Traefik with a service that has no servers (no container running): nothing is served there.
    if (pool.size === 0) throw new CodedError("NOT_FOUND", `No upstream is configured for service ${route.service}.`);

    req.headers = forwardedRequestHeaders(req.headers, {
      remoteAddress: req.socket.remoteAddress,
      encrypted: (req.socket as TLSSocket).encrypted === true,
      trusted: this.options.trust.isTrusted(req.socket.remoteAddress),
      hostname: this.options.serverName,
    });
    req.url = processed.forwardUrl;
    return { route, pool, forwardUrl: processed.forwardUrl };
  }

  private async connect(target: Target): Promise<UpstreamConnection> {
    const connection = await connectToLiveUpstream(target.pool, this.options.connectTimeoutMs, (upstream, error, changed) => {
      if (changed) this.logDown(target.pool, upstream.url, error.code ?? error.message);
    });
    if (!connection) {
      throw new CodedError("DEPENDENCY_UNAVAILABLE", `No live upstream for service ${target.route.service}; try again later.`, {
        retryAfter: this.options.retryAfterSeconds,
      });
    }
    this.upstreamSockets.add(connection.socket);
    connection.socket.once("close", () => this.upstreamSockets.delete(connection.socket));
    return connection;
  }

  /** The upstream failed after it had the request: 502, and a network failure makes the replica suspect. */
  private upstreamFailed(target: Target, connection: UpstreamConnection, err: NodeJS.ErrnoException): CodedError {
    const reason = err.code ?? err.message;
    if (NETWORK_ERRORS.has(err.code ?? "") && target.pool.markDown(connection.upstream, reason)) {
      this.logDown(target.pool, connection.upstream.url, reason);
    }
    return new CodedError("NO_UPSTREAM", `The upstream for service ${target.route.service} failed before answering.`);
  }

  private logDown(pool: UpstreamPool, url: URL, reason: string): void {
    this.options.logger.warn({ backend: pool.service, upstream: url.origin, reason, live: pool.liveCount }, "upstream down");
  }
}
