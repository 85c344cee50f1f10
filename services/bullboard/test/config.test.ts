import { describe, expect, it } from "vitest";
import { ConfigError } from "@patchmon-ws/service-kit";
import { loadBullboardConfig } from "../src/config.js";

describe("bullboard config", () => {
  it("has documented defaults", () => {
    const config = loadBullboardConfig({});
    expect(config.PORT).toBe(3004);
    expect(config.REDIS_URL).toBe("redis://127.0.0.1:6379");
    expect(config.BULLMQ_PREFIX).toBe("bull");
    expect(config.BULLBOARD_QUEUES).toEqual([]);
    expect(config.ALLOWED_ORIGINS).toEqual([]);
    expect(config.COOKIE_TTL_SECONDS).toBe(900);
    expect(config.AUTH_CACHE_TTL_MS).toBe(1000);
    expect(config.QUEUE_DISCOVERY_INTERVAL_MS).toBe(10_000);
  });

  it("accepts origins and refuses anything with a path or another scheme", () => {
    expect(loadBullboardConfig({ ALLOWED_ORIGINS: "https://patchmon.example.com, http://localhost:3000" }).ALLOWED_ORIGINS).toEqual([
      "https://patchmon.example.com",
      "http://localhost:3000",
    ]);
    for (const bad of ["https://x.example/path", "ftp://x.example", "*", "x.example"]) {
      expect(() => loadBullboardConfig({ ALLOWED_ORIGINS: bad }), bad).toThrow(ConfigError);
    }
  });

  it("parses lists and names each bad variable", () => {
    expect(loadBullboardConfig({ BULLBOARD_QUEUES: "a, b" }).BULLBOARD_QUEUES).toEqual(["a", "b"]);
    const bad = () =>
      loadBullboardConfig({ BULLBOARD_QUEUES: "ok,bad:name", REDIS_URL: "http://x", AUTH_CACHE_TTL_MS: "5000", BULLMQ_PREFIX: "b*" });
    expect(bad).toThrow(ConfigError);
    try {
      bad();
    } catch (err) {
      expect((err as ConfigError).variables.sort()).toEqual(["AUTH_CACHE_TTL_MS", "BULLBOARD_QUEUES", "BULLMQ_PREFIX", "REDIS_URL"]);
    }
  });
});
