import { jetstream } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { AgentBuckets } from "@patchmon-ws/protocol";
import type { Logger } from "@patchmon-ws/service-kit";

export interface AgentWsBuckets {
  presence: KV;
  replicas: KV;
}

async function openBucket(kvm: Kvm, name: string, options: { replicas: number; ttl?: number }, logger: Logger): Promise<KV> {
  try {
    return await kvm.create(name, { history: 1, replicas: options.replicas, ...(options.ttl ? { ttl: options.ttl } : {}) });
  } catch (err) {
    // Created earlier with other limits (e.g. another REPLICA_TTL_MS): use it as it is, say so.
    logger.warn({ bucket: name, err: (err as Error)?.message }, "KV bucket exists with different settings; using it as is");
    return kvm.open(name);
  }
}

/** Creates (or binds to) agent-ws's KV buckets: presence (no TTL) and replicas (TTL = replica liveness timeout). */
export async function openAgentWsBuckets(nc: NatsConnection, options: { replicas: number; replicaTtlMs: number }, logger: Logger): Promise<AgentWsBuckets> {
  const kvm = new Kvm(jetstream(nc, { timeout: 5000 }));
  const presence = await openBucket(kvm, AgentBuckets.presence, { replicas: options.replicas }, logger);
  const replicas = await openBucket(kvm, AgentBuckets.replicas, { replicas: options.replicas, ttl: options.replicaTtlMs }, logger);
  return { presence, replicas };
}
