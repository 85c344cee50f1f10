import { jetstream } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { AgentBuckets } from "@patchmon-ws/protocol";
import { openKvBucket, type Logger } from "@patchmon-ws/service-kit";

export interface AgentWsBuckets {
  presence: KV;
  replicas: KV;
}

/**
 * Opens agent-ws's KV buckets, created or brought to these settings (the kit's start-up policy for existing buckets):
 * presence (no TTL) and replicas (TTL = replica liveness timeout).
 */
export async function openAgentWsBuckets(nc: NatsConnection, options: { replicas: number; replicaTtlMs: number }, logger: Logger): Promise<AgentWsBuckets> {
  const js = jetstream(nc, { timeout: 5000 });
  const presence = await openKvBucket(js, AgentBuckets.presence, { replicas: options.replicas }, logger);
  const replicas = await openKvBucket(js, AgentBuckets.replicas, { replicas: options.replicas, ttlMs: options.replicaTtlMs }, logger);
  return { presence, replicas };
}
