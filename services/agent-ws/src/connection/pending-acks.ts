export type AckOutcome =
  | { kind: "acked"; ok: boolean; error?: string }
  | { kind: "timeout" }
  /** The connection closed before the ack came. */
  | { kind: "closed" };

interface Waiter {
  resolve(outcome: AckOutcome): void;
  timer: NodeJS.Timeout;
}

/**
 * Commands written to one agent that wait for its `{type:"ack", id}`. Several waiters may wait for the same id
 * (a redelivery while the first attempt still waits); one ack answers them all. Acks for ids nobody waits for
 * (late, after a timeout) are reported as unexpected and otherwise ignored.
 */
export class PendingAcks {
  private readonly waiters = new Map<string, Waiter[]>();

  /** Waits for the ack of `commandId`, at most `timeoutMs`. */
  wait(commandId: string, timeoutMs: number): Promise<AckOutcome> {
    return new Promise<AckOutcome>((resolve) => {
      const waiter: Waiter = {
        resolve,
        timer: setTimeout(() => {
          this.drop(commandId, waiter);
          resolve({ kind: "timeout" });
        }, timeoutMs),
      };
      const list = this.waiters.get(commandId);
      if (list) list.push(waiter);
      else this.waiters.set(commandId, [waiter]);
    });
  }

  /** Delivers an ack; returns false when nobody waited for this id. */
  ack(commandId: string, ok: boolean, error?: string): boolean {
    const list = this.waiters.get(commandId);
    if (!list) return false;
    this.waiters.delete(commandId);
    const outcome: AckOutcome = error === undefined ? { kind: "acked", ok } : { kind: "acked", ok, error };
    for (const waiter of list) {
      clearTimeout(waiter.timer);
      waiter.resolve(outcome);
    }
    return true;
  }

  /** The connection is gone: every waiter learns it now rather than at its timeout. */
  closeAll(): void {
    for (const list of this.waiters.values()) {
      for (const waiter of list) {
        clearTimeout(waiter.timer);
        waiter.resolve({ kind: "closed" });
      }
    }
    this.waiters.clear();
  }

  get size(): number {
    let n = 0;
    for (const list of this.waiters.values()) n += list.length;
    return n;
  }

  private drop(commandId: string, waiter: Waiter): void {
    const list = this.waiters.get(commandId);
    if (!list) return;
    const rest = list.filter((w) => w !== waiter);
    if (rest.length === 0) this.waiters.delete(commandId);
    else this.waiters.set(commandId, rest);
  }
}
