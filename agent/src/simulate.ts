/**
 * Many reference agents in one process, for load tests: one resolved settings object, one Dialer (shared
 * https.Agent, so TLS sessions are resumed across agents, or one proxy agent), one timer wheel for every ping,
 * deadline and backoff, and a gate bounding how many connection attempts are in flight.
 */
import { ConnectGate } from "./connect-gate.js";
import { Dialer } from "./dialer.js";
import { resolveSettings, validateCredentials, type AgentOptions } from "./options.js";
import { ReferenceAgent, warnAboutSettings } from "./reference-agent.js";
import { TimerWheel, wheelResolutionFor } from "./timer-wheel.js";

/** Default bound on simultaneous connection attempts (initial connects and reconnects alike). */
export const DEFAULT_CONNECT_CONCURRENCY = 200;

export interface SimulateOptions extends Omit<AgentOptions, "apiId" | "apiKey"> {
  agents: { apiId: string; apiKey: string }[];
  connectConcurrency?: number;
}

export interface Simulation {
  readonly agents: ReferenceAgent[];
  /**
   * `performance.now()` right before the first agent started connecting (after every agent was created), for load
   * generators that time a connect storm from its first connection attempt.
   */
  readonly startedAt: number;
  /** Agents whose WebSocket is open right now. */
  connectedCount(): number;
  /** Resolves once at least `count` (default: all) agents are connected; rejects after timeoutMs (default 60 s). */
  waitForConnected(count?: number, timeoutMs?: number): Promise<void>;
  /** Stops every agent (close 1000) and frees the shared resources. */
  stop(): Promise<void>;
}

/** Creates and starts the agents; resolves once all are started (not connected: see waitForConnected). */
export async function simulate(options: SimulateOptions): Promise<Simulation> {
  const { agents: credentials, connectConcurrency = DEFAULT_CONNECT_CONCURRENCY, ...agentOptions } = options;
  const seen = new Set<string>();
  for (const { apiId, apiKey } of credentials) {
    validateCredentials(apiId, apiKey);
    if (seen.has(apiId)) throw new RangeError(`api id ${apiId} appears twice: two agents with one identity replace each other`);
    seen.add(apiId);
  }
  const settings = resolveSettings(agentOptions);
  warnAboutSettings(settings);
  const dialer = new Dialer(settings);
  const wheel = new TimerWheel(wheelResolutionFor(settings.pingIntervalMs, settings.readDeadlineMs, settings.backoff.initialMs, settings.handshakeTimeoutMs));
  const gate = new ConnectGate(connectConcurrency);
  const shared = { settings, dialer, wheel, gate };

  let connected = 0;
  let waiters: { count: number; resolve: () => void }[] = [];
  const agents = credentials.map(({ apiId, apiKey }) => {
    const agent = new ReferenceAgent({ ...agentOptions, apiId, apiKey }, shared);
    agent.on("connected", () => {
      connected += 1;
      if (waiters.length > 0) {
        const ready = waiters.filter((w) => connected >= w.count);
        waiters = waiters.filter((w) => connected < w.count);
        for (const waiter of ready) waiter.resolve();
      }
    });
    agent.on("disconnected", () => {
      connected -= 1;
    });
    // Failures are logged by each agent; this listener only keeps "error" events from being fatal.
    agent.on("error", () => {});
    return agent;
  });
  const startedAt = performance.now();
  for (const agent of agents) agent.start();

  return {
    agents,
    startedAt,
    connectedCount: () => connected,
    waitForConnected(count = agents.length, timeoutMs = 60_000) {
      if (connected >= count) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const waiter = {
          count,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        };
        const timer = setTimeout(() => {
          waiters = waiters.filter((w) => w !== waiter);
          reject(new Error(`only ${connected} of ${count} agents connected after ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.push(waiter);
      });
    },
    async stop() {
      await Promise.all(agents.map((agent) => agent.stop()));
      dialer.close();
    },
  };
}
