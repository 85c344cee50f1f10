import { ConfigError, createLogger } from "@patchmon-ws/service-kit";
import { loadAgentWsConfig } from "./config.js";
import { startAgentWs } from "./service.js";

let config;
try {
  config = loadAgentWsConfig();
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`agent-ws: ${err.message}\n`);
    process.exit(2);
  }
  throw err;
}

const logger = createLogger("agent-ws", config.LOG_LEVEL);
try {
  const { runtime } = await startAgentWs(config, logger);
  runtime.installSignalHandlers();
} catch (err) {
  logger.fatal({ err }, "agent-ws failed to start");
  process.exit(1);
}
