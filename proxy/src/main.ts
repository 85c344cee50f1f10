/**
 * Runs the local TLS edge from the environment: the variables of edgeConfigSchema (config.ts), documented in the
 * README's table "proxy/ (the local TLS edge; Traefik in production)".
 *
 * Exit codes: 0 after SIGTERM/SIGINT, 78 for an invalid configuration, 1 for any other start-up failure.
 */
import { createLogger, runMain } from "@patchmon-ws/service-kit";
import { loadEdgeConfig } from "./config.js";
import { startEdge } from "./edge.js";

async function main(): Promise<void> {
  const config = loadEdgeConfig();
  const logger = createLogger("edge", config.LOG_LEVEL);
  const edge = await startEdge({
    host: config.EDGE_HOST,
    port: config.EDGE_PORT,
    httpPort: config.EDGE_HTTP_PORT,
    upstreams: config.EDGE_UPSTREAMS,
    tls: config.EDGE_TLS_CERT && config.EDGE_TLS_KEY ? { cert: config.EDGE_TLS_CERT, key: config.EDGE_TLS_KEY } : undefined,
    stateDir: config.EDGE_STATE_DIR,
    trustedIps: config.EDGE_TRUSTED_IPS,
    healthCheckIntervalMs: config.EDGE_HEALTH_CHECK_INTERVAL_MS,
    shutdownTimeoutMs: config.SHUTDOWN_TIMEOUT_MS,
    logger,
  });
  // The line launchers and tests wait for: {"port":N,...,"msg":"listening"}.
  logger.info({ port: edge.port, url: edge.url, httpPort: edge.httpPort }, "listening");

  const stop = (signal: NodeJS.Signals) => {
    logger.info({ signal }, "draining");
    void edge.close().then(() => {
      logger.info("stopped");
      process.exit(0);
    });
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
}

runMain("edge", main);
