import { describe, expect, it } from "vitest";
import { AuditListResponse, SessionListResponse, type TerminalAuditEvent, type TerminalSessionSummary } from "@patchmon-ws/protocol";
import { AuditIndex, type EventFilter, type SessionFilter } from "../src/audit/audit-index.js";

const T0 = 1_700_000_000_000;

interface SessionSpec {
  sessionId: string;
  at: number;
  userId?: string;
  hostId?: string;
  mode?: "direct" | "proxy";
}

let ids = 0;

function base(kind: TerminalAuditEvent["kind"], at: number): TerminalAuditEvent {
  return {
    id: `ev-${++ids}`,
    kind,
    at,
    sessionId: null,
    userId: "u-alice",
    username: "alice",
    hostId: "h-web1",
    hostName: "web1",
    sourceAddress: "203.0.113.7",
    reason: "ticket",
    replica: "terminal-a",
  };
}

function started(s: SessionSpec): TerminalAuditEvent {
  const userId = s.userId ?? "u-alice";
  return {
    ...base("session_started", s.at),
    sessionId: s.sessionId,
    userId,
    username: userId.replace(/^u-/, ""),
    hostId: s.hostId ?? "h-web1",
    hostName: (s.hostId ?? "h-web1").replace(/^h-/, ""),
    mode: s.mode ?? "direct",
    sshUser: "root",
    reason: s.mode ?? "direct",
    recorded: false,
  };
}

function ended(s: SessionSpec, endedAt: number, extra: Partial<TerminalAuditEvent> = {}): TerminalAuditEvent {
  return {
    ...started(s),
    id: `ev-${++ids}`,
    kind: "session_ended",
    at: endedAt,
    reason: "disconnected",
    startedAt: s.at,
    durationMs: endedAt - s.at,
    bytesIn: 12,
    bytesOut: 3400,
    closeCode: 1000,
    recorded: true,
    ...extra,
  };
}

/** Feeds events with increasing stream sequences. */
function feed(index: AuditIndex, events: TerminalAuditEvent[], firstSeq = 1): number {
  let seq = firstSeq;
  for (const event of events) index.apply(seq++, event);
  return seq;
}

function sessionIds(index: AuditIndex, filter: Partial<SessionFilter> = {}): string[] {
  return index.listSessions({ limit: 500, ...filter }).sessions.map((s) => s.sessionId);
}

/** Every page of a session listing, following nextCursor. */
function allSessionPages(index: AuditIndex, filter: Omit<SessionFilter, "cursor">): TerminalSessionSummary[][] {
  const pages: TerminalSessionSummary[][] = [];
  let cursor: string | undefined;
  for (let guard = 0; guard < 1000; guard++) {
    const page = index.listSessions({ ...filter, cursor });
    expect(SessionListResponse.safeParse(page).success).toBe(true);
    pages.push(page.sessions);
    if (page.nextCursor === null) return pages;
    expect(page.sessions).toHaveLength(filter.limit);
    cursor = page.nextCursor;
  }
  throw new Error("paging did not end");
}

function allEventPages(index: AuditIndex, filter: Omit<EventFilter, "cursor">): TerminalAuditEvent[][] {
  const pages: TerminalAuditEvent[][] = [];
  let cursor: string | undefined;
  for (let guard = 0; guard < 1000; guard++) {
    const page = index.listEvents({ ...filter, cursor });
    expect(AuditListResponse.safeParse(page).success).toBe(true);
    pages.push(page.events);
    if (page.nextCursor === null) return pages;
    expect(page.events).toHaveLength(filter.limit);
    cursor = page.nextCursor;
  }
  throw new Error("paging did not end");
}

