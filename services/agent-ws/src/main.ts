import { runService } from "@patchmon-ws/service-kit";
import { loadAgentWsConfig } from "./config.js";
import { setupAgentWs } from "./service.js";

runService("agent-ws", loadAgentWsConfig, setupAgentWs, (config) => ({
  natsName: `agent-ws-${config.REPLICA_ID}`,
  jsonBodyLimit: config.HTTP_BODY_LIMIT,
}));
