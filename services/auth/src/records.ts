/** What the auth service stores in its KV buckets. Views sent to clients never include hashes. */
import { z } from "zod";
import { HostRecord, SessionId, TicketPurpose, UserId, UserView } from "@patchmon-ws/protocol";

/** A user as stored: what clients see plus the password hash. */
export const StoredUser = UserView.extend({ passwordHash: z.string() });
export type StoredUser = z.infer<typeof StoredUser>;

/** A host as stored: what other services see plus the hash of its API key. */
export const StoredHost = HostRecord.extend({ apiKeyHash: z.string() });
export type StoredHost = z.infer<typeof StoredHost>;

/** A login session; the refresh token family. Revoked sessions are kept until they expire, for reuse detection. */
export const StoredSession = z.object({
  id: SessionId,
  userId: UserId,
  createdAt: z.number().int(),
  expiresAt: z.number().int(),
  refreshHash: z.string(),
  /** Hashes of refresh tokens already rotated away; presenting one means the family leaked. */
  previousRefreshHashes: z.array(z.string()),
  /**
   * The last rotation, for the refresh grace window: whoever presents the token it replaced (fromHash) before
   * `until` gets the same new refresh token back. The new secret is sealed under a key derived from the replaced
   * secret, which is stored nowhere (only its hash), so this record never reveals a usable token. Optional: records
   * written by an older release have none.
   */
  lastRotation: z
    .object({ fromHash: z.string(), until: z.number().int(), sealedSecret: z.string() })
    .nullable()
    .optional(),
  revokedAt: z.number().int().nullable(),
  revokeReason: z.string().nullable(),
});
export type StoredSession = z.infer<typeof StoredSession>;

export const StoredTicket = z.object({
  userId: UserId,
  sessionId: SessionId,
  purpose: TicketPurpose,
  target: z.string(),
  expiresAt: z.number().int(),
});
export type StoredTicket = z.infer<typeof StoredTicket>;

/** One source's failures in one limiter's current window (key: sha256 of limiter name and source address). */
export const StoredFailureWindow = z.object({
  failures: z.number().int().min(0),
  /** Epoch ms; the window is over (and the count void) from then on. */
  windowEndsAt: z.number().int(),
});
export type StoredFailureWindow = z.infer<typeof StoredFailureWindow>;

export const StoredPointer = z.object({ id: z.string() });
export type StoredPointer = z.infer<typeof StoredPointer>;

export function userView(user: StoredUser): UserView {
  const { passwordHash: _hash, ...view } = user;
  return view;
}

export function hostView(host: StoredHost): HostRecord {
  const { apiKeyHash: _hash, ...view } = host;
  // Hosts stored by older releases have no switch: they follow the global one.
  return { ...view, recordSessions: view.recordSessions ?? null };
}