describe("AuditIndex: session summaries", () => {
  it("merges session_started and session_ended into one summary", () => {
    const index = new AuditIndex(100);
    const s = { sessionId: "s-1", at: T0, mode: "proxy" as const };
    feed(index, [started(s), ended(s, T0 + 65_000)]);
    const summary = index.session("s-1");
    expect(summary).toEqual({
      sessionId: "s-1",
      userId: "u-alice",
      username: "alice",
      hostId: "h-web1",
      hostName: "web1",
      mode: "proxy",
      sshUser: "root",
      sourceAddress: "203.0.113.7",
      replica: "terminal-a",
      startedAt: T0,
      endedAt: T0 + 65_000,
      durationMs: 65_000,
      bytesIn: 12,
      bytesOut: 3400,
      closeCode: 1000,
      reason: "disconnected",
      recorded: true,
    } satisfies TerminalSessionSummary);
    expect(sessionIds(index)).toEqual(["s-1"]);
  });

  it("shows a live session with endedAt, durationMs, closeCode and reason null", () => {
    const index = new AuditIndex(100);
    feed(index, [started({ sessionId: "s-live", at: T0 })]);
    expect(index.session("s-live")).toMatchObject({ startedAt: T0, endedAt: null, durationMs: null, closeCode: null, reason: null, bytesIn: 0, bytesOut: 0, recorded: false });
    expect(index.listSessions({ limit: 10 }).sessions[0]!.endedAt).toBeNull();
  });

  it("builds a summary from an end whose start it never saw", () => {
    const index = new AuditIndex(100);
    const s = { sessionId: "s-orphan", at: T0, userId: "u-bob", hostId: "h-db1", mode: "proxy" as const };
    feed(index, [ended(s, T0 + 1000, { reason: "HOST_UNREACHABLE", closeCode: 4006 })]);
    expect(index.session("s-orphan")).toMatchObject({
      userId: "u-bob",
      hostId: "h-db1",
      mode: "proxy",
      startedAt: T0,
      endedAt: T0 + 1000,
      durationMs: 1000,
      reason: "HOST_UNREACHABLE",
      closeCode: 4006,
    });
  });

  it("ignores access events and session events without a session id", () => {
    const index = new AuditIndex(100);
    feed(index, [base("access_granted", T0), { ...base("access_denied", T0), reason: "TICKET_INVALID" }, { ...started({ sessionId: "x", at: T0 }), sessionId: null }]);
    expect(index.size).toBe(3);
    expect(index.listSessions({ limit: 10 })).toEqual({ sessions: [], nextCursor: null });
  });
});

