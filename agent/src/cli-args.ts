/**
 * Command-line parsing for `run` and `simulate`, resolved into agent options (pure apart from reading the files it
 * is pointed at, through `readText`). Precedence: flags, then PATCHMON_* environment variables, then the stock
 * agent's YAML files (--config / --credentials).
 */
import { parseArgs } from "node:util";
import {
  ConfigFileError,
  parseCredentialsJson,
  parseStockConfig,
  parseStockCredentials,
  readFileOrThrow,
  readTextFile,
  type ReadText,
  type StockConfig,
} from "./config-files.js";
import { isLogLevel, type LogLevel } from "./json-logger.js";
import type { AgentOptions } from "./options.js";
import type { Env } from "./proxy-env.js";
import type { SimulateOptions } from "./simulate.js";

export const USAGE = `Usage:
  patchmon-agent run --server URL --api-id ID --api-key KEY [--api-version v1] [--ca FILE] [--insecure]
                     [--proxy URL] [--config /etc/patchmon/config.yml] [--credentials /etc/patchmon/credentials.yml]
                     [--log-level debug|info|warn|error]
                     [--ssh-proxy-enabled [--known-hosts FILE] [--ssh-strict-host-keys] [--ssh-max-sessions 10]]
  patchmon-agent simulate --server URL --credentials-file FILE.json [--count N] [--concurrency 200]
                     [--api-version v1] [--ca FILE] [--insecure] [--proxy URL] [--status-interval-s 5]
                     [--log-level warn]

Environment: PATCHMON_SERVER, PATCHMON_API_ID, PATCHMON_API_KEY (instead of flags, so the key stays out of
\`ps\`); HTTPS_PROXY / HTTP_PROXY / NO_PROXY; PATCHMON_ENV=production refuses --insecure.
SSH proxying (the terminal's proxy mode) is off unless --ssh-proxy-enabled or, in --config, integrations:
ssh-proxy-enabled: true. Host keys are checked against --known-hosts (default ~/.patchmon-ws/known_hosts), new
hosts trusted on first use unless --ssh-strict-host-keys.
The credentials JSON is [{"apiId": "...", "apiKey": "..."}, ...].`;

export class CliUsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CliUsageError";
  }
}

export type CliCommand =
  | { kind: "help" }
  | { kind: "run"; agent: Omit<AgentOptions, "logger">; logLevel: LogLevel; warnings: string[] }
  | {
      kind: "simulate";
      simulation: Omit<SimulateOptions, "logger">;
      logLevel: LogLevel;
      statusIntervalMs: number;
      warnings: string[];
    };

const COMMON = {
  server: { type: "string" },
  "api-version": { type: "string" },
  ca: { type: "string" },
  insecure: { type: "boolean" },
  proxy: { type: "string" },
  "log-level": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

export function parseCli(argv: string[], env: Env = process.env, readText: ReadText = readTextFile): CliCommand {
  const [command, ...rest] = argv;
  if (command === undefined || command === "help" || command === "--help" || command === "-h") return { kind: "help" };
  try {
    if (command === "run") return parseRun(rest, env, readText);
    if (command === "simulate") return parseSimulate(rest, env, readText);
  } catch (error) {
    if (error instanceof ConfigFileError || error instanceof CliUsageError) throw error;
    // parseArgs reports unknown flags and missing values as TypeErrors.
    throw new CliUsageError((error as Error).message);
  }
  throw new CliUsageError(`unknown command "${command}" (expected run or simulate)`);
}

function parseRun(args: string[], env: Env, readText: ReadText): CliCommand {
  const { values } = parseArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: {
      ...COMMON,
      "api-id": { type: "string" },
      "api-key": { type: "string" },
      config: { type: "string" },
      credentials: { type: "string" },
      "ssh-proxy-enabled": { type: "boolean" },
      "known-hosts": { type: "string" },
      "ssh-strict-host-keys": { type: "boolean" },
      "ssh-max-sessions": { type: "string" },
    },
  });
  if (values.help) return { kind: "help" };
  const warnings: string[] = [];
  let stock: StockConfig = {};
  if (values.config) stock = parseStockConfig(readFileOrThrow(readText, values.config, "config file"), values.config);
  const credentialsPath = values.credentials ?? (values.config ? stock.credentialsFile : undefined);
  let fileCredentials: { apiId?: string; apiKey?: string } = {};
  if (credentialsPath) fileCredentials = parseStockCredentials(readFileOrThrow(readText, credentialsPath, "credentials file"), credentialsPath);
  if (stock.skipSslVerify && !values.insecure) {
    warnings.push("skip_ssl_verify in the config file is ignored: pass --insecure to skip TLS verification explicitly");
  }

  const server = values.server ?? nonEmpty(env.PATCHMON_SERVER) ?? stock.server;
  const apiId = values["api-id"] ?? nonEmpty(env.PATCHMON_API_ID) ?? fileCredentials.apiId;
  const apiKey = values["api-key"] ?? nonEmpty(env.PATCHMON_API_KEY) ?? fileCredentials.apiKey;
  if (!server) throw new CliUsageError("--server is required (or PATCHMON_SERVER, or patchmon_server in --config)");
  if (!apiId) throw new CliUsageError("--api-id is required (or PATCHMON_API_ID, or api_id in --credentials)");
  if (!apiKey) throw new CliUsageError("--api-key is required (or PATCHMON_API_KEY, or api_key in --credentials)");

  const agent: Omit<AgentOptions, "logger"> = { server, apiId, apiKey, ...tlsAndProxy(values, env, readText) };
  const apiVersion = values["api-version"] ?? stock.apiVersion;
  if (apiVersion) agent.apiVersion = apiVersion;
  if (stock.updateIntervalMinutes) agent.updateIntervalMinutes = stock.updateIntervalMinutes;
  const sshProxy = sshProxyOptions(values, stock, warnings);
  if (sshProxy) agent.sshProxy = sshProxy;
  return { kind: "run", agent, logLevel: logLevel(values["log-level"] ?? stock.logLevel, "info"), warnings };
}

