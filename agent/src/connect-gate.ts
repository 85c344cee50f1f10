/**
 * Bounds how many connection attempts are in flight at once (a semaphore with a FIFO queue), so a simulator
 * starting thousands of agents, or a fleet reconnecting after a restart, does not open them all in one burst.
 * Callback based (no promise per waiter) to stay cheap at 10 000 waiters.
 */
export class ConnectGate {
  private active = 0;
  private queue: (() => void)[] = [];
  private head = 0;
  private draining = false;

  constructor(readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`connection concurrency must be a positive integer (got ${limit})`);
  }

  /** Attempts holding a slot. */
  get inFlight(): number {
    return this.active;
  }

  /** Attempts waiting for a slot. */
  get waiting(): number {
    return this.queue.length - this.head;
  }

  /** Calls `grant` once a slot is free (at once if one is); the holder must call release() exactly once. */
  acquire(grant: () => void): void {
    this.queue.push(grant);
    this.drain();
  }

  release(): void {
    if (this.active === 0) throw new Error("ConnectGate.release() called more often than a slot was granted");
    this.active -= 1;
    this.drain();
  }

  // Iterative, with a re-entrancy guard: a grant that releases synchronously (a stopped agent) must not recurse
  // once per queued waiter.
  private drain(): void {
    if (this.draining) return;
    this.draining = true;
    try {
      while (this.active < this.limit && this.head < this.queue.length) {
        const grant = this.queue[this.head] as () => void;
        this.head += 1;
        this.active += 1;
        grant();
      }
      if (this.head > 1024 && this.head * 2 > this.queue.length) {
        this.queue = this.queue.slice(this.head);
        this.head = 0;
      }
    } finally {
      this.draining = false;
    }
  }
}
