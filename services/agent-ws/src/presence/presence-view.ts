import type { KV, KvEntry } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { AgentBuckets, PresenceRecord } from "@patchmon-ws/protocol";
import { KvFollower, type Logger, type PresenceSource } from "@patchmon-ws/service-kit";
import type { PresenceChange, VersionedRecord } from "./presence-record.js";
import { changesSince, DEFAULT_REMOVAL_LOG_LIMIT, RemovalLog, type ChangesSince, type ResumableState } from "./presence-history.js";

export type PresenceListener = (change: PresenceChange) => void;

export interface PresenceViewOptions {
  /** Removals remembered for status streams that resume (default 10 000); older ones make a resume a snapshot. */
  removalLogLimit?: number;
  /** How often the watch is checked against the bucket (KvFollower); default 5000 ms. */
  checkEveryMs?: number;
}

const encoder = new TextEncoder();

/** Distinct repeated values (replica ids, versions, addresses) shared across records at most. */
const MAX_SHARED_STRINGS = 4096;

export function encodeRecord(record: PresenceRecord): Uint8Array {
  return encoder.encode(JSON.stringify(record));
}

/**
 * Every replica's in-memory copy of the presence bucket, fed by a KV watch that survives NATS failures (KvFollower):
 * status queries and streams read it without a round trip.
 *
 * Two audiences. Reads (`get`, `values`) and `subscribe` listeners see this replica's own writes at once
 * (`remember`), before the watch echoes them. Status streams (`follow`, `confirmed`, `changesSince`) see the bucket
 * as the watch delivers it: every change once, strictly in revision order, own writes when their echo arrives — the
 * same sequence on every replica, so a stream's last revision means the same everywhere and a client may resume
 * from it on any replica. For that the view also remembers recent removals (bounded, `RemovalLog`).
 */
export class PresenceView implements ResumableState, PresenceSource {
  private readonly records = new Map<string, VersionedRecord>();
  /**
   * Hosts whose record in `records` is an own write the watch has not delivered yet: what the watch last applied
   * for them (null: no record). Always a subset of `records`' keys.
   */
  private readonly unconfirmed = new Map<string, VersionedRecord | null>();
  private readonly strings = new Map<string, string>();
  private readonly listeners = new Set<PresenceListener>();
  private readonly followers = new Set<PresenceListener>();
  private readonly follower: KvFollower;
  private readyFlag = false;
  /** The last revision the watch delivered: every change up to it is applied. */
  private watched = 0;
  readonly removals: RemovalLog;

  constructor(
    readonly kv: KV,
    nc: Pick<NatsConnection, "status">,
    private readonly logger: Logger,
    options: PresenceViewOptions = {},
  ) {
    this.removals = new RemovalLog(options.removalLogLimit ?? DEFAULT_REMOVAL_LOG_LIMIT);
    this.follower = new KvFollower(kv, nc, {
      name: AgentBuckets.presence,
      logger,
      ...(options.checkEveryMs ? { checkEveryMs: options.checkEveryMs } : {}),
      onEntry: (entry) => this.apply(entry),
      onSynced: (revision) => this.synced(revision),
    });
  }

  /** Starts the watch; resolves once the bucket's current content is loaded (or after 15 s, loading on). */
  async start(): Promise<void> {
    await this.follower.start();
    this.readyFlag = true;
  }

  stop(): void {
    this.follower.stop();
    this.listeners.clear();
    this.followers.clear();
  }

  get ready(): boolean {
    return this.readyFlag;
  }

  /** The highest revision the watch delivered: the view reflects every change of the bucket up to it. */
  get revision(): number {
    return this.watched;
  }

  get(hostId: string): VersionedRecord | undefined {
    return this.records.get(hostId);
  }

  values(): IterableIterator<VersionedRecord> {
    return this.records.values();
  }

  get size(): number {
    return this.records.size;
  }

