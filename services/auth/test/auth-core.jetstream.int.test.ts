// The auth core's behaviour suite on JetStream KV, against a real nats-server.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { createLogger } from "@patchmon-ws/service-kit";
import { startNatsServer, type TestNatsServer } from "@patchmon-ws/stack";
import { JetStreamAuthStorage } from "../src/jetstream-auth-storage.js";
import { describeAuthCore } from "./auth-core.behaviour.js";

let nats: TestNatsServer;
beforeAll(async () => {
  nats = await startNatsServer();
});
afterAll(async () => {
  await nats?.dispose();
});

const logger = createLogger("auth-test", "silent");

describeAuthCore({
  name: "JetStream KV",
  async fresh() {
    // An empty store: drop every bucket the previous test left behind.
    const admin = await connect({ servers: nats.url });
    const jsm = await jetstreamManager(admin);
    for await (const name of jsm.streams.names()) await jsm.streams.delete(name);
    await admin.close();
    const connections: NatsConnection[] = [];
    return {
      // Each replica has its own connection and mirrors, like a separate auth process.
      async replica(lifetimes) {
        const nc = await connect({ servers: nats.url });
        connections.push(nc);
        return JetStreamAuthStorage.open(nc, { ...lifetimes, replicas: 1 }, logger);
      },
      async dispose() {
        await Promise.all(connections.map((nc) => nc.close()));
      },
    };
  },
});

describe("JetStream buckets", () => {
  it("bring the max age of an existing bucket to the configured one, raised or lowered", async () => {
    const nc = await connect({ servers: nats.url });
    const jsm = await jetstreamManager(nc);
    for await (const name of jsm.streams.names()) await jsm.streams.delete(name);
    const ttlOf = async () => (await jsm.streams.info("KV_auth_sessions")).config.max_age / 1e6;
    (await JetStreamAuthStorage.open(nc, { sessionTtlMs: 60_000, failureWindowTtlMs: 60_000, replicas: 1 }, logger)).close();
    expect(await ttlOf()).toBe(60_000);
    (await JetStreamAuthStorage.open(nc, { sessionTtlMs: 120_000, failureWindowTtlMs: 60_000, replicas: 1 }, logger)).close();
    expect(await ttlOf()).toBe(120_000);
    (await JetStreamAuthStorage.open(nc, { sessionTtlMs: 30_000, failureWindowTtlMs: 60_000, replicas: 1 }, logger)).close();
    expect(await ttlOf()).toBe(30_000);
    await nc.close();
  });
});
