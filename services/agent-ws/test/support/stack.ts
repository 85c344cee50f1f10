import { connect, type NatsConnection } from "@nats-io/transport-node";
import { startStack, type RunningAuth, type RunningService, type Stack, type TestNatsServer, type TestRedisServer } from "@patchmon-ws/stack";

export interface TestHost {
  id: string;
  apiId: string;
  apiKey: string;
}

/**
 * Real servers for agent-ws integration tests (testkit's startStack): nats-server, redis-server, the auth service
 * and any number of agent-ws replicas, all as processes on free ports. Heartbeat and presence timings are shortened
 * (documented per variable) so failure detection fits in a test.
 */
export class AgentWsStack {
  private natsClient: NatsConnection | undefined;

  private constructor(readonly stack: Stack) {}

  static async start(authEnv: Record<string, string> = {}): Promise<AgentWsStack> {
    return new AgentWsStack(await startStack({ services: [{ name: "auth", env: authEnv }, { name: "agent-ws", replicas: 0 }] }));
  }

  get nats(): TestNatsServer {
    return this.stack.nats!;
  }

  get redis(): TestRedisServer {
    return this.stack.redis!;
  }

  get auth(): RunningAuth {
    return this.stack.auth;
  }

  /** Every agent-ws replica started (a killed one stays listed). */
  get replicas(): RunningService[] {
    return this.stack.services["agent-ws"] ?? [];
  }

  /** Fast failure detection for tests: replicas expire after 3 s, sweeps every 500 ms. */
  static readonly FAST_ENV: Record<string, string> = {
    REPLICA_HEARTBEAT_MS: "500",
    REPLICA_TTL_MS: "3000",
    PRESENCE_SWEEP_MS: "500",
    HELLO_GRACE_MS: "1000",
    SHUTDOWN_TIMEOUT_MS: "5000",
    LOG_LEVEL: "info",
  };

  startReplica(env: Record<string, string> = {}): Promise<RunningService> {
    return this.stack.startReplica("agent-ws", { ...AgentWsStack.FAST_ENV, ...env });
  }

  token(): Promise<string> {
    return this.auth.adminToken();
  }

  async createHost(name: string): Promise<TestHost> {
    const { host, apiKey } = await this.auth.client.createHost(await this.token(), { name });
    return { id: host.id, apiId: host.apiId, apiKey };
  }

  /** A NATS client for the test itself (subscribing to events, agent messages). */
  async natsConnection(): Promise<NatsConnection> {
    this.natsClient ??= await connect({ servers: this.nats.url });
    return this.natsClient;
  }

  async dispose(): Promise<void> {
    await this.natsClient?.close().catch(() => undefined);
    await this.stack.stop();
  }
}

export function wsUrl(service: { port: number }, version = "v1"): string {
  return `ws://127.0.0.1:${service.port}/api/${version}/agents/ws`;
}

export { eventually } from "@patchmon-ws/testkit";

export interface ApiResponse<T = Record<string, unknown>> {
  status: number;
  headers: Headers;
  body: T;
}

/** Calls agent-ws's (or the edge's) HTTP API. */
export async function api<T = Record<string, unknown>>(
  baseUrl: string,
  method: string,
  path: string,
  options: { token?: string; body?: unknown; dispatcher?: unknown } = {},
): Promise<ApiResponse<T>> {
  const headers: Record<string, string> = {};
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(baseUrl + path, {
    method,
    headers,
    ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: (text ? JSON.parse(text) : {}) as T };
}
