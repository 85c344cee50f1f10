/**
 * Start-up JetStream work against real servers: buckets opened by many replicas at once on a fresh three-node
 * cluster (where a stream just created elsewhere answers "stream not found" for a moment), buckets and streams that
 * exist with other settings (brought to the configuration, or kept with a warning where JetStream cannot change
 * them), and the retry's limits.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jetstream, jetstreamManager, RetentionPolicy, StorageType } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { pino } from "pino";
import { createLogger, ensureStream, openKvBucket, untilJetStreamReady } from "@patchmon-ws/service-kit";
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

/** A logger that keeps its lines, to see what start-up said about a bucket or stream. */
function recordingLogger(): { logger: typeof logger; lines: Array<{ level: number; msg: string; stream?: string; kept?: Record<string, unknown>; changed?: Record<string, unknown> }> } {
  const lines: ReturnType<typeof recordingLogger>["lines"] = [];
  return { logger: pino({ level: "info" }, { write: (line: string) => void lines.push(JSON.parse(line)) }), lines };
}
const WARN = 40;
const INFO = 30;

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

  it("creates a bucket fresh with the configured settings, saying nothing about changes", async () => {
    const js = jetstream(await connection(single.url));
    const { logger: recorded, lines } = recordingLogger();
    const kv = await openKvBucket(js, "fresh", { replicas: 1, ttlMs: 5000, history: 3 }, recorded);
    const status = await kv.status();
    expect([status.ttl, status.history, status.replicas]).toEqual([5000, 3, 1]);
    expect(lines.filter((line) => line.stream !== undefined)).toEqual([]);
  });

  it("brings a bucket that exists with a shorter TTL to the configured one, logged at info", async () => {
    const js = jetstream(await connection(single.url));
    const before = await openKvBucket(js, "shorter", { replicas: 1, ttlMs: 5000 }, logger);
    await before.put("kept", "v");
    const { logger: recorded, lines } = recordingLogger();
    const after = await openKvBucket(js, "shorter", { replicas: 1, ttlMs: 60_000, history: 5 }, recorded);
    const status = await after.status();
    expect([status.ttl, status.history]).toEqual([60_000, 5]);
    expect((await after.get("kept"))?.string()).toBe("v");
    const changed = lines.find((line) => line.stream === "KV_shorter" && line.changed);
    expect(changed?.level).toBe(INFO);
    expect(Object.keys(changed?.changed ?? {}).sort()).toEqual(["max_age", "max_msgs_per_subject"]);
  });

  it("brings a bucket that exists with a longer TTL down to the configured one, its duplicate window with it", async () => {
    const js = jetstream(await connection(single.url));
    await openKvBucket(js, "longer", { replicas: 1, ttlMs: 60_000 }, logger);
    const after = await openKvBucket(js, "longer", { replicas: 1, ttlMs: 2000 }, logger);
    const { config } = (await after.status()).streamInfo;
    expect([config.max_age, config.duplicate_window]).toEqual([2000 * 1e6, 2000 * 1e6]);
  });

  it("keeps the replicas a cluster refuses (more than it has servers), with a warning, and still applies the TTL", async () => {
    const js = jetstream(await connection(cluster.nodes[1]!.url), { timeout: 3000 });
    await openKvBucket(js, "too_many_copies", { replicas: 1, ttlMs: 5000 }, logger);
    const { logger: recorded, lines } = recordingLogger();
    const kv = await openKvBucket(js, "too_many_copies", { replicas: 5, ttlMs: 10_000 }, recorded);
    const status = await kv.status();
    expect([status.replicas, status.ttl]).toEqual([1, 10_000]);
    const warning = lines.find((line) => line.stream === "KV_too_many_copies" && line.kept);
    expect(warning?.level).toBe(WARN);
    expect(warning?.kept).toEqual({ num_replicas: { current: 1, configured: 5 } });
    await kv.put("usable", "yes");
  }, 30_000);

  it("raises the replicas of a bucket in a cluster", async () => {
    const js = jetstream(await connection(cluster.nodes[0]!.url), { timeout: 3000 });
    await openKvBucket(js, "grows", { replicas: 1 }, logger);
    const kv = await openKvBucket(js, "grows", { replicas: 3 }, logger);
    expect((await kv.status()).replicas).toBe(3);
  }, 30_000);
  it("gives up after its timeout with JetStream's own error when the bucket can never be made", async () => {
    const js = jetstream(await connection(single.url), { timeout: 500 });
    // Three replicas on a single server: JetStream refuses (insufficient resources), every attempt.
    await expect(openKvBucket(js, "impossible", { replicas: 3, timeoutMs: 1500 }, logger)).rejects.toThrow(/replicas|resources/i);
  });
});

describe("ensureStream", () => {
  const base = { retention: RetentionPolicy.Limits, storage: StorageType.File, num_replicas: 1 };

  it("creates a stream fresh, and brings its limits to a later configuration, keeping its messages", async () => {
    const nc = await connection(single.url);
    const jsm = await jetstreamManager(nc);
    const created = await ensureStream(jsm, { ...base, name: "LIMITS", subjects: ["limits.>"], max_age: 60_000 * 1e6, max_bytes: 1 << 20 }, logger);
    expect([created.config.max_age, created.config.max_bytes]).toEqual([60_000 * 1e6, 1 << 20]);
    await jetstream(nc).publish("limits.one", "x");
    const updated = await ensureStream(jsm, { ...base, name: "LIMITS", subjects: ["limits.>"], max_age: 30_000 * 1e6, max_bytes: 2 << 20, max_msg_size: 4096 }, logger);
    expect([updated.config.max_age, updated.config.max_bytes, updated.config.max_msg_size, updated.state.messages]).toEqual([30_000 * 1e6, 2 << 20, 4096, 1]);
  });

  it("keeps a storage type JetStream cannot change, with a warning, and applies the rest", async () => {
    const jsm = await jetstreamManager(await connection(single.url));
    await ensureStream(jsm, { ...base, name: "IN_MEMORY", subjects: ["memory.>"], storage: StorageType.Memory, max_age: 60_000 * 1e6 }, logger);
    const { logger: recorded, lines } = recordingLogger();
    const info = await ensureStream(jsm, { ...base, name: "IN_MEMORY", subjects: ["memory.>"], max_age: 90_000 * 1e6 }, recorded);
    expect([info.config.storage, info.config.max_age]).toEqual([StorageType.Memory, 90_000 * 1e6]);
    const warning = lines.find((line) => line.stream === "IN_MEMORY" && line.kept);
    expect(warning?.level).toBe(WARN);
    expect(warning?.kept).toEqual({ storage: { current: StorageType.Memory, configured: StorageType.File } });
  });

  it("two replicas creating it at once with other limits both succeed, on one stream with one of the two", async () => {
    const [one, two] = await Promise.all([connection(single.url), connection(single.url)]).then((ncs) => Promise.all(ncs.map((nc) => jetstreamManager(nc))));
    const ages = [10_000 * 1e6, 20_000 * 1e6];
    await Promise.all([one!, two!].map((jsm, i) => ensureStream(jsm, { ...base, name: "RACED", subjects: ["raced.>"], max_age: ages[i] }, logger)));
    expect(ages).toContain((await one!.streams.info("RACED")).config.max_age);
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
