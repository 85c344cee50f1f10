import { describe, expect, it } from "vitest";
import { TimerWheel, wheelResolutionFor } from "../src/timer-wheel.js";

/** A wheel driven by a fake clock: nothing fires until advance(). */
function fakeWheel(resolutionMs = 10) {
  let now = 1_000;
  const wheel = new TimerWheel(resolutionMs, () => now, false);
  return {
    wheel,
    advanceTo(time: number) {
      now = time;
      wheel.advance(now);
    },
  };
}

describe("TimerWheel", () => {
  it("fires a timer no sooner than its delay and within one resolution after", () => {
    const { wheel, advanceTo } = fakeWheel(10);
    const fired: number[] = [];
    wheel.schedule(25, () => fired.push(1));
    advanceTo(1_024);
    expect(fired).toEqual([]);
    advanceTo(1_030);
    expect(fired).toEqual([1]);
    expect(wheel.pending).toBe(0);
  });

  it("fires due timers in time order and leaves later ones", () => {
    const { wheel, advanceTo } = fakeWheel(10);
    const fired: string[] = [];
    wheel.schedule(300, () => fired.push("c"));
    wheel.schedule(100, () => fired.push("a"));
    wheel.schedule(200, () => fired.push("b"));
    advanceTo(1_250);
    expect(fired).toEqual(["a", "b"]);
    expect(wheel.pending).toBe(1);
    advanceTo(1_300);
    expect(fired).toEqual(["a", "b", "c"]);
  });

  it("cancel() prevents a timer from firing and is idempotent", () => {
    const { wheel, advanceTo } = fakeWheel(10);
    let fired = false;
    const timer = wheel.schedule(50, () => (fired = true));
    timer.cancel();
    timer.cancel();
    expect(wheel.pending).toBe(0);
    advanceTo(2_000);
    expect(fired).toBe(false);
  });

  it("a zero delay fires on the next advance, never synchronously", () => {
    const { wheel, advanceTo } = fakeWheel(10);
    let fired = false;
    wheel.schedule(0, () => (fired = true));
    expect(fired).toBe(false);
    advanceTo(1_010);
    expect(fired).toBe(true);
  });

  it("handles a long stall by visiting only existing buckets, including timers added while firing", () => {
    const { wheel, advanceTo } = fakeWheel(1);
    const fired: string[] = [];
    wheel.schedule(10, () => {
      fired.push("first");
      wheel.schedule(0, () => fired.push("chained"));
    });
    wheel.schedule(3_600_000, () => fired.push("late"));
    advanceTo(1_000 + 3_600_000 * 2);
    // "chained" was scheduled when the clock already read the stalled time, so it is due after "late".
    expect(fired).toEqual(["first", "late", "chained"]);
    expect(wheel.pending).toBe(0);
  });

  it("runs the other due timers when one throws, then surfaces the error", async () => {
    const { wheel, advanceTo } = fakeWheel(10);
    const fired: string[] = [];
    wheel.schedule(10, () => {
      throw new Error("boom");
    });
    wheel.schedule(10, () => fired.push("other"));
    const surfaced = new Promise<unknown>((resolve) => {
      const listeners = process.listeners("uncaughtException");
      process.removeAllListeners("uncaughtException");
      process.once("uncaughtException", (error) => {
        for (const l of listeners) process.on("uncaughtException", l);
        resolve(error);
      });
    });
    advanceTo(1_020);
    expect(fired).toEqual(["other"]);
    expect(((await surfaced) as Error).message).toBe("boom");
  });

  it("really fires on its own interval", async () => {
    const wheel = new TimerWheel(5);
    const started = performance.now();
    const firedAt = await new Promise<number>((resolve) => wheel.schedule(30, () => resolve(performance.now())));
    expect(firedAt - started).toBeGreaterThanOrEqual(29);
    expect(wheel.pending).toBe(0);
  });
});

describe("wheelResolutionFor", () => {
  it("is a fifth of the shortest interval, between 5 and 100 ms", () => {
    expect(wheelResolutionFor(30_000, 90_000, 1_000, 45_000)).toBe(100);
    expect(wheelResolutionFor(200, 600, 100)).toBe(20);
    expect(wheelResolutionFor(10, 30)).toBe(5);
  });
});
