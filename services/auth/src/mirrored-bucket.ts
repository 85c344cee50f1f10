import type { JetStreamClient } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import type { z } from "zod";
import { CodedError } from "@patchmon-ws/protocol";
import { isWrongLastSequence, KvFollower, openKvBucket, type Logger } from "@patchmon-ws/service-kit";

import { deleteWhere, modifyWithRetries, type RecordCollection, type Versioned } from "./record-collection.js";

export interface BucketOptions {
  /** Entries older than this are removed by the server (bucket-level max age; per-key TTLs need nats-server 2.11). */
  ttlMs?: number;
  replicas: number;
  /** Keep an in-memory mirror fed by a KV watch, so reads cost no round trip. */
  mirror: boolean;
  /** The connection whose reconnects make the mirror's watch resync (KvFollower). */
  nc: Pick<NatsConnection, "status">;
}

const encoder = new TextEncoder();

/** Storage failures that are not conflicts mean NATS/JetStream is unreachable: an outage, not bad input. */
function unavailable(err: unknown): CodedError {
  return err instanceof CodedError
    ? err
    : new CodedError("DEPENDENCY_UNAVAILABLE", "The credential store (NATS JetStream) is unavailable.", { retryAfter: 2, cause: err });
}

/**
 * A JetStream KV bucket of JSON records validated by a zod schema, with compare-and-set writes. With `mirror`, every
 * replica keeps all current values in memory (kept fresh by a watch), and applies its own writes at once so reads
 * after writes on the same replica are consistent.
 */
export class MirroredBucket<T> implements RecordCollection<T> {
  private readonly cache = new Map<string, Versioned<T>>();
  private follower: KvFollower | undefined;

  private constructor(
    private readonly kv: KV,
    private readonly schema: z.ZodType<T>,
    private readonly name: string,
    private readonly logger: Logger,
  ) {}

  static async open<T>(js: JetStreamClient, name: string, schema: z.ZodType<T>, options: BucketOptions, logger: Logger): Promise<MirroredBucket<T>> {
    const kv = await openKvBucket(js, name, { replicas: options.replicas, ...(options.ttlMs ? { ttlMs: options.ttlMs } : {}) }, logger);
    const bucket = new MirroredBucket(kv, schema, name, logger);
    if (options.mirror) await bucket.startMirror(options.nc);
    return bucket;
  }

  /** The mirrored value, or undefined (also for buckets without a mirror). */
  peek(key: string): Versioned<T> | undefined {
    return this.cache.get(key);
  }

  /** Mirrored value if present, else a read from the server (covers writes made on another replica a moment ago). */
  async get(key: string): Promise<Versioned<T> | undefined> {
    return this.cache.get(key) ?? (await this.fetch(key));
  }

  /** Always reads from the server: use before a compare-and-set. */
  async fetch(key: string): Promise<Versioned<T> | undefined> {
    const entry = await this.kv.get(key).catch((err: unknown) => {
      throw unavailable(err);
    });
    if (!entry || entry.operation !== "PUT") return undefined;
    const value = this.decode(key, entry.value);
    if (value === undefined) return undefined;
    return { value, revision: entry.revision };
  }

  values(): T[] {
    return [...this.cache.values()].map((v) => v.value);
  }

  /** Creates the key; throws CONFLICT if it exists. */
  async create(key: string, value: T): Promise<number> {
    try {
      const revision = await this.kv.create(key, this.encode(value));
      this.remember(key, { value, revision });
      return revision;
    } catch (err) {
      if (isWrongLastSequence(err)) throw new CodedError("CONFLICT", `${this.name}: ${key} already exists`);
      throw unavailable(err);
    }
  }

  /** Writes the key only if it is still at `revision`; throws CONFLICT otherwise. */
  async update(key: string, value: T, revision: number): Promise<number> {
    try {
      const next = await this.kv.update(key, this.encode(value), revision);
      this.remember(key, { value, revision: next });
      return next;
    } catch (err) {
      if (isWrongLastSequence(err)) throw new CodedError("CONFLICT", `${this.name}: ${key} changed concurrently`);
      throw unavailable(err);
    }
  }

  /**
   * Reads, transforms and writes with compare-and-set, retrying on concurrent change. `change` returns the new value,
   * or undefined to leave the record untouched.
   */
  modify(key: string, change: (current: T) => T | undefined, attempts = 5): Promise<Versioned<T> | undefined> {
    return modifyWithRetries(this, key, change, attempts);
  }

  /**
   * Deletes the key. With `revision`, only if it is still at that revision: exactly one of many concurrent callers
   * succeeds (returns true); the others get false.
   */
  async delete(key: string, revision?: number): Promise<boolean> {
    try {
      await this.kv.delete(key, revision === undefined ? {} : { previousSeq: revision });
    } catch (err) {
      if (revision !== undefined && isWrongLastSequence(err)) return false;
      throw unavailable(err);
    }
    this.forget(key);
    return true;
  }

  /** Drops mirrored entries matching the predicate (the server copy is untouched). Returns how many. */
  forgetWhere(predicate: (value: T) => boolean): number {
    return deleteWhere(this.cache, predicate);
  }

  close(): void {
    this.follower?.stop();
  }

  private encode(value: T): Uint8Array {
    return encoder.encode(JSON.stringify(value));
  }

  private decode(key: string, data: Uint8Array): T | undefined {
    try {
      const result = this.schema.safeParse(JSON.parse(new TextDecoder().decode(data)));
      if (result.success) return result.data;
      this.logger.error({ bucket: this.name, key, issues: result.error.issues.length }, "stored record fails its schema; ignored");
    } catch {
      this.logger.error({ bucket: this.name, key }, "stored record is not JSON; ignored");
    }
    return undefined;
  }

  private remember(key: string, versioned: Versioned<T>): void {
    const known = this.cache.get(key);
    if (!known || known.revision < versioned.revision) this.cache.set(key, versioned);
  }

  private forget(key: string): void {
    this.cache.delete(key);
  }

  /** Loads every current value, then follows updates. Resolves once the initial values are in. */
  /** Fills the mirror and keeps it current through NATS failures; resolves once the bucket's content is loaded. */
  private async startMirror(nc: Pick<NatsConnection, "status">): Promise<void> {
    this.follower = new KvFollower(this.kv, nc, {
      name: this.name,
      logger: this.logger,
      onEntry: (entry) => {
        if (entry.operation === "PUT") {
          const value = this.decode(entry.key, entry.value);
          if (value !== undefined) this.remember(entry.key, { value, revision: entry.revision });
        } else {
          const known = this.cache.get(entry.key);
          if (!known || known.revision < entry.revision) this.forget(entry.key);
        }
      },
    });
    await this.follower.start();
  }
}
