/** Creates reference agents for a test with fast timings, remembers them, and stops them all afterwards. */
import type { AgentLogger } from "../../src/logger.js";
import type { AgentOptions } from "../../src/options.js";
import { ReferenceAgent } from "../../src/reference-agent.js";

export interface LogEntry {
  level: "debug" | "info" | "warn" | "error";
  fields: Record<string, unknown>;
  msg: string;
}

export function captureLogger(): AgentLogger & { entries: LogEntry[] } {
  const entries: LogEntry[] = [];
  const at =
    (level: LogEntry["level"]) =>
    (...args: unknown[]) => {
      const [first, ...rest] = args;
      const fields = typeof first === "object" && first !== null ? (first as Record<string, unknown>) : {};
      const msg = [typeof first === "string" ? first : "", ...rest.map(String)].filter(Boolean).join(" ");
      entries.push({ level, fields, msg });
    };
  return { entries, debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

/** Fast timings for tests: reconnect within ~50 ms, production heartbeat unless a test overrides it. */
export const FAST: Partial<AgentOptions> = { backoff: { initialMs: 50, maxMs: 200, resetAfterMs: 1_000 } };

export class AgentPool {
  private readonly agents: ReferenceAgent[] = [];

  create(options: Omit<AgentOptions, "apiId" | "apiKey"> & Partial<Pick<AgentOptions, "apiId" | "apiKey">>): ReferenceAgent {
    const agent = new ReferenceAgent({ apiId: "host_test_1", apiKey: "k3y-for-tests", ...FAST, ...options });
    this.agents.push(agent);
    return agent;
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.agents.splice(0).map((agent) => agent.stop()));
  }
}
