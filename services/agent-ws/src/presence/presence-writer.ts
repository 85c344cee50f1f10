import type { PresenceRecord } from "@patchmon-ws/protocol";
import { isWrongLastSequence, type Logger } from "@patchmon-ws/service-kit";
import {
  type ConnectWrite,
  type DisconnectWrite,
  connectedRecord,
  describesConnection,
  disconnectedRecord,
  mayWriteConnect,
  type ConnectionFacts,
  type DisconnectFacts,
} from "./presence-record.js";
import type { VersionedRecord } from "./presence-record.js";
import { encodeRecord, type PresenceView } from "./presence-view.js";

export interface PresenceWriterOptions {
  logger: Logger;
  /** Called for every failed write (it is retried). */
  onWriteFailure?: () => void;
  /** First and largest delay between retries of a failed write. */
  retryInitialMs?: number;
  retryMaxMs?: number;
  now?: () => number;
}


/**
 * Writes one replica's connection lifecycle into the presence bucket. Writes of one host are serialised (connect
 * before hello before disconnect) and every write is a compare-and-set, so a late write of a replaced connection —
 * on this replica or another — never overwrites its successor. Failed writes (NATS unreachable) are retried with
 * capped backoff until they succeed or the writer stops.
 */
export class PresenceWriter {
  private readonly chains = new Map<string, Promise<unknown>>();
  /** Revision of the record each live connection last wrote. */
  private readonly revisions = new Map<string, number>();
  private stopped = false;
  private readonly retryInitialMs: number;
  private readonly retryMaxMs: number;
  private readonly now: () => number;

  constructor(
    private readonly view: PresenceView,
    private readonly options: PresenceWriterOptions,
  ) {
    this.retryInitialMs = options.retryInitialMs ?? 200;
    this.retryMaxMs = options.retryMaxMs ?? 5000;
    this.now = options.now ?? Date.now;
  }

  /** Records a new live connection, unless a newer connection of the host is already recorded. */
  connect(facts: ConnectionFacts): Promise<ConnectWrite> {
    return this.enqueue(facts.hostId, () => this.writeConnect(facts));
  }

  /** Updates the live record with what the agent's hello told (version, capabilities). */
  hello(facts: ConnectionFacts): Promise<void> {
    return this.enqueue(facts.hostId, async () => {
      const revision = this.revisions.get(facts.connectionId);
      if (revision === undefined) return;
      await this.writeWhileCurrent(facts, revision, (current) => connectedRecord(facts, current, this.now()));
    });
  }

  /** Records the end of a connection if it is still the host's current one. */
  disconnect(facts: ConnectionFacts, disconnect: DisconnectFacts): Promise<DisconnectWrite> {
    return this.enqueue(facts.hostId, async () => {
      const revision = this.revisions.get(facts.connectionId);
      this.revisions.delete(facts.connectionId);
      if (revision === undefined) return null;
      return this.writeWhileCurrent(facts, revision, (current) => disconnectedRecord(current, disconnect, this.now()));
    });
  }

  /**
   * Records the end of a connection that never got its own record (it ended within the hello wait, e.g. an
   * oversized first frame), so the host's last disconnect still says why — unless a newer live connection of the
   * host is recorded. No connect/disconnect events: the host was never shown online through it.
   */
  ended(facts: ConnectionFacts, disconnect: DisconnectFacts): Promise<DisconnectWrite> {
    return this.enqueue(facts.hostId, async () => {
      let current: VersionedRecord | undefined = this.view.get(facts.hostId);
      for (;;) {
        if (!mayWriteConnect(current?.record ?? null, facts)) return null;
        const now = this.now();
        const record = disconnectedRecord(connectedRecord(facts, current?.record ?? null, now), disconnect, now);
        const base = current;
        const attempt = await this.retrying(() =>
          base ? this.view.kv.update(facts.hostId, encodeRecord(record), base.revision) : this.view.kv.create(facts.hostId, encodeRecord(record)),
        );
        if (attempt.ok) {
          this.view.remember(facts.hostId, record, attempt.revision);
          return { record, revision: attempt.revision };
        }
        current = await this.fetchRetrying(facts.hostId);
      }
    });
  }

