import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { PresenceRecord } from "@patchmon-ws/protocol";
import { holderOf, PresenceClient, whereabouts, type PresenceSource } from "@patchmon-ws/service-kit";

const NOW = 1_000_000;

function record(over: Partial<PresenceRecord> = {}): PresenceRecord {
  return {
    hostId: "h1",
    apiId: "a",
    connected: true,
    replica: "r1",
    connectionId: "c1",
    since: NOW - 5000,
    secure: true,
    remoteAddress: "10.0.0.1",
    agentVersion: null,
    capabilities: [],
    lastDisconnect: null,
    updatedAt: NOW - 5000,
    ...over,
  };
}

const disconnected = (updatedAt: number) => record({ connected: false, replica: null, connectionId: null, since: null, updatedAt });

/** A source held in memory: `set` changes a host's record and tells its watchers. */
class MemorySource implements PresenceSource {
  readonly records = new Map<string, PresenceRecord>();
  readonly watchers = new Map<string, Set<(record: PresenceRecord | null) => void>>();
  failWatch: Error | undefined;
  /** Runs just before a watch starts (a change that lands between the client's read and its watch). */
  beforeWatch: (() => void) | undefined;

  record(hostId: string): PresenceRecord | undefined {
    return this.records.get(hostId);
  }

  async watchHost(hostId: string, onRecord: (record: PresenceRecord | null) => void): Promise<() => void> {
    if (this.failWatch) throw this.failWatch;
    this.beforeWatch?.();
    const set = this.watchers.get(hostId) ?? new Set();
    this.watchers.set(hostId, set);
    set.add(onRecord);
    return () => set.delete(onRecord);
  }

  set(hostId: string, value: PresenceRecord | null): void {
    if (value) this.records.set(hostId, value);
    else this.records.delete(hostId);
    for (const watcher of this.watchers.get(hostId) ?? []) watcher(value);
  }

  watching(hostId: string): number {
    return this.watchers.get(hostId)?.size ?? 0;
  }
}

describe("whereabouts", () => {
  it("a connected record names its replica, however old", () => {
    expect(whereabouts(record(), NOW, 1000)).toEqual({ kind: "held", replica: "r1" });
    expect(holderOf(record())).toBe("r1");
  });

  it("no record, or a record not connected that changed more than the settle time ago, is offline", () => {
    expect(whereabouts(undefined, NOW, 1000)).toEqual({ kind: "offline" });
    expect(whereabouts(disconnected(NOW - 1001), NOW, 1000)).toEqual({ kind: "offline" });
  });

  it("a record not connected that changed within the settle time is settling (the agent may be reconnecting)", () => {
    expect(whereabouts(disconnected(NOW - 1000), NOW, 1000)).toEqual({ kind: "settling" });
    expect(whereabouts(disconnected(NOW), NOW, 1000)).toEqual({ kind: "settling" });
  });

  it("a connected record without a replica names no holder", () => {
    expect(holderOf(record({ replica: null }))).toBeNull();
    expect(whereabouts(record({ replica: null, updatedAt: NOW - 5000 }), NOW, 1000)).toEqual({ kind: "offline" });
    expect(holderOf(null)).toBeNull();
  });
});

describe("PresenceClient.locate", () => {
  let source: MemorySource;
  let client: PresenceClient;

  beforeEach(() => {
    vi.useFakeTimers({ now: NOW });
    source = new MemorySource();
    client = new PresenceClient(source, 1000);
  });

  afterEach(() => {
    vi.useRealTimers();
  });

  it("answers at once for a held host and for an offline one, watching nothing", async () => {
    source.set("h1", record());
    source.set("h2", disconnected(NOW - 60_000));
    expect(await client.locate("h1")).toBe("r1");
    expect(await client.locate("h2")).toBeNull();
    expect(await client.locate("unknown")).toBeNull();
    expect(source.watching("h1") + source.watching("h2") + source.watching("unknown")).toBe(0);
  });

  it("a host that just disconnected: the replica of the connection recorded within the settle time", async () => {
    source.set("h1", disconnected(NOW - 200));
    const located = client.locate("h1");
    await vi.advanceTimersByTimeAsync(0);
    expect(source.watching("h1")).toBe(1);
    // Another flap first: still waiting.
    source.set("h1", disconnected(NOW - 100));
    await vi.advanceTimersByTimeAsync(500);
    source.set("h1", record({ replica: "r2", updatedAt: Date.now() }));
    expect(await located).toBe("r2");
    expect(source.watching("h1")).toBe(0);
  });

  it("a host that just disconnected and is not recorded again within the settle time is offline then, not before", async () => {
    source.set("h1", disconnected(NOW));
    let answer: string | null | undefined;
    void client.locate("h1").then((owner) => (answer = owner));
    await vi.advanceTimersByTimeAsync(999);
    expect(answer).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(answer).toBeNull();
    expect(source.watching("h1")).toBe(0);
  });

  it("a removed record while settling keeps waiting for a connection", async () => {
    source.set("h1", disconnected(NOW));
    const located = client.locate("h1");
    await vi.advanceTimersByTimeAsync(0);
    source.set("h1", null);
    source.set("h1", record({ replica: "r3" }));
    expect(await located).toBe("r3");
  });

  it("a connection recorded between the first read and the watch is found at once", async () => {
    source.set("h1", disconnected(NOW));
    source.beforeWatch = () => source.set("h1", record({ replica: "r4" }));
    let answer: string | null | undefined;
    void client.locate("h1").then((owner) => (answer = owner));
    await vi.advanceTimersByTimeAsync(0);
    expect(answer).toBe("r4");
  });

  it("a source that cannot watch makes locate fail (the caller decides what an outage means)", async () => {
    source.set("h1", disconnected(NOW));
    source.failWatch = new Error("JetStream unavailable");
    await expect(client.locate("h1")).rejects.toThrow("JetStream unavailable");
  });
});
