import type { Redis } from "ioredis";
import type { Logger } from "@patchmon-ws/service-kit";
import { discoveryPattern, queueNameFromKey } from "./queue-names.js";

export interface QueueDiscoveryOptions {
  connection: Redis;
  prefix: string;
  intervalMs: number;
  /** Called with every queue name found by a complete pass (never after a failed one). */
  onScan: (found: ReadonlySet<string>) => void;
  logger: Logger;
  /** Keys asked for per SCAN call. Default 1000. */
  scanCount?: number;
}

/**
 * Finds BullMQ queues in Redis by their `<prefix>:<name>:meta` / `:id` keys with SCAN (never KEYS, which would
 * block Redis), one pass every interval. A pass that fails (Redis away) reports nothing, so queues are not dropped
 * just because Redis blinked.
 */
export class QueueDiscovery {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly options: QueueDiscoveryOptions) {}

  start(): void {
    if (this.options.intervalMs <= 0) return;
    void this.scanNow();
    this.timer = setInterval(() => void this.scanNow(), this.options.intervalMs);
    this.timer.unref();
  }

  /** Runs one pass (or joins the running one); resolves when it is over. */
  scanNow(): Promise<void> {
    this.running ??= this.scan().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.running?.catch(() => undefined);
  }

  private async scan(): Promise<void> {
    const { connection, prefix, logger } = this.options;
    if (connection.status !== "ready") return;
    const pattern = discoveryPattern(prefix);
    const found = new Set<string>();
    let cursor = "0";
    try {
      do {
        const [next, keys] = await connection.scan(cursor, "MATCH", pattern, "COUNT", this.options.scanCount ?? 1000);
        cursor = next;
        for (const key of keys) {
          const name = queueNameFromKey(prefix, key);
          if (name !== undefined) found.add(name);
        }
      } while (cursor !== "0" && !this.stopped);
    } catch (err) {
      logger.debug({ err: (err as Error).message }, "queue discovery pass failed");
      return;
    }
    if (!this.stopped) this.options.onScan(found);
  }
}
