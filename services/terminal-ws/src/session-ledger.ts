import type { KV } from "@nats-io/kv";
import type { ConnectionMode } from "@patchmon-ws/protocol";
import { encodeJson, isWrongLastSequence, KvHeartbeat, type BeatingKey, type Logger } from "@patchmon-ws/service-kit";

/** A live session as the whole cluster sees it (key `session.<id>`): which replica holds it, for whom, to where. */
export interface LiveSessionRecord {
  sessionId: string;
  userId: string;
  hostId: string;
  mode: ConnectionMode;
  replica: string;
  startedAt: number;
}

/** What the session caps count: sessions per user and per host (MAX_SESSIONS_PER_USER, MAX_SESSIONS_PER_HOST). */
export const SESSION_LIMIT_SCOPES = ["user", "host"] as const;
export type SessionLimitScope = (typeof SESSION_LIMIT_SCOPES)[number];

/** The caps were reached: which one, and its value. */
export class SessionLimitReached extends Error {
  constructor(
    readonly scope: SessionLimitScope,
    readonly max: number,
  ) {
    super(scope === "user" ? `You already have ${max} open terminal sessions (the most allowed); close one first.` : `This host already has ${max} open terminal sessions (the most allowed); try again later.`);
    this.name = "SessionLimitReached";
  }
}

export interface SessionLedgerOptions {
  replicaId: string;
  maxPerUser: number;
  maxPerHost: number;
  /** How often held entries are rewritten; the bucket forgets entries after about three of these. */
  refreshMs: number;
  logger: Logger;
}

/** What one session holds in the ledger, to refresh and release. */
export interface LedgerHold {
  readonly sessionId: string;
  readonly keys: readonly string[];
}

/**
 * Concurrent-session caps that hold across every replica, and the cluster's directory of live sessions, in one KV
 * bucket. A session takes one numbered slot per user and per host (`user.<id>.<n>`, `host.<id>.<n>`, n < cap) with an
 * atomic create: of two replicas racing for the last slot exactly one wins, so the caps are exact. Held entries are a
 * KvHeartbeat, rewritten every refreshMs by compare-and-set on the revision we wrote (refresh and release only touch
 * what is still ours); the bucket's max age removes those of a replica that died without releasing them.
 */
export class SessionLedger {
  /** Per session this replica holds entries for: those entries, as its heartbeat rewrites them. */
  private readonly held = new Map<string, BeatingKey[]>();
  private readonly heartbeat: KvHeartbeat;

  constructor(
    private readonly kv: KV,
    private readonly options: SessionLedgerOptions,
  ) {
    this.heartbeat = new KvHeartbeat(kv, { what: "session ledger entry", logger: options.logger });
  }

  /** Takes a user slot, a host slot and the session's directory entry; throws SessionLimitReached when a cap is full. */
  async acquire(session: Omit<LiveSessionRecord, "replica">): Promise<LedgerHold> {
    const record: LiveSessionRecord = { ...session, replica: this.options.replicaId };
    const slotValue = encodeJson({ sessionId: session.sessionId, replica: this.options.replicaId, at: session.startedAt });
    const entries = new Map<string, { value: Uint8Array; revision: number }>();
    const userSlot = await this.takeSlot(`user.${session.userId}`, this.options.maxPerUser, slotValue);
    if (!userSlot) throw new SessionLimitReached("user", this.options.maxPerUser);
    entries.set(userSlot.key, { value: slotValue, revision: userSlot.revision });
    const giveBack = () => this.kv.delete(userSlot.key, { previousSeq: userSlot.revision }).catch(() => undefined);
    const hostSlot = await this.takeSlot(`host.${session.hostId}`, this.options.maxPerHost, slotValue).catch(async (err: unknown) => {
      await giveBack();
      throw err;
    });
    if (!hostSlot) {
      await giveBack();
      throw new SessionLimitReached("host", this.options.maxPerHost);
    }
    entries.set(hostSlot.key, { value: slotValue, revision: hostSlot.revision });
    const sessionKey = `session.${session.sessionId}`;
    const recordValue = encodeJson(record);
    try {
      entries.set(sessionKey, { value: recordValue, revision: await this.kv.put(sessionKey, recordValue) });
    } catch (err) {
      this.options.logger.warn({ sessionId: session.sessionId, err: (err as Error)?.message }, "could not record the live session");
    }
    this.held.set(session.sessionId, [...entries].map(([key, { value, revision }]) => this.heartbeat.hold(key, value, revision)));
    return { sessionId: session.sessionId, keys: [...entries.keys()] };
  }

  /**
   * Frees what the session held (idempotent). Only entries still at the revision we wrote are deleted: a slot this
   * replica lost (it stalled past the bucket's max age and another took the slot) belongs to that other session now.
   */
  async release(hold: LedgerHold): Promise<void> {
    const beating = this.held.get(hold.sessionId);
    if (!beating) return;
    this.held.delete(hold.sessionId);
    await Promise.all(beating.map((entry) => this.heartbeat.release(entry)));
  }

  /** How many sessions this replica holds slots for. */
  get size(): number {
    return this.held.size;
  }

  /** Live sessions of the whole cluster (directory entries). */
  async liveSessions(): Promise<LiveSessionRecord[]> {
    const sessions: LiveSessionRecord[] = [];
    const keys = await this.kv.keys("session.*");
    for await (const key of keys) {
      const entry = await this.kv.get(key).catch(() => null);
      if (entry?.operation === "PUT") sessions.push(entry.json<LiveSessionRecord>());
    }
    return sessions;
  }

  start(): void {
    this.heartbeat.start(this.options.refreshMs);
  }

  stop(): void {
    this.heartbeat.stop();
  }

  /**
   * Rewrites every held entry so the bucket's max age does not take it: an entry that expired and was taken by
   * another session meanwhile is left to it (and no longer held here).
   */
  refresh(): Promise<void> {
    return this.heartbeat.beat();
  }

  private async takeSlot(prefix: string, max: number, value: Uint8Array): Promise<{ key: string; revision: number } | undefined> {
    for (let n = 0; n < max; n++) {
      const key = `${prefix}.${n}`;
      try {
        return { key, revision: await this.kv.create(key, value) };
      } catch (err) {
        if (!isWrongLastSequence(err)) throw err;
      }
    }
    return undefined;
  }
}
