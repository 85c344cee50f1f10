import type { RecordCollection } from "./record-collection.js";
import type { StoredFailureWindow } from "./records.js";
import { sha256 } from "./secrets.js";

export interface FailureLimits {
  /** Failures allowed per window before the source is limited. */
  maxFailures: number;
  windowMs: number;
}

/** Whether a source is limited now, and for how long. */
export type LimitDecision = { limited: false } | { limited: true; retryAfterSeconds: number };

export type RecordedFailure = LimitDecision & {
  /** The limit had already been reached before this failure: the attempt should have been refused (answer 429). */
  alreadyLimited: boolean;
};

/** CAS rounds before giving up; every round one contender wins, so this only runs out under a flood. */
const MAX_ATTEMPTS = 200;

/**
 * Counts failures (bad passwords, bad agent keys, bad tickets) per source address in a fixed window, in a
 * collection every auth replica shares, so N replicas allow the configured number of failures, not N times it.
 *
 * Key: sha256(limiter name + source), so addresses never appear as keys and limiters never share a counter. Value:
 * `{failures, windowEndsAt}`, incremented by compare-and-set. The store's max age (≥ the longest window; nats-server
 * 2.9 has no per-key TTL) removes idle counters; `windowEndsAt` decides when a window is over.
 *
 * Reads: `check` answers from the local mirror (no I/O; for the agent-key hot path), `checkShared` reads the store
 * (for logins, where a round trip is nothing next to scrypt). Failures are always counted in the store, and
 * `recordFailure` says when the limit had already been reached, so a check answered from a mirror a moment stale
 * can still refuse the attempt: no failure beyond the limit is ever counted as an ordinary failure.
 */
export class SharedFailureLimiter {
  constructor(
    readonly name: string,
    private readonly windows: RecordCollection<StoredFailureWindow>,
    private readonly limits: FailureLimits,
    private readonly now: () => number = Date.now,
  ) {}

  check(source: string): LimitDecision {
    return this.decide(this.windows.peek(this.key(source))?.value);
  }

  async checkShared(source: string): Promise<LimitDecision> {
    return this.decide((await this.windows.fetch(this.key(source)))?.value);
  }

  async recordFailure(source: string): Promise<RecordedFailure> {
    const key = this.key(source);
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const now = this.now();
      const current = await this.windows.fetch(key);
      const open = current && current.value.windowEndsAt > now ? current.value : undefined;
      if (open && open.failures >= this.limits.maxFailures) return { ...this.decide(open), alreadyLimited: true };
      const next: StoredFailureWindow = open
        ? { failures: open.failures + 1, windowEndsAt: open.windowEndsAt }
        : { failures: 1, windowEndsAt: now + this.limits.windowMs };
      try {
        if (current) await this.windows.update(key, next, current.revision);
        else await this.windows.create(key, next);
        return { ...this.decide(next), alreadyLimited: false };
      } catch (err) {
        if ((err as { code?: string }).code !== "CONFLICT") throw err;
      }
    }
    // Contention this heavy on one source's counter is itself a flood: fail closed.
    return { limited: true, retryAfterSeconds: Math.ceil(this.limits.windowMs / 1000), alreadyLimited: true };
  }

  /** Drops finished windows from the local mirror (the store's max age removes them there without telling watchers). */
  pruneExpired(): number {
    const now = this.now();
    return this.windows.forgetWhere((w) => w.windowEndsAt <= now);
  }

  private key(source: string): string {
    return sha256(`${this.name}\n${source}`);
  }

  private decide(window: StoredFailureWindow | undefined): LimitDecision {
    const now = this.now();
    if (!window || window.windowEndsAt <= now || window.failures < this.limits.maxFailures) return { limited: false };
    return { limited: true, retryAfterSeconds: Math.max(1, Math.ceil((window.windowEndsAt - now) / 1000)) };
  }
}
