import { describe, expect, it } from "vitest";
import { RecentCommandIds } from "../src/recent-ids.js";

describe("RecentCommandIds", () => {
  it("remembers outcomes by id", () => {
    const recent = new RecentCommandIds();
    expect(recent.get("a")).toBeUndefined();
    recent.remember("a", { ok: true });
    recent.remember("b", { ok: false, error: "nope" });
    expect(recent.get("a")).toEqual({ ok: true });
    expect(recent.get("b")).toEqual({ ok: false, error: "nope" });
  });

  it("keeps the last 1024 ids by default and forgets the oldest first", () => {
    const recent = new RecentCommandIds();
    expect(recent.capacity).toBe(1024);
    for (let i = 0; i < 1500; i += 1) recent.remember(`id-${i}`, { ok: true });
    expect(recent.size).toBe(1024);
    expect(recent.get("id-475")).toBeUndefined();
    expect(recent.get("id-476")).toEqual({ ok: true });
    expect(recent.get("id-1499")).toEqual({ ok: true });
  });

  it("honours a custom capacity", () => {
    const recent = new RecentCommandIds(2);
    recent.remember("a", { ok: true });
    recent.remember("b", { ok: true });
    recent.remember("c", { ok: true });
    expect([recent.get("a"), recent.get("b"), recent.get("c")]).toEqual([undefined, { ok: true }, { ok: true }]);
    expect(() => new RecentCommandIds(0)).toThrow(RangeError);
  });
});
