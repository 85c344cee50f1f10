/** terminal-ws as a library: the service entry point, its config and the pure parts other packages may reuse. */
export { setupTerminalWs } from "./service.js";
export { terminalWsConfigSchema, loadTerminalWsConfig, type TerminalWsConfig } from "./config.js";
export { parseTerminalRoute } from "./terminal-route.js";
export { describeHostKey, compareWithPin } from "./shells/host-key.js";
export { EchoFilter, visibleText } from "./recording/echo-filter.js";
export { SessionRecorder } from "./recording/session-recorder.js";
export { classifyAgentError } from "./shells/relay-shell.js";
