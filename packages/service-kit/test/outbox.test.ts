import { describe, expect, it } from "vitest";
import { Outbox, type OutboxMessage } from "../src/sockets/outbox.js";

/** A stream shaped like the bullboard events: droppable jobs, coalesced counts, kept control messages. */
const messages = {
  job: (id: number): OutboxMessage => ({ json: JSON.stringify({ type: "job", queue: "q", jobId: String(id) }), droppable: true }),
  counts: (queue: string, waiting: number): OutboxMessage => ({
    json: JSON.stringify({ type: "counts", queue, counts: { waiting } }),
    coalesceKey: `counts:${queue}`,
    droppable: false,
  }),
  hello: (): OutboxMessage => ({ json: JSON.stringify({ type: "hello" }), droppable: false }),
  gap: (dropped: number): OutboxMessage => ({ json: JSON.stringify({ type: "gap", dropped }), droppable: false }),
};
const job = messages.job;
class SocketOutbox extends Outbox<OutboxMessage> {
  constructor(max: number) {
    super(max, messages.gap);
  }
}
const drain = (outbox: SocketOutbox) => {
  const out: unknown[] = [];
  for (let m: OutboxMessage | undefined; (m = outbox.shift()); ) out.push(JSON.parse(m.json));
  return out;
};

describe("Outbox", () => {
  it("keeps order while under its bound", () => {
    const outbox = new SocketOutbox(10);
    for (let i = 1; i <= 3; i++) outbox.push(job(i));
    expect(drain(outbox).map((m: any) => m.jobId)).toEqual(["1", "2", "3"]);
    expect(outbox.size).toBe(0);
  });

  it("drops the oldest events beyond its bound and says so first", () => {
    const outbox = new SocketOutbox(3);
    for (let i = 1; i <= 5; i++) outbox.push(job(i));
    expect(outbox.totalDropped).toBe(2);
    const out = drain(outbox) as any[];
    expect(out[0]).toEqual({ type: "gap", dropped: 2 });
    expect(out.slice(1).map((m) => m.jobId)).toEqual(["3", "4", "5"]);
  });

  it("coalesces state by key: only the latest counts per queue, behind the events it follows", () => {
    const outbox = new SocketOutbox(10);
    outbox.push(messages.counts("q", 1));
    outbox.push(job(1));
    outbox.push(messages.counts("other", 7));
    outbox.push(messages.counts("q", 2));
    const out = drain(outbox) as any[];
    expect(out.map((m) => `${m.type}:${m.queue}:${m.counts?.waiting ?? m.jobId}`)).toEqual(["job:q:1", "counts:other:7", "counts:q:2"]);
  });

  it("never drops control messages, and never grows past its bound under a flood", () => {
    const outbox = new SocketOutbox(100);
    outbox.push(messages.hello());
    for (let i = 0; i < 100_000; i++) {
      outbox.push(job(i));
      if (i % 10 === 0) outbox.push(messages.counts("q", i));
    }
    expect(outbox.size).toBeLessThanOrEqual(100 + 1 + 1 + 1);
    const out = drain(outbox) as any[];
    expect(out[0]).toEqual({ type: "gap", dropped: 99_900 });
    expect(out[1].type).toBe("hello");
    expect(out.filter((m) => m.type === "counts")).toHaveLength(1);
  });
});
