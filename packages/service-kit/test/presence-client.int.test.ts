/**
 * The presence client on the presence bucket itself (what terminal-ws asks), against a real nats-server: a bucket that
 * does not exist yet, held, unknown and long-offline hosts answered at once, a reconnect recorded within the settle
 * time found through the KV watch, and an agent not recorded again answered offline once the settle time is over.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jetstream } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { AgentBuckets, type PresenceRecord } from "@patchmon-ws/protocol";
import { PresenceClient, presenceBucketSource, type PresenceSource } from "@patchmon-ws/service-kit";
import { startNatsServer, type TestNatsServer } from "@patchmon-ws/stack";

const SETTLE_MS = 400;

function record(hostId: string, over: Partial<PresenceRecord> = {}): PresenceRecord {
  const now = Date.now();
  return {
    hostId,
    apiId: `api-${hostId}`,
    connected: true,
    replica: "replica-1",
    connectionId: `c-${now}`,
    since: now,
    secure: true,
    remoteAddress: "10.0.0.1",
    agentVersion: null,
    capabilities: [],
    lastDisconnect: null,
    updatedAt: now,
    ...over,
  };
}

const offline = (hostId: string, updatedAt = Date.now()) => record(hostId, { connected: false, replica: null, connectionId: null, since: null, updatedAt });

describe("PresenceClient on the presence bucket", () => {
  let nats: TestNatsServer;
  let nc: NatsConnection;
  let kvm: Kvm;
  let bucket: KV;
  let source: PresenceSource;
  /** Resolves the next time a watch of the source has started. */
  let watchStarted: () => Promise<void>;
  let client: PresenceClient;

  beforeAll(async () => {
    nats = await startNatsServer();
    nc = await connect({ servers: nats.url });
    kvm = new Kvm(jetstream(nc));
    const bucketSource = presenceBucketSource(kvm);
    let started: (() => void) | undefined;
    watchStarted = () => new Promise<void>((resolve) => (started = resolve));
    source = {
      record: (hostId) => bucketSource.record(hostId),
      watchHost: async (hostId, onRecord) => {
        const stop = await bucketSource.watchHost(hostId, onRecord);
        started?.();
        return stop;
      },
    };
    client = new PresenceClient(source, SETTLE_MS);
  });

  afterAll(async () => {
    await nc?.close();
    await nats?.dispose();
  });

  const put = (value: PresenceRecord) => bucket.put(value.hostId, JSON.stringify(value));

  it("fails while agent-ws has not created the bucket, and works once it has (opened again)", async () => {
    await expect(client.locate("h-early")).rejects.toThrow();
    bucket = await kvm.create(AgentBuckets.presence, { history: 1 });
    await put(record("h-early"));
    expect(await client.locate("h-early")).toBe("replica-1");
  });

  it("answers at once for a held host, an unknown one, a long-offline one and an unreadable record", async () => {
    await put(record("h-held", { replica: "replica-2" }));
    await put(offline("h-gone", Date.now() - 60_000));
    await bucket.put("h-garbage", "not json");
    const startedAt = Date.now();
    expect(await client.locate("h-held")).toBe("replica-2");
    expect(await client.locate("h-unknown")).toBeNull();
    expect(await client.locate("h-gone")).toBeNull();
    expect(await client.locate("h-garbage")).toBeNull();
    expect(Date.now() - startedAt).toBeLessThan(SETTLE_MS);
  });

  it("a host that just disconnected: the connection recorded meanwhile, delivered by the watch", async () => {
    await put(offline("h-reconnecting"));
    const started = watchStarted();
    const located = client.locate("h-reconnecting");
    await started;
    await put(record("h-reconnecting", { replica: "replica-3" }));
    expect(await located).toBe("replica-3");
  });

  it("a host removed and recorded again while settling is found", async () => {
    await put(offline("h-removed"));
    const started = watchStarted();
    const located = client.locate("h-removed");
    await started;
    await bucket.delete("h-removed");
    await put(record("h-removed", { replica: "replica-4" }));
    expect(await located).toBe("replica-4");
  });

  it("a host that just disconnected and is not recorded again is offline once the settle time is over", async () => {
    await put(offline("h-offline"));
    const startedAt = Date.now();
    const started = watchStarted();
    const located = client.locate("h-offline");
    await started;
    // Another disconnected write is no connection.
    await put(offline("h-offline"));
    expect(await located).toBeNull();
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(SETTLE_MS - 5);
  });
});
