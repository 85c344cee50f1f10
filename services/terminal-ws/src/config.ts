import { z } from "zod";
import { commonConfigShape, env, loadConfig, parsedIntegers } from "@patchmon-ws/service-kit";

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

/**
 * Every variable terminal-ws reads, with its default. The README's configuration table mirrors this (a test keeps
 * them in step).
 */
export const terminalWsConfigSchema = z
  .object({
    ...commonConfigShape,
    PORT: env.port(3003),
    /** Comma-separated API versions served at /api/{v}/ssh-terminal/:hostId; others get 404 UNSUPPORTED_API_VERSION. */
    API_VERSIONS: env.apiVersions("v1"),
    /** This replica's name (audit, session directory); unique per running process. */
    REPLICA_ID: env.replicaId(),
    /** Origins allowed to open a terminal; empty = same origin only (judged by the trusted edge's Host and scheme). */
    ALLOWED_ORIGINS: env.origins(),
    /** Timeout of calls to the auth service. */
    AUTH_TIMEOUT_MS: env.positiveInt(2000),
    /** Server ping interval; a browser missing two pongs is terminated. */
    PING_INTERVAL_MS: env.pingInterval(25_000),
    /** Terminal sockets this replica holds at most; more get 503 OVERLOADED (another replica may take them). */
    MAX_SESSIONS: env.positiveInt(2000),
    /** Open SSH sessions per user and per host, counted across every replica; more get SESSION_LIMIT (4004). */
    MAX_SESSIONS_PER_USER: env.positiveInt(5),
    MAX_SESSIONS_PER_HOST: env.positiveInt(10),
    /** A socket that sends no `connect` within this long is closed. */
    CONNECT_TIMEOUT_MS: env.positiveInt(60_000),
    /** Without input or resize for this long the session closes (4002); 0 = never. */
    IDLE_TIMEOUT_MS: env.nonNegativeInt(15 * MINUTE),
    /** How long before the idle close the browser is warned. */
    IDLE_WARNING_MS: env.positiveInt(MINUTE),
    /** The longest a session may last (4007); 0 = unbounded. */
    MAX_SESSION_MS: env.nonNegativeInt(8 * 60 * MINUTE),
    /** How long before the maximum duration the browser is warned. */
    MAX_SESSION_WARNING_MS: env.positiveInt(5 * MINUTE),
    /** SSH handshake + authentication bound (direct mode), and the agent's answer to ssh_proxy (proxy mode). */
    SSH_READY_TIMEOUT_MS: env.positiveInt(20_000),
    /** SSH keepalive period (direct mode); three unanswered end the session. */
    SSH_KEEPALIVE_MS: env.positiveInt(15_000),
    /** Bytes queued towards a browser above which the SSH channel (or the agent relay) is paused. */
    OUTPUT_HIGH_WATER_BYTES: env.positiveInt(512 * 1024),
    /** Invalid browser messages tolerated per minute before closing with 1008. */
    MAX_INVALID_MESSAGES: env.positiveInt(10),
    /** Record every session (asciicast v2) unless the host says otherwise. */
    RECORD_SESSIONS: env.boolean(false),
    /** Recordings older than this are deleted. */
    RECORDING_MAX_AGE_DAYS: env.positiveInt(30),
    /** Total size of all recordings; the oldest recordings are deleted beyond it. */
    RECORDING_MAX_BYTES: env.positiveInt(1024 * 1024 * 1024),
    /** Audit events (access attempts, session starts and ends) older than this are deleted. */
    AUDIT_MAX_AGE_DAYS: env.positiveInt(365),
    /** Audit events each replica keeps in memory for the admin queries (the newest). */
    AUDIT_INDEX_MAX_EVENTS: env.positiveInt(200_000),
    /** JetStream replicas of terminal-ws's KV bucket and streams (3 on a NATS cluster). */
    KV_REPLICAS: z.coerce.number().int().min(1).max(5).default(1),
    /** Verified user tokens (admin API) are cached this long; revocation events evict them at once. */
    AUTH_CACHE_TTL_MS: z.coerce.number().int().min(0).max(60_000).default(5000),
  })
  // `when`: checked even when another variable failed its own type, so one message names every bad variable.
  .refine((c) => c.IDLE_TIMEOUT_MS === 0 || c.IDLE_WARNING_MS < c.IDLE_TIMEOUT_MS, {
    message: "must be shorter than IDLE_TIMEOUT_MS",
    path: ["IDLE_WARNING_MS"],
    when: (payload) => parsedIntegers(payload.value, "IDLE_TIMEOUT_MS", "IDLE_WARNING_MS"),
  })
  .refine((c) => c.MAX_SESSION_MS === 0 || c.MAX_SESSION_WARNING_MS < c.MAX_SESSION_MS, {
    message: "must be shorter than MAX_SESSION_MS",
    path: ["MAX_SESSION_WARNING_MS"],
    when: (payload) => parsedIntegers(payload.value, "MAX_SESSION_MS", "MAX_SESSION_WARNING_MS"),
  });

export type TerminalWsConfig = z.infer<typeof terminalWsConfigSchema>;

export const RECORDING_MAX_AGE_MS = (config: TerminalWsConfig) => config.RECORDING_MAX_AGE_DAYS * DAY;
export const AUDIT_MAX_AGE_MS = (config: TerminalWsConfig) => config.AUDIT_MAX_AGE_DAYS * DAY;

export function loadTerminalWsConfig(source: NodeJS.ProcessEnv = process.env): TerminalWsConfig {
  return loadConfig(terminalWsConfigSchema, source);
}