/** --ssh-proxy-enabled, or the stock config's integrations.ssh-proxy-enabled; the flags tune it. */
function sshProxyOptions(
  values: {
    "ssh-proxy-enabled"?: boolean | undefined;
    "known-hosts"?: string | undefined;
    "ssh-strict-host-keys"?: boolean | undefined;
    "ssh-max-sessions"?: string | undefined;
  },
  stock: StockConfig,
  warnings: string[],
): AgentOptions["sshProxy"] {
  const enabled = values["ssh-proxy-enabled"] === true || stock.sshProxyEnabled === true;
  const tuned = values["known-hosts"] !== undefined || values["ssh-strict-host-keys"] !== undefined || values["ssh-max-sessions"] !== undefined;
  if (!enabled) {
    if (tuned) warnings.push("--known-hosts, --ssh-strict-host-keys and --ssh-max-sessions have no effect without --ssh-proxy-enabled");
    return undefined;
  }
  const options: NonNullable<AgentOptions["sshProxy"]> = { enabled: true };
  if (values["known-hosts"] !== undefined) {
    if (values["known-hosts"].trim() === "") throw new CliUsageError("--known-hosts needs a file path");
    options.knownHostsFile = values["known-hosts"];
  }
  if (values["ssh-strict-host-keys"]) options.strictHostKeys = true;
  if (values["ssh-max-sessions"] !== undefined) options.maxSessions = positiveInteger("--ssh-max-sessions", values["ssh-max-sessions"]);
  return options;
}

function parseSimulate(args: string[], env: Env, readText: ReadText): CliCommand {
  const { values } = parseArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: {
      ...COMMON,
      count: { type: "string" },
      "credentials-file": { type: "string" },
      concurrency: { type: "string" },
      "status-interval-s": { type: "string" },
    },
  });
  if (values.help) return { kind: "help" };
  const server = values.server ?? nonEmpty(env.PATCHMON_SERVER);
  if (!server) throw new CliUsageError("--server is required");
  const file = values["credentials-file"];
  if (!file) throw new CliUsageError("--credentials-file is required");
  const all = parseCredentialsJson(readFileOrThrow(readText, file, "credentials file"), file);
  const count = values.count === undefined ? all.length : positiveInteger("--count", values.count);
  if (count > all.length) throw new CliUsageError(`--count ${count} exceeds the ${all.length} agents in ${file}`);

  const simulation: Omit<SimulateOptions, "logger"> = { server, agents: all.slice(0, count), ...tlsAndProxy(values, env, readText) };
  if (values["api-version"]) simulation.apiVersion = values["api-version"];
  if (values.concurrency !== undefined) simulation.connectConcurrency = positiveInteger("--concurrency", values.concurrency);
  const statusIntervalMs = values["status-interval-s"] === undefined ? 5_000 : positiveInteger("--status-interval-s", values["status-interval-s"]) * 1000;
  return { kind: "simulate", simulation, logLevel: logLevel(values["log-level"], "warn"), statusIntervalMs, warnings: [] };
}

function tlsAndProxy(
  values: { ca?: string | undefined; insecure?: boolean | undefined; proxy?: string | undefined },
  env: Env,
  readText: ReadText,
): Pick<AgentOptions, "ca" | "insecure" | "proxy"> {
  const options: Pick<AgentOptions, "ca" | "insecure" | "proxy"> = {};
  if (values.ca) options.ca = readFileOrThrow(readText, values.ca, "CA file");
  if (values.insecure) {
    // As the stock agent: skipping verification is refused outright in production.
    const stage = env.PATCHMON_ENV?.trim().toLowerCase();
    if (stage === "production" || stage === "prod") throw new CliUsageError("--insecure is refused when PATCHMON_ENV is production");
    options.insecure = true;
  }
  if (values.proxy !== undefined) options.proxy = values.proxy;
  return options;
}

function logLevel(value: string | undefined, fallback: LogLevel): LogLevel {
  if (value === undefined) return fallback;
  // The stock agent's logrus level names map onto ours.
  const level = ({ trace: "debug", warning: "warn", fatal: "error", panic: "error" } as Record<string, string>)[value.toLowerCase()] ?? value.toLowerCase();
  if (!isLogLevel(level)) throw new CliUsageError(`--log-level must be debug, info, warn, error or silent (got "${value}")`);
  return level;
}

function positiveInteger(flag: string, value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new CliUsageError(`${flag} must be a positive integer (got "${value}")`);
  return Number(value);
}

function nonEmpty(value: string | undefined): string | undefined {
  return value?.trim() ? value.trim() : undefined;
}
