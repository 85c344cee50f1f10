/** agent-ws as a library: the service entry point, its config and the pure parts other packages may reuse. */
export { setupAgentWs } from "./service.js";
export { agentWsConfigSchema, loadAgentWsConfig, type AgentWsConfig } from "./config.js";
export { coalesceKey } from "./commands/coalescing.js";
export { encodeCommandFrame } from "./commands/command-frame.js";
export { routeAgentUpgrade, readAgentCredentials } from "./connection/upgrade-route.js";
