import { z } from "zod";
import { MAX_ACK_TIMEOUT_MS } from "@patchmon-ws/protocol";
import { commonConfigShape, env, loadConfig, parsedIntegers } from "@patchmon-ws/service-kit";

/**
 * The longest a killed replica's agents may still show online: its heartbeat expires after REPLICA_TTL_MS and the
 * next sweep, at most PRESENCE_SWEEP_MS later, marks them offline.
 */
export const MAX_OFFLINE_DETECTION_MS = 90_000;

/**
 * Every variable agent-ws reads, with its default. The README's configuration table mirrors this (see
 * services/agent-ws/README.md).
 */
export const agentWsConfigSchema = z
  .object({
    ...commonConfigShape,
    PORT: env.port(3002),
    /** Comma-separated API versions served at /api/{v}/agents/ws; others get 404 UNSUPPORTED_API_VERSION. */
    API_VERSIONS: env.apiVersions("v1"),
    /** Largest frame an agent may send (bytes); larger ones close the connection with 1009. */
    AGENT_MAX_PAYLOAD: z.coerce.number().int().min(1024).max(16 * 1024 * 1024).default(512 * 1024),
    /** How often the server pings each agent; a peer that misses two pongs in a row is terminated. */
    PING_INTERVAL_MS: env.pingInterval(25_000),
    REDIS_URL: env.url("redis://127.0.0.1:6379", ["redis:", "rediss:"]),
    /** This replica's name in presence and NATS subjects; must be unique per running process. */
    REPLICA_ID: env.replicaId(),
    /** How often a replica refreshes its heartbeat in the replicas bucket. */
    REPLICA_HEARTBEAT_MS: z.coerce.number().int().min(100).default(10_000),
    /** TTL of the replicas bucket: a replica silent this long is dead and its agents are shown offline. */
    REPLICA_TTL_MS: z.coerce.number().int().min(1000).default(30_000),
    /** How often each replica looks for agents held by dead replicas; REPLICA_TTL_MS + this ≤ MAX_OFFLINE_DETECTION_MS. */
    PRESENCE_SWEEP_MS: z.coerce.number().int().min(100).default(15_000),
    /** Replicas of agent-ws's KV buckets (1 for a single nats-server, 3 for a cluster). */
    KV_REPLICAS: z.coerce.number().int().min(1).max(5).default(1),
    /** Timeout of calls to the auth service. */
    AUTH_TIMEOUT_MS: env.positiveInt(2000),
    /** Upgrades waiting for the auth service at once; more get 503 + Retry-After (protects auth in reconnect storms). */
    MAX_PENDING_UPGRADES: env.positiveInt(2000),
    /** Agent connections this replica holds at most; more get 503 + Retry-After so they land on another replica. */
    MAX_AGENT_CONNECTIONS: env.positiveInt(50_000),
    /** Invalid frames (bad JSON, unknown type, schema) tolerated per window before closing with 1008. */
    GARBAGE_LIMIT: env.positiveInt(10),
    GARBAGE_WINDOW_MS: env.positiveInt(60_000),
    /** Default wait for an agent's ack (agents announcing the "ack" capability). */
    ACK_TIMEOUT_MS: z.coerce.number().int().min(1).max(MAX_ACK_TIMEOUT_MS).default(10_000),
    /** A command to an agent younger than this waits for its `hello` (so acks are awaited from the first command). */
    HELLO_GRACE_MS: z.coerce.number().int().min(0).max(10_000).default(1500),
    /** Durable commands: delivery attempts on transient failures, exponential backoff base. */
    COMMAND_ATTEMPTS: env.positiveInt(10),
    COMMAND_BACKOFF_MS: env.positiveInt(2000),
    /** A queued command for an offline host is re-checked this often (reconnects promote it at once). */
    COMMAND_OFFLINE_RECHECK_MS: env.positiveInt(60_000),
    /** A queued command still undelivered after this long fails (visible in Bull Board), never silently dropped. */
    COMMAND_TTL_MS: env.positiveInt(24 * 3600 * 1000),
    /** Durable commands delivered in parallel by this replica's worker. */
    COMMAND_WORKER_CONCURRENCY: env.positiveInt(50),
    /** Terminal sessions through agents (proxy mode) this replica relays at most. */
    MAX_RELAY_SESSIONS: env.positiveInt(1000),
    /** A relay session whose browser stopped reading for this long is ended (RELAY_STALLED) and the agent resumed. */
    RELAY_STALL_MS: z.coerce.number().int().min(1000).max(60_000).default(15_000),
    /** Verified user tokens are cached this long (revocation events evict them at once). */
    AUTH_CACHE_TTL_MS: z.coerce.number().int().min(0).max(60_000).default(5000),
    /** Open status streams per user. */
    STATUS_STREAMS_PER_USER: env.positiveInt(10),
    /** Comment line sent on idle status streams so proxies keep them open. */
    SSE_KEEPALIVE_MS: env.positiveInt(25_000),
    /** Largest JSON body of the command API (bulk commands list host ids). */
    HTTP_BODY_LIMIT: z.string().regex(/^[0-9]+(b|kb|mb)$/i, "a size such as 1mb").default("2mb"),
  })
  // `when`: checked even when another variable failed its own type, so one message names every bad variable.
  .refine((c) => c.REPLICA_TTL_MS + c.PRESENCE_SWEEP_MS <= MAX_OFFLINE_DETECTION_MS, {
    message: `REPLICA_TTL_MS + PRESENCE_SWEEP_MS must be at most ${MAX_OFFLINE_DETECTION_MS} (a killed replica's agents show offline within their sum)`,
    path: ["PRESENCE_SWEEP_MS"],
    when: (payload) => parsedIntegers(payload.value, "REPLICA_TTL_MS", "PRESENCE_SWEEP_MS"),
  });

export type AgentWsConfig = z.infer<typeof agentWsConfigSchema>;

export function loadAgentWsConfig(source: NodeJS.ProcessEnv = process.env): AgentWsConfig {
  return loadConfig(agentWsConfigSchema, source);
}
