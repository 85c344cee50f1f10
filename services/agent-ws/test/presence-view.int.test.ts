/**
 * PresenceView for status streams against a real nats-server: each test gets a fresh presence bucket (revisions from
 * 1), written as another replica would; "own" writes are `remember`ed the way PresenceWriter does. And the presence
 * client over the view (agent-ws's locate-with-settle).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import type { PresenceRecord } from "@patchmon-ws/protocol";
import { PresenceClient } from "@patchmon-ws/service-kit";
import { startNatsServer, type TestNatsServer } from "@patchmon-ws/stack";
import { connectedRecord } from "../src/presence/presence-record.js";
import type { PresenceChange } from "../src/presence/presence-record.js";
import { encodeRecord, PresenceView } from "../src/presence/presence-view.js";
import { silentLogger } from "./fakes.js";
import { eventually } from "./support/stack.js";

const record = (hostId: string, connected = true, connectionId = "c"): PresenceRecord => ({
  ...connectedRecord({ hostId, apiId: "a", connectionId, replica: "r", since: 1, secure: true, remoteAddress: "x", agentVersion: null, capabilities: [] }, null, 1),
  connected,
});

let nats: TestNatsServer;
let nc: NatsConnection;
let kvm: Kvm;
let buckets = 0;
const views: PresenceView[] = [];

beforeAll(async () => {
  nats = await startNatsServer();
  nc = await connect({ servers: nats.url });
  kvm = new Kvm(jetstream(nc));
});

afterAll(async () => {
  for (const view of views) view.stop();
  await nc?.close();
  await nats?.dispose();
});

/** A fresh presence bucket (as agent-ws configures it: one value per key), written through as another replica would. */
class Bucket {
  private constructor(
    readonly kv: KV,
    readonly name: string,
  ) {}

  static async create(): Promise<Bucket> {
    const name = `presence_view_${++buckets}`;
    return new Bucket(await kvm.create(name, { history: 1 }), name);
  }

  async put(hostId: string, expected: number, value: PresenceRecord = record(hostId)): Promise<void> {
    expect(await this.kv.put(hostId, encodeRecord(value))).toBe(expected);
  }

  async purge(hostId: string, expected: number): Promise<void> {
    await this.kv.purge(hostId);
    expect((await this.kv.status()).streamInfo.state.last_seq).toBe(expected);
  }
}

/** Resolves once the view's watch has delivered `revision` (every change up to it applied). */
function reached(view: PresenceView, revision: number): Promise<void> {
  if (view.revision >= revision) return Promise.resolve();
  return new Promise((resolve) => {
    const stop = view.follow(() => {
      if (view.revision < revision) return;
      stop();
      resolve();
    });
  });
}

async function started(bucket: Bucket, options: { removalLogLimit?: number } = {}) {
  const view = new PresenceView(bucket.kv, nc, silentLogger, options);
  views.push(view);
  await view.start();
  const followed: PresenceChange[] = [];
  const subscribed: PresenceChange[] = [];
  view.follow((c) => followed.push(c));
  view.subscribe((c) => subscribed.push(c));
  const short = (changes: PresenceChange[]) => changes.map((c) => `${c.hostId}@${c.revision}${c.record ? "" : " removed"}`);
  return { view, followed: () => short(followed), subscribed: () => short(subscribed) };
}

