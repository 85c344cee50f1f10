/**
 * agent-ws's HTTP API as clients see it (the web UI, scripts, tests): request bodies, responses and the status
 * stream's Server-Sent Events. Bodies only gain optional fields; clients ignore fields they do not know.
 *
 * - POST /api/v1/agents/:hostId/commands   SingleCommandRequest → CommandReply (200/202) or an offline error (409)
 * - POST /api/v1/agents/commands           BulkCommandRequest → BulkCommandReply
 * - GET  /api/v1/agents/status?hostIds=…   → { hosts: Record<hostId, HostStatus> }
 * - GET  /api/v1/agents/:hostId/status     → { host: HostStatus }
 * - GET  /api/v1/agents/status/stream      SSE: `snapshot` (or `resumed` and the missed changes, given
 *                                          Last-Event-ID / ?lastEventId=), then `status` / `removed`; ends with
 *                                          `revoked`, `expired` or `closing`
 */
import { z } from "zod";
import { CommandId, type ServerToAgentType } from "./agent-messages.js";
import { DeliveryResult, LastDisconnect, MAX_ACK_TIMEOUT_MS, PresenceRecord } from "./agents.js";
import { ErrorCodeSchema } from "./replies.js";
import { HostId } from "./ids.js";

/**
 * Options every command request may carry:
 * - ifOffline: "fail" (default) answers 409 AGENT_OFFLINE when no agent is connected; "queue" keeps the command
 *   durably (202) and delivers it when the agent reconnects; also used when a connected agent did not ack in time.
 * - waitForAck: wait for the agent's ack when it supports acks (default true); stock agents never ack, their
 *   commands count as delivered once written.
 * - ackTimeoutMs: how long to wait for that ack (default: the service's ACK_TIMEOUT_MS).
 */
const CommandOptions = {
  ifOffline: z.enum(["fail", "queue"]).default("fail"),
  waitForAck: z.boolean().default(true),
  ackTimeoutMs: z.number().int().min(1).max(MAX_ACK_TIMEOUT_MS).optional(),
};

export const SingleCommandRequest = z.object({
  /** A server→agent catalogue message (checked against its own schema by the service). */
  command: z.unknown(),
  /** Idempotency key: re-sending with the same id never runs the command twice on agents that dedupe. */
  commandId: CommandId.optional(),
  ...CommandOptions,
});
export type SingleCommandRequest = z.input<typeof SingleCommandRequest>;

export const BulkCommandRequest = z.object({
  /** "all" (every host presence knows) or a list of host ids. */
  hostIds: z.unknown(),
  command: z.unknown(),
  ...CommandOptions,
});
export type BulkCommandRequest = z.input<typeof BulkCommandRequest>;

/** A command that could not be delivered now and waits in the durable queue. */
export const QueuedCommand = z.looseObject({
  hostId: HostId,
  commandId: CommandId,
  status: z.literal("queued"),
  jobId: z.string(),
  /** The queued command this one replaced (idempotent commands coalesce). */
  replaces: z.string().nullable(),
  reason: z.string(),
});

const Delivered = DeliveryResult.extend({ latencyMs: z.number().optional() });

/** The answer to a single-host command: delivered (200) or queued (202). */
export const CommandReply = z.union([Delivered, QueuedCommand]);
export type CommandReply = z.infer<typeof CommandReply>;

/** 409 AGENT_OFFLINE: the error body, with where the host was last seen. */
export const AgentOfflineReply = z.looseObject({
  error: z.string(),
  code: z.literal("AGENT_OFFLINE"),
  hostId: HostId,
  commandId: CommandId,
  status: z.literal("offline"),
  lastDisconnect: LastDisconnect.nullable(),
});
export type AgentOfflineReply = z.infer<typeof AgentOfflineReply>;

/** One host's outcome in a bulk send. */
export const BulkCommandResult = z.union([
  Delivered,
  QueuedCommand,
  z.looseObject({ hostId: HostId, commandId: CommandId, status: z.literal("offline") }),
  z.looseObject({ hostId: HostId, commandId: CommandId, status: z.literal("not_found") }),
  z.looseObject({ hostId: HostId, commandId: CommandId, status: z.literal("failed"), code: ErrorCodeSchema, error: z.string() }),
]);
export type BulkCommandResult = z.infer<typeof BulkCommandResult>;

export const BulkCommandReply = z.looseObject({
  type: z.string(),
  total: z.number().int(),
  elapsedMs: z.number(),
  /** How many results have each status. */
  summary: z.record(z.string(), z.number().int()),
  results: z.array(BulkCommandResult),
});
export type BulkCommandReply = z.infer<typeof BulkCommandReply> & { type: ServerToAgentType };

/** A host's status: its presence record, or "never seen" (it never connected since presence began). */
export const HostStatus = z.union([
  PresenceRecord.extend({ known: z.literal(true) }),
  z.looseObject({ hostId: HostId, known: z.literal(false), connected: z.literal(false) }),
]);
export type HostStatus = z.infer<typeof HostStatus>;

export const HostStatusesReply = z.looseObject({ hosts: z.record(z.string(), HostStatus) });
export const HostStatusReply = z.looseObject({ host: HostStatus });

/**
 * The status stream's events (`event:` name → `data:` JSON). `snapshot`, `resumed`, `status` and `removed` carry a
 * presence KV revision as `id:` (the same on every replica): reconnecting with the last one (`Last-Event-ID` header
 * or `?lastEventId=`) resumes the stream.
 */
export const StatusStreamEvents = {
  /** The selected hosts as of the revision in its `id:`. */
  snapshot: z.looseObject({ hosts: z.record(z.string(), HostStatus) }),
  /**
   * Instead of a snapshot, when the stream resumed from `fromRevision`: the `status` / `removed` events that follow
   * (in revision order) are everything that changed for the selected hosts up to `toRevision`.
   */
  resumed: z.looseObject({ fromRevision: z.number().int().nonnegative(), toRevision: z.number().int().nonnegative() }),
  status: HostStatus,
  removed: z.looseObject({ hostId: HostId }),
  /** The stream's credential was revoked (logout, user disabled…): sign in again. */
  revoked: z.looseObject({ reason: z.string() }),
  /** The credential behind the stream expired: reconnect with a fresh ticket or token. */
  expired: z.looseObject({ reason: z.string() }),
  /** The replica is draining: reconnect (another replica takes the stream). */
  closing: z.looseObject({ reason: z.string() }),
} as const;
export type StatusStreamEventName = keyof typeof StatusStreamEvents;
export type StatusStreamEvent<E extends StatusStreamEventName = StatusStreamEventName> = z.infer<(typeof StatusStreamEvents)[E]>;
export const STATUS_STREAM_EVENTS = Object.keys(StatusStreamEvents) as StatusStreamEventName[];