describe("AuditIndex.listSessions", () => {
  function fleet(): AuditIndex {
    const index = new AuditIndex(1000);
    feed(index, [
      started({ sessionId: "a", at: T0 + 1000, userId: "u-alice", hostId: "h-web1", mode: "direct" }),
      started({ sessionId: "b", at: T0 + 2000, userId: "u-bob", hostId: "h-web1", mode: "proxy" }),
      started({ sessionId: "c", at: T0 + 3000, userId: "u-alice", hostId: "h-db1", mode: "proxy" }),
      started({ sessionId: "d", at: T0 + 4000, userId: "u-bob", hostId: "h-db1", mode: "direct" }),
      started({ sessionId: "e", at: T0 + 5000, userId: "u-alice", hostId: "h-web1", mode: "proxy" }),
    ]);
    return index;
  }

  it("lists newest first", () => {
    expect(sessionIds(fleet())).toEqual(["e", "d", "c", "b", "a"]);
  });

  it("orders by start, not by the order events arrived", () => {
    const index = new AuditIndex(100);
    feed(index, [started({ sessionId: "late", at: T0 + 10 }), started({ sessionId: "early", at: T0 })]);
    expect(sessionIds(index)).toEqual(["late", "early"]);
  });

  it("filters by user, host and mode", () => {
    const index = fleet();
    expect(sessionIds(index, { userId: "u-alice" })).toEqual(["e", "c", "a"]);
    expect(sessionIds(index, { hostId: "h-db1" })).toEqual(["d", "c"]);
    expect(sessionIds(index, { mode: "proxy" })).toEqual(["e", "c", "b"]);
    expect(sessionIds(index, { userId: "u-bob", hostId: "h-web1", mode: "proxy" })).toEqual(["b"]);
    expect(sessionIds(index, { userId: "u-nobody" })).toEqual([]);
  });

  it("filters by start time: from inclusive, to exclusive", () => {
    const index = fleet();
    expect(sessionIds(index, { from: T0 + 2000 })).toEqual(["e", "d", "c", "b"]);
    expect(sessionIds(index, { to: T0 + 4000 })).toEqual(["c", "b", "a"]);
    expect(sessionIds(index, { from: T0 + 2000, to: T0 + 4000 })).toEqual(["c", "b"]);
    expect(sessionIds(index, { from: T0 + 2001, to: T0 + 2999 })).toEqual([]);
  });

  it("pages through every session once, with no duplicates or gaps", () => {
    const index = new AuditIndex(10_000);
    const events: TerminalAuditEvent[] = [];
    for (let i = 0; i < 53; i++) events.push(started({ sessionId: `s-${String(i).padStart(3, "0")}`, at: T0 + i * 10 }));
    feed(index, events);
    const pages = allSessionPages(index, { limit: 10 });
    expect(pages.map((p) => p.length)).toEqual([10, 10, 10, 10, 10, 3]);
    const ids = pages.flat().map((s) => s.sessionId);
    expect(ids).toEqual(sessionIds(index));
    expect(new Set(ids).size).toBe(53);
  });

  it("pages correctly through sessions started in the same millisecond", () => {
    const index = new AuditIndex(10_000);
    const events: TerminalAuditEvent[] = [];
    // 3 groups of 7 sessions, each group sharing one start time, ids not in arrival order.
    for (const t of [T0, T0 + 1, T0 + 2]) {
      for (const n of [4, 0, 6, 2, 5, 1, 3]) events.push(started({ sessionId: `t${t - T0}-${n}`, at: t }));
    }
    feed(index, events);
    const full = sessionIds(index);
    expect(full).toHaveLength(21);
    for (const limit of [1, 2, 3, 5, 7, 20, 21, 22]) {
      const paged = allSessionPages(index, { limit }).flat();
      expect(paged.map((s) => s.sessionId), `limit ${limit}`).toEqual(full);
    }
    // Within one millisecond the order is stable: by id, larger first.
    expect(full.slice(0, 7)).toEqual(["t2-6", "t2-5", "t2-4", "t2-3", "t2-2", "t2-1", "t2-0"]);
  });

  it("pages with filters applied", () => {
    const index = new AuditIndex(10_000);
    const events: TerminalAuditEvent[] = [];
    for (let i = 0; i < 30; i++) events.push(started({ sessionId: `s${i}`, at: T0 + (i % 10), userId: i % 3 === 0 ? "u-carol" : "u-alice" }));
    feed(index, events);
    const expected = sessionIds(index, { userId: "u-carol" });
    expect(expected).toHaveLength(10);
    expect(allSessionPages(index, { limit: 3, userId: "u-carol" }).flat().map((s) => s.sessionId)).toEqual(expected);
  });

  it("gives no next cursor when the last page is exactly full", () => {
    const index = fleet();
    const first = index.listSessions({ limit: 3 });
    expect(first.nextCursor).not.toBeNull();
    const second = index.listSessions({ limit: 2, cursor: first.nextCursor! });
    expect(second.sessions.map((s) => s.sessionId)).toEqual(["b", "a"]);
    expect(second.nextCursor).toBeNull();
  });

  it("keeps paging stable while new sessions start", () => {
    const index = fleet();
    const first = index.listSessions({ limit: 2 });
    expect(first.sessions.map((s) => s.sessionId)).toEqual(["e", "d"]);
    feed(index, [started({ sessionId: "f", at: T0 + 6000 })], 100);
    const second = index.listSessions({ limit: 2, cursor: first.nextCursor! });
    expect(second.sessions.map((s) => s.sessionId)).toEqual(["c", "b"]);
  });

  it("treats an undecodable cursor as the first page rather than failing", () => {
    const index = fleet();
    for (const cursor of ["!!not-a-cursor!!", "", Buffer.from("garbage").toString("base64url")]) {
      expect(index.listSessions({ limit: 2, cursor }).sessions.map((s) => s.sessionId), cursor).toEqual(["e", "d"]);
    }
  });
});

