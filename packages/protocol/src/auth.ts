/** Messages exchanged with the auth service over NATS, and the user/host shapes other services see. */
import { z } from "zod";
import { ApiId, HostId, SessionId, UserId } from "./ids.js";
import { PERMISSIONS, ROLES } from "./permissions.js";
import { ErrorReply, replyOf } from "./replies.js";

export const Permission = z.enum(PERMISSIONS);
export type Permission = z.infer<typeof Permission>;
export const Role = z.enum(ROLES);
export type Role = z.infer<typeof Role>;

export const TICKET_PURPOSES = ["ssh-terminal", "bullboard", "agent-status"] as const;
export const TicketPurpose = z.enum(TICKET_PURPOSES);
export type TicketPurpose = z.infer<typeof TicketPurpose>;

/** Who a verified credential belongs to. */
export const Principal = z.object({
  userId: UserId,
  username: z.string(),
  role: Role,
  permissions: z.array(Permission),
  sessionId: SessionId,
  /** Epoch ms after which the credential must be re-validated. */
  expiresAt: z.number().int(),
});
export type Principal = z.infer<typeof Principal>;

export const SshTarget = z.object({
  address: z.string().min(1).max(253),
  port: z.number().int().min(1).max(65535),
  username: z.string().min(1).max(64),
});
export type SshTarget = z.infer<typeof SshTarget>;

export const PinnedHostKey = z.object({
  /** e.g. ssh-ed25519 */
  algorithm: z.string().min(1).max(64),
  /** SHA256:<base64> as OpenSSH prints it */
  fingerprint: z.string().min(1).max(128),
  pinnedAt: z.number().int(),
});
export type PinnedHostKey = z.infer<typeof PinnedHostKey>;

/** A host as other services see it (never the key hash). */
export const HostRecord = z.object({
  id: HostId,
  name: z.string(),
  apiId: ApiId,
  ssh: SshTarget.nullable(),
  hostKey: PinnedHostKey.nullable(),
  /** Record terminal sessions to this host: true/false, or null (absent from older releases) to follow the global switch. */
  recordSessions: z.boolean().nullable().optional(),
  createdAt: z.number().int(),
  updatedAt: z.number().int(),
});
export type HostRecord = z.infer<typeof HostRecord>;

/** Source address of the client, for per-address rate limits and audit. */
const SourceAddress = z.string().max(64).optional();

/**
 * Access tokens are scoped to an audience: "api" for the REST API and WebSocket upgrades, "bullboard" for the
 * dashboard cookie (issued only in exchange for a bullboard ticket, so an API token cannot be replayed there).
 */
export const TOKEN_AUDIENCES = ["api", "bullboard"] as const;
export const TokenAudience = z.enum(TOKEN_AUDIENCES);
export type TokenAudience = z.infer<typeof TokenAudience>;

export const VerifyAccessRequest = z.object({
  token: z.string().min(1).max(8192),
  audience: TokenAudience.default("api"),
  sourceAddress: SourceAddress,
});
export const VerifyAccessReply = replyOf({ principal: Principal });

export const ConsumeTicketRequest = z.object({
  ticket: z.string().min(1).max(256),
  purpose: TicketPurpose,
  /** The target the ticket must have been issued for (host id for ssh-terminal, "*" for bullboard). */
  target: z.string().min(1).max(128),
  sourceAddress: SourceAddress,
  /** Also issue a short-lived token for this audience (e.g. the bullboard cookie), bound to the same session. */
  issueToken: z.object({ audience: TokenAudience }).optional(),
});
export const ConsumeTicketReply = replyOf({
  principal: Principal,
  token: z.string().optional(),
  tokenExpiresAt: z.number().int().optional(),
});

/** The principal of a live login session, for services re-checking a long-lived socket opened with a ticket. */
export const VerifySessionRequest = z.object({ sessionId: SessionId, userId: UserId });
export const VerifySessionReply = replyOf({ principal: Principal });

export const VerifyAgentRequest = z.object({
  apiId: z.string().min(1).max(256),
  apiKey: z.string().min(1).max(1024),
  sourceAddress: SourceAddress,
});
export const VerifyAgentReply = replyOf({ host: HostRecord });

/** Agent verifications one batch carries at most. */
export const MAX_AGENT_VERIFICATIONS_PER_BATCH = 100;

/** Several agent verifications in one message (upgrades that arrive together: a fleet reconnecting after a restart). */
export const VerifyAgentsRequest = z.object({ agents: z.array(VerifyAgentRequest).min(1).max(MAX_AGENT_VERIFICATIONS_PER_BATCH) });
/** One answer per request, in request order, each what `auth.v1.verify.agent` would have answered. */
export const VerifyAgentsReply = replyOf({
  results: z.array(z.discriminatedUnion("ok", [z.looseObject({ ok: z.literal(true), host: HostRecord }), ErrorReply])),
});

export const GetHostRequest = z.object({ hostId: HostId });
export const GetHostReply = replyOf({ host: HostRecord });

export const PinHostKeyRequest = z.object({
  hostId: HostId,
  algorithm: z.string().min(1).max(64),
  fingerprint: z.string().min(1).max(128),
});
/** `pinned` says whether this call pinned it; `hostKey` is the key pinned now (ours or an earlier one). */
export const PinHostKeyReply = replyOf({ pinned: z.boolean(), hostKey: PinnedHostKey });

export const REVOCATION_REASONS = [
  "logout",
  "refresh_token_reused",
  "session_revoked",
  "user_disabled",
  "user_deleted",
  "user_changed",
  "key_rotated",
  "host_deleted",
] as const;
export const RevocationEvent = z.object({
  kind: z.enum(["user", "session", "host"]),
  id: z.string(),
  reason: z.enum(REVOCATION_REASONS),
  at: z.number().int(),
});
export type RevocationEvent = z.infer<typeof RevocationEvent>;
