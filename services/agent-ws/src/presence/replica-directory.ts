import type { KV } from "@nats-io/kv";
import { ReplicaHeartbeat } from "@patchmon-ws/protocol";
import { KvHeartbeat, type BeatingKey, type Logger } from "@patchmon-ws/service-kit";

const encoder = new TextEncoder();

/**
 * Replica liveness through a KV bucket whose TTL is the liveness timeout: each replica's key is a KvHeartbeat; a key
 * that stopped being rewritten expires, and the replica is dead.
 */
export class ReplicaDirectory {
  private readonly startedAt = Date.now();
  private readonly heartbeat: KvHeartbeat;
  private beating: BeatingKey | undefined;

  constructor(
    private readonly kv: KV,
    private readonly replicaId: string,
    private readonly connections: () => number,
    logger: Logger,
  ) {
    this.heartbeat = new KvHeartbeat(kv, { what: "replica heartbeat", logger });
  }

  /** Writes the first heartbeat (before accepting agents, so no peer mistakes them for orphans), then keeps beating. */
  async start(intervalMs: number): Promise<void> {
    await this.beat();
    this.heartbeat.start(intervalMs);
  }

  /** Writes this replica's heartbeat now; a failure is thrown. */
  async beat(): Promise<void> {
    this.beating = await this.heartbeat.keep(this.replicaId, () => this.heartbeatValue());
  }

  private heartbeatValue(): Uint8Array {
    const heartbeat: ReplicaHeartbeat = {
      replicaId: this.replicaId,
      startedAt: this.startedAt,
      heartbeatAt: Date.now(),
      connections: this.connections(),
    };
    return encoder.encode(JSON.stringify(heartbeat));
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
    this.heartbeat.stop();
    if (this.beating) await this.heartbeat.release(this.beating);
  }
}
