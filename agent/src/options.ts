/**
 * The reference agent's options (the contract shared with services/agent-ws), their documented defaults, and
 * their validation into the settings an agent runs with. Settings are immutable and shareable: a simulation of
 * 10 000 agents resolves them once.
 */
import { homedir } from "node:os";
import { join } from "node:path";
import { AGENT_MAX_FRAME_BYTES, AGENT_PING_INTERVAL_MS, AGENT_READ_DEADLINE_MS, ApiId } from "@patchmon-ws/protocol";
import {
  DEFAULT_BACKOFF_INITIAL_MS,
  DEFAULT_BACKOFF_MAX_MS,
  DEFAULT_BACKOFF_RESET_AFTER_MS,
  type BackoffOptions,
} from "./backoff.js";
import { SILENT_LOGGER, type AgentLogger } from "./logger.js";
import { buildAgentUrl, DEFAULT_API_VERSION } from "./url.js";
import { AGENT_PACKAGE_VERSION } from "./version.js";

export type { AgentLogger } from "./logger.js";

export interface AgentOptions {
  /** e.g. https://patchmon.example.com (the URL rules of url.ts). */
  server: string;
  apiId: string;
  apiKey: string;
  /** Default "v1". */
  apiVersion?: string;
  /** An extra trusted CA (PEM), added to Node's bundled roots. */
  ca?: string | Buffer;
  /** Skip TLS verification. Only ever set explicitly; nothing turns it on implicitly. */
  insecure?: boolean;
  /** Proxy URL for every connection; "" disables proxying. Default: HTTPS_PROXY/https_proxy for wss://,
   * HTTP_PROXY/http_proxy for ws://. NO_PROXY is honoured either way. */
  proxy?: string;
  /** Sent in `hello`. Default: this package's version. */
  agentVersion?: string;
  /** Default 30000, like the stock agent. */
  pingIntervalMs?: number;
  /** Default 90000, extended by ANY frame. Must exceed pingIntervalMs. */
  readDeadlineMs?: number;
  /** Default 1000 / 30000 with full jitter; reset after a connection that stayed up resetAfterMs (default 5000). */
  backoff?: BackoffOptions;
  /** Opening-handshake bound (TCP, proxy CONNECT, TLS, HTTP upgrade). Default 45000, like the stock agent. */
  handshakeTimeoutMs?: number;
  /** The report interval in minutes until the server sends settings_update (stock config key update_interval). */
  updateIntervalMinutes?: number;
  /**
   * SSH proxying for the terminal's proxy mode (`ssh_proxy*`), like the stock agent's config.yml
   * `integrations: ssh-proxy-enabled: true`. Default: disabled (every `ssh_proxy` is answered with ssh_proxy_error).
   */
  sshProxy?: SshProxyOptions;
  logger?: AgentLogger;
}

export interface SshProxyOptions {
  enabled: boolean;
  /** OpenSSH known_hosts file the proxy checks host keys against and pins new ones in. Default ~/.patchmon-ws/known_hosts. */
  knownHostsFile?: string;
  /** Refuse hosts the known_hosts file does not list, instead of trusting them on first use. Default false. */
  strictHostKeys?: boolean;
  /** Concurrent proxy sessions. Default 10. */
  maxSessions?: number;
  /**
   * The agent's WebSocket buffer (bytes) above which every SSH channel is paused until it drains below half of
   * it. Default 262144 (256 KiB).
   */
  outputHighWaterBytes?: number;
}

export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 45_000;
/** The stock agent's write deadline for pings. */
export const DEFAULT_PING_WRITE_TIMEOUT_MS = 5_000;
/** Stock agent's 64 KiB read limit: a larger frame closes the connection with 1009. */
export const AGENT_READ_LIMIT_BYTES = AGENT_MAX_FRAME_BYTES;
/** Capabilities announced in `hello` by every agent. */
export const AGENT_CAPABILITIES = ["ack", "dedupe"] as const;
/** Announced in `hello` as well when SSH proxying is enabled. */
export const SSH_PROXY_CAPABILITY = "ssh_proxy";
export const DEFAULT_SSH_PROXY_MAX_SESSIONS = 10;
export const DEFAULT_SSH_PROXY_HIGH_WATER_BYTES = 256 * 1024;

