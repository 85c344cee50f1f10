import type { KV, KvEntry, Kvm } from "@nats-io/kv";
import { AgentBuckets, PresenceRecord } from "@patchmon-ws/protocol";

/**
 * How long a host whose presence record just changed may still be reconnecting: a reconnecting agent is recorded up to
 * agent-ws's hello wait plus a KV write after its connect, and a question asked in between must not find it offline.
 */
export const PRESENCE_SETTLE_MS = 1000;

/** Where the presence client reads records: a service's own mirror of the bucket, or the bucket itself. */
export interface PresenceSource {
  /** The host's record now (undefined: none). */
  record(hostId: string): PresenceRecord | undefined | Promise<PresenceRecord | undefined>;
  /** Calls `onRecord` on each change of the host's record (null: removed), maybe first with its current one, until stopped. */
  watchHost(hostId: string, onRecord: (record: PresenceRecord | null) => void): (() => void) | Promise<() => void>;
}

/** Where a host's agent is, from its presence record: held by a replica, offline, or possibly reconnecting. */
export type AgentWhereabouts = { kind: "held"; replica: string } | { kind: "offline" } | { kind: "settling" };

/** The agent-ws replica a record names as the holder of the host's live connection, or null. */
export function holderOf(record: PresenceRecord | null | undefined): string | null {
  return record?.connected && record.replica ? record.replica : null;
}

/**
 * A record not connected is settling while it changed less than `settleMs` before `now`: the agent may be
 * reconnecting (or its first connection is being recorded). No record, or an older one, is offline.
 */
export function whereabouts(record: PresenceRecord | undefined, now: number, settleMs: number): AgentWhereabouts {
  const replica = holderOf(record);
  if (replica) return { kind: "held", replica };
  if (!record || now - record.updatedAt > settleMs) return { kind: "offline" };
  return { kind: "settling" };
}

/**
 * The one answer to "which agent-ws replica holds this host's agent": the replica presence names, or, when the host's
 * record changed less than `settleMs` ago without a live connection, the replica of the connection recorded within
 * `settleMs` from the question; null when none is.
 */
export class PresenceClient {
  constructor(
    private readonly source: PresenceSource,
    private readonly settleMs: number = PRESENCE_SETTLE_MS,
  ) {}

  async locate(hostId: string): Promise<string | null> {
    const now = whereabouts(await this.source.record(hostId), Date.now(), this.settleMs);
    if (now.kind === "held") return now.replica;
    if (now.kind === "offline") return null;
    return new Promise<string | null>((resolve, reject) => {
      let settled = false;
      let stop: (() => void) | undefined;
      const finish = (outcome: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        stop?.();
        outcome();
      };
      const timer = setTimeout(() => finish(() => resolve(null)), this.settleMs);
      const onRecord = (record: PresenceRecord | null) => {
        const replica = holderOf(record);
        if (replica) finish(() => resolve(replica));
      };
      Promise.resolve()
        .then(() => this.source.watchHost(hostId, onRecord))
        .then(async (stopWatch) => {
          if (settled) return stopWatch();
          stop = stopWatch;
          // A change between the first read and the watch: the record read now is at least as new.
          onRecord((await this.source.record(hostId)) ?? null);
        })
        .catch((err: unknown) => finish(() => reject(err)));
    });
  }
}

function decode(entry: KvEntry | null): PresenceRecord | undefined {
  if (!entry || entry.operation !== "PUT") return undefined;
  try {
    const parsed = PresenceRecord.safeParse(entry.json());
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The presence bucket itself, for services that keep no mirror of it. Opened on first use (agent-ws creates it, so it
 * may not exist yet) and again after a failed open.
 */
export function presenceBucketSource(kvm: Pick<Kvm, "open">): PresenceSource {
  let bucket: Promise<KV> | undefined;
  const open = () =>
    (bucket ??= kvm.open(AgentBuckets.presence).catch((err: unknown) => {
      bucket = undefined;
      throw err;
    }));
  return {
    record: async (hostId) => decode(await (await open()).get(hostId)),
    watchHost: async (hostId, onRecord) => {
      // Starts with the key's current value, so a change between a read and this watch is not missed.
      const watch = await (await open()).watch({ key: hostId });
      void (async () => {
        for await (const entry of watch) onRecord(entry.operation === "PUT" ? (decode(entry) ?? null) : null);
      })().catch(() => undefined);
      return () => watch.stop();
    },
  };
}
