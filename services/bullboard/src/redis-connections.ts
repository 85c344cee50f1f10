import { EventEmitter } from "node:events";
import { Redis, type RedisOptions } from "ioredis";
import type { Logger } from "@patchmon-ws/service-kit";

export interface RedisConnectionsOptions {
  url: string;
  /** A command without a reply after this long fails instead of holding an HTTP request. */
  commandTimeoutMs: number;
  /** Longest pause between reconnection attempts. */
  reconnectMaxMs: number;
  logger: Logger;
}

/** Backoff for reconnecting: 100 ms doubling, capped, forever (the service must recover by itself). */
export function reconnectDelay(attempt: number, maxMs: number): number {
  return Math.min(100 * 2 ** Math.min(Math.max(attempt - 1, 0), 16), maxMs);
}

/**
 * The service's Redis connections. One shared connection serves every Queue (Bull Board's reads and writes) and
 * queue discovery; it fails fast while Redis is down (no offline queue, a command timeout) so the API can answer
 * 503 at once. Each QueueEvents gets a dedicated blocking connection (XREAD BLOCK needs one) that queues commands
 * while disconnected, so the event stream resumes by itself. Emits "up" and "down" as the shared connection's
 * state changes.
 */
export class RedisConnections extends EventEmitter<{ up: []; down: [] }> {
  readonly commands: Redis;
  private readonly blocking = new Set<Redis>();
  private up = false;
  private closing = false;

  constructor(private readonly options: RedisConnectionsOptions) {
    super();
    this.commands = new Redis(options.url, {
      ...this.baseOptions(),
      connectionName: "bullboard",
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      commandTimeout: options.commandTimeoutMs,
    });
    this.commands.on("ready", () => this.setUp(true));
    this.commands.on("close", () => this.setUp(false));
    this.commands.on("error", (err: Error) => {
      if (this.up) options.logger.warn({ err: err.message }, "redis error");
      else options.logger.debug({ err: err.message }, "redis error");
    });
  }

  get isUp(): boolean {
    return this.up && this.commands.status === "ready";
  }

  /** A dedicated connection for a blocking reader (a QueueEvents); closed with `release` or `close`. */
  createBlocking(): Redis {
    const client = new Redis(this.options.url, { ...this.baseOptions(), maxRetriesPerRequest: null });
    client.on("error", (err: Error) => this.options.logger.debug({ err: err.message }, "redis events connection error"));
    this.blocking.add(client);
    return client;
  }

  release(client: Redis): void {
    this.blocking.delete(client);
    client.disconnect();
  }

  async close(): Promise<void> {
    this.closing = true;
    for (const client of this.blocking) client.disconnect();
    this.blocking.clear();
    try {
      if (this.commands.status === "ready") await this.commands.quit();
      else this.commands.disconnect();
    } catch {
      this.commands.disconnect();
    }
  }

  private baseOptions(): RedisOptions {
    return {
      retryStrategy: (attempt: number) => (this.closing ? null : reconnectDelay(attempt, this.options.reconnectMaxMs)),
      // A command sent just before a disconnect is re-sent after reconnecting rather than lost.
      autoResendUnfulfilledCommands: true,
    };
  }

  private setUp(up: boolean): void {
    if (up === this.up) return;
    this.up = up;
    if (this.closing) return;
    if (up) this.options.logger.info("redis ready");
    else this.options.logger.warn("redis unavailable; the dashboard answers 503 until it returns");
    this.emit(up ? "up" : "down");
  }
}
