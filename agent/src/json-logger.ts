/** The CLI's logger: one JSON object a line (time, level, msg, fields), like the services' pino output. */
import type { AgentLogger } from "./logger.js";

export const LOG_LEVELS = ["debug", "info", "warn", "error", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

export function isLogLevel(value: string): value is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(value);
}

export function createJsonLogger(level: LogLevel, write: (line: string) => void = (line) => process.stdout.write(line)): AgentLogger {
  const at =
    (name: Exclude<LogLevel, "silent">) =>
    (...args: unknown[]): void => {
      if (RANK[name] < RANK[level]) return;
      write(`${JSON.stringify(formatEntry(name, args))}\n`);
    };
  return { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

function formatEntry(level: string, args: unknown[]): Record<string, unknown> {
  const entry: Record<string, unknown> = { time: new Date().toISOString(), level };
  let rest = args;
  const first = args[0];
  if (typeof first === "object" && first !== null && !(first instanceof Error)) {
    for (const [key, value] of Object.entries(first)) if (value !== undefined) entry[key] = serialise(value);
    rest = args.slice(1);
  }
  const text = rest.map((part) => (typeof part === "string" ? part : JSON.stringify(serialise(part)))).join(" ");
  if (text) entry.msg = text;
  return entry;
}

function serialise(value: unknown): unknown {
  if (value instanceof Error) {
    const code = (value as NodeJS.ErrnoException).code;
    return code === undefined ? { message: value.message } : { message: value.message, code };
  }
  return value;
}
