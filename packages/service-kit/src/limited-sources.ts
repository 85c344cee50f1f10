/**
 * Source addresses auth refused as RATE_LIMITED, each until the Retry-After auth gave. The failure limits themselves
 * are auth's, counted per source across every auth replica (agent keys: `AGENT_AUTH_MAX_FAILURES`, tickets:
 * `TICKET_MAX_FAILURES`); a service remembering auth's verdict only refuses the rest of a guessing flood without a
 * NATS round trip per attempt, and keeps no count or setting of its own.
 */
export class LimitedSources {
  /** source → epoch ms its refusal ends. Map order is insertion order, so the first key is the oldest. */
  private readonly until = new Map<string, number>();

  constructor(
    private readonly maxSources = 100_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Remembers auth's RATE_LIMITED verdict for `source`. */
  limit(source: string, retryAfterSeconds: number): void {
    this.until.delete(source);
    if (this.until.size >= this.maxSources) this.evict();
    this.until.set(source, this.now() + Math.max(1, retryAfterSeconds) * 1000);
  }

  /** Seconds until `source` may try again, or undefined when auth's verdict is not (or no longer) known. */
  retryAfterSeconds(source: string): number | undefined {
    const until = this.until.get(source);
    if (until === undefined) return undefined;
    const left = until - this.now();
    if (left <= 0) {
      this.until.delete(source);
      return undefined;
    }
    return Math.ceil(left / 1000);
  }

  get size(): number {
    return this.until.size;
  }

  /** Drops ended refusals, then the oldest one if still full. */
  private evict(): void {
    const now = this.now();
    for (const [source, until] of this.until) if (until <= now) this.until.delete(source);
    if (this.until.size < this.maxSources) return;
    const oldest = this.until.keys().next();
    if (!oldest.done) this.until.delete(oldest.value);
  }
}
