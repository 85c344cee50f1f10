/**
 * KvFollower against real servers: a bucket's content and changes delivered once each, in order; a watch whose
 * consumer's server dies while the client stays connected elsewhere (the case nats.js notices only after a minute,
 * if ever) resynced within a check period; a resync whose own watch stays silent followed by another; no resync loop
 * on a bucket whose last entry expired.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { KV, KvEntry } from "@nats-io/kv";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { pino } from "pino";
import { KvFollower, openKvBucket, type Logger } from "@patchmon-ws/service-kit";
import { eventually } from "@patchmon-ws/testkit";
import { startNatsCluster, startNatsServer, type TestNatsCluster, type TestNatsServer } from "@patchmon-ws/stack";

let single: TestNatsServer;
let cluster: TestNatsCluster;
const connections: NatsConnection[] = [];
const followers: KvFollower[] = [];

beforeAll(async () => {
  [single, cluster] = await Promise.all([startNatsServer(), startNatsCluster({ size: 3 })]);
}, 60_000);

afterAll(async () => {
  for (const follower of followers) follower.stop();
  await Promise.allSettled(connections.map((nc) => nc.close()));
  await Promise.allSettled([single?.dispose(), cluster?.dispose()]);
});

async function connection(servers: string[]): Promise<NatsConnection> {
  const nc = await connect({ servers, maxReconnectAttempts: -1, reconnectTimeWait: 200 });
  connections.push(nc);
  return nc;
}

/** A logger that keeps the messages it was given. */
function recordingLogger(): { logger: Logger; messages: string[] } {
  const messages: string[] = [];
  const logger = pino({ level: "debug" }, { write: (line: string) => void messages.push(JSON.parse(line).msg as string) });
  return { logger, messages };
}

function follow(kv: KV, nc: NatsConnection, logger: Logger, checkEveryMs = 500) {
  const seen: KvEntry[] = [];
  const follower = new KvFollower(kv, nc, { name: "test", logger, checkEveryMs, onEntry: (entry) => seen.push(entry) });
  followers.push(follower);
  return { follower, seen };
}

/** A KV watch that delivers nothing until stopped. */
function silentWatch() {
  let wake!: () => void;
  const stopped = new Promise<void>((resolve) => (wake = resolve));
  return {
    stop: () => wake(),
    async *[Symbol.asyncIterator]() {
      await stopped;
    },
  };
}

