import { runService } from "@patchmon-ws/service-kit";
import { loadTerminalWsConfig } from "./config.js";
import { setupTerminalWs } from "./service.js";

runService("terminal-ws", loadTerminalWsConfig, setupTerminalWs, (config) => ({ natsName: `terminal-ws-${config.REPLICA_ID}` }));
