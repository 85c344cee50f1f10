/**
 * The Bull Board live-event socket (`/bullboard/events`), version 1: JSON text frames, one message each. Declared
 * here so the service, its tests and the web UI share one definition. Messages only gain optional fields; a
 * client ignores types and fields it does not know.
 *
 * Job and queue events come from BullMQ's event stream in order; `eventId` is the stream id and `at` its time.
 * Counts are coalesced (the latest per queue wins when a socket is slow); events are dropped oldest-first beyond
 * a bound, and a `gap` message always says so.
 */
import { z } from "zod";
import { messageUnion } from "./message-union.js";
import { ErrorCodeSchema } from "./replies.js";

export const BULLBOARD_EVENTS_PATH = "/bullboard/events";
export const EVENTS_PROTOCOL_VERSION = 1;

/** Letters, digits, `.`, `_`, `-` and BullMQ's hash-tag braces; never `:` (BullMQ's key separator). */
export const QUEUE_NAME_PATTERN = /^[A-Za-z0-9{][A-Za-z0-9._{}-]{0,127}$/;
export const QueueName = z.string().regex(QUEUE_NAME_PATTERN);

/** BullMQ job events forwarded to sockets. */
export const JOB_EVENTS = [
  "added",
  "waiting",
  "active",
  "progress",
  "completed",
  "failed",
  "stalled",
  "delayed",
  "removed",
  "retries-exhausted",
  "waiting-children",
] as const;
export type JobEventName = (typeof JOB_EVENTS)[number];

/** BullMQ queue-level events forwarded to sockets. */
export const QUEUE_EVENTS = ["paused", "resumed", "cleaned", "drained"] as const;
export type QueueEventName = (typeof QUEUE_EVENTS)[number];

/** Longest failedReason / progress text forwarded; larger values are cut (the job itself has the full value). */
export const MAX_DETAIL_CHARS = 1024;

/** Client frames are tiny; anything larger is refused by the socket (close 1009). */
export const CLIENT_MAX_PAYLOAD = 4096;

export const BOARD_MODES = ["full", "read-only"] as const;
export const BoardMode = z.enum(BOARD_MODES);
export type BoardMode = z.infer<typeof BoardMode>;

// --- client → server -----------------------------------------------------------------------------------------

export const BoardClientMessage = z.discriminatedUnion("type", [
  /** Narrow (or widen back, with "*") the queues streamed to this socket. */
  z.object({
    type: z.literal("subscribe"),
    queues: z.union([z.literal("*"), z.array(QueueName).max(500)]),
  }),
]);
export type BoardClientMessage = z.infer<typeof BoardClientMessage>;

// --- server → client -----------------------------------------------------------------------------------------

const JOB_COUNT_STATES = ["waiting", "active", "completed", "failed", "delayed", "paused", "prioritized", "waiting-children"] as const;

export const BoardServerMessages = {
  /** First message after the upgrade. */
  hello: z.looseObject({
    type: z.literal("hello"),
    v: z.number().int(),
    user: z.looseObject({ username: z.string(), mode: BoardMode }),
    queues: z.array(z.string()),
    pingIntervalMs: z.number().int(),
  }),
  /** The visible queue list changed. */
  queues: z.looseObject({ type: z.literal("queues"), queues: z.array(z.string()) }),
  counts: z.looseObject({
    type: z.literal("counts"),
    queue: z.string(),
    counts: z.record(z.string(), z.number()),
    at: z.number(),
  }),
  job: z.looseObject({
    type: z.literal("job"),
    queue: z.string(),
    event: z.enum(JOB_EVENTS),
    jobId: z.string(),
    eventId: z.string(),
    at: z.number(),
    name: z.string().optional(),
    prev: z.string().optional(),
    failedReason: z.string().optional(),
    progress: z.unknown().optional(),
    progressTruncated: z.boolean().optional(),
    delay: z.number().optional(),
    attemptsMade: z.number().optional(),
  }),
  queue: z.looseObject({
    type: z.literal("queue"),
    queue: z.string(),
    event: z.enum(QUEUE_EVENTS),
    eventId: z.string(),
    at: z.number(),
    count: z.number().optional(),
  }),
  status: z.looseObject({ type: z.literal("status"), redis: z.enum(["up", "down"]), at: z.number() }),
  /** This many job/queue events were dropped for a slow socket; re-read counts and jobs. */
  gap: z.looseObject({ type: z.literal("gap"), dropped: z.number().int() }),
  /** Answer to subscribe ("*" = every visible queue). */
  subscribed: z.looseObject({ type: z.literal("subscribed"), queues: z.union([z.literal("*"), z.array(z.string())]) }),
  /** A client message was refused. */
  error: z.looseObject({ type: z.literal("error"), code: ErrorCodeSchema, error: z.string() }),
} as const;

export type BoardServerMessageType = keyof typeof BoardServerMessages;
export type BoardServerMessage = { [K in BoardServerMessageType]: z.infer<(typeof BoardServerMessages)[K]> }[BoardServerMessageType];
export const BoardServerMessage = messageUnion(BoardServerMessages);
export type JobCounts = Partial<Record<(typeof JOB_COUNT_STATES)[number], number>>;
