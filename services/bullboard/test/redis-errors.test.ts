import { describe, expect, it } from "vitest";
import { isRedisConnectionError, redisUnavailable } from "../src/redis-errors.js";

describe("redis errors", () => {
  it("recognises connection failures and nothing else", () => {
    expect(isRedisConnectionError(new Error("Connection is closed."))).toBe(true);
    expect(isRedisConnectionError(new Error("Stream isn't writeable and enableOfflineQueue options is false"))).toBe(true);
    expect(isRedisConnectionError(new Error("Command timed out"))).toBe(true);
    expect(isRedisConnectionError(Object.assign(new Error("connect failed"), { code: "ECONNREFUSED" }))).toBe(true);
    expect(isRedisConnectionError(Object.assign(new Error("x"), { name: "MaxRetriesPerRequestError" }))).toBe(true);
    expect(isRedisConnectionError(new Error("Missing key for job 12"))).toBe(false);
    expect(isRedisConnectionError("Connection is closed.")).toBe(false);
  });

  it("maps to 503 DEPENDENCY_UNAVAILABLE with Retry-After", () => {
    const error = redisUnavailable();
    expect(error.status).toBe(503);
    expect(error.code).toBe("DEPENDENCY_UNAVAILABLE");
    expect(error.retryAfter).toBeGreaterThan(0);
  });
});
