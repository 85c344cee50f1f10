import { describe, expect, it } from "vitest";
import type { KV } from "@nats-io/kv";
import type { PresenceRecord } from "@patchmon-ws/protocol";
import { connectedRecord } from "../src/presence/presence-record.js";
import type { PresenceChange } from "../src/presence/presence-record.js";
import { PresenceView } from "../src/presence/presence-view.js";
import { silentLogger } from "./fakes.js";

const record = (hostId: string, connected = true, connectionId = "c"): PresenceRecord => ({
  ...connectedRecord({ hostId, apiId: "a", connectionId, replica: "r", since: 1, secure: true, remoteAddress: "x", agentVersion: null, capabilities: [] }, null, 1),
  connected,
});

interface FakeEntry {
  key: string;
  revision: number;
  operation: "PUT" | "DEL" | "PURGE";
  delta: number;
  json(): unknown;
}

/**
 * A presence bucket whose watch the test feeds by hand, entry by entry, as nats-server would (stream order).
 * `deliver` resolves once the view's watch loop has taken the entry.
 */
class FakeBucket {
  private queue: FakeEntry[] = [];
  private wake: (() => void) | undefined;
  private stopped = false;
  constructor(
    private readonly lastSeq = 0,
    private readonly messages = 0,
  ) {}

  status() {
    return Promise.resolve({ streamInfo: { state: { last_seq: this.lastSeq, messages: this.messages } } });
  }

  watch() {
    const bucket = this;
    return Promise.resolve({
      stop: () => {
        bucket.stopped = true;
        bucket.wake?.();
      },
      async *[Symbol.asyncIterator]() {
        for (;;) {
          while (bucket.queue.length > 0) yield bucket.queue.shift()!;
          if (bucket.stopped) return;
          await new Promise<void>((resolve) => (bucket.wake = resolve));
        }
      },
    });
  }

  async deliver(entry: Omit<FakeEntry, "delta" | "json"> & { record?: PresenceRecord }): Promise<void> {
    this.queue.push({ delta: 0, json: () => entry.record, ...entry });
    this.wake?.();
    while (this.queue.length > 0) await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
  }

  put(hostId: string, revision: number, value = record(hostId)) {
    return this.deliver({ key: hostId, revision, operation: "PUT", record: value });
  }

  purge(hostId: string, revision: number) {
    return this.deliver({ key: hostId, revision, operation: "PURGE" });
  }
}

/** A NATS connection that never reconnects (the follower listens for reconnects to resync). */
const steadyConnection = {
  status: () => ({
    [Symbol.asyncIterator]: () => ({ next: () => new Promise<IteratorResult<never>>(() => {}), return: () => Promise.resolve({ done: true as const, value: undefined }) }),
  }),
};

async function started(bucket: FakeBucket, options: { removalLogLimit?: number } = {}) {
  const view = new PresenceView(bucket as unknown as KV, steadyConnection, silentLogger, options);
  await view.start();
  const followed: PresenceChange[] = [];
  const subscribed: PresenceChange[] = [];
  view.follow((c) => followed.push(c));
  view.subscribe((c) => subscribed.push(c));
  const short = (changes: PresenceChange[]) => changes.map((c) => `${c.hostId}@${c.revision}${c.record ? "" : " removed"}`);
  return { view, followed: () => short(followed), subscribed: () => short(subscribed) };
}

