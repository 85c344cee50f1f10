import { QueueEvents } from "bullmq";
import type { Redis } from "ioredis";
import type { QueueEventSource } from "./queue-event-hub.js";

export interface QueueEventsSourceOptions {
  queue: string;
  prefix: string;
  /** A dedicated blocking connection, owned by this source from now on. */
  connection: Redis;
  release: (connection: Redis) => void;
  /** The current Redis stream id (`<ms>-0` from Redis TIME), or undefined when Redis cannot say. */
  startId: () => Promise<string | undefined>;
  /** Called when the reader cannot be created at all (the hub then simply gets no events for the queue). */
  onError: (err: unknown) => void;
}

/**
 * A BullMQ QueueEvents that starts reading at "now" by Redis's clock, not at "$": with "$" the events written
 * between registering the queue and the first blocking XREAD would be lost (a job added right after a socket
 * connected could miss its `added`). Listeners registered before the reader exists are attached when it does.
 */
export class QueueEventsSource implements QueueEventSource {
  private events: QueueEvents | undefined;
  private readonly listeners: [string, (...args: any[]) => void][] = [];
  private closed = false;
  private readonly started: Promise<void>;

  constructor(private readonly options: QueueEventsSourceOptions) {
    this.started = this.start().catch((err: unknown) => options.onError(err));
  }

  on(event: string, listener: (...args: any[]) => void): this {
    this.listeners.push([event, listener]);
    this.events?.on(event as never, listener as never);
    return this;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.started;
    try {
      await this.events?.close();
    } finally {
      this.options.release(this.options.connection);
    }
  }

  private async start(): Promise<void> {
    const lastEventId = await this.options.startId().catch(() => undefined);
    if (this.closed) return;
    const events = new QueueEvents(this.options.queue, {
      connection: this.options.connection,
      prefix: this.options.prefix,
      ...(lastEventId ? { lastEventId } : {}),
    });
    for (const [event, listener] of this.listeners) events.on(event as never, listener as never);
    this.events = events;
  }
}

/**
 * A stream id just before the Redis server's current time: a reader starting there misses nothing written from now
 * on (XREAD returns ids strictly greater, and an entry written within this very millisecond has sequence 0).
 */
export async function redisStreamIdNow(client: Redis): Promise<string | undefined> {
  if (client.status !== "ready") return undefined;
  const [seconds, micros] = await client.time();
  return `${Number(seconds) * 1000 + Math.floor(Number(micros) / 1000) - 1}-0`;
}
