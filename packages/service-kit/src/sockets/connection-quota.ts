import { CodedError } from "@patchmon-ws/protocol";

export interface ConnectionQuotaOptions<K extends string> {
  /** What is counted, in the plural, for messages: "live-event sockets", "terminal sessions". */
  what: string;
  /** Most connections this process holds; more → 503 OVERLOADED (another replica may take them). */
  total: number;
  /** Most connections per key value (per user, per host): more → 429 RATE_LIMITED. */
  per?: Partial<Record<K, number>>;
  /** Retry-After for refusals, seconds. Default 5. */
  retryAfterSeconds?: number;
}

/**
 * Caps on live connections: per process and per key (user, host, …). `acquire` before the upgrade (a refusal is
 * then an HTTP status with a JSON body), `release` with the same keys when the connection ends.
 */
export class ConnectionQuota<K extends string = "user"> {
  private count = 0;
  private readonly counts = new Map<string, number>();
  private readonly retryAfter: number;

  constructor(private readonly options: ConnectionQuotaOptions<K>) {
    this.retryAfter = options.retryAfterSeconds ?? 5;
  }

  /** Takes one slot for these keys, or throws the refusal. */
  acquire(keys: Partial<Record<K, string>>): void {
    if (this.count >= this.options.total) {
      throw new CodedError("OVERLOADED", `This replica holds its maximum of ${this.options.what}; retry shortly.`, { retryAfter: this.retryAfter });
    }
    for (const [kind, value] of entries(keys)) {
      const max = this.options.per?.[kind];
      if (max !== undefined && (this.counts.get(slot(kind, value)) ?? 0) >= max) {
        throw new CodedError("RATE_LIMITED", `Too many ${this.options.what} for this ${kind} (at most ${max}); close one first.`, {
          retryAfter: this.retryAfter,
        });
      }
    }
    this.count++;
    for (const [kind, value] of entries(keys)) {
      if (this.options.per?.[kind] === undefined) continue;
      const key = slot(kind, value);
      this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    }
  }

  release(keys: Partial<Record<K, string>>): void {
    this.count = Math.max(0, this.count - 1);
    for (const [kind, value] of entries(keys)) {
      if (this.options.per?.[kind] === undefined) continue;
      const key = slot(kind, value);
      const left = (this.counts.get(key) ?? 0) - 1;
      if (left > 0) this.counts.set(key, left);
      else this.counts.delete(key);
    }
  }

  get size(): number {
    return this.count;
  }

  held(kind: K, value: string): number {
    return this.counts.get(slot(kind, value)) ?? 0;
  }
}

function slot(kind: string, value: string): string {
  return `${kind}\u0000${value}`;
}

function entries<K extends string>(keys: Partial<Record<K, string>>): [K, string][] {
  return Object.entries(keys).filter((e): e is [K, string] => typeof e[1] === "string");
}
