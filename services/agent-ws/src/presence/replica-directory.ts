import type { KV } from "@nats-io/kv";
import { ReplicaHeartbeat } from "@patchmon-ws/protocol";
import type { Logger } from "@patchmon-ws/service-kit";

const encoder = new TextEncoder();

/**
 * Replica liveness through a KV bucket whose TTL is the liveness timeout (nats-server 2.9 has no per-key TTL,
 * the bucket-level max age does the job): each replica rewrites its key every heartbeat interval; a key that
 * stopped being rewritten expires, and the replica is dead.
 */
export class ReplicaDirectory {
  private timer: NodeJS.Timeout | undefined;
  private readonly startedAt = Date.now();

  constructor(
    private readonly kv: KV,
    private readonly replicaId: string,
    private readonly connections: () => number,
    private readonly logger: Logger,
  ) {}

  /** Writes the first heartbeat (before accepting agents, so no peer mistakes them for orphans), then keeps beating. */
  async start(intervalMs: number): Promise<void> {
    await this.beat();
    this.timer = setInterval(() => {
      this.beat().catch((err: unknown) => this.logger.warn({ err: (err as Error)?.message }, "replica heartbeat failed"));
    }, intervalMs);
    this.timer.unref();
  }

  async beat(): Promise<void> {
    const heartbeat: ReplicaHeartbeat = {
      replicaId: this.replicaId,
      startedAt: this.startedAt,
      heartbeatAt: Date.now(),
      connections: this.connections(),
    };
    await this.kv.put(this.replicaId, encoder.encode(JSON.stringify(heartbeat)));
  }

  /**
   * Whether a replica's heartbeat has not expired. A direct read per replica, not a key listing: listing keys
   * runs a consumer that can wait indefinitely when a key expires mid-listing.
   */
  async isAlive(replicaId: string): Promise<boolean> {
    const entry = await this.kv.get(replicaId);
    return !!entry && entry.operation === "PUT";
  }

  /** Which of `replicaIds` are alive. */
  async alive(replicaIds: Iterable<string>): Promise<Set<string>> {
    const ids = [...new Set(replicaIds)];
    const states = await Promise.all(ids.map((id) => this.isAlive(id)));
    return new Set(ids.filter((_, i) => states[i]));
  }

  /** Stops beating and removes this replica's key (a clean shutdown needs no expiry wait). */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.kv.purge(this.replicaId).catch((err: unknown) => this.logger.warn({ err: (err as Error)?.message }, "could not remove replica heartbeat"));
  }
}