/** ~/.patchmon-ws/known_hosts, of the user the agent runs as (resolved when the settings are). */
export function defaultKnownHostsFile(): string {
  return join(homedir(), ".patchmon-ws", "known_hosts");
}

/** What `hello` announces for these settings. */
export function agentCapabilities(settings: Pick<AgentSettings, "sshProxy">): string[] {
  return settings.sshProxy.enabled ? [...AGENT_CAPABILITIES, SSH_PROXY_CAPABILITY] : [...AGENT_CAPABILITIES];
}

/** An API key is sent as a header: printable ASCII, no spaces or control characters. */
const API_KEY_PATTERN = /^[\x21-\x7e]{1,1024}$/;

export class AgentOptionsError extends Error {
  constructor(
    readonly option: string,
    message: string,
  ) {
    super(`${option}: ${message}`);
    this.name = "AgentOptionsError";
  }
}

/** Everything except the credentials, resolved once. */
export interface AgentSettings {
  readonly url: string;
  readonly urlWarning: string | undefined;
  readonly apiVersion: string;
  readonly agentVersion: string;
  readonly ca: string | Buffer | undefined;
  readonly insecure: boolean;
  readonly proxy: string | undefined;
  readonly pingIntervalMs: number;
  readonly readDeadlineMs: number;
  readonly pingWriteTimeoutMs: number;
  readonly handshakeTimeoutMs: number;
  readonly backoff: Required<BackoffOptions>;
  readonly updateIntervalMinutes: number | undefined;
  readonly sshProxy: SshProxySettings;
  readonly logger: AgentLogger;
}

export interface SshProxySettings {
  readonly enabled: boolean;
  readonly knownHostsFile: string;
  readonly strictHostKeys: boolean;
  readonly maxSessions: number;
  readonly outputHighWaterBytes: number;
}

export function resolveSettings(options: Omit<AgentOptions, "apiId" | "apiKey">): AgentSettings {
  const apiVersion = options.apiVersion ?? DEFAULT_API_VERSION;
  let built: { url: string; warning?: string };
  try {
    built = buildAgentUrl(options.server, apiVersion);
  } catch (error) {
    throw new AgentOptionsError("server", (error as Error).message);
  }
  const pingIntervalMs = positive("pingIntervalMs", options.pingIntervalMs ?? AGENT_PING_INTERVAL_MS);
  const readDeadlineMs = positive("readDeadlineMs", options.readDeadlineMs ?? AGENT_READ_DEADLINE_MS);
  if (readDeadlineMs <= pingIntervalMs) {
    throw new AgentOptionsError("readDeadlineMs", `must exceed pingIntervalMs (${readDeadlineMs} <= ${pingIntervalMs}), or an idle connection dies between pings`);
  }
  const initialMs = positive("backoff.initialMs", options.backoff?.initialMs ?? DEFAULT_BACKOFF_INITIAL_MS);
  const maxMs = positive("backoff.maxMs", options.backoff?.maxMs ?? DEFAULT_BACKOFF_MAX_MS);
  if (maxMs < initialMs) throw new AgentOptionsError("backoff.maxMs", `must be at least backoff.initialMs (${maxMs} < ${initialMs})`);
  const resetAfterMs = options.backoff?.resetAfterMs ?? DEFAULT_BACKOFF_RESET_AFTER_MS;
  if (!Number.isFinite(resetAfterMs) || resetAfterMs < 0) throw new AgentOptionsError("backoff.resetAfterMs", "must be a non-negative number");
  const agentVersion = options.agentVersion ?? AGENT_PACKAGE_VERSION;
  if (agentVersion.length === 0 || agentVersion.length > 64) throw new AgentOptionsError("agentVersion", "must be 1-64 characters");
  const interval = options.updateIntervalMinutes;
  if (interval !== undefined && !(Number.isInteger(interval) && interval > 0)) {
    throw new AgentOptionsError("updateIntervalMinutes", "must be a positive whole number of minutes");
  }
  if (options.ca !== undefined && String(options.ca).trim().length === 0) throw new AgentOptionsError("ca", "is empty");
  return Object.freeze({
    url: built.url,
    urlWarning: built.warning,
    apiVersion,
    agentVersion,
    ca: options.ca,
    insecure: options.insecure === true,
    proxy: options.proxy,
    pingIntervalMs,
    readDeadlineMs,
    pingWriteTimeoutMs: Math.min(DEFAULT_PING_WRITE_TIMEOUT_MS, pingIntervalMs),
    handshakeTimeoutMs: positive("handshakeTimeoutMs", options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS),
    backoff: Object.freeze({ initialMs, maxMs, resetAfterMs }),
    updateIntervalMinutes: interval,
    sshProxy: resolveSshProxy(options.sshProxy),
    logger: options.logger ?? SILENT_LOGGER,
  });
}

