import { describe, expect, it } from "vitest";
import { Heartbeat, type HeartbeatPeer } from "../src/heartbeat.js";
import { TimerWheel } from "../src/timer-wheel.js";

const SETTINGS = { pingIntervalMs: 30_000, readDeadlineMs: 90_000, pingWriteTimeoutMs: 5_000 };

function harness(options: { flushPings?: boolean; failPings?: boolean } = {}) {
  let now = 0;
  const wheel = new TimerWheel(100, () => now, false);
  const pings: number[] = [];
  const expired: string[] = [];
  const pending: ((error?: Error) => void)[] = [];
  const peer: HeartbeatPeer = {
    ping(written) {
      pings.push(now);
      if (options.failPings) written(new Error("socket closed"));
      else if (options.flushPings === false) pending.push(written);
      else written();
    },
    expire: (reason) => expired.push(reason),
  };
  const heartbeat = new Heartbeat(SETTINGS, peer, wheel, () => now);
  return {
    heartbeat,
    wheel,
    pings,
    expired,
    pending,
    /** Moves the clock in 100 ms steps (the wheel's resolution), as the real interval would. */
    runUntil(time: number, onStep?: (t: number) => void) {
      while (now < time) {
        now = Math.min(time, now + 100);
        onStep?.(now);
        wheel.advance(now);
      }
    },
  };
}

describe("Heartbeat", () => {
  it("pings every 30 s while frames keep arriving", () => {
    const h = harness();
    h.heartbeat.start();
    // The server answers each ping with a pong shortly after.
    h.runUntil(100_000, (t) => {
      if (h.pings.includes(t - 100)) h.heartbeat.touch();
    });
    expect(h.pings).toEqual([30_000, 60_000, 90_000]);
    expect(h.expired).toEqual([]);
  });

  it("expires after 90 s without any frame", () => {
    const h = harness();
    h.heartbeat.start();
    h.runUntil(89_900);
    expect(h.expired).toEqual([]);
    h.runUntil(90_000);
    expect(h.expired).toEqual(["read deadline exceeded: no frame for 90000 ms"]);
    expect(h.wheel.pending).toBe(0);
    h.runUntil(200_000);
    expect(h.expired).toHaveLength(1);
  });

  it("any frame (not only pongs) extends the deadline", () => {
    const h = harness();
    h.heartbeat.start();
    // A data frame every 60 s, never a pong: each one re-arms the 90 s deadline.
    h.runUntil(300_000, (t) => {
      if (t % 60_000 === 0) h.heartbeat.touch();
    });
    expect(h.expired).toEqual([]);
    h.runUntil(300_000 + 89_900);
    expect(h.expired).toEqual([]);
    h.runUntil(300_000 + 90_000);
    expect(h.expired).toHaveLength(1);
  });

  it("a ping that cannot be written within 5 s ends the connection", () => {
    const h = harness({ flushPings: false });
    h.heartbeat.start();
    h.runUntil(34_900, (t) => {
      if (t % 1_000 === 0) h.heartbeat.touch();
    });
    expect(h.expired).toEqual([]);
    h.runUntil(35_000);
    expect(h.expired).toEqual(["ping not written within 5000 ms"]);
  });

  it("a ping that is written late but in time is fine", () => {
    const h = harness({ flushPings: false });
    h.heartbeat.start();
    h.runUntil(100_000, (t) => {
      if (t % 1_000 === 0) h.heartbeat.touch();
      if (t % 30_000 === 4_000) h.pending.shift()?.();
    });
    expect(h.expired).toEqual([]);
    expect(h.pings.length).toBe(3);
  });

  it("a failed ping ends the connection", () => {
    const h = harness({ failPings: true });
    h.heartbeat.start();
    h.runUntil(30_000);
    expect(h.expired).toEqual(["ping failed: socket closed"]);
    expect(h.wheel.pending).toBe(0);
  });

  it("stop() cancels everything", () => {
    const h = harness();
    h.heartbeat.start();
    h.heartbeat.stop();
    expect(h.wheel.pending).toBe(0);
    h.runUntil(500_000);
    expect(h.pings).toEqual([]);
    expect(h.expired).toEqual([]);
  });
});
