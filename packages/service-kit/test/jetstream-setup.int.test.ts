/**
 * Start-up JetStream work against real servers: buckets opened by many replicas at once on a fresh three-node
 * cluster (where a stream just created elsewhere answers "stream not found" for a moment), a bucket that exists with
 * other settings, and the retry's limits.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jetstream } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { createLogger, openKvBucket, untilJetStreamReady } from "@patchmon-ws/service-kit";
import { startNatsCluster, startNatsServer, type TestNatsCluster, type TestNatsServer } from "@patchmon-ws/stack";

const logger = createLogger("test", "silent");
let single: TestNatsServer;
let cluster: TestNatsCluster;
const connections: NatsConnection[] = [];

beforeAll(async () => {
  [single, cluster] = await Promise.all([startNatsServer(), startNatsCluster({ size: 3 })]);
  await cluster.jetStreamReady();
}, 60_000);

afterAll(async () => {
  await Promise.allSettled(connections.map((nc) => nc.close()));
  await Promise.allSettled([single?.dispose(), cluster?.dispose()]);
});

async function connection(servers: string): Promise<NatsConnection> {
  const nc = await connect({ servers: servers.split(",") });
  connections.push(nc);
  return nc;
}

describe("openKvBucket", () => {
  it("opens the same replicated buckets from six replicas at once on a fresh cluster, each usable at once", async () => {
    const replicas = await Promise.all(cluster.nodes.flatMap((node) => [connection(node.url), connection(node.url)]));
    const names = ["race_a", "race_b", "race_c"];
    const opened = await Promise.all(replicas.flatMap((nc) => names.map((name) => openKvBucket(jetstream(nc, { timeout: 3000 }), name, { replicas: 3, ttlMs: 60_000 }, logger))));
    expect(opened).toHaveLength(18);
    // Every replica writes the moment its open resolves, through whichever node it is connected to.
    await Promise.all(opened.map((kv, i) => kv.put(`writer.${i}`, String(i))));
    const keys: string[] = [];
    for await (const key of await opened[0]!.keys()) keys.push(key);
    // race_a holds the writes of the opens of race_a (every third), and no trace of the write probe.
    expect(keys.sort()).toEqual(opened.map((_, i) => i).filter((i) => i % names.length === 0).map((i) => `writer.${i}`).sort());
    const status = await opened[1]!.status();
    expect([status.replicas, status.ttl]).toEqual([3, 60_000]);
  }, 60_000);

  it("binds to a bucket that exists with other settings, keeping them", async () => {
    const js = jetstream(await connection(single.url));
    await openKvBucket(js, "settled", { replicas: 1, ttlMs: 5000 }, logger);
    const again = await openKvBucket(js, "settled", { replicas: 1, ttlMs: 60_000, history: 5 }, logger);
    const status = await again.status();
    expect([status.ttl, status.history]).toEqual([5000, 1]);
  });

  it("gives up after its timeout with JetStream's own error when the bucket can never be made", async () => {
    const js = jetstream(await connection(single.url), { timeout: 500 });
    // Three replicas on a single server: JetStream refuses (insufficient resources), every attempt.
    await expect(openKvBucket(js, "impossible", { replicas: 3, timeoutMs: 1500 }, logger)).rejects.toThrow(/replicas|resources/i);
  });
});

describe("untilJetStreamReady", () => {
  it("retries until the work succeeds, with the work's result", async () => {
    let calls = 0;
    const result = await untilJetStreamReady("flaky", async () => {
      if (++calls < 3) throw new Error("stream not found");
      return "done";
    }, logger, 10_000);
    expect([result, calls]).toEqual(["done", 3]);
  });

  it("throws the last failure once the timeout would pass", async () => {
    let calls = 0;
    await expect(untilJetStreamReady("never", async () => {
      throw new Error(`failure ${++calls}`);
    }, logger, 600)).rejects.toThrow(`failure ${2}`);
  });
});
