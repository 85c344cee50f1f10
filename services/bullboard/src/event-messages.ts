/**
 * The server side of the live-event socket's protocol (declared in packages/protocol's bullboard-events): each
 * message serialised once and shared by every socket it goes to, with what the outbox needs to know about it.
 */
import {
  EVENTS_PROTOCOL_VERSION,
  MAX_DETAIL_CHARS,
  type BoardMode,
  type BoardServerMessage,
  type ErrorCode,
  type JobEventName,
  type QueueEventName,
} from "@patchmon-ws/protocol";
import type { OutboxMessage } from "@patchmon-ws/service-kit";

/** A message ready for sockets; `queue` says whose subscribers get it (undefined: everyone). */
export interface Outbound extends OutboxMessage {
  readonly queue?: string;
}

function outbound(body: BoardServerMessage, extra: { queue?: string; coalesceKey?: string; droppable?: boolean } = {}): Outbound {
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
    return outbound({ type: "hello", v: EVENTS_PROTOCOL_VERSION, user, queues: [...queues], pingIntervalMs });
  },

  queues(queues: readonly string[]): Outbound {
    return outbound({ type: "queues", queues: [...queues] }, { coalesceKey: "queues" });
  },

  counts(queue: string, counts: Record<string, number>, at: number): Outbound {
    return outbound({ type: "counts", queue, counts, at }, { queue, coalesceKey: `counts:${queue}` });
  },

  /** A BullMQ job event; `args` is what QueueEvents emitted (strings from the stream, progress parsed). */
  job(queue: string, event: JobEventName, args: Record<string, unknown>, eventId: string): Outbound {
    const body: BoardServerMessage & { type: "job" } = {
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
    const body: BoardServerMessage & { type: "queue" } = { type: "queue", queue, event, eventId, at: streamIdTime(eventId) };
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
    return outbound({ type: "subscribed", queues: queues === "*" ? "*" : [...queues] });
  },

  error(code: ErrorCode, error: string): Outbound {
    return outbound({ type: "error", code, error });
  },
};
