import type { KV, KvEntry, KvWatchEntry } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "./logger.js";

export interface KvFollowerOptions {
  /** Each change once, in revision order: a PUT, or a DEL/PURGE marker (a key removed). */
  onEntry(entry: KvEntry): void;
  /**
   * After a (re)load: every change of the bucket up to `revision` has been delivered (or was superseded by one that
   * was). Called once the first load is complete, and again after each resync.
   */
  onSynced?(revision: number): void;
  logger: Logger;
  /** The bucket's name in logs. */
  name: string;
  /** How often the follower compares its revision with the stream's; default 5000 ms. */
  checkEveryMs?: number;
  /** The first load resolves start() after this long even when incomplete (the rest keeps arriving); default 15 s. */
  loadTimeoutMs?: number;
}

/**
 * Keeps a KV bucket's current content flowing into memory, through NATS failures: a KV watch (an ordered consumer)
 * that is started again whenever it may have stopped delivering. nats.js repairs a watch itself only after missing
 * two idle heartbeats (10 s at first, a minute after its first repair) and ends it for good on some errors; in a
 * cluster, the watch's consumer lives on one server, and when that server dies the client may stay connected to
 * another and hear nothing at all. So the follower also resyncs when its connection reconnects, when the watch ends,
 * and when the stream's last sequence stays ahead of what it delivered for a whole check period in which the watch
 * brought nothing. A resync gets two check periods to load before the checks may start another: one opened while
 * JetStream is still electing leaders can stay silent too.
 *
 * A resync reads every key's current value again (a fresh watch) and delivers only what is newer than what it
 * delivered before, so each revision arrives once and in order; changes superseded meanwhile are skipped, which a
 * mirror of current values does not need. Expired keys (bucket max age) are not reported, as with any KV watch.
 */
export class KvFollower {
  private delivered = 0;
  private generation = 0;
  private stopWatch: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private resyncing: Promise<void> | undefined;
  /** The stream's last sequence seen by the previous check: delivery should have reached it by now. */
  private behindTarget = 0;
  /** Entries the current watch brought (superseded ones too, which a resync replays): progress, even when behind. */
  private seen = 0;
  private seenAtLastCheck = 0;
  private stopStatus: (() => void) | undefined;

  constructor(
    private readonly kv: KV,
    private readonly nc: Pick<NatsConnection, "status">,
    private readonly options: KvFollowerOptions,
  ) {}

  /** The highest revision delivered (or synced past): every change up to it has been delivered. */
  get revision(): number {
    return this.delivered;
  }

  /** Loads the bucket's current content (resolves when delivered, or after loadTimeoutMs), then follows it. */
  async start(): Promise<void> {
    await this.load(this.options.loadTimeoutMs ?? 15_000);
    const events = this.nc.status()[Symbol.asyncIterator]();
    this.stopStatus = () => void events.return?.();
    void (async () => {
      for (let next = await events.next(); !next.done && !this.stopped; next = await events.next()) {
        if (next.value.type === "reconnect") this.resync("NATS reconnected");
      }
    })().catch(() => undefined);
    this.timer = setInterval(() => void this.check(), this.checkEveryMs);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    this.stopStatus?.();
    this.stopWatch?.();
  }

  private get checkEveryMs(): number {
    return this.options.checkEveryMs ?? 5000;
  }

  /** Starts a fresh watch (unless one is being started), delivering what is newer than what was delivered. */
  resync(reason: string): void {
    if (this.stopped || this.resyncing) return;
    this.options.logger.warn({ bucket: this.options.name, reason, revision: this.delivered }, "KV watch resyncing");
    this.resyncing = this.load(2 * this.checkEveryMs)
      .catch((err: unknown) => {
        this.options.logger.warn({ bucket: this.options.name, err: (err as Error)?.message }, "KV watch could not restart; retrying");
      })
      .finally(() => {
        this.resyncing = undefined;
      });
  }

  private async check(): Promise<void> {
    if (this.stopped || this.resyncing) return;
    let last: number;
    try {
      last = (await this.kv.status()).streamInfo.state.last_seq;
    } catch {
      return; // JetStream unavailable right now: the next check (or the reconnect) will tell
    }
    const silent = this.seen === this.seenAtLastCheck;
    this.seenAtLastCheck = this.seen;
    if (this.delivered < this.behindTarget && silent) this.resync(`delivered ${this.delivered}, the stream was at ${this.behindTarget} a check ago`);
    this.behindTarget = last;
  }

  /**
   * One watch from every key's current value on: resolves when it has delivered everything the stream held when it
   * began (or after timeoutMs, loading on), rejects when the watch cannot be opened. A watch that ends by itself
   * triggers a resync.
   */
  private async load(timeoutMs: number): Promise<void> {
    const generation = ++this.generation;
    this.stopWatch?.();
    const status = await this.kv.status();
    const lastAtStart = status.streamInfo.state.last_seq;
    const empty = status.streamInfo.state.messages === 0;
    const watch = await this.kv.watch();
    if (this.stopped || generation !== this.generation) {
      watch.stop();
      return;
    }
    this.stopWatch = () => watch.stop();
    let synced = false;
    let markSynced!: () => void;
    const done = new Promise<void>((resolve) => (markSynced = resolve));
    const sync = () => {
      if (synced) return;
      synced = true;
      this.delivered = Math.max(this.delivered, lastAtStart);
      this.behindTarget = 0;
      this.options.onSynced?.(this.delivered);
      markSynced();
    };
    if (empty) sync();
    void (async () => {
      for await (const entry of watch) {
        if (generation !== this.generation) return;
        this.seen++;
        this.deliver(entry);
        if (!synced && (entry.revision >= lastAtStart || entry.delta === 0)) sync();
      }
      if (!this.stopped && generation === this.generation) this.resync("the watch ended");
    })().catch((err: unknown) => {
      if (!this.stopped && generation === this.generation) this.resync(`the watch failed: ${(err as Error)?.message}`);
    });
    const timer = setTimeout(() => {
      if (synced) return;
      this.options.logger.warn({ bucket: this.options.name, revision: this.delivered }, "KV bucket not fully loaded in time; continuing");
      markSynced();
    }, timeoutMs);
    await done;
    clearTimeout(timer);
  }

  private deliver(entry: KvWatchEntry): void {
    if (entry.revision <= this.delivered) return;
    this.delivered = entry.revision;
    try {
      this.options.onEntry(entry);
    } catch (err) {
      this.options.logger.error({ err, bucket: this.options.name, key: entry.key }, "KV entry handler failed");
    }
  }
}
