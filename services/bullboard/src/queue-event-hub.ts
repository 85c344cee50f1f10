import type { Logger } from "@patchmon-ws/service-kit";
import { CountsTracker, type Counts } from "./counts-tracker.js";
import { JOB_EVENTS, QUEUE_EVENTS } from "@patchmon-ws/protocol";
import { messages, type Outbound } from "./event-messages.js";

/** A queue's event stream (a BullMQ QueueEvents in production). */
export interface QueueEventSource {
  on(event: string, listener: (...args: any[]) => void): unknown;
  close(): Promise<void>;
}

/** Anything that receives hub messages (an event socket). */
export interface HubSubscriber {
  /** Whether this subscriber streams the queue. */
  wants(queue: string): boolean;
  deliver(message: Outbound): void;
}

export interface QueueEventHubOptions {
  /** Opens the event stream of a queue; called once per queue per process. */
  openEvents: (queue: string) => QueueEventSource;
  fetchCounts: (queue: string) => Promise<Counts>;
  countsMinIntervalMs: number;
  countsRefreshIntervalMs: number;
  logger: Logger;
  /** Counts messages published, for metrics. */
  onPublish?: (message: Outbound, recipients: number) => void;
}

/**
 * Fans BullMQ queue events out to every socket that wants them: one event source per queue per process, shared by
 * all sockets; each event is serialised once. Queue counts ride along, re-read after events (coalesced) and on a
 * period, and a Redis status change is announced to everyone.
 */
export class QueueEventHub {
  private readonly sources = new Map<string, QueueEventSource>();
  private readonly subscribers = new Set<HubSubscriber>();
  private readonly counts: CountsTracker;
  private redisUp = false;

  constructor(private readonly options: QueueEventHubOptions) {
    this.counts = new CountsTracker({
      fetch: options.fetchCounts,
      publish: (queue, counts) => this.broadcast(messages.counts(queue, counts, Date.now())),
      minIntervalMs: options.countsMinIntervalMs,
      refreshIntervalMs: options.countsRefreshIntervalMs,
      queues: () => this.queues(),
      active: () => this.subscribers.size > 0,
    });
    this.counts.start();
  }

  queues(): string[] {
    return [...this.sources.keys()];
  }

  get subscriberCount(): number {
    return this.subscribers.size;
  }

  get isRedisUp(): boolean {
    return this.redisUp;
  }

  addQueue(queue: string): void {
    if (this.sources.has(queue)) return;
    const source = this.options.openEvents(queue);
    for (const event of JOB_EVENTS) {
      source.on(event, (args: Record<string, unknown>, eventId: string) => {
        this.broadcast(messages.job(queue, event, args ?? {}, String(eventId)));
        this.counts.markDirty(queue);
      });
    }
    for (const event of QUEUE_EVENTS) {
      source.on(event, (...params: unknown[]) => {
        // BullMQ emits `drained` with the id alone, the others with (args, id).
        const [args, eventId] = event === "drained" ? [{}, params[0]] : [params[0] ?? {}, params[1]];
        this.broadcast(messages.queueEvent(queue, event, args as Record<string, unknown>, String(eventId)));
        this.counts.markDirty(queue);
      });
    }
    source.on("error", (err: Error) => this.options.logger.debug({ queue, err: err.message }, "queue events error"));
    this.sources.set(queue, source);
    this.broadcast(messages.queues(this.queues()));
    this.counts.markDirty(queue);
  }

  removeQueue(queue: string): void {
    const source = this.sources.get(queue);
    if (!source) return;
    this.sources.delete(queue);
    this.counts.forget(queue);
    void source.close().catch(() => undefined);
    this.broadcast(messages.queues(this.queues()));
  }

  subscribe(subscriber: HubSubscriber): void {
    this.subscribers.add(subscriber);
  }

  unsubscribe(subscriber: HubSubscriber): void {
    this.subscribers.delete(subscriber);
  }

  /** Sends a new subscriber (or one that changed its queues) what it needs to start: status and current counts. */
  snapshot(subscriber: HubSubscriber): void {
    subscriber.deliver(messages.status(this.redisUp));
    const unknown: string[] = [];
    for (const queue of this.queues()) {
      if (!subscriber.wants(queue)) continue;
      const counts = this.counts.latest(queue);
      if (counts) subscriber.deliver(messages.counts(queue, counts, Date.now()));
      else unknown.push(queue);
    }
    this.counts.markDirty(...unknown);
  }

  setRedisUp(up: boolean): void {
    if (up === this.redisUp) return;
    this.redisUp = up;
    this.broadcast(messages.status(up));
    if (up) this.counts.markDirty(...this.queues());
  }

  async close(): Promise<void> {
    this.counts.stop();
    this.subscribers.clear();
    const sources = [...this.sources.values()];
    this.sources.clear();
    await Promise.allSettled(sources.map((s) => s.close()));
  }

  private broadcast(message: Outbound): void {
    let recipients = 0;
    for (const subscriber of this.subscribers) {
      if (message.queue !== undefined && !subscriber.wants(message.queue)) continue;
      subscriber.deliver(message);
      recipients++;
    }
    this.options.onPublish?.(message, recipients);
  }
}
