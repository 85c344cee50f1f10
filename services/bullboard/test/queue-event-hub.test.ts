import { EventEmitter } from "node:events";
import { describe, expect, it } from "vitest";
import { pino } from "pino";
import type { Outbound } from "../src/event-messages.js";
import { QueueEventHub, type HubSubscriber, type QueueEventSource } from "../src/queue-event-hub.js";

class FakeSource extends EventEmitter implements QueueEventSource {
  closed = false;
  async close(): Promise<void> {
    this.closed = true;
  }
}

class Recorder implements HubSubscriber {
  readonly received: any[] = [];
  constructor(private readonly queues: string[] | null = null) {}
  wants(queue: string): boolean {
    return this.queues === null || this.queues.includes(queue);
  }
  deliver(message: Outbound): void {
    this.received.push(JSON.parse(message.json));
  }
  of(type: string) {
    return this.received.filter((m) => m.type === type);
  }
}

function hub(counts: Record<string, number> = { waiting: 0 }) {
  const sources = new Map<string, FakeSource>();
  const h = new QueueEventHub({
    openEvents: (queue) => {
      const source = new FakeSource();
      sources.set(queue, source);
      return source;
    },
    fetchCounts: async () => counts,
    countsMinIntervalMs: 10,
    countsRefreshIntervalMs: 60_000,
    logger: pino({ level: "silent" }),
  });
  return { h, sources };
}

describe("QueueEventHub", () => {
  it("opens one event source per queue, shared by every subscriber", () => {
    const { h, sources } = hub();
    h.addQueue("a");
    h.addQueue("a");
    const one = new Recorder();
    const two = new Recorder();
    h.subscribe(one);
    h.subscribe(two);
    sources.get("a")!.emit("added", { jobId: "1", name: "report_now" }, "5-0");
    expect(sources.size).toBe(1);
    expect(one.of("job")).toEqual([{ type: "job", queue: "a", event: "added", jobId: "1", eventId: "5-0", at: 5, name: "report_now" }]);
    expect(two.of("job")).toHaveLength(1);
    void h.close();
  });

  it("delivers a job's events in order, only to subscribers that want the queue", () => {
    const { h, sources } = hub();
    h.addQueue("a");
    h.addQueue("b");
    const all = new Recorder();
    const onlyB = new Recorder(["b"]);
    h.subscribe(all);
    h.subscribe(onlyB);
    const a = sources.get("a")!;
    a.emit("added", { jobId: "1", name: "x" }, "1-0");
    a.emit("active", { jobId: "1", prev: "waiting" }, "2-0");
    a.emit("progress", { jobId: "1", data: 50 }, "3-0");
    a.emit("completed", { jobId: "1", returnvalue: { big: true }, prev: "active" }, "4-0");
    sources.get("b")!.emit("failed", { jobId: "9", failedReason: "boom", prev: "active" }, "5-0");
    expect(all.of("job").map((m) => `${m.queue}:${m.jobId}:${m.event}`)).toEqual(["a:1:added", "a:1:active", "a:1:progress", "a:1:completed", "b:9:failed"]);
    expect(all.of("job")[3].returnvalue).toBeUndefined();
    expect(onlyB.of("job").map((m) => m.event)).toEqual(["failed"]);
    void h.close();
  });

  it("forwards queue-level events, including drained which carries only an id", () => {
    const { h, sources } = hub();
    h.addQueue("a");
    const r = new Recorder();
    h.subscribe(r);
    sources.get("a")!.emit("paused", {}, "1-0");
    sources.get("a")!.emit("cleaned", { count: "3" }, "2-0");
    sources.get("a")!.emit("drained", "3-0");
    expect(r.of("queue")).toEqual([
      { type: "queue", queue: "a", event: "paused", eventId: "1-0", at: 1 },
      { type: "queue", queue: "a", event: "cleaned", eventId: "2-0", at: 2, count: 3 },
      { type: "queue", queue: "a", event: "drained", eventId: "3-0", at: 3 },
    ]);
    void h.close();
  });

  it("announces queue list changes and closes the sources of removed queues", () => {
    const { h, sources } = hub();
    const r = new Recorder();
    h.subscribe(r);
    h.addQueue("a");
    h.addQueue("b");
    h.removeQueue("a");
    expect(r.of("queues").map((m) => m.queues)).toEqual([["a"], ["a", "b"], ["b"]]);
    expect(sources.get("a")!.closed).toBe(true);
    void h.close();
  });

  it("publishes counts after events and gives new subscribers status and counts", async () => {
    const { h, sources } = hub({ waiting: 4 });
    h.addQueue("a");
    h.setRedisUp(true);
    const early = new Recorder();
    h.subscribe(early);
    sources.get("a")!.emit("added", { jobId: "1" }, "1-0");
    await new Promise((r) => setTimeout(r, 50));
    expect(early.of("counts")).toEqual([{ type: "counts", queue: "a", counts: { waiting: 4 }, at: expect.any(Number) }]);
    const late = new Recorder();
    h.subscribe(late);
    h.snapshot(late);
    expect(late.received.map((m) => m.type)).toEqual(["status", "counts"]);
    expect(late.received[0]).toMatchObject({ redis: "up" });
    await h.close();
  });

  it("announces Redis going down and coming back", () => {
    const { h } = hub();
    const r = new Recorder();
    h.subscribe(r);
    h.setRedisUp(true);
    h.setRedisUp(true);
    h.setRedisUp(false);
    h.setRedisUp(true);
    expect(r.of("status").map((m) => m.redis)).toEqual(["up", "down", "up"]);
    void h.close();
  });
});
