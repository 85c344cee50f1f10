/**
 * The live-event socket's protocol (`/bullboard/events`), version 1. JSON text frames, one message each.
 *
 * Server → client:
 *  - `hello`   {v, user:{username, mode}, queues, pingIntervalMs}        first message after the upgrade
 *  - `queues`  {queues}                                                  the visible queue list changed
 *  - `counts`  {queue, counts:{waiting, active, completed, failed, delayed, paused, prioritized, "waiting-children"}, at}
 *  - `job`     {queue, event, jobId, eventId, at, name?, prev?, failedReason?, progress?, delay?, attemptsMade?}
 *  - `queue`   {queue, event: paused|resumed|cleaned|drained, eventId, at, count?}
 *  - `status`  {redis: "up"|"down", at}
 *  - `gap`     {dropped}     this many job/queue events were dropped for a slow socket; re-read counts/jobs
 *  - `subscribed` {queues}   answer to subscribe ("*" = every visible queue)
 *  - `error`   {code, error} a client message was refused
 * Client → server:
 *  - `subscribe` {queues: string[] | "*"}   narrow (or widen back) the queues streamed to this socket
 *
 * Job and queue events come from BullMQ's event stream in order; `eventId` is the stream id and `at` its time.
 * Counts are coalesced (the latest per queue wins when a socket is slow); events are dropped oldest-first
 * beyond a bound, and a `gap` message always says so.
 */
import { z } from "zod";
import { QUEUE_NAME_PATTERN } from "./queue-names.js";
import type { BoardMode } from "./board-mode.js";

export const EVENTS_PROTOCOL_VERSION = 1;

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

export const ClientMessage = z.discriminatedUnion("type", [
  z.object({
    type: z.literal("subscribe"),
    queues: z.union([z.literal("*"), z.array(z.string().regex(QUEUE_NAME_PATTERN)).max(500)]),
  }),
]);
export type ClientMessage = z.infer<typeof ClientMessage>;

/**
 * A message ready for sockets: serialised once, shared by every socket it goes to. `queue` says whose subscribers
 * get it (undefined: everyone); `coalesceKey` marks state that a newer message of the same key supersedes;
 * `droppable` marks events a slow socket may lose (and be told about).
 */
export interface Outbound {
  readonly json: string;
  readonly queue?: string;
  readonly coalesceKey?: string;
  readonly droppable: boolean;
}

function outbound(body: object, extra: { queue?: string; coalesceKey?: string; droppable?: boolean } = {}): Outbound {
  return {
    json: JSON.stringify(body),
    droppable: extra.droppable ?? false,
    ...(extra.queue !== undefined ? { queue: extra.queue } : {}),
    ...(extra.coalesceKey !== undefined ? { coalesceKey: extra.coalesceKey } : {}),
  };
}

/** Epoch ms of a Redis stream id (`<ms>-<seq>`); now when it is not one. */
export function streamIdTime(eventId: string, now = Date.now()): number {
  const ms = Number(eventId.split("-")[0]);
  return Number.isFinite(ms) && ms > 0 ? ms : now;
}

function cut(text: string): string {
  return text.length <= MAX_DETAIL_CHARS ? text : `${text.slice(0, MAX_DETAIL_CHARS - 1)}…`;
}

export const messages = {
  hello(user: { username: string; mode: BoardMode }, queues: readonly string[], pingIntervalMs: number): Outbound {
    return outbound({ type: "hello", v: EVENTS_PROTOCOL_VERSION, user, queues, pingIntervalMs });
  },

  queues(queues: readonly string[]): Outbound {
    return outbound({ type: "queues", queues }, { coalesceKey: "queues" });
  },

  counts(queue: string, counts: Record<string, number>, at: number): Outbound {
    return outbound({ type: "counts", queue, counts, at }, { queue, coalesceKey: `counts:${queue}` });
  },

  /** A BullMQ job event; `args` is what QueueEvents emitted (strings from the stream, progress parsed). */
  job(queue: string, event: JobEventName, args: Record<string, unknown>, eventId: string): Outbound {
    const body: Record<string, unknown> = {
      type: "job",
      queue,
      event,
      jobId: String(args.jobId ?? ""),
      eventId,
      at: streamIdTime(eventId),
    };
    if (typeof args.name === "string") body.name = cut(args.name);
    if (typeof args.prev === "string") body.prev = args.prev;
    if (typeof args.failedReason === "string") body.failedReason = cut(args.failedReason);
    if (args.delay !== undefined && Number.isFinite(Number(args.delay))) body.delay = Number(args.delay);
    if (args.attemptsMade !== undefined && Number.isFinite(Number(args.attemptsMade))) body.attemptsMade = Number(args.attemptsMade);
    if (event === "progress" && args.data !== undefined) {
      const progress = JSON.stringify(args.data) ?? "null";
      if (progress.length <= MAX_DETAIL_CHARS) body.progress = args.data;
      else body.progressTruncated = true;
    }
    return outbound(body, { queue, droppable: true });
  },

  queueEvent(queue: string, event: QueueEventName, args: Record<string, unknown>, eventId: string): Outbound {
    const body: Record<string, unknown> = { type: "queue", queue, event, eventId, at: streamIdTime(eventId) };
    if (args.count !== undefined && Number.isFinite(Number(args.count))) body.count = Number(args.count);
    return outbound(body, { queue, droppable: true });
  },

  status(redisUp: boolean, at = Date.now()): Outbound {
    return outbound({ type: "status", redis: redisUp ? "up" : "down", at }, { coalesceKey: "status" });
  },

  gap(dropped: number): Outbound {
    return outbound({ type: "gap", dropped });
  },

  subscribed(queues: readonly string[] | "*"): Outbound {
    return outbound({ type: "subscribed", queues });
  },

  error(code: string, error: string): Outbound {
    return outbound({ type: "error", code, error });
  },
};
