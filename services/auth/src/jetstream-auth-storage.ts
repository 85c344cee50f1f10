import { jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { AuthBuckets } from "@patchmon-ws/protocol";
import type { Logger } from "@patchmon-ws/service-kit";
import { TICKET_STORE_TTL_MS, type AuthStorage, type StorageLifetimes } from "./auth-storage.js";
import { MirroredBucket } from "./mirrored-bucket.js";
import { StoredFailureWindow, StoredHost, StoredPointer, StoredSession, StoredTicket, StoredUser } from "./records.js";

/**
 * AuthStorage in JetStream KV buckets shared by every replica. Users, hosts and sessions are mirrored in memory
 * (verification must not cost a round trip); tickets are read from the server, because their consumption must be
 * atomic across replicas.
 */
export class JetStreamAuthStorage implements AuthStorage {
  private constructor(
    readonly users: MirroredBucket<StoredUser>,
    readonly usernames: MirroredBucket<StoredPointer>,
    readonly hosts: MirroredBucket<StoredHost>,
    readonly apiIds: MirroredBucket<StoredPointer>,
    readonly sessions: MirroredBucket<StoredSession>,
    readonly tickets: MirroredBucket<StoredTicket>,
    readonly failureWindows: MirroredBucket<StoredFailureWindow>,
  ) {}

  static async open(nc: NatsConnection, options: StorageLifetimes & { replicas: number }, logger: Logger): Promise<JetStreamAuthStorage> {
    // A short API timeout: during a NATS outage callers get a 503 quickly instead of hanging.
    const js = jetstream(nc, { timeout: 3000 });
    const base = { replicas: options.replicas, nc };
    const [users, usernames, hosts, apiIds, sessions, tickets, failureWindows] = await Promise.all([
      MirroredBucket.open(js, AuthBuckets.users, StoredUser, { ...base, mirror: true }, logger),
      MirroredBucket.open(js, AuthBuckets.usernames, StoredPointer, { ...base, mirror: true }, logger),
      MirroredBucket.open(js, AuthBuckets.hosts, StoredHost, { ...base, mirror: true }, logger),
      MirroredBucket.open(js, AuthBuckets.apiIds, StoredPointer, { ...base, mirror: true }, logger),
      MirroredBucket.open(js, AuthBuckets.sessions, StoredSession, { ...base, mirror: true, ttlMs: options.sessionTtlMs }, logger),
      MirroredBucket.open(js, AuthBuckets.tickets, StoredTicket, { ...base, mirror: false, ttlMs: TICKET_STORE_TTL_MS }, logger),
      // Mirrored: the agent-key hot path checks its limit without a round trip; failures are written by CAS.
      MirroredBucket.open(js, AuthBuckets.failures, StoredFailureWindow, { ...base, mirror: true, ttlMs: options.failureWindowTtlMs }, logger),
    ]);
    return new JetStreamAuthStorage(users, usernames, hosts, apiIds, sessions, tickets, failureWindows);
  }

  close(): void {
    for (const bucket of [this.users, this.usernames, this.hosts, this.apiIds, this.sessions, this.tickets, this.failureWindows]) bucket.close();
  }
}
