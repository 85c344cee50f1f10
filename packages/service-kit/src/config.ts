import { hostname } from "node:os";
import { randomBytes } from "node:crypto";
import { z } from "zod";
import { IDENTIFIER_PATTERN } from "@patchmon-ws/protocol";

/** The longest server ping interval a service may have: two silent intervals find a dead peer within a minute. */
export const MAX_PING_INTERVAL_MS = 30_000;

/** Thrown at start-up when the environment is invalid; the message names every bad variable. */
export class ConfigError extends Error {
  readonly variables: string[];
  constructor(issues: { variable: string; problem: string }[]) {
    super(
      "Invalid configuration:\n" + issues.map((i) => `  ${i.variable}: ${i.problem}`).join("\n"),
    );
    this.name = "ConfigError";
    this.variables = issues.map((i) => i.variable);
  }
}

/**
 * Parses environment variables with a zod object whose keys are the variable names. Empty strings count as unset,
 * so `FOO=` falls back to the default instead of failing a type check.
 */
export function loadConfig<S extends z.ZodObject>(schema: S, env: NodeJS.ProcessEnv = process.env): z.infer<S> {
  const input: Record<string, string> = {};
  for (const key of Object.keys(schema.shape)) {
    const value = env[key];
    if (value !== undefined && value !== "") input[key] = value;
  }
  const result = schema.safeParse(input);
  if (!result.success) {
    throw new ConfigError(
      result.error.issues.map((issue) => ({
        variable: String(issue.path[0] ?? "(environment)"),
        problem: issue.message,
      })),
    );
  }
  return result.data;
}

/**
 * Whether every named variable parsed as an integer: the `when` of a rule across variables, so it is checked even
 * when another variable failed (one start-up names every problem) but never on values that did not parse.
 */
export function parsedIntegers(config: unknown, ...names: string[]): boolean {
  return names.every((name) => Number.isInteger((config as Record<string, unknown> | undefined)?.[name]));
}

/** A replica id unique per process: hostname-pid-random, reduced to identifier characters (it is a subject token). */
export function defaultReplicaId(): string {
  const host = hostname().replace(/[^A-Za-z0-9_-]+/g, "-").slice(0, 60) || "replica";
  return `${host}-${process.pid}-${randomBytes(3).toString("hex")}`;
}

/** An origin as browsers send it: scheme, host, optional port; no path. */
function isOrigin(value: string): boolean {
  if (!URL.canParse(value)) return false;
  const url = new URL(value);
  return (url.protocol === "https:" || url.protocol === "http:") && url.origin === value.replace(/\/+$/, "").toLowerCase();
}

/** Reusable environment-variable parsers. */
export const env = {
  port: (fallback: number) => z.coerce.number().int().min(0).max(65535).default(fallback),
  positiveInt: (fallback: number) => z.coerce.number().int().positive().default(fallback),
  /** An integer ≥ 0, for settings where 0 turns something off. */
  nonNegativeInt: (fallback: number) => z.coerce.number().int().min(0).default(fallback),
  boolean: (fallback: boolean) =>
    z
      .enum(["true", "false", "1", "0", "yes", "no"], { message: "must be true or false" })
      .transform((v) => v === "true" || v === "1" || v === "yes")
      .default(fallback),
  list: (fallback: string) =>
    z
      .string()
      .default(fallback)
      .transform((v) =>
        v
          .split(",")
          .map((s) => s.trim())
          .filter(Boolean),
      ),
  url: (fallback: string, protocols: string[]) =>
    z
      .string()
      .default(fallback)
      .refine((v) => v.split(",").every((u) => URL.canParse(u.trim()) && protocols.includes(new URL(u.trim()).protocol)), {
        message: `must be a URL (or comma-separated URLs) with scheme ${protocols.join(" or ")}`,
      }),
  /** A server ping interval: at most MAX_PING_INTERVAL_MS, so a dead peer is found within a minute. */
  pingInterval: (fallback: number) => z.coerce.number().int().min(100).max(MAX_PING_INTERVAL_MS).default(fallback),
  /** Comma-separated API versions served (`v1,v2`); at least one. */
  apiVersions: (fallback: string) =>
    env.list(fallback).pipe(z.array(z.string().regex(/^v[0-9]+$/, "API versions look like v1")).min(1, "must name at least one version")),
  /** Origins allowed for browser endpoints; empty = same origin only. */
  origins: () =>
    env
      .list("")
      .refine((origins) => origins.every(isOrigin), "every entry must be an origin like https://patchmon.example.com (scheme, host, optional port; no path)"),
  /** This replica's name in presence and NATS subjects; must be unique per running process. */
  replicaId: () => z.string().regex(IDENTIFIER_PATTERN, "must be 1-128 characters of A-Z, a-z, 0-9, _ or -").default(defaultReplicaId),
  logLevel: () => z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
};

/** Variables every service reads. Documented in the README's configuration table. */
export const commonConfigShape = {
  LOG_LEVEL: env.logLevel(),
  HOST: z.string().default("0.0.0.0"),
  NATS_URL: env.url("nats://127.0.0.1:4222", ["nats:", "tls:", "ws:", "wss:"]),
  TRUSTED_PROXIES: env.list("127.0.0.1/32,::1/128"),
  SHUTDOWN_TIMEOUT_MS: env.positiveInt(10_000),
};
