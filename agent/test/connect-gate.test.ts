import { describe, expect, it } from "vitest";
import { ConnectGate } from "../src/connect-gate.js";

describe("ConnectGate", () => {
  it("grants up to the limit at once and queues the rest in order", () => {
    const gate = new ConnectGate(2);
    const granted: number[] = [];
    for (let i = 0; i < 5; i += 1) gate.acquire(() => granted.push(i));
    expect(granted).toEqual([0, 1]);
    expect([gate.inFlight, gate.waiting]).toEqual([2, 3]);
    gate.release();
    expect(granted).toEqual([0, 1, 2]);
    gate.release();
    gate.release();
    expect(granted).toEqual([0, 1, 2, 3, 4]);
    expect([gate.inFlight, gate.waiting]).toEqual([2, 0]);
    gate.release();
    gate.release();
    expect(gate.inFlight).toBe(0);
  });

  it("does not recurse when grants release synchronously (10 000 stopped waiters)", () => {
    const gate = new ConnectGate(1);
    let held = true;
    gate.acquire(() => {});
    let granted = 0;
    for (let i = 0; i < 10_000; i += 1) {
      gate.acquire(() => {
        granted += 1;
        gate.release();
      });
    }
    expect(held).toBe(true);
    gate.release();
    held = false;
    expect(granted).toBe(10_000);
    expect([gate.inFlight, gate.waiting]).toEqual([0, 0]);
  });

  it("rejects a bad limit and an unbalanced release", () => {
    expect(() => new ConnectGate(0)).toThrow(RangeError);
    expect(() => new ConnectGate(1.5)).toThrow(RangeError);
    expect(() => new ConnectGate(1).release()).toThrow(/more often/);
  });
});
