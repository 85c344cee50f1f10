import { describe, expect, it } from "vitest";
import { AgentRegistry } from "../src/connection/registry.js";

const conn = (hostId: string, connectionId: string) => ({ hostId, connectionId });

describe("AgentRegistry", () => {
  it("holds one connection per host; a second replaces the first", () => {
    const registry = new AgentRegistry<{ hostId: string; connectionId: string }>();
    const a = conn("h1", "a");
    const b = conn("h1", "b");
    expect(registry.add(a)).toBeUndefined();
    expect(registry.add(b)).toBe(a);
    expect(registry.get("h1")).toBe(b);
    expect(registry.size).toBe(1);
  });

  it("a late removal of a replaced connection does not evict its successor", () => {
    const registry = new AgentRegistry<{ hostId: string; connectionId: string }>();
    const a = conn("h1", "a");
    const b = conn("h1", "b");
    registry.add(a);
    registry.add(b);
    expect(registry.remove(a)).toBe(false);
    expect(registry.get("h1")).toBe(b);
    expect(registry.isCurrent(a)).toBe(false);
    expect(registry.remove(b)).toBe(true);
    expect(registry.size).toBe(0);
  });

  it("re-adding the same connection is not a replacement", () => {
    const registry = new AgentRegistry<{ hostId: string; connectionId: string }>();
    const a = conn("h1", "a");
    registry.add(a);
    expect(registry.add(a)).toBeUndefined();
  });

  it("lists hosts and connections", () => {
    const registry = new AgentRegistry<{ hostId: string; connectionId: string }>();
    registry.add(conn("h1", "a"));
    registry.add(conn("h2", "b"));
    expect([...registry.hostIds()].sort()).toEqual(["h1", "h2"]);
    expect([...registry.values()].map((c) => c.connectionId).sort()).toEqual(["a", "b"]);
  });
});
