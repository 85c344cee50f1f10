/** @patchmon-ws/agent: the reference PatchMon agent (WebSocket protocol) and its load simulator. */
export { ReferenceAgent, SSH_PROXY_DISABLED, SSH_PROXY_NOT_SUPPORTED } from "./reference-agent.js";
export type {
  DisconnectInfo,
  RejectionInfo,
  ReportRequest,
  SettingsChange,
  ReferenceAgentEvents,
  SharedAgentResources,
  SshProxySessionEvent,
  SshProxyStats,
} from "./reference-agent.js";
export {
  AGENT_CAPABILITIES,
  SSH_PROXY_CAPABILITY,
  DEFAULT_SSH_PROXY_MAX_SESSIONS,
  DEFAULT_SSH_PROXY_HIGH_WATER_BYTES,
  agentCapabilities,
  defaultKnownHostsFile,
  AGENT_READ_LIMIT_BYTES,
  AgentOptionsError,
  DEFAULT_HANDSHAKE_TIMEOUT_MS,
  DEFAULT_PING_WRITE_TIMEOUT_MS,
  resolveSettings,
} from "./options.js";
export type { AgentOptions, AgentLogger, AgentSettings, SshProxyOptions, SshProxySettings } from "./options.js";
export { SshProxySessions, SshProxyRefusedError } from "./ssh-proxy.js";
export type { SshProxyLink } from "./ssh-proxy.js";
export { KnownHostsFile, parseKnownHosts, checkHostKey, fingerprintOf, knownHostName, formatKnownHostsLine } from "./known-hosts.js";
export { buildAgentUrl, AgentUrlError, DEFAULT_API_VERSION } from "./url.js";
export type { AgentUrl } from "./url.js";
export { simulate, DEFAULT_CONNECT_CONCURRENCY } from "./simulate.js";
export type { Simulation, SimulateOptions } from "./simulate.js";
export {
  FullJitterBackoff,
  ReconnectPolicy,
  parseRetryAfter,
  DEFAULT_BACKOFF_INITIAL_MS,
  DEFAULT_BACKOFF_MAX_MS,
  DEFAULT_BACKOFF_RESET_AFTER_MS,
} from "./backoff.js";
export type { BackoffOptions } from "./backoff.js";
export { RecentCommandIds } from "./recent-ids.js";
export { CommandProcessor } from "./command-processor.js";
export { parseServerFrame } from "./frames.js";
export { proxyForTarget, bypassesProxy, ProxyConfigError } from "./proxy-env.js";
export { Dialer } from "./dialer.js";
export { TimerWheel } from "./timer-wheel.js";
export { ConnectGate } from "./connect-gate.js";
export { parseStockConfig, parseStockCredentials, parseCredentialsJson, ConfigFileError } from "./config-files.js";
export { createJsonLogger } from "./json-logger.js";
export { AGENT_PACKAGE_VERSION } from "./version.js";
