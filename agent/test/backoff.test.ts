import { describe, expect, it } from "vitest";
import { FullJitterBackoff, MAX_RETRY_AFTER_MS, parseRetryAfter, ReconnectPolicy } from "../src/backoff.js";

/** A deterministic random source cycling through the given values. */
const sequence = (...values: number[]) => {
  let i = 0;
  return () => values[i++ % values.length] as number;
};

describe("FullJitterBackoff", () => {
  it("defaults to a 1 s initial ceiling doubling up to 30 s", () => {
    const backoff = new FullJitterBackoff({}, () => 0.999999);
    const ceilings: number[] = [];
    for (let i = 0; i < 8; i += 1) {
      ceilings.push(backoff.ceilingMs());
      backoff.next();
    }
    expect(ceilings).toEqual([1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
  });

  it("draws each delay uniformly from [0, ceiling] (full jitter bounds)", () => {
    const low = new FullJitterBackoff({}, () => 0);
    expect([low.next(), low.next(), low.next()]).toEqual([0, 0, 0]);
    const high = new FullJitterBackoff({}, () => 0.9999999999);
    expect([high.next(), high.next(), high.next(), high.next(), high.next(), high.next()]).toEqual([1000, 2000, 4000, 8000, 16000, 30000]);
    const mid = new FullJitterBackoff({ initialMs: 100, maxMs: 1000 }, () => 0.5);
    expect([mid.next(), mid.next(), mid.next()]).toEqual([50, 100, 200]);
  });

  it("stays within bounds over many real random draws, and actually spreads", () => {
    const backoff = new FullJitterBackoff({ initialMs: 1000, maxMs: 30000 });
    const seen = new Set<number>();
    for (let i = 0; i < 2000; i += 1) {
      const ceiling = backoff.ceilingMs();
      const delay = backoff.next();
      expect(delay).toBeGreaterThanOrEqual(0);
      expect(delay).toBeLessThanOrEqual(ceiling);
      expect(Number.isInteger(delay)).toBe(true);
      seen.add(delay);
    }
    expect(seen.size).toBeGreaterThan(100);
  });

  it("does not overflow after very many attempts", () => {
    const backoff = new FullJitterBackoff({ initialMs: 1, maxMs: 30000 }, () => 0.9999999);
    for (let i = 0; i < 5000; i += 1) backoff.next();
    expect(backoff.ceilingMs()).toBe(30000);
    expect(backoff.next()).toBe(30000);
  });

  it("reset() starts again from the initial ceiling", () => {
    const backoff = new FullJitterBackoff({}, () => 0.9999999);
    backoff.next();
    backoff.next();
    backoff.next();
    expect(backoff.ceilingMs()).toBe(8000);
    backoff.reset();
    expect(backoff.attempts).toBe(0);
    expect(backoff.next()).toBe(1000);
  });

  it("rejects nonsensical bounds", () => {
    expect(() => new FullJitterBackoff({ initialMs: 0 })).toThrow(/initialMs/);
    expect(() => new FullJitterBackoff({ initialMs: -5 })).toThrow(/initialMs/);
    expect(() => new FullJitterBackoff({ initialMs: 5000, maxMs: 1000 })).toThrow(/maxMs/);
    expect(() => new FullJitterBackoff({ maxMs: Number.NaN })).toThrow(/maxMs/);
  });
});

describe("ReconnectPolicy", () => {
  const make = () => new ReconnectPolicy(new FullJitterBackoff({ initialMs: 1000, maxMs: 30000 }, sequence(0.9999999)), 5000);

  it("keeps growing while connections fail or drop at once", () => {
    const policy = make();
    expect(policy.nextDelay(0)).toBe(1000); // attempt failed, never opened
    policy.opened(2000);
    expect(policy.nextDelay(2500)).toBe(2000); // up 500 ms: not a good connection
    expect(policy.nextDelay(5000)).toBe(4000);
  });

  it("resets after a connection that stayed up at least resetAfterMs", () => {
    const policy = make();
    policy.nextDelay(0);
    policy.nextDelay(1);
    policy.nextDelay(2);
    policy.opened(10_000);
    expect(policy.nextDelay(15_000)).toBe(1000);
    expect(policy.nextDelay(16_000)).toBe(2000);
  });

  it("does not reset on a connection exactly one ms short of resetAfterMs", () => {
    const policy = make();
    policy.nextDelay(0);
    policy.opened(10_000);
    expect(policy.nextDelay(14_999)).toBe(2000);
  });

  it("never retries sooner than Retry-After, bounded by MAX_RETRY_AFTER_MS", () => {
    const policy = new ReconnectPolicy(new FullJitterBackoff({}, () => 0), 5000);
    expect(policy.nextDelay(0, 12_000)).toBe(12_000);
    expect(policy.nextDelay(0, 10 * 3600_000)).toBe(MAX_RETRY_AFTER_MS);
    expect(policy.nextDelay(0, -5)).toBe(0);
  });
});

describe("parseRetryAfter", () => {
  it("reads delay-seconds", () => {
    expect(parseRetryAfter("5")).toBe(5000);
    expect(parseRetryAfter(" 0 ")).toBe(0);
    expect(parseRetryAfter(["7", "9"])).toBe(7000);
  });
  it("reads an HTTP date relative to now", () => {
    const now = Date.parse("2026-01-01T00:00:00Z");
    expect(parseRetryAfter("Thu, 01 Jan 2026 00:00:30 GMT", now)).toBe(30_000);
    expect(parseRetryAfter("Wed, 31 Dec 2025 23:00:00 GMT", now)).toBe(0);
  });
  it("ignores absent or garbage values", () => {
    expect(parseRetryAfter(undefined)).toBeUndefined();
    expect(parseRetryAfter("")).toBeUndefined();
    expect(parseRetryAfter("soon")).toBeUndefined();
    expect(parseRetryAfter("-3")).toBeUndefined();
  });
});
