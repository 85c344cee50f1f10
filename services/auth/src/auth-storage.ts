import type { RecordCollection } from "./record-collection.js";
import type { StoredFailureWindow, StoredHost, StoredPointer, StoredSession, StoredTicket, StoredUser } from "./records.js";

/**
 * The auth service's durable state, as the core sees it: one collection per kind of record. JetStreamAuthStorage
 * keeps them in JetStream KV buckets shared by every replica; InMemoryAuthStorage in this process.
 */
export interface AuthStorage {
  readonly users: RecordCollection<StoredUser>;
  /** usernameKey(username) → user id: makes usernames unique (case-insensitively) across replicas */
  readonly usernames: RecordCollection<StoredPointer>;
  readonly hosts: RecordCollection<StoredHost>;
  /** api id → host id */
  readonly apiIds: RecordCollection<StoredPointer>;
  readonly sessions: RecordCollection<StoredSession>;
  /** sha256(ticket) → ticket */
  readonly tickets: RecordCollection<StoredTicket>;
  /** failure counters of the per-source limits, shared by replicas (SharedFailureLimiter) */
  readonly failureWindows: RecordCollection<StoredFailureWindow>;
  close(): void;
}

/** Lifetimes the storage enforces by itself (bucket max ages). */
export interface StorageLifetimes {
  /** Sessions are rewritten on every refresh, so this only removes abandoned ones. */
  sessionTtlMs: number;
  /** At least the longest failure window: idle counters disappear after this. */
  failureWindowTtlMs: number;
}

/** Tickets live 30 s at most; the store forgets unconsumed ones after this. */
export const TICKET_STORE_TTL_MS = 120_000;

/** The key of a username in `usernames`: lower-cased, then base64url, so any username is a valid KV key. */
export function usernameKey(username: string): string {
  return Buffer.from(username.toLowerCase(), "utf8").toString("base64url");
}
