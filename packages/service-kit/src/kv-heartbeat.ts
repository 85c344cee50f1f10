import type { KV } from "@nats-io/kv";
import { isWrongLastSequence } from "./jetstream-errors.js";
import type { Logger } from "./logger.js";

/** A key a KvHeartbeat rewrites: what to release it with. */
export interface BeatingKey {
  readonly key: string;
}

interface Beating extends BeatingKey {
  readonly value: () => Uint8Array;
  /** The revision written last, for keys rewritten by compare-and-set (hold); undefined for plain puts (keep). */
  revision: number | undefined;
}

export interface KvHeartbeatOptions {
  /** What the keys are, in log lines ("replica heartbeat", "session ledger entry"). */
  what: string;
  logger: Logger;
}

/**
 * Keys kept alive in a KV bucket whose max age is their liveness timeout (nats-server 2.9 has no per-key TTL, the
 * bucket-level max age does the job): every key is rewritten at each beat, so a key whose writer died stops being
 * rewritten and expires. A failed rewrite is logged and tried again at the next beat (the max age spans several
 * beats); releasing a key deletes it, so a clean shutdown needs no expiry wait.
 */
export class KvHeartbeat {
  private readonly keys = new Map<string, Beating>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly kv: KV,
    private readonly options: KvHeartbeatOptions,
  ) {}

  /**
   * Writes the key now (a failure is thrown) and rewrites it with a fresh value at every beat, unconditionally: the
   * key is this writer's alone (e.g. its replica id), so after an outage longer than the max age it comes back.
   */
  async keep(key: string, value: () => Uint8Array): Promise<BeatingKey> {
    await this.kv.put(key, value());
    return this.track({ key, value, revision: undefined });
  }

  /**
   * Rewrites a key the caller has just written at `revision` (e.g. taken with an atomic create) at every beat, as a
   * compare-and-set on the revision written last: once it expired (and another writer may have taken it), it is
   * dropped, never overwritten.
   */
  hold(key: string, value: Uint8Array, revision: number): BeatingKey {
    return this.track({ key, value: () => value, revision });
  }

  /**
   * Stops rewriting the key and deletes it (idempotent). Nothing is deleted once the key was dropped or taken over
   * by a later keep or hold: it belongs to its new writer. A failure is logged, never thrown.
   */
  async release(beating: BeatingKey): Promise<void> {
    const { key } = beating;
    if (this.keys.get(key) !== beating) return;
    this.keys.delete(key);
    const { revision } = beating as Beating;
    try {
      await this.kv.delete(key, revision === undefined ? {} : { previousSeq: revision });
    } catch (err) {
      // A held key that moved on meanwhile is not ours to delete: nothing to say.
      if (revision === undefined || !isWrongLastSequence(err)) this.options.logger.warn({ key, err: (err as Error)?.message }, `could not remove a ${this.options.what}`);
    }
  }

  /** Rewrites every key once (what the timer does at each beat). */
  async beat(): Promise<void> {
    for (const beating of [...this.keys.values()]) {
      const { key } = beating;
      try {
        const value = beating.value();
        if (beating.revision === undefined) await this.kv.put(key, value);
        else beating.revision = await this.kv.update(key, value, beating.revision);
      } catch (err) {
        if (beating.revision !== undefined && isWrongLastSequence(err)) {
          if (this.keys.get(key) === beating) this.keys.delete(key);
          this.options.logger.warn({ key }, `a ${this.options.what} expired and was taken by another writer; no longer held`);
        } else {
          this.options.logger.warn({ key, err: (err as Error)?.message }, `${this.options.what} rewrite failed`);
        }
      }
    }
  }

  /** Beats every `intervalMs` until stop (the keys stay: release them, or let them expire). */
  start(intervalMs: number): void {
    this.timer ??= setInterval(() => void this.beat(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private track(beating: Beating): BeatingKey {
    this.keys.set(beating.key, beating);
    return beating;
  }
}
