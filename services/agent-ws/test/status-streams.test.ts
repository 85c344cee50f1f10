import { PassThrough } from "node:stream";
import type { ServerResponse } from "node:http";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { PresenceRecord, Principal } from "@patchmon-ws/protocol";
import { connectedRecord } from "../src/presence/presence-record.js";
import { changesSince, RemovalLog, type ResumableState } from "../src/presence/presence-history.js";
import type { PresenceChange, VersionedRecord } from "../src/presence/presence-record.js";
import type { PresenceListener } from "../src/presence/presence-view.js";
import { parseLastEventId, StatusStreams, type StatusSource } from "../src/http/status-streams.js";
import { silentLogger } from "./fakes.js";

/** The presence view as status streams see it: changes in revision order, the records and removals they leave. */
class FakeView implements StatusSource, ResumableState {
  records = new Map<string, VersionedRecord>();
  removals = new RemovalLog(100);
  listeners = new Set<PresenceListener>();
  current = 0;
  ready = true;
  /**
   * A change arriving while a stream opens (once each): `before` as it starts reading the view (so the change is in
   * what it reads), `after` once it has read it (so it is not).
   */
  whileReading: { before?: () => void; after?: () => void } = {};
  private fire(when: "before" | "after") {
    const hook = this.whileReading[when];
    this.whileReading[when] = undefined;
    hook?.();
  }
  get revision() {
    this.fire("before");
    return this.current;
  }
  confirmed(hostId: string) {
    return this.records.get(hostId);
  }
  *confirmedValues() {
    this.fire("before");
    yield* this.records.values();
    this.fire("after");
  }
  follow(listener: PresenceListener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  changesSince(since: number, hostIds: readonly string[] | null) {
    this.fire("before");
    const result = changesSince(this, since, hostIds);
    this.fire("after");
    return result;
  }
  change(change: PresenceChange) {
    if (change.record) {
      this.records.set(change.hostId, { record: change.record, revision: change.revision });
      this.removals.restored(change.hostId);
    } else {
      this.records.delete(change.hostId);
      this.removals.add(change.hostId, change.revision);
    }
    this.current = change.revision;
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
  events(): { event: string; data: unknown; id?: number }[] {
    return this.text
      .split("\n\n")
      .filter((block) => block.includes("event: "))
      .map((block) => {
        const id = /^id: (.*)$/m.exec(block)?.[1];
        return {
          event: /event: (.*)/.exec(block)![1]!,
          data: JSON.parse(/data: (.*)/.exec(block)![1]!),
          ...(id !== undefined ? { id: Number(id) } : {}),
        };
      });
  }
  /** Events as "name host@id" (resumed: "resumed from→to@id"). */
  summary(): string[] {
    return this.events().map(({ event, data, id }) => {
      const d = data as { hostId?: string; fromRevision?: number; toRevision?: number };
      if (event === "resumed") return `resumed ${d.fromRevision}→${d.toRevision}@${id}`;
      if (event === "snapshot") return `snapshot@${id}`;
      return `${event} ${d.hostId}@${id}`;
    });
  }
}

const principal = (over: Partial<Principal> = {}): Principal => ({ userId: "u1", username: "u", role: "user", permissions: [], sessionId: "s1", expiresAt: Date.now() + 60_000, ...over });
const record = (hostId: string, connected = true): PresenceRecord => ({
  ...connectedRecord({ hostId, apiId: "a", connectionId: "c", replica: "r", since: 1, secure: true, remoteAddress: "x", agentVersion: null, capabilities: [] }, null, 1),
  connected,
});
const tick = () => new Promise((r) => setImmediate(r));
/** The streams' clocks (credential expiry, keepalive) under test control; setImmediate stays real for `tick`. */
const fakeClock = () => vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "Date"] });

