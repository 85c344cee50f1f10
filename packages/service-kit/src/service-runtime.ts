import { createServer, type IncomingMessage, type Server } from "node:http";
import type { Duplex } from "node:stream";
import { randomUUID } from "node:crypto";
import express, { type Express, type NextFunction, type Request, type Response } from "express";
import { Counter, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import { CodedError } from "@patchmon-ws/protocol";
import type { Logger } from "./logger.js";
import { redactUrl } from "./logger.js";
import { ProxyTrust } from "./proxy-trust.js";
import { rejectUpgrade, sendError, toCodedError } from "./rejections.js";
import { checkHandshake } from "./sockets/handshake.js";
import { destroyOnError } from "./sockets/socket-server.js";

export type ReadinessCheck = () => boolean | Promise<boolean>;
export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => void | Promise<void>;
export type DrainHook = (reason: "shutdown") => void | Promise<void>;

/**
 * How long an idle keep-alive HTTP connection stays open: longer than the proxy keeps its idle upstream connections
 * (Traefik's idleConnTimeout, 90 s), so the proxy closes them first. Were the service first (Node's default is 5 s),
 * the proxy's next request could race the close on that connection and fail as a 502.
 */
export const HTTP_KEEP_ALIVE_TIMEOUT_MS = 95_000;

export interface ServiceRuntimeOptions {
  name: string;
  logger: Logger;
  host: string;
  port: number;
  trustedProxies: readonly string[];
  shutdownTimeoutMs: number;
  /** Largest JSON request body accepted. Default 64 KiB. */
  jsonBodyLimit?: string;
}

/**
 * The HTTP shell every service runs in: an Express app with /healthz, /readyz and /metrics, JSON errors,
 * access logs with secrets redacted, one upgrade handler, and a bounded SIGTERM drain.
 */
export class ServiceRuntime {
  readonly app: Express;
  readonly server: Server;
  readonly registry = new Registry();
  readonly trust: ProxyTrust;
  readonly logger: Logger;
  private readonly readiness = new Map<string, ReadinessCheck>();
  private readonly drainHooks: DrainHook[] = [];
  private upgradeHandler: UpgradeHandler | undefined;
  private draining = false;
  private finished = false;
  private readonly httpRequests: Counter<"method" | "status">;
  private readonly httpDuration: Histogram<"method">;

  constructor(private readonly options: ServiceRuntimeOptions) {
    this.logger = options.logger;
    this.trust = new ProxyTrust(options.trustedProxies);
    this.registry.setDefaultLabels({ service: options.name });
    collectDefaultMetrics({ register: this.registry });
    this.httpRequests = new Counter({
      name: "http_requests_total",
      help: "HTTP requests answered, by method and status",
      labelNames: ["method", "status"],
      registers: [this.registry],
    });
    this.httpDuration = new Histogram({
      name: "http_request_duration_seconds",
      help: "HTTP request latency",
      labelNames: ["method"],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [this.registry],
    });

    this.app = express();
    this.app.disable("x-powered-by");
    // req.ip and req.protocol follow X-Forwarded-* only from trusted proxies.
    this.app.set("trust proxy", (address: string) => this.trust.isTrusted(address));
    this.app.use(this.accessLog);
    this.app.get("/healthz", (_req, res) => {
      res.json({ status: "ok", service: options.name });
    });
    this.app.get("/readyz", async (_req, res) => {
      const checks = await this.checkReadiness();
      const ready = !this.draining && Object.values(checks).every(Boolean);
      res.status(ready ? 200 : 503);
      if (!ready) res.setHeader("Retry-After", "5");
      res.json({ status: ready ? "ready" : this.draining ? "draining" : "not ready", checks });
    });
    this.app.get("/metrics", async (_req, res) => {
      res.setHeader("Content-Type", this.registry.contentType);
      res.send(await this.registry.metrics());
    });
    this.app.use(express.json({ limit: options.jsonBodyLimit ?? "64kb" }));

    this.server = createServer(this.app);
    this.server.keepAliveTimeout = HTTP_KEEP_ALIVE_TIMEOUT_MS;
    this.server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      socket.on("error", destroyOnError);
      if (this.draining) return rejectUpgrade(socket, new CodedError("SHUTTING_DOWN", undefined, { retryAfter: 1 }));
      if (!this.upgradeHandler) return rejectUpgrade(socket, "NOT_FOUND");
      const handler = this.upgradeHandler;
      // then(): a handler that throws synchronously is caught like one that rejects. The handshake is checked
      // first, so that ws never answers a malformed one itself in plain text.
      Promise.resolve()
        .then(() => {
          checkHandshake(req);
          return handler(req, socket, head);
        })
        .catch((err: unknown) => {
          const error = toCodedError(err);
          if (error.code === "INTERNAL") this.logger.error({ err, url: redactUrl(req.url) }, "upgrade failed");
          rejectUpgrade(socket, error);
        });
    });
  }

  get isDraining(): boolean {
    return this.draining;
  }

  addReadinessCheck(name: string, check: ReadinessCheck): void {
    this.readiness.set(name, check);
  }

  /** The one upgrade handler of this process; it routes by path and authenticates before handleUpgrade. */
  setUpgradeHandler(handler: UpgradeHandler): void {
    this.upgradeHandler = handler;
  }

  /** Called on SIGTERM before the process exits: close sockets with 1012 so clients reconnect elsewhere. */
  onDrain(hook: DrainHook): void {
    this.drainHooks.push(hook);
  }

  /** Adds the 404 and error handlers after the service's routes, then listens. Resolves with the bound port. */
  async listen(): Promise<number> {
    this.app.use((_req: Request, res: Response) => sendError(res, "NOT_FOUND"));
    this.app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
      const error = bodyParserError(err) ?? toCodedError(err);
      if (error.code === "INTERNAL") this.logger.error({ err, url: redactUrl(req.originalUrl) }, "request failed");
      sendError(res, error);
    });
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(this.options.port, this.options.host, () => {
        this.server.off("error", reject);
        resolve();
      });
    });
    const address = this.server.address();
    const port = typeof address === "object" && address ? address.port : this.options.port;
    this.logger.info({ port, host: this.options.host }, "listening");
    return port;
  }

  /** SIGTERM and SIGINT drain and exit. */
  installSignalHandlers(exit: (code: number) => void = (code) => process.exit(code)): void {
    const handle = (signal: NodeJS.Signals) => {
      this.logger.info({ signal }, "draining");
      void this.shutdown().then(() => exit(0));
    };
    process.once("SIGTERM", handle);
    process.once("SIGINT", handle);
  }

  /** Stops accepting, runs drain hooks, waits for connections to finish, bounded by shutdownTimeoutMs. */
  async shutdown(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    const deadline = setTimeout(() => {
      this.logger.warn("shutdown timeout reached; closing remaining connections");
      this.server.closeAllConnections();
    }, this.options.shutdownTimeoutMs);
    deadline.unref();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const hook of this.drainHooks) {
      try {
        await hook("shutdown");
      } catch (err) {
        this.logger.error({ err }, "drain hook failed");
      }
    }
    this.server.closeIdleConnections();
    await closed;
    clearTimeout(deadline);
    this.finished = true;
    this.logger.info("stopped");
  }

  get stopped(): boolean {
    return this.finished;
  }

  private async checkReadiness(): Promise<Record<string, boolean>> {
    const results: Record<string, boolean> = {};
    for (const [name, check] of this.readiness) {
      try {
        results[name] = await check();
      } catch {
        results[name] = false;
      }
    }
    return results;
  }

  private readonly accessLog = (req: Request, res: Response, next: NextFunction) => {
    const started = process.hrtime.bigint();
    const requestId = randomUUID();
    res.setHeader("X-Request-Id", requestId);
    res.on("finish", () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      this.httpRequests.inc({ method: req.method, status: String(res.statusCode) });
      this.httpDuration.observe({ method: req.method }, seconds);
      if (req.path === "/healthz" || req.path === "/readyz" || req.path === "/metrics") return;
      this.logger.info(
        {
          requestId,
          method: req.method,
          url: redactUrl(req.originalUrl),
          status: res.statusCode,
          ms: Math.round(seconds * 1e4) / 10,
          client: this.trust.clientAddress(req),
        },
        "http",
      );
    });
    next();
  };
}

function bodyParserError(err: unknown): CodedError | undefined {
  const type = (err as { type?: unknown } | null)?.type;
  if (type === "entity.parse.failed") return new CodedError("BAD_REQUEST", "request body is not valid JSON");
  if (type === "entity.too.large") return new CodedError("PAYLOAD_TOO_LARGE");
  if (typeof type === "string" && type.startsWith("encoding.")) return new CodedError("BAD_REQUEST", "unsupported body encoding");
  return undefined;
}
