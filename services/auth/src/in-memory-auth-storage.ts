import { TICKET_STORE_TTL_MS, type AuthStorage, type StorageLifetimes } from "./auth-storage.js";
import { InMemoryCollection } from "./in-memory-collection.js";
import type { StoredFailureWindow, StoredHost, StoredPointer, StoredSession, StoredTicket, StoredUser } from "./records.js";

/**
 * AuthStorage in this process's memory, with the same max ages as the JetStream buckets. Good for one replica
 * that may lose its state on restart (development, tests of the core); several replicas need JetStreamAuthStorage.
 */
export class InMemoryAuthStorage implements AuthStorage {
  readonly users: InMemoryCollection<StoredUser>;
  readonly usernames: InMemoryCollection<StoredPointer>;
  readonly hosts: InMemoryCollection<StoredHost>;
  readonly apiIds: InMemoryCollection<StoredPointer>;
  readonly sessions: InMemoryCollection<StoredSession>;
  readonly tickets: InMemoryCollection<StoredTicket>;
  readonly failureWindows: InMemoryCollection<StoredFailureWindow>;

  constructor(lifetimes: StorageLifetimes, now: () => number = Date.now) {
    this.users = new InMemoryCollection("users", { now });
    this.usernames = new InMemoryCollection("usernames", { now });
    this.hosts = new InMemoryCollection("hosts", { now });
    this.apiIds = new InMemoryCollection("apiIds", { now });
    this.sessions = new InMemoryCollection("sessions", { now, ttlMs: lifetimes.sessionTtlMs });
    this.tickets = new InMemoryCollection("tickets", { now, ttlMs: TICKET_STORE_TTL_MS });
    this.failureWindows = new InMemoryCollection("failureWindows", { now, ttlMs: lifetimes.failureWindowTtlMs });
  }

  close(): void {
    for (const collection of [this.users, this.usernames, this.hosts, this.apiIds, this.sessions, this.tickets, this.failureWindows]) collection.close();
  }
}
