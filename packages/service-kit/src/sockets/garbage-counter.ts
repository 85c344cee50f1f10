export interface GarbageCounterOptions {
  /** Invalid frames tolerated within the window; one more closes the connection. */
  limit: number;
  windowMs: number;
  now?: () => number;
}

/**
 * Counts invalid frames (bad JSON, unknown types, schema violations) from one peer in a sliding window. A peer
 * that crosses the limit is misbehaving (or not an agent) and gets closed with 1008; an occasional bad frame
 * from a buggy agent is only counted and logged.
 */
export class GarbageCounter {
  private readonly stamps: number[] = [];
  private readonly now: () => number;

  constructor(private readonly options: GarbageCounterOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Records one invalid frame; returns true when the peer has now exceeded the limit. */
  record(): boolean {
    const now = this.now();
    const horizon = now - this.options.windowMs;
    while (this.stamps.length > 0 && this.stamps[0]! <= horizon) this.stamps.shift();
    this.stamps.push(now);
    return this.stamps.length > this.options.limit;
  }

  get count(): number {
    return this.stamps.length;
  }
}
