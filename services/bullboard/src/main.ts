import { connectNats, createLogger, runMain, ServiceRuntime } from "@patchmon-ws/service-kit";
import { attachBullboard } from "./bullboard-service.js";
import { loadBullboardConfig } from "./config.js";

async function main(): Promise<void> {
  const config = loadBullboardConfig();
  const logger = createLogger("bullboard", config.LOG_LEVEL);
  const runtime = new ServiceRuntime({
    name: "bullboard",
    logger,
    host: config.HOST,
    port: config.PORT,
    trustedProxies: config.TRUSTED_PROXIES,
    shutdownTimeoutMs: config.SHUTDOWN_TIMEOUT_MS,
  });
  const nc = await connectNats({ servers: config.NATS_URL, name: "bullboard", logger });
  attachBullboard({ config, runtime, nc, logger });
  // Registered after attachBullboard's hook, so sockets and Redis close before NATS goes.
  runtime.onDrain(() => nc.drain());
  await runtime.listen();
  runtime.installSignalHandlers();
}

runMain("bullboard", main);
