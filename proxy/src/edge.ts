import { createServer as createHttpServer, type IncomingMessage, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { Socket } from "node:net";
import { hostname } from "node:os";
import { resolve } from "node:path";
import type { Duplex } from "node:stream";
import { createLogger, ProxyTrust, type Logger } from "@patchmon-ws/service-kit";
import { loadOrCreateSelfSigned, loadTlsMaterial, type TlsMaterial } from "./certificate.js";
import { EdgeProxy } from "./edge-proxy.js";
import { HealthChecker } from "./health-checker.js";
import { redirectRequest, redirectUpgrade } from "./https-redirect.js";
import { Router } from "./router.js";
import { ROUTES, type RouteDefinition } from "./routes.js";
import { UpstreamRegistry } from "./upstream-registry.js";

/** Idle keep-alive connections from clients are kept this long, as Traefik's default idleTimeout. */
export const EDGE_IDLE_TIMEOUT_MS = 180_000;

/** Documented defaults (README configuration table). */
export const EDGE_DEFAULTS = {
  host: "127.0.0.1",
  stateDir: ".state/edge",
  healthCheckIntervalMs: 2000,
  /** A health probe fails after min(this, max(interval, 1 s)) (5 s is Traefik's default health-check timeout). */
  healthCheckTimeoutMs: 5000,
  healthCheckPath: "/healthz",
  /** Connecting to a replica that takes longer than this counts as a failure; the next replica is tried. */
  connectTimeoutMs: 5000,
  /** How long close() lets in-flight HTTP responses finish before cutting them. */
  shutdownTimeoutMs: 10_000,
} as const;

export interface EdgeOptions {
  /** Interface to listen on. Default 127.0.0.1. */
  host?: string;
  /** HTTPS port; 0 picks a free one. */
  port: number;
  /** Replica URLs (http://host:port) per service name of the route table. */
  upstreams: Partial<Record<string, readonly string[]>>;
  /** Certificate and key, each PEM text or a path to a PEM file. Default: a self-signed one kept in stateDir. */
  tls?: { cert: string; key: string };
  /** Where the self-signed certificate is kept (relative to the working directory). Default .state/edge. */
  stateDir?: string;
  /** Peers (IPs or CIDRs) whose X-Forwarded-* / X-Real-Ip are kept. Default none: always replaced. */
  trustedIps?: readonly string[];
  /** Active health check period. Default 2000 ms. */
  healthCheckIntervalMs?: number;
  /** Plain-HTTP entrypoint that redirects to https; 0 picks a free port. Default: off. */
  httpPort?: number;
  /** JSON logger; default: warnings and errors only. */
  logger?: Logger;
  /** Route table; default ROUTES (tests of the no-route path use their own). */
  routes?: readonly RouteDefinition<string>[];
  /** How long close() lets in-flight HTTP responses finish. Default 10 000 ms. */
  shutdownTimeoutMs?: number;
}

export interface Edge {
  /** e.g. https://127.0.0.1:8443 */
  readonly url: string;
  readonly port: number;
  /** The plain-HTTP redirect entrypoint, when enabled. */
  readonly httpPort: number | undefined;
  /** The certificate served (PEM), for clients that must trust a self-signed one. */
  readonly certificate: string;
  /** Replaces a service's replicas; replicas that stay keep their health state. */
  setUpstreams(service: string, urls: readonly string[]): void;
  /** Stops accepting, cuts WebSocket tunnels, lets HTTP responses finish (bounded), stops health checks. */
  close(): Promise<void>;
}

function displayHost(host: string): string {
  if (host === "0.0.0.0" || host === "::" || host === "") return "127.0.0.1";
  return host.includes(":") ? `[${host}]` : host;
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolvePort, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      const address = server.address();
      resolvePort(typeof address === "object" && address ? address.port : port);
    });
  });
}

/**
 * The edge as a stack runs it (packages/stack's `edge` option: npm start, tests, benchmarks): started in the calling
 * process, by default on the free port and in the state folder the stack gives, with no upstreams until the stack
 * reports its replicas.
 */
export function localEdge(options: Partial<Omit<EdgeOptions, "upstreams">> = {}): (init: { port: number; stateDir: string }) => Promise<Edge> {
  return (init) => startEdge({ ...init, ...options, upstreams: {} });
}

/**
 * Starts the local TLS edge: the stand-in for Traefik in development and tests. It routes with the shared route
 * table, rewrites headers exactly as Traefik, spreads requests and WebSocket upgrades round-robin over each service's
 * replicas, skips dead ones, and answers its own failures with JSON `{error, code}`.
 */
