/**
 * The last N command ids the agent handled, with their outcome: a redelivered id is acked again with the same
 * outcome but never executed twice. Bounded (oldest forgotten first) so a long-lived agent does not grow.
 */

export interface CommandOutcome {
  ok: boolean;
  error?: string;
}

export const DEFAULT_RECENT_IDS_CAPACITY = 1024;

export class RecentCommandIds {
  // A Map iterates in insertion order, so its first key is always the oldest id.
  private readonly outcomes = new Map<string, CommandOutcome>();

  constructor(readonly capacity: number = DEFAULT_RECENT_IDS_CAPACITY) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be a positive integer (got ${capacity})`);
  }

  get size(): number {
    return this.outcomes.size;
  }

  /** The remembered outcome of `id`, or undefined when it was never seen (or already forgotten). */
  get(id: string): CommandOutcome | undefined {
    return this.outcomes.get(id);
  }

  remember(id: string, outcome: CommandOutcome): void {
    this.outcomes.delete(id);
    this.outcomes.set(id, outcome);
    if (this.outcomes.size > this.capacity) {
      const oldest = this.outcomes.keys().next();
      if (!oldest.done) this.outcomes.delete(oldest.value);
    }
  }
}