describe("AuditIndex.listEvents", () => {
  function trail(): { index: AuditIndex; events: TerminalAuditEvent[] } {
    const index = new AuditIndex(1000);
    const s1 = { sessionId: "s1", at: T0 + 2 };
    const s2 = { sessionId: "s2", at: T0 + 5, userId: "u-bob", hostId: "h-db1" };
    const events = [
      base("access_granted", T0 + 1),
      started(s1),
      { ...base("access_denied", T0 + 3), userId: "u-bob", reason: "FORBIDDEN" },
      { ...base("access_granted", T0 + 4), userId: "u-bob", hostId: "h-db1" },
      started(s2),
      ended(s1, T0 + 6),
      ended(s2, T0 + 7),
    ];
    feed(index, events);
    return { index, events };
  }

  it("lists newest first", () => {
    const { index, events } = trail();
    expect(index.listEvents({ limit: 50 })).toEqual({ events: [...events].reverse(), nextCursor: null });
  });

  it("filters by kind, user, host and time", () => {
    const { index } = trail();
    const kinds = (filter: Partial<EventFilter>) => index.listEvents({ limit: 50, ...filter }).events.map((e) => `${e.kind}@${e.at - T0}`);
    expect(kinds({ kind: "access_granted" })).toEqual(["access_granted@4", "access_granted@1"]);
    expect(kinds({ kind: "session_ended" })).toEqual(["session_ended@7", "session_ended@6"]);
    expect(kinds({ userId: "u-bob" })).toEqual(["session_ended@7", "session_started@5", "access_granted@4", "access_denied@3"]);
    expect(kinds({ hostId: "h-db1" })).toEqual(["session_ended@7", "session_started@5", "access_granted@4"]);
    expect(kinds({ from: T0 + 3, to: T0 + 6 })).toEqual(["session_started@5", "access_granted@4", "access_denied@3"]);
    expect(kinds({ kind: "access_denied", userId: "u-alice" })).toEqual([]);
  });

  it("pages through every event once, with filters", () => {
    const index = new AuditIndex(10_000);
    const events: TerminalAuditEvent[] = [];
    for (let i = 0; i < 47; i++) events.push({ ...base(i % 2 === 0 ? "access_granted" : "access_denied", T0 + Math.floor(i / 5)), id: `e${i}` });
    feed(index, events);
    const all = allEventPages(index, { limit: 10 });
    expect(all.map((p) => p.length)).toEqual([10, 10, 10, 10, 7]);
    expect(all.flat().map((e) => e.id)).toEqual(events.map((e) => e.id).reverse());

    const granted = allEventPages(index, { limit: 4, kind: "access_granted" }).flat();
    expect(granted.map((e) => e.id)).toEqual(events.filter((e) => e.kind === "access_granted").map((e) => e.id).reverse());
  });
});

describe("AuditIndex.apply", () => {
  it("ignores an event applied twice with the same sequence, or with a lower one", () => {
    const index = new AuditIndex(100);
    const s = { sessionId: "s1", at: T0 };
    index.apply(5, started(s));
    index.apply(5, started(s));
    index.apply(3, base("access_granted", T0));
    expect(index.size).toBe(1);
    index.apply(6, ended(s, T0 + 10));
    index.apply(6, ended(s, T0 + 99, { reason: "exited" }));
    index.apply(4, ended(s, T0 + 50, { reason: "IDLE_TIMEOUT" }));
    expect(index.size).toBe(2);
    expect(index.session("s1")).toMatchObject({ endedAt: T0 + 10, reason: "disconnected" });
  });

  it("ignores malformed events (and still advances past their sequence)", () => {
    const index = new AuditIndex(100);
    const good = started({ sessionId: "s1", at: T0 });
    const bad: unknown[] = [
      null,
      "text",
      42,
      {},
      { ...good, kind: "session_hijacked" },
      { ...good, at: "yesterday" },
      { ...good, sessionId: "has.a.dot" },
      { ...good, id: undefined },
      { ...good, bytesIn: 1.5 },
    ];
    bad.forEach((event, i) => index.apply(i + 1, event));
    expect(index.size).toBe(0);
    expect(index.listSessions({ limit: 10 }).sessions).toEqual([]);
    index.apply(bad.length, good); // a sequence already used by a malformed event
    expect(index.size).toBe(0);
    index.apply(bad.length + 1, good);
    expect(index.size).toBe(1);
  });
});

describe("AuditIndex: eviction", () => {
  it("keeps the newest maxEvents events", () => {
    const index = new AuditIndex(5);
    const events = Array.from({ length: 12 }, (_, i) => ({ ...base("access_granted", T0 + i), id: `e${i}` }));
    feed(index, events);
    expect(index.size).toBe(5);
    expect(index.listEvents({ limit: 50 }).events.map((e) => e.id)).toEqual(["e11", "e10", "e9", "e8", "e7"]);
  });

  it("keeps the newest maxEvents sessions", () => {
    const index = new AuditIndex(4);
    feed(
      index,
      Array.from({ length: 10 }, (_, i) => started({ sessionId: `s${i}`, at: T0 + i })),
    );
    expect(sessionIds(index)).toEqual(["s9", "s8", "s7", "s6"]);
    expect(index.session("s0")).toBeUndefined();
    expect(index.session("s6")).toBeDefined();
  });

  it("keeps a session's end with its start when both are among the newest", () => {
    const index = new AuditIndex(4);
    const s = (i: number) => ({ sessionId: `s${i}`, at: T0 + i });
    feed(index, [started(s(0)), started(s(1)), ended(s(0), T0 + 10), started(s(2)), ended(s(2), T0 + 20)]);
    expect(index.size).toBe(4);
    expect(index.session("s2")).toMatchObject({ endedAt: T0 + 20 });
    expect(sessionIds(index)).toEqual(["s2", "s1", "s0"]);
  });
});
