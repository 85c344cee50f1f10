/**
 * One timer for many agents: a hashed timer wheel with a fixed resolution. Thousands of simulated agents each need
 * a ping timer, a read deadline and a reconnect delay; here each is a Set entry in a bucket, and a single unref'd
 * interval (running only while something is scheduled) fires them, at most `resolutionMs` late.
 */
import { performance } from "node:perf_hooks";

export interface WheelTimer {
  /** Prevents the callback from running; harmless when it already ran or was cancelled. */
  cancel(): void;
}

type Callback = () => void;

interface Entry extends WheelTimer {
  readonly tick: number;
  readonly callback: Callback;
}

/** Monotonic milliseconds: wall-clock jumps must not fire (or starve) heartbeats. */
export const monotonicNow = (): number => performance.now();

export const DEFAULT_WHEEL_RESOLUTION_MS = 100;

export class TimerWheel {
  private static readonly sharedWheels = new Map<number, TimerWheel>();

  /** The process-wide wheel for a resolution (agents with the same settings share one interval). */
  static shared(resolutionMs: number = DEFAULT_WHEEL_RESOLUTION_MS): TimerWheel {
    let wheel = TimerWheel.sharedWheels.get(resolutionMs);
    if (!wheel) {
      wheel = new TimerWheel(resolutionMs);
      TimerWheel.sharedWheels.set(resolutionMs, wheel);
    }
    return wheel;
  }

  private readonly buckets = new Map<number, Set<Entry>>();
  private count = 0;
  /** The last tick whose bucket was processed. */
  private cursor: number;
  private interval: NodeJS.Timeout | undefined;

  /**
   * @param autoRun false for deterministic tests: nothing fires until advance() is called.
   */
  constructor(
    readonly resolutionMs: number = DEFAULT_WHEEL_RESOLUTION_MS,
    private readonly clock: () => number = monotonicNow,
    private readonly autoRun = true,
  ) {
    if (!Number.isFinite(resolutionMs) || resolutionMs <= 0) throw new RangeError(`resolutionMs must be positive (got ${resolutionMs})`);
    this.cursor = this.tickOf(clock());
  }

  /** Timers scheduled and not yet fired or cancelled. */
  get pending(): number {
    return this.count;
  }

  /** Runs `callback` once, no sooner than `delayMs` from now (and at most one resolution later). */
  schedule(delayMs: number, callback: Callback): WheelTimer {
    if (this.count === 0) this.cursor = Math.max(this.cursor, this.tickOf(this.clock()) - 1);
    const due = Math.max(this.cursor + 1, Math.ceil((this.clock() + Math.max(0, delayMs)) / this.resolutionMs));
    let bucket = this.buckets.get(due);
    if (!bucket) {
      bucket = new Set();
      this.buckets.set(due, bucket);
    }
    const entry: Entry = {
      tick: due,
      callback,
      cancel: () => {
        const current = this.buckets.get(due);
        if (current?.delete(entry)) {
          this.count -= 1;
          if (current.size === 0) this.buckets.delete(due);
          if (this.count === 0) this.stopInterval();
        }
      },
    };
    bucket.add(entry);
    this.count += 1;
    if (this.autoRun && !this.interval) {
      this.interval = setInterval(() => this.advance(), this.resolutionMs);
      this.interval.unref();
    }
    return entry;
  }

  /** Fires every timer due at or before `now`. The interval calls it; tests call it with a fake clock. */
  advance(now: number = this.clock()): void {
    const target = this.tickOf(now);
    if (target <= this.cursor) return;
    let failure: { error: unknown } | undefined;
    const run = (tick: number) => {
      this.cursor = tick;
      const bucket = this.buckets.get(tick);
      if (!bucket) return;
      this.buckets.delete(tick);
      for (const entry of bucket) {
        this.count -= 1;
        try {
          entry.callback();
        } catch (error) {
          failure ??= { error };
        }
      }
    };
    if (target - this.cursor <= this.buckets.size) {
      for (let tick = this.cursor + 1; tick <= target; tick += 1) run(tick);
    } else {
      // A long gap with few buckets: visit only the buckets that exist, in order (again if callbacks added
      // timers that are already due).
      for (;;) {
        const due = [...this.buckets.keys()].filter((tick) => tick <= target).sort((a, b) => a - b);
        if (due.length === 0) break;
        for (const tick of due) run(tick);
      }
      this.cursor = target;
    }
    if (this.count === 0) this.stopInterval();
    // Same contract as setTimeout: a throwing callback is a bug and surfaces as an uncaught exception, but only
    // after every other due timer ran.
    if (failure) {
      const { error } = failure;
      queueMicrotask(() => {
        throw error;
      });
    }
  }

  private tickOf(time: number): number {
    return Math.floor(time / this.resolutionMs);
  }

  private stopInterval(): void {
    if (this.interval) {
      clearInterval(this.interval);
      this.interval = undefined;
    }
  }
}

/** A wheel resolution fine enough for the given intervals (a fifth of the shortest), between 5 and 100 ms. */
export function wheelResolutionFor(...intervalsMs: number[]): number {
  const shortest = Math.min(...intervalsMs);
  return Math.min(DEFAULT_WHEEL_RESOLUTION_MS, Math.max(5, Math.floor(shortest / 5)));
}
