import type { RuntimeContext } from "@patchmon-ws/service-kit";
import type { WebConfig } from "./config.js";
import { HSTS_HEADER, SECURITY_HEADERS } from "./security-headers.js";
import { StaticSite } from "./static-site.js";

/**
 * The web UI's server: the built files in the kit's runtime (health, readiness, metrics, JSON errors, access log,
 * drain), every answer with the security headers. No NATS (launched with `nats: false`): it serves files only; the
 * UI talks to the other services through the edge.
 */
export function setupWeb({ config, logger, runtime }: RuntimeContext<WebConfig>): void {
  const site = new StaticSite(config.WEB_ROOT);
  if (!site.built) logger.error({ webRoot: config.WEB_ROOT }, "the web UI is not built (no index.html); answering 503 until it is");
  runtime.addReadinessCheck("ui", () => site.built);
  runtime.app.use((req, res, next) => {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);
    if (config.HSTS && runtime.trust.isSecure(req)) res.setHeader("Strict-Transport-Security", HSTS_HEADER);
    next();
  });
  runtime.app.use(site.handle);
}
