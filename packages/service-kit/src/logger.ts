import { pino, type Logger } from "pino";

export type { Logger };

/** Query parameters whose values never reach a log line. */
const SECRET_QUERY_PARAMS = /([?&](?:ticket|token|access_token|refresh_token|api_key|apikey|key|password|secret)=)[^&#\s]*/gi;

/** Replaces secret query values in a URL or path with `[REDACTED]`. */
export function redactUrl(url: string | undefined): string | undefined {
  return url?.replace(SECRET_QUERY_PARAMS, "$1[REDACTED]");
}

/** Fields redacted wherever they appear in a logged object (two levels deep). */
const REDACT_PATHS = [
  "password",
  "apiKey",
  "api_key",
  "token",
  "accessToken",
  "refreshToken",
  "ticket",
  "privateKey",
  "private_key",
  "passphrase",
  "authorization",
  "cookie",
  "headers.authorization",
  "headers.cookie",
  'headers["x-api-key"]',
  'headers["set-cookie"]',
].flatMap((p) => [p, `*.${p}`]);

export function createLogger(service: string, level: string = "info"): Logger {
  return pino({
    level,
    base: { service },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACT_PATHS, censor: "[REDACTED]" },
    formatters: { level: (label) => ({ level: label }) },
  });
}
