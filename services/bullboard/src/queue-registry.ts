import { EventEmitter } from "node:events";
import { Queue } from "bullmq";
import type { Redis } from "ioredis";
import type { Logger } from "@patchmon-ws/service-kit";
import { isQueueName } from "./queue-names.js";

/** Where registered queues are shown (the Bull Board instances). */
export interface QueueSink {
  addQueue(queue: Queue): void;
  removeQueue(name: string): void;
}

export interface QueueRegistryOptions {
  /** The shared command connection (BullMQ never closes a connection it was handed). */
  connection: Redis;
  prefix: string;
  /** Queues always shown, found in Redis or not. */
  declared: readonly string[];
  /** Most queues registered at once; discovered queues beyond it are skipped with a warning. */
  maxQueues: number;
  sink: QueueSink;
  logger: Logger;
}

export type JobCounts = Record<string, number>;

/**
 * The queues the dashboard shows: the declared ones from start-up, plus those discovery finds in Redis (added
 * without a restart, removed again when their keys vanish). Emits "added" and "removed" with the queue name so the
 * live-event hub follows along. Queues are opened read-only towards Redis: no meta is written just by looking.
 */
export class QueueRegistry extends EventEmitter<{ added: [string]; removed: [string] }> {
  private readonly queues = new Map<string, Queue>();
  private readonly declared: ReadonlySet<string>;
  private readonly skipped = new Set<string>();

  constructor(private readonly options: QueueRegistryOptions) {
    super();
    this.declared = new Set(options.declared);
    for (const name of options.declared) this.add(name);
  }

  names(): string[] {
    return [...this.queues.keys()];
  }

  has(name: string): boolean {
    return this.queues.has(name);
  }

  get size(): number {
    return this.queues.size;
  }

  /** Brings the registry in line with the queue names found in Redis by one discovery pass. */
  sync(found: ReadonlySet<string>): void {
    for (const name of found) if (!this.queues.has(name)) this.add(name);
    for (const name of [...this.queues.keys()]) {
      if (!found.has(name) && !this.declared.has(name)) this.remove(name);
    }
  }

  async getJobCounts(name: string): Promise<JobCounts> {
    const queue = this.queues.get(name);
    if (!queue) throw new Error(`queue ${name} is not registered`);
    return queue.getJobCounts();
  }

  async close(): Promise<void> {
    const queues = [...this.queues.values()];
    this.queues.clear();
    await Promise.allSettled(queues.map((q) => q.close()));
  }

  private add(name: string): void {
    if (!isQueueName(name)) {
      this.warnOnce(name, "queue name skipped: it does not match the allowed pattern");
      return;
    }
    if (this.queues.size >= this.options.maxQueues) {
      this.warnOnce(name, "queue skipped: MAX_QUEUES reached");
      return;
    }
    const queue = new Queue(name, { connection: this.options.connection, prefix: this.options.prefix, skipMetasUpdate: true });
    queue.on("error", (err: Error) => this.options.logger.debug({ queue: name, err: err.message }, "queue error"));
    this.queues.set(name, queue);
    this.options.sink.addQueue(queue);
    this.options.logger.info({ queue: name, declared: this.declared.has(name) }, "queue registered");
    this.emit("added", name);
  }

  private remove(name: string): void {
    const queue = this.queues.get(name);
    if (!queue) return;
    this.queues.delete(name);
    this.options.sink.removeQueue(name);
    void queue.close().catch(() => undefined);
    this.options.logger.info({ queue: name }, "queue vanished from redis; unregistered");
    this.emit("removed", name);
  }

  private warnOnce(name: string, message: string): void {
    if (this.skipped.has(name)) return;
    if (this.skipped.size < 1000) this.skipped.add(name);
    this.options.logger.warn({ queue: name.slice(0, 200) }, message);
  }
}
