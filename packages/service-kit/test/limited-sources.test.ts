import { describe, expect, it } from "vitest";
import { LimitedSources } from "@patchmon-ws/service-kit";

describe("LimitedSources", () => {
  it("forgets a verdict once it ends, and stays bounded by dropping ended then oldest verdicts", () => {
    let now = 0;
    const sources = new LimitedSources(2, () => now);
    sources.limit("a", 5);
    expect(sources.retryAfterSeconds("a")).toBe(5);
    now = 4_500;
    expect(sources.retryAfterSeconds("a")).toBe(1);
    now = 5_000;
    expect(sources.retryAfterSeconds("a")).toBeUndefined();
    sources.limit("b", 60);
    sources.limit("c", 60);
    sources.limit("d", 60);
    expect(sources.size).toBe(2);
    expect(sources.retryAfterSeconds("b")).toBeUndefined();
    expect(sources.retryAfterSeconds("d")).toBe(60);
  });

  it("holds a verdict for at least a second, and a repeated verdict replaces the earlier one", () => {
    let now = 0;
    const sources = new LimitedSources(10, () => now);
    sources.limit("a", 0);
    expect(sources.retryAfterSeconds("a")).toBe(1);
    sources.limit("a", 30);
    now = 10_000;
    expect(sources.retryAfterSeconds("a")).toBe(20);
  });
});
