/**
 * Counts failures (bad passwords, bad API keys, bad tickets) per key, usually a source address, in a fixed
 * window. Once a key reaches `maxFailures` it is limited until its window ends. Successes do not reset the count,
 * so an attacker cannot interleave guesses with a known-good credential.
 */
export interface FailureLimiterOptions {
  /** Failures allowed per window before the key is limited. */
  maxFailures: number;
  /** Window length in milliseconds. */
  windowMs: number;
  /** Keys tracked at most; the oldest windows are dropped first when exceeded. Default 100 000. */
  maxKeys?: number;
  now?: () => number;
}

export type LimitDecision = { limited: false } | { limited: true; retryAfterSeconds: number };

interface Window {
  failures: number;
  endsAt: number;
}

export class FailureLimiter {
  private readonly windows = new Map<string, Window>();
  private readonly maxFailures: number;
  private readonly windowMs: number;
  private readonly maxKeys: number;
  private readonly now: () => number;

  constructor(options: FailureLimiterOptions) {
    this.maxFailures = options.maxFailures;
    this.windowMs = options.windowMs;
    this.maxKeys = options.maxKeys ?? 100_000;
    this.now = options.now ?? Date.now;
  }

  check(key: string): LimitDecision {
    const window = this.current(key);
    if (!window || window.failures < this.maxFailures) return { limited: false };
    return { limited: true, retryAfterSeconds: Math.max(1, Math.ceil((window.endsAt - this.now()) / 1000)) };
  }

  recordFailure(key: string): LimitDecision {
    let window = this.current(key);
    if (!window) {
      if (this.windows.size >= this.maxKeys) this.evict();
      window = { failures: 0, endsAt: this.now() + this.windowMs };
      this.windows.set(key, window);
    }
    window.failures++;
    return this.check(key);
  }

  get size(): number {
    return this.windows.size;
  }

  private current(key: string): Window | undefined {
    const window = this.windows.get(key);
    if (window && window.endsAt <= this.now()) {
      this.windows.delete(key);
      return undefined;
    }
    return window;
  }

  /** Drops expired windows, then the oldest tenth if still full. Map order is insertion order. */
  private evict(): void {
    const now = this.now();
    for (const [key, window] of this.windows) if (window.endsAt <= now) this.windows.delete(key);
    if (this.windows.size < this.maxKeys) return;
    let drop = Math.ceil(this.maxKeys / 10);
    for (const key of this.windows.keys()) {
      if (drop-- <= 0) break;
      this.windows.delete(key);
    }
  }
}
