import type { PresenceChange, VersionedRecord } from "./presence-record.js";

/** Removals a presence view remembers by default, for status streams resuming after a blip. */
export const DEFAULT_REMOVAL_LOG_LIMIT = 10_000;

/**
 * The hosts removed from the presence bucket (host id → revision of the delete), newest last, at most `limit`: past
 * it the oldest are forgotten, and `forgottenUpTo` keeps the highest revision forgotten, so a resume from an older
 * revision is known to be impossible. A host that comes back leaves the log (its new record, with a higher revision,
 * says more than its removal).
 *
 * Entries must be added in revision order (the watch delivers them so).
 */
export class RemovalLog {
  private readonly entries = new Map<string, number>();
  private forgotten = 0;

  constructor(readonly limit = DEFAULT_REMOVAL_LOG_LIMIT) {
    if (!Number.isInteger(limit) || limit < 0) throw new RangeError("limit must be a non-negative integer");
  }

  add(hostId: string, revision: number): void {
    this.entries.delete(hostId);
    this.entries.set(hostId, revision);
    while (this.entries.size > this.limit) {
      const [oldest, oldestRevision] = this.entries.entries().next().value as [string, number];
      this.entries.delete(oldest);
      this.forgetUpTo(oldestRevision);
    }
  }

  /** The host has a record again. */
  restored(hostId: string): void {
    this.entries.delete(hostId);
  }

  /** Removals up to `revision` may have happened without being logged (e.g. the bucket was emptied before we started). */
  forgetUpTo(revision: number): void {
    if (revision > this.forgotten) this.forgotten = revision;
  }

  get(hostId: string): number | undefined {
    return this.entries.get(hostId);
  }

  /** Oldest first. */
  [Symbol.iterator](): IterableIterator<[string, number]> {
    return this.entries.entries();
  }

  get size(): number {
    return this.entries.size;
  }

  /** The highest revision of a removal no longer logged (0: none forgotten). */
  get forgottenUpTo(): number {
    return this.forgotten;
  }
}

/** What a resume needs from a presence view: the state its listeners were told, in revision order. */
export interface ResumableState {
  /** The initial load of the bucket is done. */
  readonly ready: boolean;
  /** Every change up to this revision is applied (and was told to listeners). */
  readonly revision: number;
  readonly removals: RemovalLog;
  confirmed(hostId: string): VersionedRecord | undefined;
  confirmedValues(): Iterable<VersionedRecord>;
}

export interface ChangesSince {
  fromRevision: number;
  toRevision: number;
  /** In revision order: the current record of every (selected) host changed after `fromRevision`, and every removal. */
  changes: PresenceChange[];
}

/**
 * What changed after revision `since`, for the selected hosts (null: all), or null when the state cannot prove it: it
 * is still loading, `since` lies beyond what it applied (a replica behind, or an id from elsewhere), or removals after
 * `since` may have been forgotten. The caller then sends a full snapshot instead.
 */
export function changesSince(state: ResumableState, since: number, hostIds: readonly string[] | null): ChangesSince | null {
  // Read first: were a change applied while the rest is collected, it would be sent again live, never missed.
  const revision = state.revision;
  if (!state.ready || since > revision || since < state.removals.forgottenUpTo) return null;
  const changes: PresenceChange[] = [];
  if (hostIds === null) {
    for (const { record, revision } of state.confirmedValues()) if (revision > since) changes.push({ hostId: record.hostId, record, revision });
    for (const [hostId, revision] of state.removals) if (revision > since) changes.push({ hostId, record: null, revision });
  } else {
    for (const hostId of hostIds) {
      const current = state.confirmed(hostId);
      if (current) {
        if (current.revision > since) changes.push({ hostId, record: current.record, revision: current.revision });
        continue;
      }
      const removedAt = state.removals.get(hostId);
      if (removedAt !== undefined && removedAt > since) changes.push({ hostId, record: null, revision: removedAt });
    }
  }
  changes.sort((a, b) => a.revision - b.revision);
  return { fromRevision: since, toRevision: revision, changes };
}
