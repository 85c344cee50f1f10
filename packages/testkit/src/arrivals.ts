/** Lets a test client wait until something new arrives (a message, an event, the end) or a deadline passes. */
export class Arrivals {
  private readonly waiting = new Set<() => void>();

  /** Resolves at the next arrival, or after `ms`, whichever comes first. */
  next(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.waiting.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.waiting.add(wake);
    });
  }

  /** Something arrived (or the source ended): wake every waiter. */
  notify(): void {
    for (const wake of [...this.waiting]) wake();
  }
}