describe("StatusStreams", () => {
  let streams: StatusStreams | undefined;
  afterEach(() => {
    streams?.closeAll("test over");
    vi.useRealTimers();
  });

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
    expect(events[0]).toEqual({ event: "snapshot", id: 1, data: { hosts: { a: { ...record("a"), known: true }, b: { hostId: "b", known: false, connected: false } } } });
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
    fakeClock();
    const view = new FakeView();
    streams = new StatusStreams(view, { keepaliveMs: 60_000, perUserLimit: 5, logger: silentLogger });
    const res = new FakeResponse();
    streams.open(res as unknown as ServerResponse, principal({ expiresAt: Date.now() + 30_000 }), { all: true });
    vi.advanceTimersByTime(29_999);
    await tick();
    expect(res.ended).toBe(false);
    vi.advanceTimersByTime(1);
    await tick();
    expect(res.ended).toBe(true);
    expect(res.events().at(-1)?.event).toBe("expired");
  });

  it("sends keepalive comments", async () => {
    fakeClock();
    const view = new FakeView();
    streams = new StatusStreams(view, { keepaliveMs: 20_000, perUserLimit: 5, logger: silentLogger });
    const res = new FakeResponse();
    streams.open(res as unknown as ServerResponse, principal(), { all: true });
    vi.advanceTimersByTime(19_999);
    await tick();
    expect(res.text).not.toContain(": keepalive");
    vi.advanceTimersByTime(1);
    await tick();
    expect(res.text).toContain(": keepalive");
  });
});

