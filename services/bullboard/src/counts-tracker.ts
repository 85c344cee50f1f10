export type Counts = Record<string, number>;

export interface CountsTrackerOptions {
  /** Reads a queue's job counts (throws while Redis is down). */
  fetch: (queue: string) => Promise<Counts>;
  /** Called with counts that differ from the last ones published for the queue. */
  publish: (queue: string, counts: Counts) => void;
  /** After a job event, counts are re-read once this has passed (events in between share one read). */
  minIntervalMs: number;
  /** Every queue in `queues()` is re-read on this period while `active()` says anyone listens. */
  refreshIntervalMs: number;
  queues: () => readonly string[];
  active: () => boolean;
}

/**
 * Keeps each queue's job counts current without a Redis read per event: events mark a queue dirty, and dirty
 * queues are read together at most once per `minIntervalMs`. A periodic pass catches what produces no event.
 * Unchanged counts are not published again.
 */
export class CountsTracker {
  private readonly latestByQueue = new Map<string, { counts: Counts; key: string }>();
  private readonly dirty = new Set<string>();
  private flushTimer: NodeJS.Timeout | undefined;
  private refreshTimer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly options: CountsTrackerOptions) {}

  start(): void {
    this.refreshTimer = setInterval(() => {
      if (this.options.active()) this.markDirty(...this.options.queues());
    }, this.options.refreshIntervalMs);
    this.refreshTimer.unref();
  }

  markDirty(...queues: string[]): void {
    if (this.stopped || queues.length === 0) return;
    for (const queue of queues) this.dirty.add(queue);
    this.flushTimer ??= setTimeout(() => {
      this.flushTimer = undefined;
      void this.flush();
    }, this.options.minIntervalMs);
  }

  /** The last counts read for a queue, if any. */
  latest(queue: string): Counts | undefined {
    return this.latestByQueue.get(queue)?.counts;
  }

  forget(queue: string): void {
    this.latestByQueue.delete(queue);
    this.dirty.delete(queue);
  }

  /** Reads every dirty queue now; resolves when published. */
  async flush(): Promise<void> {
    if (this.flushing) {
      await this.flushing;
      if (this.dirty.size === 0) return;
    }
    const queues = [...this.dirty];
    this.dirty.clear();
    this.flushing = Promise.all(queues.map((queue) => this.refresh(queue))).then(() => undefined);
    try {
      await this.flushing;
    } finally {
      this.flushing = undefined;
    }
  }

  stop(): void {
    this.stopped = true;
    if (this.flushTimer) clearTimeout(this.flushTimer);
    if (this.refreshTimer) clearInterval(this.refreshTimer);
  }

  private async refresh(queue: string): Promise<void> {
    let counts: Counts;
    try {
      counts = await this.options.fetch(queue);
    } catch {
      // Redis is away or the queue vanished; the next event, pass or reconnection reads it again.
      return;
    }
    if (this.stopped || !this.options.queues().includes(queue)) return;
    const key = JSON.stringify(Object.entries(counts).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    if (this.latestByQueue.get(queue)?.key === key) return;
    this.latestByQueue.set(queue, { counts, key });
    this.options.publish(queue, counts);
  }
}