describe("KvFollower", () => {
  it("delivers the current content, then every change once and in order", async () => {
    const nc = await connection([single.url]);
    const { logger } = recordingLogger();
    const kv = await openKvBucket(jetstream(nc), "follow_basic", { replicas: 1 }, logger);
    await kv.put("a", "1");
    await kv.put("a", "2");
    await kv.put("b", "1");
    const { follower, seen } = follow(kv, nc, logger);
    await follower.start();
    expect(seen.map((e) => `${e.key}=${e.string()}@${e.revision}`)).toEqual(["a=2@2", "b=1@3"]);
    await kv.delete("a");
    await kv.put("c", "1");
    await eventually(() => seen.length === 4, 5000, "the changes");
    expect(seen.slice(2).map((e) => `${e.key}:${e.operation}@${e.revision}`)).toEqual(["a:DEL@4", "c:PUT@5"]);
    expect(follower.revision).toBe(5);
    follower.resync("test");
    await kv.put("d", "1");
    await eventually(() => seen.some((e) => e.key === "d"), 5000, "after a resync");
    expect(new Set(seen.map((e) => e.revision)).size).toBe(seen.length);
  });

  it("resyncs when the server holding its watch dies while its own connection stays up", async () => {
    const { logger, messages } = recordingLogger();
    const writer = await connection(cluster.nodes.map((n) => n.url));
    const kv = await openKvBucket(jetstream(writer), "follow_failover", { replicas: 3 }, logger);
    const jsm = await jetstreamManager(writer);
    // Find a placement where the watch's consumer lives on another server than the follower's connection.
    let placed: { follower: KvFollower; seen: KvEntry[]; host: string; own: string } | undefined;
    for (let attempt = 0; attempt < 6 && !placed; attempt++) {
      const node = cluster.nodes[attempt % 3]!;
      const nc = await connection([node.url]);
      const followerKv = await openKvBucket(jetstream(nc), "follow_failover", { replicas: 3 }, logger);
      const candidate = follow(followerKv, nc, logger);
      await candidate.follower.start();
      const consumers: { name: string; cluster?: { leader?: string } }[] = [];
      for await (const info of jsm.consumers.list("KV_follow_failover")) consumers.push(info);
      const host = consumers.map((c) => c.cluster?.leader).find((leader) => leader && leader !== node.name);
      if (host && consumers.length === 1) placed = { ...candidate, host, own: node.name };
      else {
        candidate.follower.stop();
        // The server drops a stopped watch's consumer only after its inactivity threshold, longer on a busy
        // machine: delete it here, so the next attempt starts from none.
        await eventually(async () => {
          let left = 0;
          for await (const info of jsm.consumers.list("KV_follow_failover")) {
            left++;
            await jsm.consumers.delete("KV_follow_failover", info.name).catch(() => undefined);
          }
          return left === 0;
        }, 10_000, "the watch consumer gone");
      }
    }
    expect(placed, "a placement with the consumer on another server").toBeDefined();
    await cluster.nodes.find((n) => n.name === placed!.host)!.kill();
    for (let i = 0; i < 20; i++) {
      await eventually(() => kv.put(`k${i}`, String(i)).then(() => true), 30_000, `write ${i}`);
    }
    await eventually(() => placed!.seen.filter((e) => e.key.startsWith("k")).length === 20, 20_000, "every write delivered after the failover");
    expect(messages).toContain("KV watch resyncing");
    await cluster.nodes.find((n) => n.name === placed!.host)!.restart();
  }, 90_000);

  it("starts over when a resync's own watch stays silent (as one opened during a leader election can)", async () => {
    const nc = await connection([single.url]);
    const { logger, messages } = recordingLogger();
    const kv = await openKvBucket(jetstream(nc), "follow_silent", { replicas: 1 }, logger);
    await kv.put("before", "1");
    // The second watch opened (the first resync's) never delivers anything; the others are real.
    let watches = 0;
    const flaky = new Proxy(kv, {
      get: (target, property, receiver) =>
        property === "watch" ? () => (++watches === 2 ? Promise.resolve(silentWatch()) : target.watch()) : (Reflect.get(target, property, receiver) as unknown),
    });
    const { follower, seen } = follow(flaky, nc, logger, 200);
    await follower.start();
    follower.resync("test");
    await eventually(() => watches === 2, 5000, "the silent watch opened");
    await kv.put("after", "1");
    // Two check periods for the silent load, then a check without progress: well within 5 s, not the 30 s it was.
    await eventually(() => seen.some((e) => e.key === "after"), 5000, "the change after the silent resync");
    expect(watches).toBeGreaterThanOrEqual(3);
    expect(messages.filter((m) => m === "KV watch resyncing").length).toBeGreaterThanOrEqual(2);
  });

  it("does not resync over and over when the bucket's last entry expired", async () => {
    const nc = await connection([single.url]);
    const { logger, messages } = recordingLogger();
    const kv = await openKvBucket(jetstream(nc), "follow_expiring", { replicas: 1, ttlMs: 1000 }, logger);
    await kv.put("short", "lived");
    await eventually(async () => (await kv.status()).streamInfo.state.messages === 0, 10_000, "the entry expired");
    // Count the follower's checks (each reads the stream's state) to wait for ten of them.
    let checks = 0;
    const counted = new Proxy(kv, {
      get: (target, property, receiver) =>
        property === "status" ? () => (checks++, target.status()) : (Reflect.get(target, property, receiver) as unknown),
    });
    const { follower, seen } = follow(counted, nc, logger, 100);
    await follower.start();
    expect(seen).toEqual([]);
    const started = checks;
    await eventually(() => checks >= started + 10, 10_000, "ten checks");
    expect(messages.filter((m) => m === "KV watch resyncing")).toEqual([]);
  });
});
