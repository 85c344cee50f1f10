import { CodedError } from "@patchmon-ws/protocol";

export interface Versioned<T> {
  value: T;
  /** Increases with every write; compare-and-set writes name the revision they read. */
  revision: number;
}

/**
 * The storage port of the auth service: a keyed collection of records with revisions and compare-and-set writes,
 * shared by every replica. The core (users, sessions, hosts, tickets, failure limits) depends only on this; the
 * JetStream KV bucket (MirroredBucket) and the in-memory map (InMemoryCollection) implement it with the same
 * semantics, and one behaviour suite runs against both.
 */
export interface RecordCollection<T> {
  /** The locally known value without any I/O (a mirror), or undefined; collections without a mirror always say undefined. */
  peek(key: string): Versioned<T> | undefined;
  /** The local value if known, else a read from the shared store. */
  get(key: string): Promise<Versioned<T> | undefined>;
  /** Always reads the shared store: use before a compare-and-set. */
  fetch(key: string): Promise<Versioned<T> | undefined>;
  /** Every locally known value (mirrored collections only; may include entries the store has already aged out). */
  values(): T[];
  /** Creates the key; throws CodedError CONFLICT if it exists. Returns the new revision. */
  create(key: string, value: T): Promise<number>;
  /** Writes the key only if it is still at `revision`; throws CodedError CONFLICT otherwise. */
  update(key: string, value: T, revision: number): Promise<number>;
  /**
   * Reads, transforms and writes with compare-and-set, retrying on concurrent change. `change` returns the new
   * value, or undefined to leave the record untouched (then the current one is returned). Undefined when absent.
   */
  modify(key: string, change: (current: T) => T | undefined, attempts?: number): Promise<Versioned<T> | undefined>;
  /**
   * Deletes the key. With `revision`, only if it is still at that revision: of many concurrent callers exactly one
   * gets true, the others false.
   */
  delete(key: string, revision?: number): Promise<boolean>;
  /** Drops locally held entries matching the predicate (the shared copy is untouched). Returns how many. */
  forgetWhere(predicate: (value: T) => boolean): number;
  close(): void;
}

/** Deletes the entries of `map` whose value matches; returns how many (both implementations' forgetWhere). */
export function deleteWhere<T>(map: Map<string, Versioned<T>>, predicate: (value: T) => boolean): number {
  let dropped = 0;
  for (const [key, entry] of map) {
    if (predicate(entry.value)) {
      map.delete(key);
      dropped++;
    }
  }
  return dropped;
}

/** The read-transform-CAS loop both implementations share, so `modify` means exactly the same on each. */
export async function modifyWithRetries<T>(
  collection: Pick<RecordCollection<T>, "fetch" | "update">,
  key: string,
  change: (current: T) => T | undefined,
  attempts: number,
): Promise<Versioned<T> | undefined> {
  for (let attempt = 0; attempt < attempts; attempt++) {
    const current = await collection.fetch(key);
    if (!current) return undefined;
    const next = change(current.value);
    if (next === undefined) return current;
    try {
      return { value: next, revision: await collection.update(key, next, current.revision) };
    } catch (err) {
      if (!(err instanceof CodedError && err.code === "CONFLICT")) throw err;
    }
  }
  throw new CodedError("CONFLICT");
}
