import { EventEmitter } from "node:events";
import { describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { bindSocket } from "@patchmon-ws/service-kit";
import { messages } from "../src/event-messages.js";
import { EventSocket } from "../src/event-socket.js";
import { principal } from "./fixtures.js";

/** Stands in for a ws WebSocket: records sends, and lets the test decide when the kernel "accepted" the bytes. */
class FakeWs extends EventEmitter {
  readyState: number = WebSocket.OPEN;
  bufferedAmount = 0;
  sent: string[] = [];
  callbacks: ((err?: Error) => void)[] = [];
  closedWith: [number, string] | undefined;
  pings = 0;
  terminated = false;
  send(data: string, cb: (err?: Error) => void) {
    this.sent.push(data);
    this.bufferedAmount += data.length;
    this.callbacks.push(() => {
      this.bufferedAmount -= data.length;
      cb();
    });
  }
  /** The peer read everything sent so far. */
  drainAll() {
    const pending = this.callbacks.splice(0);
    for (const cb of pending) cb();
  }
  ping() {
    this.pings++;
  }
  pong() {}
  close(code: number, reason: string) {
    this.closedWith = [code, reason];
  }
  terminate() {
    this.terminated = true;
  }
}

function socket(ws: FakeWs, options: { highWaterBytes?: number; maxQueuedEvents?: number } = {}) {
  const changes: EventSocket[] = [];
  const s = new EventSocket(ws as unknown as WebSocket, principal(), "read-only", "tok", "1.2.3.4", {
    maxQueuedEvents: options.maxQueuedEvents ?? 100,
    highWaterBytes: options.highWaterBytes ?? 1_000_000,
    onSubscriptionChange: (x) => changes.push(x),
  });
  bindSocket(ws as unknown as WebSocket, s);
  return { s, changes };
}

const job = (id: number) => messages.job("q", "added", { jobId: String(id) }, `${id}-0`);

describe("EventSocket", () => {
  it("sends at once while the socket keeps up", () => {
    const ws = new FakeWs();
    const { s } = socket(ws);
    s.deliver(job(1));
    s.deliver(job(2));
    expect(ws.sent.map((m) => JSON.parse(m).jobId)).toEqual(["1", "2"]);
  });

  it("holds messages in its bounded outbox above the high-water mark and resumes on send callbacks", () => {
    const ws = new FakeWs();
    const { s } = socket(ws, { highWaterBytes: 1, maxQueuedEvents: 5 });
    for (let i = 1; i <= 20; i++) s.deliver(job(i));
    expect(ws.sent).toHaveLength(1);
    expect(s.queuedMessages).toBe(6);
    ws.drainAll();
    ws.drainAll();
    while (ws.callbacks.length > 0) ws.drainAll();
    const received = ws.sent.map((m) => JSON.parse(m));
    expect(received[0].jobId).toBe("1");
    expect(received[1]).toEqual({ type: "gap", dropped: 14 });
    expect(received.slice(2).map((m) => m.jobId)).toEqual(["16", "17", "18", "19", "20"]);
  });

  it("narrows and widens its queues on subscribe, and answers invalid messages", () => {
    const ws = new FakeWs();
    const { s, changes } = socket(ws);
    ws.emit("message", Buffer.from(JSON.stringify({ type: "subscribe", queues: ["a"] })), false);
    expect(s.wants("a")).toBe(true);
    expect(s.wants("b")).toBe(false);
    expect(changes).toHaveLength(1);
    ws.emit("message", Buffer.from(JSON.stringify({ type: "subscribe", queues: "*" })), false);
    expect(s.wants("b")).toBe(true);
    ws.emit("message", Buffer.from("not json"), false);
    expect(JSON.parse(ws.sent.at(-1)!)).toMatchObject({ type: "error", code: "VALIDATION_FAILED" });
  });

  it("closes with 1008 after too many invalid messages", () => {
    const ws = new FakeWs();
    socket(ws);
    for (let i = 0; i < 5; i++) ws.emit("message", Buffer.from("{}"), false);
    expect(ws.closedWith).toBeUndefined();
    ws.emit("message", Buffer.from([1, 2, 3]), true);
    expect(ws.closedWith?.[0]).toBe(1008);
  });

  it("pings, and reports a peer silent for two intervals", () => {
    const ws = new FakeWs();
    const { s } = socket(ws);
    expect(s.heartbeatTick()).toBe("pinged");
    ws.emit("pong");
    expect(s.heartbeatTick()).toBe("pinged");
    expect(s.heartbeatTick()).toBe("pinged");
    expect(s.heartbeatTick()).toBe("silent");
    expect(ws.pings).toBe(3);
  });

  it("sends nothing after closing", () => {
    const ws = new FakeWs();
    const { s } = socket(ws);
    s.close(4001, "revoked", "credentials revoked");
    s.deliver(job(1));
    ws.emit("message", Buffer.from(JSON.stringify({ type: "subscribe", queues: "*" })), false);
    expect(ws.sent).toEqual([]);
    expect(ws.closedWith).toEqual([4001, "credentials revoked"]);
    expect(s.endReason).toBe("revoked");
  });
});
