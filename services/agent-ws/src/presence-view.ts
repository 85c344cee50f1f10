import type { KV, KvEntry } from "@nats-io/kv";
import { PresenceRecord } from "@patchmon-ws/protocol";
import type { Logger } from "@patchmon-ws/service-kit";

export interface VersionedRecord {
  record: PresenceRecord;
  revision: number;
}

/** A change seen in the presence bucket: a new record, or a host removed (record null). */
export interface PresenceChange {
  hostId: string;
  record: PresenceRecord | null;
  revision: number;
}

export type PresenceListener = (change: PresenceChange) => void;

const encoder = new TextEncoder();

/** Longest wait for the bucket's current content at start-up. */
const INITIAL_LOAD_TIMEOUT_MS = 15_000;
/** Distinct repeated values (replica ids, versions, addresses) shared across records at most. */
const MAX_SHARED_STRINGS = 4096;

export function encodeRecord(record: PresenceRecord): Uint8Array {
  return encoder.encode(JSON.stringify(record));
}

/**
 * Every replica's in-memory copy of the presence bucket, fed by a KV watch: status queries and streams read it
 * without a round trip, and listeners (status streams) see every change cluster-wide in revision order.
 */
export class PresenceView {
  private readonly records = new Map<string, VersionedRecord>();
  private readonly strings = new Map<string, string>();
  private readonly listeners = new Set<PresenceListener>();
  private stopWatch: (() => void) | undefined;
  private readyFlag = false;

  constructor(
    readonly kv: KV,
    private readonly logger: Logger,
  ) {}

  /** Starts the watch; resolves once the bucket's current content is loaded. */
  async start(): Promise<void> {
    const status = await this.kv.status();
    const lastAtStart = status.streamInfo.state.last_seq;
    const empty = status.streamInfo.state.messages === 0;
    const watch = await this.kv.watch();
    this.stopWatch = () => watch.stop();
    let markReady: () => void = () => {};
    const ready = new Promise<void>((resolve) => (markReady = resolve));
    if (empty) {
      this.readyFlag = true;
      markReady();
    }
    void (async () => {
      for await (const entry of watch) {
        this.apply(entry);
        if (!this.readyFlag && (entry.revision >= lastAtStart || entry.delta === 0)) {
          this.readyFlag = true;
          markReady();
        }
      }
    })().catch((err: unknown) => this.logger.error({ err }, "presence watch ended"));
    // Never hang start-up on the initial load: serve what arrived and keep applying the rest as it comes.
    const fallback = setTimeout(() => {
      if (this.readyFlag) return;
      this.logger.warn({ loaded: this.records.size }, "presence mirror not fully loaded in time; continuing");
      this.readyFlag = true;
      markReady();
    }, INITIAL_LOAD_TIMEOUT_MS);
    await ready;
    clearTimeout(fallback);
  }

  stop(): void {
    this.stopWatch?.();
    this.listeners.clear();
  }

  get ready(): boolean {
    return this.readyFlag;
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

  subscribe(listener: PresenceListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * The replica holding a host's agent once presence shows it connected, waiting up to `timeoutMs` when its record
   * changed less than `timeoutMs` ago: a reconnecting agent is recorded up to the hello wait after its connect, and
   * a command sent in between must not find it offline. Null when it is not connected by then.
   */
  async connectedOwner(hostId: string, timeoutMs: number): Promise<string | null> {
    const current = this.records.get(hostId)?.record;
    if (current?.connected) return current.replica;
    if (!current || Date.now() - current.updatedAt > timeoutMs) return null;
    return new Promise<string | null>((resolve) => {
      const done = (owner: string | null) => {
        clearTimeout(timer);
        unsubscribe();
        resolve(owner);
      };
      const timer = setTimeout(() => done(null), timeoutMs);
      const unsubscribe = this.subscribe((change) => {
        if (change.hostId === hostId && change.record?.connected) done(change.record.replica);
      });
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
   * Applies a write this replica just made, so its own reads (and its status streams) see it before the watch
   * echoes it back; the echo is then recognised by its revision and not announced twice.
   */
  remember(hostId: string, record: PresenceRecord, revision: number): void {
    const current = this.records.get(hostId);
    if (current && current.revision >= revision) return;
    this.records.set(hostId, { record, revision });
    this.emit({ hostId, record, revision });
  }

  private apply(entry: KvEntry): void {
    const hostId = entry.key;
    const current = this.records.get(hostId);
    if (current && current.revision > entry.revision) return;
    if (entry.operation !== "PUT") {
      this.records.delete(hostId);
      this.emit({ hostId, record: null, revision: entry.revision });
      return;
    }
    const record = this.decode(entry);
    if (!record) return;
    // A write remembered locally comes back through the watch with the same revision: already applied.
    const alreadyKnown = current?.revision === entry.revision;
    this.records.set(hostId, { record, revision: entry.revision });
    if (!alreadyKnown) this.emit({ hostId, record, revision: entry.revision });
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
    for (const listener of this.listeners) {
      try {
        listener(change);
      } catch (err) {
        this.logger.error({ err }, "presence listener failed");
      }
    }
  }
}
