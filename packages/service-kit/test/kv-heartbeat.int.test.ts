/**
 * KvHeartbeat against a real nats-server: kept keys rewritten at every beat and back after they expired, held keys
 * rewritten by compare-and-set and dropped (never overwritten, never deleted) once another writer took them, a failed
 * rewrite logged and retried, release deleting what is still ours.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { pino } from "pino";
import { createLogger, KvHeartbeat, openKvBucket, type Logger } from "@patchmon-ws/service-kit";
import { startNatsServer, type TestNatsServer } from "@patchmon-ws/stack";

const TTL_MS = 1000;
const silent = createLogger("test", "silent");
let nats: TestNatsServer;
let nc: NatsConnection;

beforeAll(async () => {
  nats = await startNatsServer();
  nc = await connect({ servers: nats.url });
});

afterAll(async () => {
  await nc?.close();
  await nats?.dispose();
});

function recordingLogger(): { logger: Logger; messages: string[] } {
  const messages: string[] = [];
  return { logger: pino({ level: "info" }, { write: (line: string) => void messages.push(JSON.parse(line).msg as string) }), messages };
}

const bucket = (name: string) => openKvBucket(jetstream(nc), name, { replicas: 1, ttlMs: TTL_MS }, silent);
const text = (value: string) => () => new TextEncoder().encode(value);
const revisionOf = async (kv: KV, key: string) => {
  const entry = await kv.get(key);
  return entry?.operation === "PUT" ? entry.revision : undefined;
};

describe("KvHeartbeat", () => {
  it("keep writes the key at once, rewrites it with a fresh value at every beat, and release deletes it", async () => {
    const kv = await bucket("hb_keep");
    const heartbeat = new KvHeartbeat(kv, { what: "test key", logger: silent });
    let n = 0;
    const kept = await heartbeat.keep("me", () => new TextEncoder().encode(String(++n)));
    expect((await kv.get("me"))?.string()).toBe("1");
    await heartbeat.beat();
    expect((await kv.get("me"))?.string()).toBe("2");
    await heartbeat.release(kept);
    expect(await revisionOf(kv, "me")).toBeUndefined();
    await heartbeat.release(kept); // idempotent
  });

  it("started, it keeps a key past the bucket's max age; stopped, the key expires", async () => {
    const kv = await bucket("hb_timer");
    const heartbeat = new KvHeartbeat(kv, { what: "test key", logger: silent });
    await heartbeat.keep("me", text("alive"));
    const since = Date.now();
    heartbeat.start(200);
    try {
      await vi.waitFor(async () => {
        expect(Date.now() - since).toBeGreaterThanOrEqual(2 * TTL_MS);
        expect(await revisionOf(kv, "me")).toBeDefined();
      }, { timeout: 10_000, interval: 100 });
    } finally {
      heartbeat.stop();
    }
    await vi.waitFor(async () => expect(await revisionOf(kv, "me")).toBeUndefined(), { timeout: 10_000, interval: 100 });
  });

  it("a kept key comes back at the next beat after it expired", async () => {
    const kv = await bucket("hb_back");
    const heartbeat = new KvHeartbeat(kv, { what: "test key", logger: silent });
    await heartbeat.keep("me", text("alive"));
    await vi.waitFor(async () => expect(await revisionOf(kv, "me")).toBeUndefined(), { timeout: 10_000, interval: 100 });
    await heartbeat.beat();
    expect((await kv.get("me"))?.string()).toBe("alive");
  });

  it("a held key is rewritten by compare-and-set; once it expired and another took it, it is dropped, not overwritten nor deleted", async () => {
    const kv = await bucket("hb_hold");
    const { logger, messages } = recordingLogger();
    const heartbeat = new KvHeartbeat(kv, { what: "test slot", logger });
    const value = new TextEncoder().encode("mine");
    const held = heartbeat.hold("slot", value, await kv.create("slot", value));
    const before = await revisionOf(kv, "slot");
    await heartbeat.beat();
    expect(await revisionOf(kv, "slot")).toBeGreaterThan(before!);

    await vi.waitFor(async () => expect(await revisionOf(kv, "slot")).toBeUndefined(), { timeout: 10_000, interval: 100 });
    await kv.create("slot", "theirs");
    await heartbeat.beat();
    expect((await kv.get("slot"))?.string()).toBe("theirs");
    await heartbeat.beat(); // dropped: not tried again
    expect(messages.filter((m) => m === "a test slot expired and was taken by another writer; no longer held")).toHaveLength(1);
    await heartbeat.release(held);
    expect((await kv.get("slot"))?.string(), "release leaves the other writer's key").toBe("theirs");
  });

  it("a held key taken over by a later hold is released only by its new holder", async () => {
    const kv = await bucket("hb_handover");
    const heartbeat = new KvHeartbeat(kv, { what: "test slot", logger: silent });
    const first = heartbeat.hold("slot", new TextEncoder().encode("first"), await kv.create("slot", "first"));
    await kv.delete("slot");
    const second = heartbeat.hold("slot", new TextEncoder().encode("second"), await kv.put("slot", "second"));
    await heartbeat.release(first);
    expect((await kv.get("slot"))?.string()).toBe("second");
    await heartbeat.release(second);
    expect(await revisionOf(kv, "slot")).toBeUndefined();
  });

  it("a failed rewrite is logged, not thrown, and the next beat writes again", async () => {
    const kv = await bucket("hb_outage");
    const { logger, messages } = recordingLogger();
    const heartbeat = new KvHeartbeat(kv, { what: "test key", logger });
    await heartbeat.keep("me", text("alive"));
    const jsm = await jetstreamManager(nc);
    await jsm.streams.delete("KV_hb_outage");
    await heartbeat.beat();
    expect(messages).toContain("test key rewrite failed");
    await bucket("hb_outage");
    await heartbeat.beat();
    expect((await kv.get("me"))?.string()).toBe("alive");
  });
});
