import { describe, expect, it } from "vitest";
import type { Principal } from "@patchmon-ws/protocol";
import { TokenCache } from "../src/token-cache.js";

const principal = (over: Partial<Principal> = {}): Principal => ({
  userId: "u1",
  username: "alice",
  role: "user",
  permissions: [],
  sessionId: "s1",
  expiresAt: 1_000_000,
  ...over,
});

describe("TokenCache", () => {
  it("returns a cached principal within the TTL", () => {
    let now = 0;
    const cache = new TokenCache(1000, 10, () => now);
    cache.set("tok", principal());
    now = 999;
    expect(cache.get("tok")?.userId).toBe("u1");
    now = 1000;
    expect(cache.get("tok")).toBeUndefined();
  });

  it("never outlives the token's own expiry", () => {
    let now = 0;
    const cache = new TokenCache(10_000, 10, () => now);
    cache.set("tok", principal({ expiresAt: 500 }));
    now = 500;
    expect(cache.get("tok")).toBeUndefined();
  });

  it("evicts by user or session", () => {
    const cache = new TokenCache(10_000, 10, () => 0);
    cache.set("a", principal({ userId: "u1", sessionId: "s1" }));
    cache.set("b", principal({ userId: "u1", sessionId: "s2" }));
    cache.set("c", principal({ userId: "u2", sessionId: "s3" }));
    expect(cache.evict({ sessionId: "s2" })).toBe(1);
    expect(cache.get("b")).toBeUndefined();
    expect(cache.evict({ userId: "u1" })).toBe(1);
    expect(cache.get("a")).toBeUndefined();
    expect(cache.get("c")?.userId).toBe("u2");
  });

  it("is bounded and stores no token in clear", () => {
    const cache = new TokenCache(10_000, 2, () => 0);
    cache.set("secret-token-1", principal());
    cache.set("secret-token-2", principal());
    cache.set("secret-token-3", principal());
    expect(cache.size).toBe(2);
    expect(cache.get("secret-token-1")).toBeUndefined();
    expect(JSON.stringify([...(cache as unknown as { entries: Map<string, unknown> }).entries.keys()])).not.toContain("secret-token");
  });

  it("a TTL of 0 disables caching", () => {
    const cache = new TokenCache(0);
    cache.set("t", principal());
    expect(cache.get("t")).toBeUndefined();
  });
});
