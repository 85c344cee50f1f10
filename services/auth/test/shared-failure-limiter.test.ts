import { describe, expect, it } from "vitest";
import { InMemoryCollection } from "../src/in-memory-collection.js";
import type { StoredFailureWindow } from "../src/records.js";
import { SharedFailureLimiter } from "../src/shared-failure-limiter.js";

function setup(maxFailures = 3, windowMs = 10_000) {
  let now = 1_000_000;
  const clock = { now: () => now, advance: (ms: number) => (now += ms) };
  const windows = new InMemoryCollection<StoredFailureWindow>("failures", { now: clock.now, ttlMs: windowMs });
  const limiter = (name: string) => new SharedFailureLimiter(name, windows, { maxFailures, windowMs }, clock.now);
  return { clock, windows, limiter };
}

describe("SharedFailureLimiter", () => {
  it("limits a source after maxFailures until its window ends, with a Retry-After", async () => {
    const { clock, limiter } = setup();
    const login = limiter("login");
    for (let i = 0; i < 2; i++) expect(await login.recordFailure("10.0.0.1")).toEqual({ limited: false, alreadyLimited: false });
    expect(await login.recordFailure("10.0.0.1")).toEqual({ limited: true, retryAfterSeconds: 10, alreadyLimited: false });
    expect(login.check("10.0.0.1")).toEqual({ limited: true, retryAfterSeconds: 10 });
    expect(await login.checkShared("10.0.0.1")).toEqual({ limited: true, retryAfterSeconds: 10 });
    expect(await login.recordFailure("10.0.0.1")).toEqual({ limited: true, retryAfterSeconds: 10, alreadyLimited: true });
    clock.advance(7_500);
    expect(login.check("10.0.0.1")).toEqual({ limited: true, retryAfterSeconds: 3 });
    clock.advance(2_500);
    expect(login.check("10.0.0.1")).toEqual({ limited: false });
    // A new window starts with the next failure.
    expect(await login.recordFailure("10.0.0.1")).toEqual({ limited: false, alreadyLimited: false });
  });

  it("keeps limiters and sources apart, and never stores an address as a key", async () => {
    const { windows, limiter } = setup(1);
    await limiter("login").recordFailure("10.0.0.2");
    expect(limiter("login").check("10.0.0.2").limited).toBe(true);
    expect(limiter("ticket").check("10.0.0.2").limited).toBe(false);
    expect(limiter("login").check("10.0.0.3").limited).toBe(false);
    expect(JSON.stringify(windows.values())).not.toContain("10.0.0.2");
    expect(await windows.fetch("10.0.0.2")).toBeUndefined();
  });

  it("does not double-count concurrent failures", async () => {
    const { windows, limiter } = setup(1000);
    const agent = limiter("agent");
    await Promise.all(Array.from({ length: 25 }, () => agent.recordFailure("10.0.0.4")));
    expect(windows.values().map((w) => w.failures)).toEqual([25]);
  });

  it("prunes finished windows", async () => {
    const { clock, windows, limiter } = setup();
    await limiter("login").recordFailure("10.0.0.5");
    expect(limiter("login").pruneExpired()).toBe(0);
    clock.advance(10_000);
    expect(limiter("login").pruneExpired()).toBe(1);
    expect(windows.values()).toEqual([]);
  });
});
