/**
 * Reconnect delays: "full jitter" (a uniform delay between 0 and an exponentially growing ceiling), so a fleet that
 * lost its server at the same instant does not come back in lock-step (anchors §A2: the stock agent has none).
 */

export interface BackoffOptions {
  /** Ceiling of the first delay, ms. Default 1000. */
  initialMs?: number;
  /** Largest ceiling, ms. Default 30000. */
  maxMs?: number;
  /** A connection that stayed up at least this long counts as good and resets the backoff, ms. Default 5000. */
  resetAfterMs?: number;
}

export const DEFAULT_BACKOFF_INITIAL_MS = 1_000;
export const DEFAULT_BACKOFF_MAX_MS = 30_000;
export const DEFAULT_BACKOFF_RESET_AFTER_MS = 5_000;
/** A server's Retry-After is honoured up to this bound, so a bogus header cannot park an agent for hours. */
export const MAX_RETRY_AFTER_MS = 300_000;

export class FullJitterBackoff {
  readonly initialMs: number;
  readonly maxMs: number;
  private attempt = 0;

  constructor(options: Pick<BackoffOptions, "initialMs" | "maxMs"> = {}, private readonly random: () => number = Math.random) {
    this.initialMs = options.initialMs ?? DEFAULT_BACKOFF_INITIAL_MS;
    this.maxMs = options.maxMs ?? DEFAULT_BACKOFF_MAX_MS;
    if (!Number.isFinite(this.initialMs) || this.initialMs <= 0) {
      throw new RangeError(`backoff.initialMs must be a positive number of milliseconds (got ${this.initialMs})`);
    }
    if (!Number.isFinite(this.maxMs) || this.maxMs < this.initialMs) {
      throw new RangeError(`backoff.maxMs must be at least backoff.initialMs (got ${this.maxMs} < ${this.initialMs})`);
    }
  }

  /** How many delays were handed out since the last reset. */
  get attempts(): number {
    return this.attempt;
  }

  /** The upper bound of the next delay: initialMs × 2^attempts, capped at maxMs. */
  ceilingMs(): number {
    // 2^31 × any positive initialMs exceeds every sane maxMs; capping the exponent avoids Infinity.
    return Math.min(this.maxMs, this.initialMs * 2 ** Math.min(this.attempt, 31));
  }

  /** A whole number of ms, uniform in [0, ceilingMs()]; then the ceiling doubles. */
  next(): number {
    const ceiling = this.ceilingMs();
    this.attempt += 1;
    return Math.min(ceiling, Math.floor(this.random() * (ceiling + 1)));
  }

  reset(): void {
    this.attempt = 0;
  }
}

/**
 * Decides the delay before each reconnect: resets the backoff after a good connection (one that stayed up at
 * least resetAfterMs, so a server that accepts then drops at once still backs off) and never retries sooner than a
 * server's Retry-After. Times are monotonic milliseconds supplied by the caller.
 */
export class ReconnectPolicy {
  readonly resetAfterMs: number;
  private openedAt: number | undefined;

  constructor(
    readonly backoff: FullJitterBackoff,
    resetAfterMs: number = DEFAULT_BACKOFF_RESET_AFTER_MS,
  ) {
    if (!Number.isFinite(resetAfterMs) || resetAfterMs < 0) {
      throw new RangeError(`backoff.resetAfterMs must be a non-negative number of milliseconds (got ${resetAfterMs})`);
    }
    this.resetAfterMs = resetAfterMs;
  }

  /** The WebSocket opened at `at`. */
  opened(at: number): void {
    this.openedAt = at;
  }

  /** The connection (or the attempt) ended at `closedAt`: how long to wait before the next attempt. */
  nextDelay(closedAt: number, retryAfterMs = 0): number {
    if (this.openedAt !== undefined && closedAt - this.openedAt >= this.resetAfterMs) this.backoff.reset();
    this.openedAt = undefined;
    const floor = Math.min(Math.max(0, retryAfterMs), MAX_RETRY_AFTER_MS);
    return Math.max(this.backoff.next(), floor);
  }
}

/**
 * Parses an HTTP Retry-After value (delay-seconds or an HTTP date) into milliseconds from `nowEpochMs`.
 * Returns undefined when absent or unparseable.
 */
export function parseRetryAfter(value: string | string[] | undefined, nowEpochMs: number = Date.now()): number | undefined {
  const text = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!text) return undefined;
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  // An HTTP-date always has a weekday or month name; Date.parse alone would accept "-3" as a year.
  if (!/[A-Za-z]/.test(text)) return undefined;
  const date = Date.parse(text);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - nowEpochMs);
}
