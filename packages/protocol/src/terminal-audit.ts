/**
 * The terminal's audit trail and its admin API. Every upgrade attempt (granted or refused) and every session's start
 * and end is one event in the TERMINAL_AUDIT JetStream stream; recordings go to TERMINAL_RECORDINGS, one subject per
 * session. Admins query both through terminal-ws:
 *
 *   GET /api/v1/terminal/sessions?userId=&hostId=&mode=&from=&to=&limit=&cursor=   → SessionListResponse
 *   GET /api/v1/terminal/sessions/:id                                                 → { session }
 *   GET /api/v1/terminal/sessions/:id/recording                                       → asciicast v2 (streamed)
 *   GET /api/v1/terminal/audit?kind=&userId=&hostId=&from=&to=&limit=&cursor=        → AuditListResponse
 *
 * And PatchMon's own ticket call, a thin form of POST /api/v1/auth/ticket served by auth:
 *
 *   POST /api/v1/auth/ssh-ticket {hostId} → {ticket, expiresIn}
 *
 * Browser-safe: zod only.
 */
import { z } from "zod";
import { HostId, UserId } from "./ids.js";
import { ConnectionMode } from "./terminal.js";
import { TerminalSessionId } from "./terminal-relay.js";

/** PatchMon's `POST /api/v1/auth/ssh-ticket` body. */
export const SshTicketBody = z.object({ hostId: HostId });
export type SshTicketBody = z.input<typeof SshTicketBody>;

export const AUDIT_EVENT_KINDS = ["access_granted", "access_denied", "session_started", "session_ended"] as const;
export const AuditEventKind = z.enum(AUDIT_EVENT_KINDS);
export type AuditEventKind = z.infer<typeof AuditEventKind>;

export const TerminalStreams = {
  /** Every audit event; subjects terminal.v1.audit.<kind>. */
  audit: { name: "TERMINAL_AUDIT", subjects: "terminal.v1.audit.>" },
  /** asciicast lines, one subject per session: terminal.v1.recording.<sessionId>. */
  recordings: { name: "TERMINAL_RECORDINGS", subjects: "terminal.v1.recording.>" },
} as const;

/** JetStream KV buckets owned by terminal-ws. */
export const TerminalBuckets = {
  /**
   * Live sessions cluster-wide: `session.<id>` → LiveSessionRecord, and the concurrency slots that make the per-user
   * and per-host caps exact across replicas (`user.<id>.<n>`, `host.<id>.<n>`, created atomically). Entries are
   * refreshed while the session lives; the bucket's max age removes those of a replica that died.
   */
  sessions: "terminal_sessions",
} as const;

/** One audit event. Fields that do not apply to a kind are null or absent. */
export const TerminalAuditEvent = z.object({
  id: z.string(),
  kind: AuditEventKind,
  at: z.number().int(),
  sessionId: TerminalSessionId.nullable(),
  userId: z.string().nullable(),
  username: z.string().nullable(),
  hostId: z.string().nullable(),
  hostName: z.string().nullable(),
  /** The client's address: the right-most X-Forwarded-For hop that is not a trusted proxy. */
  sourceAddress: z.string(),
  /**
   * access_granted: "ticket"; access_denied: the error code (TICKET_INVALID, ORIGIN_FORBIDDEN, FORBIDDEN…);
   * session_started: the connection mode; session_ended: the end reason (disconnected, exited, heartbeat_timeout, or a terminal error code).
   */
  reason: z.string(),
  mode: ConnectionMode.nullable().optional(),
  /** The SSH login name (session events). */
  sshUser: z.string().nullable().optional(),
  replica: z.string().optional(),
  /** session_ended */
  startedAt: z.number().int().optional(),
  durationMs: z.number().int().optional(),
  /** Characters of input (browser → host) and output (host → browser). */
  bytesIn: z.number().int().optional(),
  bytesOut: z.number().int().optional(),
  closeCode: z.number().int().optional(),
  recorded: z.boolean().optional(),
});
export type TerminalAuditEvent = z.infer<typeof TerminalAuditEvent>;

/** A session as admins list it: its start, and its end once it ended. */
export const TerminalSessionSummary = z.object({
  sessionId: TerminalSessionId,
  userId: z.string(),
  username: z.string(),
  hostId: z.string(),
  hostName: z.string(),
  mode: ConnectionMode,
  sshUser: z.string().nullable(),
  sourceAddress: z.string(),
  replica: z.string().nullable(),
  startedAt: z.number().int(),
  /** null while the session is live (or its replica died before recording the end). */
  endedAt: z.number().int().nullable(),
  durationMs: z.number().int().nullable(),
  bytesIn: z.number().int(),
  bytesOut: z.number().int(),
  closeCode: z.number().int().nullable(),
  reason: z.string().nullable(),
  recorded: z.boolean(),
});
export type TerminalSessionSummary = z.infer<typeof TerminalSessionSummary>;

const EpochMs = z.coerce.number().int().min(0);

/** Query of GET /api/v1/terminal/sessions; newest first, `cursor` from the previous page's nextCursor. */
export const SessionListQuery = z.object({
  userId: UserId.optional(),
  hostId: HostId.optional(),
  mode: ConnectionMode.optional(),
  /** Sessions started at or after / before (epoch ms). */
  from: EpochMs.optional(),
  to: EpochMs.optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().max(128).optional(),
});
export type SessionListQuery = z.input<typeof SessionListQuery>;

export const SessionListResponse = z.object({
  sessions: z.array(TerminalSessionSummary),
  nextCursor: z.string().nullable(),
});
export type SessionListResponse = z.infer<typeof SessionListResponse>;

export const TerminalSessionResponse = z.object({ session: TerminalSessionSummary });
export type TerminalSessionResponse = z.infer<typeof TerminalSessionResponse>;

/** Query of GET /api/v1/terminal/audit; newest first. */
export const AuditListQuery = z.object({
  kind: AuditEventKind.optional(),
  userId: UserId.optional(),
  hostId: HostId.optional(),
  from: EpochMs.optional(),
  to: EpochMs.optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().max(128).optional(),
});
export type AuditListQuery = z.input<typeof AuditListQuery>;

export const AuditListResponse = z.object({
  events: z.array(TerminalAuditEvent),
  nextCursor: z.string().nullable(),
});
export type AuditListResponse = z.infer<typeof AuditListResponse>;
