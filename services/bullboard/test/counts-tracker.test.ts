import { afterEach, describe, expect, it, vi } from "vitest";
import { CountsTracker, type Counts } from "../src/counts-tracker.js";

afterEach(() => {
  vi.useRealTimers();
});

function tracker(fetch: (queue: string) => Promise<Counts>, queues = ["a", "b"], active = true) {
  const published: [string, Counts][] = [];
  const t = new CountsTracker({
    fetch,
    publish: (queue, counts) => published.push([queue, counts]),
    minIntervalMs: 100,
    refreshIntervalMs: 1000,
    queues: () => queues,
    active: () => active,
  });
  return { t, published };
}

describe("CountsTracker", () => {
  it("reads a queue once for a burst of events and publishes only changes", async () => {
    vi.useFakeTimers();
    let waiting = 1;
    const fetched: string[] = [];
    const { t, published } = tracker(async (q) => (fetched.push(q), { waiting }));
    for (let i = 0; i < 50; i++) t.markDirty("a");
    await vi.advanceTimersByTimeAsync(100);
    expect(fetched).toEqual(["a"]);
    expect(published).toEqual([["a", { waiting: 1 }]]);
    t.markDirty("a");
    await vi.advanceTimersByTimeAsync(100);
    expect(published).toHaveLength(1);
    waiting = 2;
    t.markDirty("a");
    await vi.advanceTimersByTimeAsync(100);
    expect(published).toEqual([["a", { waiting: 1 }], ["a", { waiting: 2 }]]);
    expect(t.latest("a")).toEqual({ waiting: 2 });
    t.stop();
  });

  it("refreshes every queue periodically while someone listens", async () => {
    vi.useFakeTimers();
    const fetched: string[] = [];
    const { t } = tracker(async (q) => (fetched.push(q), { waiting: 0 }));
    t.start();
    await vi.advanceTimersByTimeAsync(1100);
    expect(fetched.sort()).toEqual(["a", "b"]);
    t.stop();
  });

  it("stays quiet when nobody listens, and survives failed reads", async () => {
    vi.useFakeTimers();
    const fetched: string[] = [];
    const idle = tracker(async (q) => (fetched.push(q), { waiting: 0 }), ["a"], false);
    idle.t.start();
    await vi.advanceTimersByTimeAsync(3000);
    expect(fetched).toEqual([]);
    idle.t.stop();

    const failing = tracker(async () => {
      throw new Error("Connection is closed.");
    });
    failing.t.markDirty("a");
    await vi.advanceTimersByTimeAsync(100);
    expect(failing.published).toEqual([]);
    failing.t.stop();
  });

  it("does not publish for a queue removed while its read was in flight", async () => {
    const queues = ["a"];
    const { t, published } = tracker(async () => {
      queues.length = 0;
      return { waiting: 3 };
    }, queues);
    t.markDirty("a");
    await t.flush();
    expect(published).toEqual([]);
    t.stop();
  });
});
