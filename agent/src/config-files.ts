/**
 * The stock agent's files, so the reference agent can run from an existing install: /etc/patchmon/config.yml
 * (patchmon_server, api_version, credentials_file, skip_ssl_verify, update_interval, integrations.ssh-proxy-enabled, …) and
 * /etc/patchmon/credentials.yml (api_id, api_key). Keys are matched case-insensitively, as viper does. Plus the
 * simulator's credentials JSON.
 */
import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { z } from "zod";

export class ConfigFileError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(`${path}: ${message}`);
    this.name = "ConfigFileError";
  }
}

export interface StockConfig {
  server?: string;
  apiVersion?: string;
  credentialsFile?: string;
  skipSslVerify?: boolean;
  updateIntervalMinutes?: number;
  logLevel?: string;
  /** `integrations: ssh-proxy-enabled: true`, the stock agent's local opt-in to SSH proxying. */
  sshProxyEnabled?: boolean;
}

export interface Credentials {
  apiId: string;
  apiKey: string;
}

export type ReadText = (path: string) => string;
export const readTextFile: ReadText = (path) => readFileSync(path, "utf8");

const StockConfigSchema = z.looseObject({
  patchmon_server: z.string().optional(),
  api_version: z.string().optional(),
  credentials_file: z.string().optional(),
  skip_ssl_verify: z.boolean().optional(),
  // Go writes 0 when unset.
  update_interval: z.number().int().min(0).optional(),
  log_level: z.string().optional(),
  // `integrations:` with nothing under it is null.
  integrations: z
    .looseObject({ "ssh-proxy-enabled": z.boolean("must be true or false").optional() })
    .nullable()
    .optional(),
});

const StockCredentialsSchema = z.looseObject({
  api_id: z.string().min(1, "api_id is empty"),
  api_key: z.string().min(1, "api_key is empty"),
});

const CredentialEntry = z.union([
  z.object({ apiId: z.string().min(1), apiKey: z.string().min(1) }),
  z.object({ api_id: z.string().min(1), api_key: z.string().min(1) }).transform((v) => ({ apiId: v.api_id, apiKey: v.api_key })),
]);
const CredentialsJsonSchema = z.union([z.array(CredentialEntry), z.object({ agents: z.array(CredentialEntry) })]);

export function parseStockConfig(text: string, path: string): StockConfig {
  const document = lowerCaseKeys(parseYamlDocument(text, path));
  // viper matches nested keys case-insensitively too.
  if (isPlainObject(document) && isPlainObject(document.integrations)) document.integrations = lowerCaseKeys(document.integrations);
  const data = parseWith(StockConfigSchema, document, path);
  const config: StockConfig = {};
  if (data.patchmon_server) config.server = data.patchmon_server;
  if (data.api_version) config.apiVersion = data.api_version;
  if (data.credentials_file) config.credentialsFile = data.credentials_file;
  if (data.skip_ssl_verify !== undefined) config.skipSslVerify = data.skip_ssl_verify;
  if (data.update_interval) config.updateIntervalMinutes = data.update_interval;
  if (data.log_level) config.logLevel = data.log_level;
  const sshProxyEnabled = data.integrations?.["ssh-proxy-enabled"];
  if (sshProxyEnabled !== undefined) config.sshProxyEnabled = sshProxyEnabled;
  return config;
}

export function parseStockCredentials(text: string, path: string): Credentials {
  const data = parseWith(StockCredentialsSchema, lowerCaseKeys(parseYamlDocument(text, path)), path);
  return { apiId: data.api_id, apiKey: data.api_key };
}

/** `[{apiId, apiKey}, …]` (or api_id/api_key, or `{agents: [...]}`). */
export function parseCredentialsJson(text: string, path: string): Credentials[] {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new ConfigFileError(path, `not valid JSON: ${(error as Error).message}`);
  }
  const data = parseWith(CredentialsJsonSchema, raw, path);
  const list = Array.isArray(data) ? data : data.agents;
  if (list.length === 0) throw new ConfigFileError(path, "lists no agents");
  return list;
}

export function readFileOrThrow(readText: ReadText, path: string, what: string): string {
  try {
    return readText(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ConfigFileError(path, code === "ENOENT" ? `${what} not found` : `cannot read ${what}: ${(error as Error).message}`);
  }
}

function parseYamlDocument(text: string, path: string): unknown {
  let value: unknown;
  try {
    value = parseYaml(text);
  } catch (error) {
    throw new ConfigFileError(path, `not valid YAML: ${(error as Error).message.split("\n")[0]}`);
  }
  return value ?? {};
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function lowerCaseKeys(value: unknown): unknown {
  if (!isPlainObject(value)) return value;
  return Object.fromEntries(Object.entries(value).map(([key, v]) => [key.toLowerCase(), v]));
}

function parseWith<T extends z.ZodType>(schema: T, value: unknown, path: string): z.infer<T> {
  const result = schema.safeParse(value);
  if (!result.success) {
    const issues = result.error.issues.map((issue) => `${issue.path.join(".") || "(document)"}: ${issue.message}`).join("; ");
    throw new ConfigFileError(path, issues);
  }
  return result.data;
}