  /** Every change as soon as this replica knows it: own writes at once (possibly ahead of other replicas' earlier ones). */
  subscribe(listener: PresenceListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Every change as the watch delivers it: once each, in revision order, own writes included when their echo
   * arrives (status streams: a client that saw revision R has seen every change up to R).
   */
  follow(listener: PresenceListener): () => void {
    this.followers.add(listener);
    return () => this.followers.delete(listener);
  }

  /** A host's record as followers were told it (an own write the watch has not echoed yet is not included). */
  confirmed(hostId: string): VersionedRecord | undefined {
    return this.unconfirmed.has(hostId) ? (this.unconfirmed.get(hostId) ?? undefined) : this.records.get(hostId);
  }

  /** Every record as followers were told it. */
  *confirmedValues(): IterableIterator<VersionedRecord> {
    for (const [hostId, versioned] of this.records) {
      if (!this.unconfirmed.has(hostId)) yield versioned;
      else {
        const confirmed = this.unconfirmed.get(hostId);
        if (confirmed) yield confirmed;
      }
    }
  }

  /** What changed after revision `since` (for the selected hosts; null: all), or null when this view cannot tell. */
  changesSince(since: number, hostIds: readonly string[] | null): ChangesSince | null {
    return changesSince(this, since, hostIds);
  }

  /** The host's record as this replica knows it (PresenceSource, for the presence client). */
  record(hostId: string): PresenceRecord | undefined {
    return this.records.get(hostId)?.record;
  }

  /** The host's changes as this replica learns them, own writes at once (PresenceSource, for the presence client). */
  watchHost(hostId: string, onRecord: (record: PresenceRecord | null) => void): () => void {
    return this.subscribe((change) => {
      if (change.hostId === hostId) onRecord(change.record);
    });
  }

  /** Reads one record from the server (before a compare-and-set when the mirror may lag). */
  async fetch(hostId: string): Promise<VersionedRecord | undefined> {
    const entry = await this.kv.get(hostId);
    if (!entry || entry.operation !== "PUT") return undefined;
    const record = this.decode(entry);
    return record ? { record, revision: entry.revision } : undefined;
  }

  /**
   * Applies a write this replica just made, so its own reads and `subscribe` listeners see it before the watch
   * echoes it back; the echo is then recognised by its revision and not announced to them twice. Followers (status
   * streams) get it with the echo, in its place in revision order.
   */
  remember(hostId: string, record: PresenceRecord, revision: number): void {
    // The watch already delivered this revision (this write, or a later change of the host that superseded it).
    if (revision <= this.watched) return;
    const current = this.records.get(hostId);
    if (current && current.revision >= revision) return;
    if (!this.unconfirmed.has(hostId)) this.unconfirmed.set(hostId, current ?? null);
    this.records.set(hostId, { record, revision });
    this.emit({ hostId, record, revision });
  }

  /**
   * Everything up to `revision` is applied: after a load or a resync, which skips changes superseded meanwhile (and
   * never sees removals of an emptied bucket), so removals before it are no longer known (a resume becomes a snapshot).
   */
  private synced(revision: number): void {
    if (revision <= this.watched) return;
    this.watched = revision;
    this.removals.forgetUpTo(revision);
  }

  private apply(entry: KvEntry): void {
    // The follower delivers each revision once, in stream order.
    if (entry.revision <= this.watched) return;
    this.watched = entry.revision;
    const hostId = entry.key;
    let record: PresenceRecord | null = null;
    if (entry.operation === "PUT") {
      const decoded = this.decode(entry);
      if (!decoded) return;
      record = decoded;
    }
    const change: PresenceChange = { hostId, record, revision: entry.revision };
    const current = this.records.get(hostId);
    if (current && current.revision > entry.revision) {
      // An own write newer than this entry is applied already: reads keep it, followers move on to this entry.
      this.unconfirmed.set(hostId, record ? { record, revision: entry.revision } : null);
    } else {
      this.unconfirmed.delete(hostId);
      if (record) {
        // A write remembered locally comes back through the watch with the same revision: already announced.
        const alreadyKnown = current?.revision === entry.revision;
        this.records.set(hostId, { record, revision: entry.revision });
        if (!alreadyKnown) this.emit(change);
      } else {
        this.records.delete(hostId);
        this.emit(change);
      }
    }
    if (record) this.removals.restored(hostId);
    else this.removals.add(hostId, entry.revision);
    this.notify(this.followers, change);
  }

  private decode(entry: KvEntry): PresenceRecord | undefined {
    try {
      const result = PresenceRecord.safeParse(entry.json());
      if (result.success) return this.shared(result.data);
      this.logger.warn({ key: entry.key, issue: result.error.issues[0]?.message }, "ignoring invalid presence record");
    } catch {
      this.logger.warn({ key: entry.key }, "ignoring presence record that is not JSON");
    }
    return undefined;
  }

  /**
   * Every record held here repeats a handful of values (replica ids, agent versions, addresses behind a NAT): one
   * string each instead of one per record, since every replica mirrors every host.
   */
  private shared(parsed: PresenceRecord): PresenceRecord {
    const { hostId, apiId, connected, replica, connectionId, since, secure, remoteAddress, agentVersion, capabilities, lastDisconnect, updatedAt, ...newer } =
      parsed;
    // One literal of fixed shape: the parser adds fields one by one, which puts them in a separate property store.
    const record: PresenceRecord = {
      hostId,
      apiId,
      connected,
      replica: this.intern(replica),
      connectionId,
      since,
      secure,
      remoteAddress: this.intern(remoteAddress),
      agentVersion: this.intern(agentVersion),
      capabilities,
      lastDisconnect: lastDisconnect && { ...lastDisconnect, replica: this.intern(lastDisconnect.replica ?? null) },
      updatedAt,
    };
    // Fields a newer release added are kept (and passed on to status streams).
    return Object.keys(newer).length === 0 ? record : { ...record, ...newer };
  }

  private intern(value: string | null): string | null {
    if (value === null) return null;
    let known = this.strings.get(value);
    if (known === undefined) {
      // A bounded table: past it, values are simply not shared (a fleet has few distinct ones).
      if (this.strings.size >= MAX_SHARED_STRINGS) return value;
      this.strings.set(value, (known = value));
    }
    return known;
  }

  private emit(change: PresenceChange): void {
    this.notify(this.listeners, change);
  }

  private notify(listeners: Set<PresenceListener>, change: PresenceChange): void {
    for (const listener of listeners) {
      try {
        listener(change);
      } catch (err) {
        this.logger.error({ err }, "presence listener failed");
      }
    }
  }
}
