import { describe, expect, it } from "vitest";
import { FailureLimiter } from "@patchmon-ws/service-kit";

describe("FailureLimiter", () => {
  it("limits a key after maxFailures in a window and frees it when the window ends", () => {
    let now = 1_000_000;
    const limiter = new FailureLimiter({ maxFailures: 3, windowMs: 60_000, now: () => now });
    expect(limiter.recordFailure("1.2.3.4").limited).toBe(false);
    expect(limiter.recordFailure("1.2.3.4").limited).toBe(false);
    expect(limiter.recordFailure("1.2.3.4")).toEqual({ limited: true, retryAfterSeconds: 60 });
    expect(limiter.check("5.6.7.8").limited).toBe(false);
    now += 30_000;
    expect(limiter.check("1.2.3.4")).toEqual({ limited: true, retryAfterSeconds: 30 });
    now += 30_000;
    expect(limiter.check("1.2.3.4").limited).toBe(false);
    expect(limiter.size).toBe(0);
  });

  it("never tracks more than maxKeys", () => {
    const limiter = new FailureLimiter({ maxFailures: 1, windowMs: 60_000, maxKeys: 100 });
    for (let i = 0; i < 1000; i++) limiter.recordFailure(`10.0.${i >> 8}.${i & 255}`);
    expect(limiter.size).toBeLessThanOrEqual(100);
  });
});
