import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { PendingAcks } from "../src/connection/pending-acks.js";

describe("PendingAcks", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("resolves a waiter with the ack", async () => {
    const acks = new PendingAcks();
    const waiting = acks.wait("c1", 1000);
    expect(acks.ack("c1", true)).toBe(true);
    await expect(waiting).resolves.toEqual({ kind: "acked", ok: true });
    expect(acks.size).toBe(0);
  });

  it("carries an agent's refusal", async () => {
    const acks = new PendingAcks();
    const waiting = acks.wait("c1", 1000);
    acks.ack("c1", false, "unsupported");
    await expect(waiting).resolves.toEqual({ kind: "acked", ok: false, error: "unsupported" });
  });

  it("times out", async () => {
    const acks = new PendingAcks();
    const waiting = acks.wait("c1", 1000);
    vi.advanceTimersByTime(1000);
    await expect(waiting).resolves.toEqual({ kind: "timeout" });
    expect(acks.ack("c1", true)).toBe(false);
  });

  it("one ack answers every waiter of the same id (redelivery)", async () => {
    const acks = new PendingAcks();
    const first = acks.wait("c1", 1000);
    const second = acks.wait("c1", 5000);
    acks.ack("c1", true);
    await expect(first).resolves.toEqual({ kind: "acked", ok: true });
    await expect(second).resolves.toEqual({ kind: "acked", ok: true });
  });

  it("a timeout of one waiter leaves the other waiting", async () => {
    const acks = new PendingAcks();
    const short = acks.wait("c1", 100);
    const long = acks.wait("c1", 5000);
    vi.advanceTimersByTime(100);
    await expect(short).resolves.toEqual({ kind: "timeout" });
    expect(acks.size).toBe(1);
    acks.ack("c1", true);
    await expect(long).resolves.toEqual({ kind: "acked", ok: true });
  });

  it("closeAll releases every waiter at once", async () => {
    const acks = new PendingAcks();
    const a = acks.wait("a", 1000);
    const b = acks.wait("b", 1000);
    acks.closeAll();
    await expect(a).resolves.toEqual({ kind: "closed" });
    await expect(b).resolves.toEqual({ kind: "closed" });
    expect(acks.size).toBe(0);
  });

  it("an ack nobody waits for is reported", () => {
    expect(new PendingAcks().ack("zzz", true)).toBe(false);
  });
});