describe("StatusStreams: resuming from a revision", () => {
  let streams: StatusStreams | undefined;
  afterEach(() => {
    streams?.closeAll("test over");
    streams = undefined;
  });

  /** a@1 b@2 c@3 a@4(offline) x@5 x removed@6 b@7 */
  function churned(): FakeView {
    const view = new FakeView();
    view.change({ hostId: "a", record: record("a"), revision: 1 });
    view.change({ hostId: "b", record: record("b"), revision: 2 });
    view.change({ hostId: "c", record: record("c"), revision: 3 });
    view.change({ hostId: "a", record: record("a", false), revision: 4 });
    view.change({ hostId: "x", record: record("x"), revision: 5 });
    view.change({ hostId: "x", record: null, revision: 6 });
    view.change({ hostId: "b", record: record("b", false), revision: 7 });
    return view;
  }
  function open(view: FakeView, selection: { all: true } | { all: false; ids: string[] }, since?: number): FakeResponse {
    streams ??= new StatusStreams(view, { keepaliveMs: 60_000, perUserLimit: 50, logger: silentLogger });
    const res = new FakeResponse();
    streams.open(res as unknown as ServerResponse, principal(), selection, since);
    return res;
  }

  it("the snapshot's id is the revision it reflects; resuming from it sends `resumed` and exactly what changed since", async () => {
    const view = churned();
    const first = open(view, { all: true });
    await tick();
    expect(first.summary()).toEqual(["snapshot@7"]);
    first.destroy();
    view.change({ hostId: "c", record: record("c", false), revision: 8 });
    view.change({ hostId: "b", record: null, revision: 9 });
    view.change({ hostId: "d", record: record("d"), revision: 10 });
    view.change({ hostId: "d", record: record("d", false), revision: 11 });
    const resumed = open(view, { all: true }, 7);
    view.change({ hostId: "e", record: record("e"), revision: 12 });
    await tick();
    expect(resumed.summary()).toEqual(["resumed 7→11@7", "status c@8", "removed b@9", "status d@11", "status e@12"]);
    expect(resumed.events()[4]!.data).toEqual({ ...record("e"), known: true });
    expect(resumed.events()[3]!.data).toMatchObject({ hostId: "d", connected: false });
  });

  it("a selection resumes with its own hosts' changes only", async () => {
    const view = churned();
    const res = open(view, { all: false, ids: ["a", "b", "x", "never-seen"] }, 3);
    view.change({ hostId: "c", record: record("c", false), revision: 8 });
    view.change({ hostId: "a", record: record("a"), revision: 9 });
    await tick();
    expect(res.summary()).toEqual(["resumed 3→7@3", "status a@4", "removed x@6", "status b@7", "status a@9"]);
  });

  it("nothing missed: `resumed` alone, with the current revision as its id", async () => {
    const view = churned();
    const res = open(view, { all: false, ids: ["a"] }, 5);
    await tick();
    expect(res.summary()).toEqual(["resumed 5→7@7"]);
    expect(res.events()[0]!.data).toEqual({ fromRevision: 5, toRevision: 7 });
  });

  it("falls back to a snapshot for a revision the view has not reached, one older than a forgotten removal, or while loading", async () => {
    const view = churned();
    const ahead = open(view, { all: true }, 8);
    view.ready = false;
    const loading = open(view, { all: true }, 7);
    view.ready = true;
    view.removals = new RemovalLog(1);
    view.change({ hostId: "a", record: null, revision: 8 });
    view.change({ hostId: "c", record: null, revision: 9 });
    expect(view.removals.forgottenUpTo).toBe(8);
    const ancient = open(view, { all: true }, 7);
    const justInTime = open(view, { all: true }, 8);
    await tick();
    expect(ahead.summary()).toEqual(["snapshot@7", "removed a@8", "removed c@9"]);
    expect(ahead.events()[0]!.data).toEqual({ hosts: { a: { ...record("a", false), known: true }, b: { ...record("b", false), known: true }, c: { ...record("c"), known: true } } });
    expect(loading.summary()).toEqual(["snapshot@7", "removed a@8", "removed c@9"]);
    expect(ancient.summary()).toEqual(["snapshot@9"]);
    expect(ancient.events()[0]!.data).toEqual({ hosts: { b: { ...record("b", false), known: true } } });
    expect(justInTime.summary()).toEqual(["resumed 8→9@8", "removed c@9"]);
  });

  it("changes arriving while the resume is read are sent once, after it, in order", async () => {
    const view = churned();
    view.whileReading = {
      // Applied as the backlog is read (so it is in it), announced to the stream already following.
      before: () => view.change({ hostId: "a", record: record("a"), revision: 8 }),
      // Applied once the backlog was read: not in it, must follow it.
      after: () => view.change({ hostId: "c", record: record("c", false), revision: 9 }),
    };
    const res = open(view, { all: true }, 7);
    view.change({ hostId: "b", record: record("b"), revision: 10 });
    await tick();
    expect(res.summary()).toEqual(["resumed 7→8@7", "status a@8", "status c@9", "status b@10"]);
  });

  it("changes arriving while the snapshot is read are sent once, after it", async () => {
    const view = churned();
    view.whileReading = {
      before: () => view.change({ hostId: "a", record: record("a"), revision: 8 }),
      after: () => view.change({ hostId: "c", record: record("c", false), revision: 9 }),
    };
    const res = open(view, { all: true });
    await tick();
    expect(res.summary()).toEqual(["snapshot@8", "status c@9"]);
    expect((res.events()[0]!.data as { hosts: Record<string, { connected: boolean }> }).hosts.a!.connected).toBe(true);
  });

  it("ids never go down along a stream", async () => {
    const view = churned();
    const res = open(view, { all: true }, 2);
    for (let revision = 8; revision < 20; revision++) view.change({ hostId: `h${revision % 3}`, record: revision % 4 ? record(`h${revision % 3}`) : null, revision });
    await tick();
    const ids = res.events().map((e) => e.id!);
    expect(ids.length).toBeGreaterThan(10);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(new Set(ids.slice(1)).size).toBe(ids.length - 1);
  });
});

describe("parseLastEventId", () => {
  it("takes the lastEventId query parameter, else the Last-Event-ID header; none (or empty) is undefined", () => {
    expect(parseLastEventId("12", "7")).toBe(12);
    expect(parseLastEventId(undefined, "7")).toBe(7);
    expect(parseLastEventId("", "7")).toBe(7);
    expect(parseLastEventId("0", undefined)).toBe(0);
    expect(parseLastEventId(undefined, undefined)).toBeUndefined();
    expect(parseLastEventId("", "")).toBeUndefined();
  });

  it("refuses anything but a non-negative integer with VALIDATION_FAILED", () => {
    for (const [query, header] of [["-1", undefined], ["1.5", undefined], ["abc", "7"], [["1", "2"], undefined], [undefined, "0x10"], [undefined, " 7"], ["99999999999999999", undefined], ["1e3", undefined]] as const) {
      expect(() => parseLastEventId(query, header), JSON.stringify([query, header])).toThrow(expect.objectContaining({ code: "VALIDATION_FAILED" }));
    }
  });
});
