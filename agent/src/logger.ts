/** The logger the agent writes to: pino-compatible (`log.info({fields}, "message")`) but any console-like object works. */
export interface AgentLogger {
  info(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
  debug?(...args: unknown[]): void;
}

const noop = (): void => {};

/** The library default: silent (the CLI passes a JSON logger; simulations of 10 000 agents stay quiet). */
export const SILENT_LOGGER: AgentLogger = { info: noop, warn: noop, error: noop, debug: noop };