  /**
   * The host was deleted: its record goes (after any queued write of its last connection). A delete marker, not a
   * purge: a purge is a rollup, and nats-server 2.9 then lets watchers skip other keys' writes made at that moment
   * (every replica's mirror would miss them). With history 1 the marker replaces the record just the same.
   */
  remove(hostId: string): Promise<void> {
    return this.enqueue(hostId, async () => {
      await this.retrying(() => this.view.kv.delete(hostId).then(() => 0));
    });
  }

  /** Whether writes for this host are queued or running. */
  busy(hostId: string): boolean {
    return this.chains.has(hostId);
  }

  /** Resolves when every queued write has finished. */
  async idle(): Promise<void> {
    while (this.chains.size > 0) await Promise.allSettled([...this.chains.values()]);
  }

  /** Stops retrying; queued writes give up. */
  stop(): void {
    this.stopped = true;
  }

  private enqueue<T>(hostId: string, op: () => Promise<T>): Promise<T> {
    const previous = this.chains.get(hostId) ?? Promise.resolve();
    const next = previous.then(op, op);
    const tail = next.then(
      () => undefined,
      () => undefined,
    );
    this.chains.set(hostId, tail);
    void tail.then(() => {
      if (this.chains.get(hostId) === tail) this.chains.delete(hostId);
    });
    return next;
  }

  private async writeConnect(facts: ConnectionFacts): Promise<ConnectWrite> {
    let current: VersionedRecord | undefined = this.view.get(facts.hostId);
    for (;;) {
      if (!mayWriteConnect(current?.record ?? null, facts)) return { written: false, newer: current!.record };
      const record = connectedRecord(facts, current?.record ?? null, this.now());
      const attempt = await this.retrying(() =>
        current ? this.view.kv.update(facts.hostId, encodeRecord(record), current.revision) : this.view.kv.create(facts.hostId, encodeRecord(record)),
      );
      if (attempt.ok) {
        this.revisions.set(facts.connectionId, attempt.revision);
        this.view.remember(facts.hostId, record, attempt.revision);
        return { written: true, record, revision: attempt.revision };
      }
      current = await this.fetchRetrying(facts.hostId);
    }
  }

  /** Compare-and-set loop for a connection's own record; gives up (null) once another connection owns the record. */
  private async writeWhileCurrent(
    facts: ConnectionFacts,
    revision: number,
    build: (current: PresenceRecord) => PresenceRecord,
  ): Promise<DisconnectWrite> {
    let current: VersionedRecord | undefined = this.view.get(facts.hostId);
    if (!current || current.revision !== revision) current = await this.fetchRetrying(facts.hostId);
    for (;;) {
      if (!current || !describesConnection(current.record, facts.connectionId)) {
        this.revisions.delete(facts.connectionId);
        return null;
      }
      const record = build(current.record);
      const base = current.revision;
      const attempt = await this.retrying(() => this.view.kv.update(facts.hostId, encodeRecord(record), base));
      if (attempt.ok) {
        if (record.connected) this.revisions.set(facts.connectionId, attempt.revision);
        this.view.remember(facts.hostId, record, attempt.revision);
        return { record, revision: attempt.revision };
      }
      current = await this.fetchRetrying(facts.hostId);
    }
  }

  /** Runs a KV write; a compare-and-set conflict is returned, other failures are retried. */
  private async retrying(write: () => Promise<number>): Promise<{ ok: true; revision: number } | { ok: false }> {
    let delay = this.retryInitialMs;
    for (;;) {
      try {
        return { ok: true, revision: await write() };
      } catch (err) {
        if (isWrongLastSequence(err)) return { ok: false };
        await this.backoff(err, delay);
        delay = Math.min(delay * 2, this.retryMaxMs);
      }
    }
  }

  private async fetchRetrying(hostId: string): Promise<VersionedRecord | undefined> {
    let delay = this.retryInitialMs;
    for (;;) {
      try {
        return await this.view.fetch(hostId);
      } catch (err) {
        await this.backoff(err, delay);
        delay = Math.min(delay * 2, this.retryMaxMs);
      }
    }
  }

  private async backoff(err: unknown, delayMs: number): Promise<void> {
    this.options.onWriteFailure?.();
    if (this.stopped) throw new Error("presence writer stopped", { cause: err });
    this.options.logger.warn({ err: (err as Error)?.message, retryInMs: delayMs }, "presence write failed; retrying");
    await new Promise((resolve) => setTimeout(resolve, delayMs));
    if (this.stopped) throw new Error("presence writer stopped", { cause: err });
  }
}
