import { CodedError } from "@patchmon-ws/protocol";
import { deleteWhere, modifyWithRetries, type RecordCollection, type Versioned } from "./record-collection.js";

interface Entry<T> extends Versioned<T> {
  writtenAt: number;
}

export interface InMemoryCollectionOptions {
  /** Entries not written for this long disappear, like a JetStream bucket's max age. */
  ttlMs?: number;
  now?: () => number;
}

/**
 * A RecordCollection in one process's memory, for a single-replica deployment and for testing the core without
 * NATS. It keeps the JetStream bucket's semantics: revisions grow across the whole collection (like stream
 * sequences), compare-and-set writes fail with CONFLICT, and a bucket max age removes entries by the time of their
 * last write. Values are copied in and out, so callers never share a mutable record with the store.
 */
export class InMemoryCollection<T> implements RecordCollection<T> {
  private readonly entries = new Map<string, Entry<T>>();
  private sequence = 0;
  private readonly now: () => number;

  constructor(
    private readonly name: string,
    private readonly options: InMemoryCollectionOptions = {},
  ) {
    this.now = options.now ?? Date.now;
  }

  peek(key: string): Versioned<T> | undefined {
    return this.read(key);
  }

  async get(key: string): Promise<Versioned<T> | undefined> {
    return this.read(key);
  }

  async fetch(key: string): Promise<Versioned<T> | undefined> {
    return this.read(key);
  }

  values(): T[] {
    return [...this.entries.keys()].flatMap((key) => {
      const entry = this.read(key);
      return entry ? [entry.value] : [];
    });
  }

  async create(key: string, value: T): Promise<number> {
    if (this.read(key)) throw new CodedError("CONFLICT", `${this.name}: ${key} already exists`);
    return this.write(key, value);
  }

  async update(key: string, value: T, revision: number): Promise<number> {
    if (this.read(key)?.revision !== revision) throw new CodedError("CONFLICT", `${this.name}: ${key} changed concurrently`);
    return this.write(key, value);
  }

  modify(key: string, change: (current: T) => T | undefined, attempts = 5): Promise<Versioned<T> | undefined> {
    return modifyWithRetries(this, key, change, attempts);
  }

  async delete(key: string, revision?: number): Promise<boolean> {
    if (revision !== undefined && this.read(key)?.revision !== revision) return false;
    this.entries.delete(key);
    this.sequence++; // a delete is a write in JetStream too: it moves the sequence on
    return true;
  }

  /** Here the local and the shared copy are one, so forgetting deletes (callers only forget expired records). */
  forgetWhere(predicate: (value: T) => boolean): number {
    return deleteWhere(this.entries, predicate);
  }

  close(): void {
    this.entries.clear();
  }

  private read(key: string): Versioned<T> | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (this.options.ttlMs !== undefined && this.now() - entry.writtenAt >= this.options.ttlMs) {
      this.entries.delete(key);
      return undefined;
    }
    return { value: structuredClone(entry.value), revision: entry.revision };
  }

  private write(key: string, value: T): number {
    const revision = ++this.sequence;
    this.entries.set(key, { value: structuredClone(value), revision, writtenAt: this.now() });
    return revision;
  }
}