function resolveSshProxy(options: SshProxyOptions | undefined): SshProxySettings {
  if (options !== undefined && (typeof options !== "object" || options === null)) throw new AgentOptionsError("sshProxy", "must be an object");
  const enabled = options?.enabled ?? false;
  if (typeof enabled !== "boolean") throw new AgentOptionsError("sshProxy.enabled", "must be true or false");
  const strictHostKeys = options?.strictHostKeys ?? false;
  if (typeof strictHostKeys !== "boolean") throw new AgentOptionsError("sshProxy.strictHostKeys", "must be true or false");
  const knownHostsFile = options?.knownHostsFile ?? defaultKnownHostsFile();
  if (typeof knownHostsFile !== "string" || knownHostsFile.trim().length === 0 || knownHostsFile.includes("\0")) {
    throw new AgentOptionsError("sshProxy.knownHostsFile", "must be a file path");
  }
  const maxSessions = options?.maxSessions ?? DEFAULT_SSH_PROXY_MAX_SESSIONS;
  if (!Number.isInteger(maxSessions) || maxSessions < 1 || maxSessions > 1000) {
    throw new AgentOptionsError("sshProxy.maxSessions", `must be a whole number from 1 to 1000 (got ${maxSessions})`);
  }
  const outputHighWaterBytes = options?.outputHighWaterBytes ?? DEFAULT_SSH_PROXY_HIGH_WATER_BYTES;
  if (!Number.isInteger(outputHighWaterBytes) || outputHighWaterBytes < 16 * 1024 || outputHighWaterBytes > 64 * 1024 * 1024) {
    throw new AgentOptionsError("sshProxy.outputHighWaterBytes", `must be a whole number of bytes from 16384 to 67108864 (got ${outputHighWaterBytes})`);
  }
  return Object.freeze({ enabled, knownHostsFile, strictHostKeys, maxSessions, outputHighWaterBytes });
}

export interface AgentCredentials {
  readonly apiId: string;
  readonly apiKey: string;
}

export function validateCredentials(apiId: string, apiKey: string): AgentCredentials {
  if (!ApiId.safeParse(apiId).success) throw new AgentOptionsError("apiId", "must be 1-128 characters of A-Z, a-z, 0-9, _ or -");
  if (!API_KEY_PATTERN.test(apiKey)) throw new AgentOptionsError("apiKey", "must be 1-1024 printable ASCII characters without spaces");
  return { apiId, apiKey };
}

function positive(option: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) throw new AgentOptionsError(option, `must be a positive number of milliseconds (got ${value})`);
  return value;
}