export async function startEdge(options: EdgeOptions): Promise<Edge> {
  const logger = options.logger ?? createLogger("edge", "warn");
  const host = options.host ?? EDGE_DEFAULTS.host;
  const healthCheckIntervalMs = options.healthCheckIntervalMs ?? EDGE_DEFAULTS.healthCheckIntervalMs;
  const router = new Router(options.routes ?? ROUTES);
  const upstreams = new UpstreamRegistry(router.routes, options.upstreams);
  const tls = await tlsMaterial(options, logger);

  const healthChecker = new HealthChecker(() => upstreams.all(), {
    intervalMs: healthCheckIntervalMs,
    timeoutMs: Math.min(EDGE_DEFAULTS.healthCheckTimeoutMs, Math.max(healthCheckIntervalMs, 1000)),
    path: EDGE_DEFAULTS.healthCheckPath,
    onChange: (pool, upstream, healthy, reason) => {
      const fields = { backend: pool.service, upstream: upstream.url.origin, live: pool.liveCount };
      if (healthy) logger.info(fields, "upstream recovered");
      else logger.warn({ ...fields, reason }, "upstream down");
    },
  });
  const edgeProxy = new EdgeProxy({
    router,
    upstreams,
    trust: new ProxyTrust(options.trustedIps ?? []),
    serverName: hostname(),
    logger,
    retryAfterSeconds: Math.max(1, Math.ceil(healthCheckIntervalMs / 1000)),
    connectTimeoutMs: EDGE_DEFAULTS.connectTimeoutMs,
  });

  const connections = new Set<Socket>();
  const track = (server: Server) =>
    server.on("connection", (socket: Socket) => {
      connections.add(socket);
      socket.once("close", () => connections.delete(socket));
    });

  const server = createHttpsServer(
    {
      cert: tls.cert,
      key: tls.key,
      minVersion: "TLSv1.2",
      // Traefik keeps idle client connections 180 s (entryPoints.respondingTimeouts.idleTimeout). Node's 5 s default
      // made browsers reuse connections the edge had just closed: Chromium failed a CSS chunk with
      // ERR_TOO_MANY_RETRIES and Bull Board rendered blank.
      keepAliveTimeout: EDGE_IDLE_TIMEOUT_MS,
    },
    edgeProxy.handleRequest,
  );
  server.on("upgrade", edgeProxy.handleUpgrade);
  // A failed TLS handshake (plain HTTP on this port, a client that distrusts the certificate) closes that socket only.
  server.on("tlsClientError", (err, socket) => {
    logger.debug({ err: err.message, client: socket.remoteAddress }, "TLS handshake failed");
    socket.destroy();
  });
  track(server);
  const port = await listen(server, options.port, host);

  let redirectServer: Server | undefined;
  let httpPort: number | undefined;
  if (options.httpPort !== undefined) {
    redirectServer = createHttpServer((req, res) => redirectRequest(req, res, port));
    redirectServer.on("upgrade", (req: IncomingMessage, socket: Duplex) => {
      socket.on("error", () => socket.destroy());
      redirectUpgrade(req, socket, port);
    });
    track(redirectServer);
    try {
      httpPort = await listen(redirectServer, options.httpPort, host);
    } catch (err) {
      server.close();
      throw err;
    }
  }
  healthChecker.start();
  const url = `https://${displayHost(host)}:${port}`;
  logger.debug({ port, url, httpPort, routes: router.routes.map((r) => r.name) }, "edge listening");

  let closing: Promise<void> | undefined;
  const close = async (): Promise<void> => {
    healthChecker.stop();
    const servers = [server, redirectServer].filter((s): s is Server => s !== undefined);
    const closed = Promise.all(servers.map((s) => new Promise<void>((done) => s.close(() => done()))));
    for (const s of servers) s.closeIdleConnections();
    // WebSocket tunnels cannot finish on their own; clients reconnect (to the next edge) as after any drop.
    for (const socket of edgeProxy.tunnels) socket.destroy();
    const deadline = setTimeout(() => {
      for (const socket of connections) socket.destroy();
    }, options.shutdownTimeoutMs ?? EDGE_DEFAULTS.shutdownTimeoutMs);
    deadline.unref();
    await closed;
    clearTimeout(deadline);
    for (const socket of edgeProxy.upstreamSockets) socket.destroy();
  };

  return {
    url,
    port,
    httpPort,
    certificate: tls.cert,
    setUpstreams(service, urls) {
      upstreams.set(service, urls);
      void healthChecker.checkNow();
    },
    close: () => (closing ??= close()),
  };
}

async function tlsMaterial(options: EdgeOptions, logger: Logger): Promise<TlsMaterial> {
  if (options.tls) return loadTlsMaterial(options.tls);
  const stateDir = options.stateDir ?? EDGE_DEFAULTS.stateDir;
  const material = await loadOrCreateSelfSigned(resolve(stateDir));
  if (material.created) logger.info({ stateDir }, "self-signed certificate created");
  return material;
}
