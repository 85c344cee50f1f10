import { messages, type Outbound } from "./event-messages.js";

/**
 * Messages waiting for one slow socket, bounded. State messages with a coalesce key (counts per queue, Redis
 * status, the queue list) keep only their latest value, moved to the back so it follows the events it reflects.
 * Droppable events beyond `maxEvents` are dropped oldest-first; the next message taken is then a `gap` saying how
 * many were lost, so nothing disappears silently. Everything else (hello, answers) is kept; it is rare and small.
 */
export class SocketOutbox {
  private readonly pending: Outbound[] = [];
  private events = 0;
  private dropped = 0;
  private droppedTotal = 0;

  constructor(private readonly maxEvents: number) {}

  push(message: Outbound): void {
    if (message.coalesceKey !== undefined) {
      const index = this.pending.findIndex((m) => m.coalesceKey === message.coalesceKey);
      if (index !== -1) this.pending.splice(index, 1);
    }
    if (message.droppable) {
      if (this.events >= this.maxEvents) this.dropOldestEvent();
      this.events++;
    }
    this.pending.push(message);
  }

  /** The next message to send (a `gap` first when events were dropped), or undefined when empty. */
  shift(): Outbound | undefined {
    if (this.dropped > 0) {
      const gap = messages.gap(this.dropped);
      this.dropped = 0;
      return gap;
    }
    const next = this.pending.shift();
    if (next?.droppable) this.events--;
    return next;
  }

  get size(): number {
    return this.pending.length + (this.dropped > 0 ? 1 : 0);
  }

  /** Events dropped since this outbox was created. */
  get totalDropped(): number {
    return this.droppedTotal;
  }

  private dropOldestEvent(): void {
    const index = this.pending.findIndex((m) => m.droppable);
    if (index === -1) return;
    this.pending.splice(index, 1);
    this.events--;
    this.dropped++;
    this.droppedTotal++;
  }
}
