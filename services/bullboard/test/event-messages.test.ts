import { describe, expect, it } from "vitest";
import { BoardClientMessage as ClientMessage, BoardServerMessage, MAX_DETAIL_CHARS } from "@patchmon-ws/protocol";
import { messages, streamIdTime } from "../src/event-messages.js";

describe("event messages", () => {
  it("describes a job event with its stream id and time", () => {
    const m = messages.job("agent-commands", "failed", { jobId: "7", failedReason: "boom", prev: "active" }, "1700000000123-4");
    expect(JSON.parse(m.json)).toEqual({
      type: "job",
      queue: "agent-commands",
      event: "failed",
      jobId: "7",
      eventId: "1700000000123-4",
      at: 1700000000123,
      prev: "active",
      failedReason: "boom",
    });
    expect(m).toMatchObject({ queue: "agent-commands", droppable: true });
  });

  it("cuts long details instead of forwarding them whole", () => {
    const long = "x".repeat(10_000);
    const failed = JSON.parse(messages.job("q", "failed", { jobId: "1", failedReason: long }, "1-0").json);
    expect(failed.failedReason.length).toBe(MAX_DETAIL_CHARS);
    const progress = JSON.parse(messages.job("q", "progress", { jobId: "1", data: { blob: long } }, "1-0").json);
    expect(progress.progress).toBeUndefined();
    expect(progress.progressTruncated).toBe(true);
    const small = JSON.parse(messages.job("q", "progress", { jobId: "1", data: 42 }, "1-0").json);
    expect(small.progress).toBe(42);
  });

  it("reads the time out of stream ids", () => {
    expect(streamIdTime("1700000000000-0")).toBe(1700000000000);
    expect(streamIdTime("garbage", 5)).toBe(5);
  });

  it("accepts only well-formed subscribe messages", () => {
    expect(ClientMessage.safeParse({ type: "subscribe", queues: "*" }).success).toBe(true);
    expect(ClientMessage.safeParse({ type: "subscribe", queues: ["agent-commands"] }).success).toBe(true);
    expect(ClientMessage.safeParse({ type: "subscribe", queues: ["a:b"] }).success).toBe(false);
    expect(ClientMessage.safeParse({ type: "subscribe" }).success).toBe(false);
    expect(ClientMessage.safeParse({ type: "echo", data: 1 }).success).toBe(false);
  });

  it("every message the service builds matches the schema web clients parse (packages/protocol)", () => {
    const built = [
      messages.hello({ username: "a", mode: "read-only" }, ["q"], 30_000),
      messages.queues(["q", "r"]),
      messages.counts("q", { waiting: 1, active: 2 }, 5),
      messages.job("q", "progress", { jobId: "1", data: { pct: 50 } }, "1-0"),
      messages.queueEvent("q", "cleaned", { count: "3" }, "2-0"),
      messages.status(false, 7),
      messages.gap(3),
      messages.subscribed("*"),
      messages.subscribed(["q"]),
      messages.error("VALIDATION_FAILED", "nope"),
    ];
    for (const m of built) expect(BoardServerMessage.safeParse(JSON.parse(m.json)).success, m.json).toBe(true);
  });
});
