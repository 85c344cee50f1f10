import { createLogger, ServiceRuntime, type Logger } from "@patchmon-ws/service-kit";
import type { WebConfig } from "./config.js";
import { HSTS_HEADER, SECURITY_HEADERS } from "./security-headers.js";
import { StaticSite } from "./static-site.js";

/**
 * The web UI's server: the kit's runtime (health, readiness, metrics, JSON errors, access log, drain) around the
 * built files, every answer with the security headers. No NATS: it serves files only; the UI talks to the other
 * services through the edge.
 */
export async function startWebService(config: WebConfig, logger: Logger = createLogger("web", config.LOG_LEVEL)): Promise<{ runtime: ServiceRuntime; port: number }> {
  const runtime = new ServiceRuntime({
    name: "web",
    logger,
    host: config.HOST,
    port: config.PORT,
    trustedProxies: config.TRUSTED_PROXIES,
    shutdownTimeoutMs: config.SHUTDOWN_TIMEOUT_MS,
  });
  const site = new StaticSite(config.WEB_ROOT);
  if (!site.built) logger.error({ webRoot: config.WEB_ROOT }, "the web UI is not built (no index.html); answering 503 until it is");
  runtime.addReadinessCheck("ui", () => site.built);
  runtime.app.use((req, res, next) => {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);
    if (config.HSTS && runtime.trust.isSecure(req)) res.setHeader("Strict-Transport-Security", HSTS_HEADER);
    next();
  });
  runtime.app.use(site.handle);
  const port = await runtime.listen();
  return { runtime, port };
}
