import { jetstream } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { AuthBuckets } from "@patchmon-ws/protocol";
import type { Logger } from "@patchmon-ws/service-kit";
import { MirroredBucket } from "./mirrored-bucket.js";
import { StoredHost, StoredPointer, StoredSession, StoredTicket, StoredUser } from "./records.js";

/**
 * The auth service's durable state: JetStream KV buckets shared by every replica. Users, hosts and sessions are
 * mirrored in memory (verification must not cost a round trip); tickets are read from the server, because their
 * consumption must be atomic across replicas.
 */
export class AuthStore {
  private constructor(
    readonly users: MirroredBucket<StoredUser>,
    /** lower-cased username (base64url) → user id: makes usernames unique across replicas */
    readonly usernames: MirroredBucket<StoredPointer>,
    readonly hosts: MirroredBucket<StoredHost>,
    /** api id → host id */
    readonly apiIds: MirroredBucket<StoredPointer>,
    readonly sessions: MirroredBucket<StoredSession>,
    /** sha256(ticket) → ticket */
    readonly tickets: MirroredBucket<StoredTicket>,
  ) {}

  static async open(nc: NatsConnection, options: { replicas: number; sessionTtlMs: number }, logger: Logger): Promise<AuthStore> {
    // A short API timeout: during a NATS outage callers get a 503 quickly instead of hanging.
    const kvm = new Kvm(jetstream(nc, { timeout: 3000 }));
    const base = { replicas: options.replicas };
    const [users, usernames, hosts, apiIds, sessions, tickets] = await Promise.all([
      MirroredBucket.open(kvm, AuthBuckets.users, StoredUser, { ...base, mirror: true }, logger),
      MirroredBucket.open(kvm, AuthBuckets.usernames, StoredPointer, { ...base, mirror: true }, logger),
      MirroredBucket.open(kvm, AuthBuckets.hosts, StoredHost, { ...base, mirror: true }, logger),
      MirroredBucket.open(kvm, AuthBuckets.apiIds, StoredPointer, { ...base, mirror: true }, logger),
      // A session is rewritten on every refresh, so the bucket age limit only removes abandoned ones.
      MirroredBucket.open(kvm, AuthBuckets.sessions, StoredSession, { ...base, mirror: true, ttlMs: options.sessionTtlMs }, logger),
      MirroredBucket.open(kvm, AuthBuckets.tickets, StoredTicket, { ...base, mirror: false, ttlMs: 120_000 }, logger),
    ]);
    return new AuthStore(users, usernames, hosts, apiIds, sessions, tickets);
  }

  static usernameKey(username: string): string {
    return Buffer.from(username.toLowerCase(), "utf8").toString("base64url");
  }

  close(): void {
    for (const bucket of [this.users, this.usernames, this.hosts, this.apiIds, this.sessions, this.tickets]) bucket.close();
  }
}
