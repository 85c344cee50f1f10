import { describe, expect, it } from "vitest";
import { HeartbeatState, MAX_MISSED_HEARTBEATS } from "../src/sockets/heartbeat.js";

describe("HeartbeatState", () => {
  it("pings while the peer shows life", () => {
    const hb = new HeartbeatState();
    for (let i = 0; i < 10; i++) {
      expect(hb.tick()).toBe("ping");
      hb.life();
    }
  });

  it("terminates after two silent intervals, not before", () => {
    expect(MAX_MISSED_HEARTBEATS).toBe(2);
    const hb = new HeartbeatState();
    expect(hb.tick()).toBe("ping"); // life since connect counts
    expect(hb.tick()).toBe("ping"); // first missed
    expect(hb.missedIntervals).toBe(1);
    expect(hb.tick()).toBe("terminate");
  });

  it("any sign of life resets the count", () => {
    const hb = new HeartbeatState();
    hb.tick();
    hb.tick();
    hb.life();
    expect(hb.missedIntervals).toBe(0);
    expect(hb.tick()).toBe("ping");
    expect(hb.tick()).toBe("ping");
    expect(hb.tick()).toBe("terminate");
  });
});