describe("PresenceView for status streams", () => {
  it("an own write is read at once but followed only with its echo, after the earlier changes of other replicas", async () => {
    const bucket = new FakeBucket();
    const { view, followed, subscribed } = await started(bucket);
    await bucket.put("a", 1);
    await bucket.put("b", 2);
    // This replica wrote b@4; the watch has not yet delivered 3 (another replica's write of c), nor 4 itself.
    const mine = record("b", false);
    view.remember("b", mine, 4);
    expect(view.get("b")).toEqual({ record: mine, revision: 4 });
    expect(subscribed()).toEqual(["a@1", "b@2", "b@4"]);
    expect(view.confirmed("b")?.revision).toBe(2);
    expect([...view.confirmedValues()].map((v) => v.revision)).toEqual([1, 2]);
    expect(view.revision).toBe(2);
    expect(followed()).toEqual(["a@1", "b@2"]);
    await bucket.put("c", 3);
    expect(followed()).toEqual(["a@1", "b@2", "c@3"]);
    expect(view.changesSince(2, null)?.changes.map((c) => c.revision)).toEqual([3]);
    await bucket.put("b", 4, mine);
    expect(followed()).toEqual(["a@1", "b@2", "c@3", "b@4"]);
    expect(subscribed()).toEqual(["a@1", "b@2", "b@4", "c@3"]);
    expect(view.confirmed("b")?.revision).toBe(4);
    expect(view.changesSince(2, null)?.changes.map((c) => `${c.hostId}@${c.revision}`)).toEqual(["c@3", "b@4"]);
  });

  it("an older change of a host whose own newer write is applied: reads keep the newer, followers see both in order", async () => {
    const bucket = new FakeBucket();
    const { view, followed } = await started(bucket);
    await bucket.put("a", 1);
    const mine = record("a", true, "newer");
    view.remember("a", mine, 3);
    await bucket.purge("a", 2);
    expect(view.get("a")?.record).toBe(mine);
    expect(view.confirmed("a")).toBeUndefined();
    expect(view.removals.get("a")).toBe(2);
    expect(followed()).toEqual(["a@1", "a@2 removed"]);
    await bucket.put("a", 3, mine);
    expect(followed()).toEqual(["a@1", "a@2 removed", "a@3"]);
    expect(view.removals.get("a")).toBeUndefined();
    expect(view.confirmed("a")?.revision).toBe(3);
  });

  it("a write the watch already went past is not applied again (no deleted host comes back)", async () => {
    const bucket = new FakeBucket();
    const { view } = await started(bucket);
    await bucket.put("a", 1);
    await bucket.purge("a", 3);
    view.remember("a", record("a"), 2);
    expect(view.get("a")).toBeUndefined();
    expect(view.confirmed("a")).toBeUndefined();
  });

  it("remembers removals (bounded) and says when a resume cannot be proven", async () => {
    const bucket = new FakeBucket();
    const { view } = await started(bucket, { removalLogLimit: 2 });
    await bucket.put("a", 1);
    await bucket.put("b", 2);
    await bucket.put("c", 3);
    await bucket.purge("a", 4);
    await bucket.purge("b", 5);
    expect(view.changesSince(3, null)?.changes.map((c) => `${c.hostId}@${c.revision}${c.record ? "" : " removed"}`)).toEqual(["a@4 removed", "b@5 removed"]);
    await bucket.purge("c", 6);
    expect(view.removals.forgottenUpTo).toBe(4);
    expect(view.changesSince(3, null)).toBeNull();
    expect(view.changesSince(4, ["a", "b", "c"])?.changes.map((c) => c.hostId)).toEqual(["b", "c"]);
    expect(view.changesSince(7, null)).toBeNull();
  });

  it("ignores an invalid record but counts its revision as seen", async () => {
    const bucket = new FakeBucket();
    const { view, followed } = await started(bucket);
    await bucket.put("a", 1);
    await bucket.deliver({ key: "a", revision: 2, operation: "PUT", record: { nonsense: true } as unknown as PresenceRecord });
    expect(view.revision).toBe(2);
    expect(view.confirmed("a")?.revision).toBe(1);
    expect(followed()).toEqual(["a@1"]);
    expect(view.changesSince(1, null)?.changes).toEqual([]);
  });

  it("a bucket found emptied by a purge: its last sequence is the revision, and older removals are unknown", async () => {
    const { view } = await started(new FakeBucket(40, 0));
    expect(view.ready).toBe(true);
    expect(view.revision).toBe(40);
    expect(view.changesSince(40, null)).toEqual({ fromRevision: 40, toRevision: 40, changes: [] });
    expect(view.changesSince(39, null)).toBeNull();
  });
});
