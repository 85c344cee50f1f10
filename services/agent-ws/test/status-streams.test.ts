import { PassThrough } from "node:stream";
import type { ServerResponse } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import type { PresenceRecord, Principal } from "@patchmon-ws/protocol";
import { connectedRecord } from "../src/presence-record.js";
import type { PresenceChange, PresenceListener, VersionedRecord } from "../src/presence-view.js";
import { StatusStreams } from "../src/status-streams.js";
import { silentLogger } from "./fakes.js";

class FakeView {
  records = new Map<string, VersionedRecord>();
  listeners = new Set<PresenceListener>();
  values() {
    return this.records.values();
  }
  get(hostId: string) {
    return this.records.get(hostId);
  }
  subscribe(listener: PresenceListener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  change(change: PresenceChange) {
    if (change.record) this.records.set(change.hostId, { record: change.record, revision: change.revision });
    else this.records.delete(change.hostId);
    for (const l of this.listeners) l(change);
  }
}

/** A response that collects what is written, like an HTTP response would. */
class FakeResponse extends PassThrough {
  status = 0;
  headers: Record<string, string> = {};
  text = "";
  ended = false;
  constructor() {
    super();
    this.on("data", (chunk: Buffer) => (this.text += chunk.toString()));
  }
  writeHead(status: number, headers: Record<string, string>) {
    this.status = status;
    this.headers = headers;
    return this;
  }
  override end(...args: unknown[]) {
    this.ended = true;
    return super.end(...(args as []));
  }
  events(): { event: string; data: unknown }[] {
    return this.text
      .split("\n\n")
      .filter((block) => block.includes("event: "))
      .map((block) => ({
        event: /event: (.*)/.exec(block)![1]!,
        data: JSON.parse(/data: (.*)/.exec(block)![1]!),
      }));
  }
}

const principal = (over: Partial<Principal> = {}): Principal => ({ userId: "u1", username: "u", role: "user", permissions: [], sessionId: "s1", expiresAt: Date.now() + 60_000, ...over });
const record = (hostId: string, connected = true): PresenceRecord => ({
  ...connectedRecord({ hostId, apiId: "a", connectionId: "c", replica: "r", since: 1, secure: true, remoteAddress: "x", agentVersion: null, capabilities: [] }, null, 1),
  connected,
});
const tick = () => new Promise((r) => setImmediate(r));

describe("StatusStreams", () => {
  let streams: StatusStreams | undefined;
  afterEach(() => streams?.closeAll("test over"));

  it("sends a snapshot of the selected hosts, then their changes only", async () => {
    const view = new FakeView();
    view.change({ hostId: "a", record: record("a"), revision: 1 });
    streams = new StatusStreams(view, { keepaliveMs: 60_000, perUserLimit: 5, logger: silentLogger });
    const res = new FakeResponse();
    streams.open(res as unknown as ServerResponse, principal(), { all: false, ids: ["a", "b"] });
    view.change({ hostId: "a", record: record("a", false), revision: 2 });
    view.change({ hostId: "zzz", record: record("zzz"), revision: 3 });
    view.change({ hostId: "b", record: record("b"), revision: 4 });
    await tick();
    expect(res.status).toBe(200);
    expect(res.headers["Content-Type"]).toMatch(/text\/event-stream/);
    const events = res.events();
    expect(events[0]).toEqual({ event: "snapshot", data: { hosts: { a: { ...record("a"), known: true }, b: { hostId: "b", known: false, connected: false } } } });
    expect(events.slice(1).map((e) => [(e.data as { hostId: string }).hostId, (e.data as { connected: boolean }).connected])).toEqual([
      ["a", false],
      ["b", true],
    ]);
    expect(res.text).toContain("id: 2");
  });

  it("an 'all' stream sees every host, including removals", async () => {
    const view = new FakeView();
    streams = new StatusStreams(view, { keepaliveMs: 60_000, perUserLimit: 5, logger: silentLogger });
    const res = new FakeResponse();
    streams.open(res as unknown as ServerResponse, principal(), { all: true });
    view.change({ hostId: "x", record: record("x"), revision: 1 });
    view.change({ hostId: "x", record: null, revision: 2 });
    await tick();
    expect(res.events().map((e) => e.event)).toEqual(["snapshot", "status", "removed"]);
  });

  it("caps streams per user with RATE_LIMITED", () => {
    const view = new FakeView();
    streams = new StatusStreams(view, { keepaliveMs: 60_000, perUserLimit: 1, logger: silentLogger });
    streams.open(new FakeResponse() as unknown as ServerResponse, principal(), { all: true });
    expect(() => streams!.open(new FakeResponse() as unknown as ServerResponse, principal(), { all: true })).toThrow(expect.objectContaining({ code: "RATE_LIMITED" }));
    expect(() => streams!.open(new FakeResponse() as unknown as ServerResponse, principal({ userId: "u2" }), { all: true })).not.toThrow();
  });

  it("ends the streams of a revoked session or user", async () => {
    const view = new FakeView();
    streams = new StatusStreams(view, { keepaliveMs: 60_000, perUserLimit: 5, logger: silentLogger });
    const mine = new FakeResponse();
    const theirs = new FakeResponse();
    streams.open(mine as unknown as ServerResponse, principal(), { all: true });
    streams.open(theirs as unknown as ServerResponse, principal({ userId: "u2", sessionId: "s2" }), { all: true });
    expect(streams.closeFor({ sessionId: "s1" })).toBe(1);
    await tick();
    expect(mine.ended).toBe(true);
    expect(mine.events().at(-1)?.event).toBe("revoked");
    expect(theirs.ended).toBe(false);
    expect(streams.size).toBe(1);
  });

  it("ends a stream when its credential expires", async () => {
    const view = new FakeView();
    streams = new StatusStreams(view, { keepaliveMs: 60_000, perUserLimit: 5, logger: silentLogger });
    const res = new FakeResponse();
    streams.open(res as unknown as ServerResponse, principal({ expiresAt: Date.now() + 30 }), { all: true });
    await new Promise((r) => setTimeout(r, 80));
    expect(res.ended).toBe(true);
    expect(res.events().at(-1)?.event).toBe("expired");
  });

  it("sends keepalive comments", async () => {
    const view = new FakeView();
    streams = new StatusStreams(view, { keepaliveMs: 20, perUserLimit: 5, logger: silentLogger });
    const res = new FakeResponse();
    streams.open(res as unknown as ServerResponse, principal(), { all: true });
    await new Promise((r) => setTimeout(r, 70));
    expect(res.text).toContain(": keepalive");
  });
});
