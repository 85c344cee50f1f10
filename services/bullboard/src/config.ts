import { z } from "zod";
import { commonConfigShape, env, loadConfig } from "@patchmon-ws/service-kit";
import { BULLMQ_PREFIX_PATTERN, QUEUE_NAME_PATTERN } from "./queue-names.js";

/** Every variable the bullboard service reads, with its default. The README's configuration table mirrors this. */
export const bullboardConfigSchema = z.object({
  ...commonConfigShape,
  PORT: env.port(3004),
  /** Redis holding the BullMQ queues (redis:// or rediss://, credentials in the URL). */
  REDIS_URL: env.url("redis://127.0.0.1:6379", ["redis:", "rediss:"]),
  /** BullMQ key prefix, as producers and workers use it. */
  BULLMQ_PREFIX: z.string().regex(BULLMQ_PREFIX_PATTERN, "must be 1-64 characters of A-Z a-z 0-9 _ . -").default("bull"),
  /** Queues shown besides the ones declared in the protocol package, comma-separated. */
  BULLBOARD_QUEUES: env
    .list("")
    .refine((names) => names.every((n) => QUEUE_NAME_PATTERN.test(n)), "every name must be 1-128 characters of A-Z a-z 0-9 . _ - { }"),
  /** How often Redis is scanned for queues that appeared or vanished; 0 turns discovery off. */
  QUEUE_DISCOVERY_INTERVAL_MS: env.nonNegativeInt(10_000),
  /** Most queues shown at once (each costs one Redis connection for its live events). */
  MAX_QUEUES: env.positiveInt(200),
  /** Origins allowed to open the live-event socket and to send writes; empty = same origin only. */
  ALLOWED_ORIGINS: env.origins(),
  /** Upper bound of the dashboard cookie's lifetime; the token's own expiry wins when sooner. */
  COOKIE_TTL_SECONDS: env.positiveInt(900),
  /** How long a verified cookie is trusted without asking auth again (at most 1 s so revocation bites fast). */
  AUTH_CACHE_TTL_MS: z.coerce.number().int().min(0).max(1000).default(1000),
  /** Timeout of a NATS request to the auth service. */
  AUTH_TIMEOUT_MS: env.positiveInt(2000),
  /** A Redis command without a reply after this long fails (the API answers 503). */
  REDIS_COMMAND_TIMEOUT_MS: env.positiveInt(5000),
  /** Longest pause between Redis reconnection attempts. */
  REDIS_RECONNECT_MAX_MS: env.positiveInt(2000),
  /** Live-event sockets per user and per process. */
  EVENTS_MAX_SOCKETS_PER_USER: env.positiveInt(20),
  EVENTS_MAX_SOCKETS: env.positiveInt(2000),
  /** Job events held for a slow socket before the oldest are dropped (a `gap` message says how many). */
  EVENTS_MAX_QUEUED: env.positiveInt(1000),
  /** Bytes buffered in a socket beyond which messages wait in its bounded outbox. */
  EVENTS_HIGH_WATER_BYTES: env.positiveInt(256 * 1024),
  /** Server ping interval; a socket missing two pongs is terminated. */
  EVENTS_PING_INTERVAL_MS: env.pingInterval(30_000),
  /** Counts are re-read at most this often per queue after job events, and on this period regardless. */
  COUNTS_MIN_INTERVAL_MS: env.positiveInt(250),
  COUNTS_REFRESH_INTERVAL_MS: env.positiveInt(5000),
  BOARD_TITLE: z.string().min(1).max(64).default("PatchMon queues"),
});

export type BullboardConfig = z.infer<typeof bullboardConfigSchema>;

export function loadBullboardConfig(source: NodeJS.ProcessEnv = process.env): BullboardConfig {
  return loadConfig(bullboardConfigSchema, source);
}
