import { describe, expect, it } from "vitest";
import { GarbageCounter } from "../src/sockets/garbage-counter.js";

describe("GarbageCounter", () => {
  it("tolerates up to the limit within the window, then trips", () => {
    let now = 0;
    const counter = new GarbageCounter({ limit: 3, windowMs: 1000, now: () => now });
    expect(counter.record()).toBe(false);
    expect(counter.record()).toBe(false);
    expect(counter.record()).toBe(false);
    expect(counter.record()).toBe(true);
  });

  it("forgets frames older than the window", () => {
    let now = 0;
    const counter = new GarbageCounter({ limit: 2, windowMs: 1000, now: () => now });
    counter.record();
    now = 500;
    counter.record();
    now = 1001; // the first one left the window
    expect(counter.record()).toBe(false);
    expect(counter.count).toBe(2);
    now = 1100;
    expect(counter.record()).toBe(true);
  });
});