describe("PresenceView for status streams", () => {
  /** A bucket and a started view of it; each write waits until the view's watch has delivered it. */
  async function setUp(options: { removalLogLimit?: number } = {}) {
    const bucket = await Bucket.create();
    const seen = await started(bucket, options);
    return {
      ...seen,
      bucket,
      put: async (hostId: string, revision: number, value?: PresenceRecord) => {
        await bucket.put(hostId, revision, value);
        await reached(seen.view, revision);
      },
      purge: async (hostId: string, revision: number) => {
        await bucket.purge(hostId, revision);
        await reached(seen.view, revision);
      },
    };
  }

  it("an own write is read at once but followed only with its echo, after the earlier changes of other replicas", async () => {
    const { view, followed, subscribed, put } = await setUp();
    await put("a", 1);
    await put("b", 2);
    // This replica wrote b@4; the watch has not yet delivered 3 (another replica's write of c), nor 4 itself.
    const mine = record("b", false);
    view.remember("b", mine, 4);
    expect(view.get("b")).toEqual({ record: mine, revision: 4 });
    expect(subscribed()).toEqual(["a@1", "b@2", "b@4"]);
    expect(view.confirmed("b")?.revision).toBe(2);
    expect([...view.confirmedValues()].map((v) => v.revision)).toEqual([1, 2]);
    expect(view.revision).toBe(2);
    expect(followed()).toEqual(["a@1", "b@2"]);
    await put("c", 3);
    expect(followed()).toEqual(["a@1", "b@2", "c@3"]);
    expect(view.changesSince(2, null)?.changes.map((c) => c.revision)).toEqual([3]);
    await put("b", 4, mine);
    expect(followed()).toEqual(["a@1", "b@2", "c@3", "b@4"]);
    expect(subscribed()).toEqual(["a@1", "b@2", "b@4", "c@3"]);
    expect(view.confirmed("b")?.revision).toBe(4);
    expect(view.changesSince(2, null)?.changes.map((c) => `${c.hostId}@${c.revision}`)).toEqual(["c@3", "b@4"]);
  });

  it("an older change of a host whose own newer write is applied: reads keep the newer, followers see both in order", async () => {
    const { view, followed, put, purge } = await setUp();
    await put("a", 1);
    const mine = record("a", true, "newer");
    view.remember("a", mine, 3);
    await purge("a", 2);
    expect(view.get("a")?.record).toBe(mine);
    expect(view.confirmed("a")).toBeUndefined();
    expect(view.removals.get("a")).toBe(2);
    expect(followed()).toEqual(["a@1", "a@2 removed"]);
    await put("a", 3, mine);
    expect(followed()).toEqual(["a@1", "a@2 removed", "a@3"]);
    expect(view.removals.get("a")).toBeUndefined();
    expect(view.confirmed("a")?.revision).toBe(3);
  });

  it("a write the watch already went past is not applied again (no deleted host comes back)", async () => {
    const { view, put, purge } = await setUp();
    await put("a", 1);
    // Revision 2 is this replica's write of a, whose echo came before it was remembered; 3 removes the host.
    await put("a", 2);
    await purge("a", 3);
    view.remember("a", record("a"), 2);
    expect(view.get("a")).toBeUndefined();
    expect(view.confirmed("a")).toBeUndefined();
  });

  it("remembers removals (bounded) and says when a resume cannot be proven", async () => {
    const { view, put, purge } = await setUp({ removalLogLimit: 2 });
    await put("a", 1);
    await put("b", 2);
    await put("c", 3);
    await purge("a", 4);
    await purge("b", 5);
    expect(view.changesSince(3, null)?.changes.map((c) => `${c.hostId}@${c.revision}${c.record ? "" : " removed"}`)).toEqual(["a@4 removed", "b@5 removed"]);
    await purge("c", 6);
    expect(view.removals.forgottenUpTo).toBe(4);
    expect(view.changesSince(3, null)).toBeNull();
    expect(view.changesSince(4, ["a", "b", "c"])?.changes.map((c) => c.hostId)).toEqual(["b", "c"]);
    expect(view.changesSince(7, null)).toBeNull();
  });

  it("ignores an invalid record but counts its revision as seen", async () => {
    const { view, followed, put, bucket } = await setUp();
    await put("a", 1);
    expect(await bucket.kv.put("a", JSON.stringify({ nonsense: true }))).toBe(2);
    // Followers are told nothing of it: only the view's revision shows it arrived.
    await eventually(() => view.revision === 2, 5000, "the invalid record's revision seen");
    expect(view.confirmed("a")?.revision).toBe(1);
    expect(followed()).toEqual(["a@1"]);
    expect(view.changesSince(1, null)?.changes).toEqual([]);
  });

  it("a bucket found emptied by a purge: its last sequence is the revision, and older removals are unknown", async () => {
    const bucket = await Bucket.create();
    for (let revision = 1; revision <= 40; revision++) await bucket.put(`h${revision % 7}`, revision);
    await (await jetstreamManager(nc)).streams.purge(`KV_${bucket.name}`);
    expect((await bucket.kv.status()).streamInfo.state).toMatchObject({ messages: 0, last_seq: 40 });
    const { view } = await started(bucket);
    expect(view.ready).toBe(true);
    expect(view.revision).toBe(40);
    expect(view.changesSince(40, null)).toEqual({ fromRevision: 40, toRevision: 40, changes: [] });
    expect(view.changesSince(39, null)).toBeNull();
  });
});

describe("the presence client over the view (agent-ws's locate)", () => {
  const SETTLE_MS = 400;
  const offline = (hostId: string): PresenceRecord => ({ ...record(hostId, false), replica: null, connectionId: null, since: null, updatedAt: Date.now() });

  it("a host that just disconnected: found on the replica that records its reconnect, through the watch or at once for an own write", async () => {
    const bucket = await Bucket.create();
    const { view } = await started(bucket);
    const client = new PresenceClient(view, SETTLE_MS);
    await bucket.put("elsewhere", 1, offline("elsewhere"));
    await bucket.put("here", 2, offline("here"));
    await reached(view, 2);
    const [elsewhere, here] = [client.locate("elsewhere"), client.locate("here")];
    // Another replica records one reconnect; this replica the other (as PresenceWriter remembers its own write).
    await bucket.put("elsewhere", 3, { ...record("elsewhere"), replica: "r-other", updatedAt: Date.now() });
    view.remember("here", { ...record("here"), replica: "r-self", updatedAt: Date.now() }, 4);
    expect(await Promise.all([elsewhere, here])).toEqual(["r-other", "r-self"]);
  });

  it("a host not recorded again within the settle time is offline then; a long-offline one at once", async () => {
    const bucket = await Bucket.create();
    const { view } = await started(bucket);
    const client = new PresenceClient(view, SETTLE_MS);
    await bucket.put("flapping", 1, offline("flapping"));
    await bucket.put("gone", 2, { ...offline("gone"), updatedAt: Date.now() - 60_000 });
    await reached(view, 2);
    const startedAt = Date.now();
    expect(await client.locate("gone")).toBeNull();
    expect(Date.now() - startedAt).toBeLessThan(SETTLE_MS);
    expect(await client.locate("flapping")).toBeNull();
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(SETTLE_MS - 5);
  });
});
