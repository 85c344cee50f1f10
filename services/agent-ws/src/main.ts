import { createLogger, runMain } from "@patchmon-ws/service-kit";
import { loadAgentWsConfig } from "./config.js";
import { startAgentWs } from "./service.js";

runMain("agent-ws", async () => {
  const config = loadAgentWsConfig();
  const logger = createLogger("agent-ws", config.LOG_LEVEL);
  const { runtime } = await startAgentWs(config, logger);
  runtime.installSignalHandlers();
});
