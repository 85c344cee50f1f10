/**
 * Credit-based flow control for a stream between two processes (the terminal relay): the receiver grants the
 * sender a window, the sender spends it, and the receiver grants again as it delivers what it received. Nothing in
 * flight ever exceeds the window, whatever the speed of either side.
 */

/** The sending side's view: how much it may still send. */
export class SendCredit {
  private available: number;

  constructor(initial: number) {
    this.available = initial;
  }

  /** Whether `amount` may be sent now; spends it when so. A message larger than the whole window may go when the window is full. */
  take(amount: number, window: number): boolean {
    if (this.available >= amount || (this.available >= window && amount > window)) {
      this.available -= amount;
      return true;
    }
    return false;
  }

  /** Spends without asking (content that must go, e.g. a final message); may leave the balance negative. */
  spend(amount: number): void {
    this.available -= amount;
  }

  grant(amount: number): void {
    this.available += amount;
  }

  get balance(): number {
    return this.available;
  }
}

/**
 * The receiving side's view: what it delivered and has not granted back yet. Grants are batched (at least a
 * quarter of the window at a time) so a stream of small chunks does not cost a grant message per chunk.
 */
export class ReceiveCredit {
  private delivered = 0;
  private readonly threshold: number;

  constructor(window: number) {
    this.threshold = Math.max(1, Math.floor(window / 4));
  }

  /** Records `amount` delivered onward; returns the grant to send now, or 0 to wait for more. */
  deliveredNow(amount: number): number {
    this.delivered += amount;
    if (this.delivered < this.threshold) return 0;
    const grant = this.delivered;
    this.delivered = 0;
    return grant;
  }

  /** Returns whatever is pending (the consumer went idle: grant the remainder so the sender is never stuck). */
  flush(): number {
    const grant = this.delivered;
    this.delivered = 0;
    return grant;
  }
}
