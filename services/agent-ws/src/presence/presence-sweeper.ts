import { ObservedCloseCode, type PresenceRecord } from "@patchmon-ws/protocol";
import { isWrongLastSequence, type Logger } from "@patchmon-ws/service-kit";
import { disconnectedRecord, orphanedRecords } from "./presence-record.js";
import { encodeRecord, type PresenceView } from "./presence-view.js";
import type { ReplicaDirectory } from "./replica-directory.js";

/** Compare-and-set writes in flight during a sweep (10 000 orphans take a few hundred ms, not seconds). */
const SWEEP_CONCURRENCY = 64;

/**
 * Marks offline the agents of replicas that died without cleaning up (kill -9, lost host). Every replica sweeps;
 * writes are compare-and-set against the revision it saw, so of several sweepers exactly one records each host
 * and publishes its disconnect.
 */
export class PresenceSweeper {
  private timer: NodeJS.Timeout | undefined;
  private running = false;

  constructor(
    private readonly view: PresenceView,
    private readonly directory: ReplicaDirectory,
    private readonly replicaId: string,
    private readonly onMarkedOffline: (record: PresenceRecord) => void,
    private readonly logger: Logger,
  ) {}

  start(intervalMs: number): void {
    this.timer = setInterval(() => void this.sweep(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /**
   * One pass. `includeSelf` (at start-up only) also clears records naming this replica id, left over by an
   * earlier process that used the same REPLICA_ID. Returns how many hosts this pass marked offline.
   */
  async sweep(includeSelf = false): Promise<number> {
    if (this.running) return 0;
    this.running = true;
    try {
      const records = [...this.view.values()].map((v) => v.record);
      const named = new Set<string>();
      for (const record of records) if (record.connected && record.replica && record.replica !== this.replicaId) named.add(record.replica);
      let live: Set<string>;
      try {
        live = await this.directory.alive(named);
      } catch (err) {
        this.logger.warn({ err: (err as Error)?.message }, "presence sweep skipped: replicas bucket unreachable");
        return 0;
      }
      const orphans = orphanedRecords(records, live, this.replicaId, includeSelf);
      let marked = 0;
      const markOne = async (orphan: PresenceRecord) => {
        const seen = this.view.get(orphan.hostId);
        if (!seen || seen.record !== orphan) return;
        const record = disconnectedRecord(orphan, { code: ObservedCloseCode.ABNORMAL_CLOSURE, reason: "replica_lost", replica: orphan.replica }, Date.now());
        try {
          const revision = await this.view.kv.update(orphan.hostId, encodeRecord(record), seen.revision);
          this.view.remember(orphan.hostId, record, revision);
          this.onMarkedOffline(record);
          marked++;
        } catch (err) {
          if (!isWrongLastSequence(err)) this.logger.warn({ err: (err as Error)?.message, hostId: orphan.hostId }, "presence sweep write failed");
        }
      };
      for (let i = 0; i < orphans.length; i += SWEEP_CONCURRENCY) {
        await Promise.all(orphans.slice(i, i + SWEEP_CONCURRENCY).map(markOne));
      }
      if (marked > 0) this.logger.info({ marked, replicas: [...new Set(orphans.map((o) => o.replica))] }, "marked agents of dead replicas offline");
      return marked;
    } finally {
      this.running = false;
    }
  }
}
