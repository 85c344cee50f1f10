/**
 * Every NATS subject of the system, declared once. A breaking change to a message gets a new version segment
 * while the old subject is still served (DESIGN.md §1). Identifiers interpolated here must already have passed
 * IDENTIFIER_PATTERN.
 */
import { IDENTIFIER_PATTERN } from "./ids.js";

function token(id: string): string {
  if (!IDENTIFIER_PATTERN.test(id)) throw new Error(`refusing to build a subject from ${JSON.stringify(id)}`);
  return id;
}

/** Queue group shared by every auth replica, so requests are load-balanced. */
export const AUTH_QUEUE_GROUP = "auth";

export const AuthSubjects = {
  /** Verify a user access token. */
  verifyAccess: "auth.v1.verify.access",
  /** Consume a one-time ticket, bound to purpose and target. */
  consumeTicket: "auth.v1.ticket.consume",
  /** Re-check a login session and its user (long-lived sockets after a user_changed event). */
  verifySession: "auth.v1.verify.session",
  /** Verify an agent's X-API-ID / X-API-KEY. */
  verifyAgent: "auth.v1.verify.agent",
  /** Verify several agents at once (VerifyAgentsRequest): one message for upgrades that arrive together. */
  verifyAgents: "auth.v1.verify.agents",
  /** Fetch a host's public record (name, SSH target, pinned host key). */
  getHost: "auth.v1.hosts.get",
  /** Pin a host's SSH host key if none is pinned yet (trust on first use). */
  pinHostKey: "auth.v1.hosts.pin-key",
  /** Revocation events: auth.v1.revoked.<kind>.<id>. */
  revokedAll: "auth.v1.revoked.>",
  revokedUser: (userId: string) => `auth.v1.revoked.user.${token(userId)}`,
  revokedSession: (sessionId: string) => `auth.v1.revoked.session.${token(sessionId)}`,
  revokedHost: (hostId: string) => `auth.v1.revoked.host.${token(hostId)}`,
} as const;

/** JetStream KV buckets owned by the auth service. */
export const AuthBuckets = {
  users: "auth_users",
  usernames: "auth_usernames",
  hosts: "auth_hosts",
  apiIds: "auth_api_ids",
  sessions: "auth_sessions",
  tickets: "auth_tickets",
  /** sha256(limiter + source address) → {failures, windowEndsAt}: failure limits shared by every auth replica */
  failures: "auth_failures",
} as const;
