/**
 * The audit trail against a real nats-server: AuditTrail.record / recordSoon store events in TERMINAL_AUDIT,
 * feedAuditIndex delivers them into an AuditIndex (live, and all at once for an index started later), and record
 * answers DEPENDENCY_UNAVAILABLE while NATS is down.
 */
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { CodedError, TerminalStreams } from "@patchmon-ws/protocol";
import { createLogger } from "@patchmon-ws/service-kit";
import { startNatsServer, type TestNatsServer } from "@patchmon-ws/stack";
import { feedAuditIndex, type AuditFeed } from "../src/audit/audit-feed.js";
import { AuditIndex } from "../src/audit/audit-index.js";
import { AuditTrail, type AuditEntry } from "../src/audit/audit-trail.js";
import { openTerminalStorage, type TerminalStorage, type TerminalStorageOptions } from "../src/jetstream-setup.js";

const logger = createLogger("terminal-ws-test", "silent");
const DAY = 24 * 60 * 60 * 1000;
const storageOptions: TerminalStorageOptions = {
  replicas: 1,
  auditMaxAgeMs: 30 * DAY,
  recordingMaxAgeMs: 7 * DAY,
  recordingMaxBytes: 64 * 1024 * 1024,
  sessionEntryTtlMs: 60_000,
};

let counter = 0;
const uid = (prefix: string) => `${prefix}-${process.pid}-${++counter}`;

const base = (over: Partial<AuditEntry> = {}): AuditEntry => ({
  kind: "access_granted",
  sessionId: null,
  userId: "user-1",
  username: "alice",
  hostId: "host-1",
  hostName: "web-01",
  sourceAddress: "203.0.113.7",
  reason: "ticket",
  ...over,
});

async function streamMessages(storage: TerminalStorage): Promise<number> {
  return (await storage.jsm.streams.info(TerminalStreams.audit.name)).state.messages;
}

describe("audit trail and its index", () => {
  let nats: TestNatsServer;
  let nc: NatsConnection;
  let ncLate: NatsConnection | undefined;
  let storage: TerminalStorage;
  let trail: AuditTrail;
  let index: AuditIndex;
  const feeds: AuditFeed[] = [];

  beforeAll(async () => {
    nats = await startNatsServer();
    nc = await connect({ servers: nats.url });
    storage = await openTerminalStorage(nc, storageOptions, logger);
    trail = new AuditTrail(storage.js, "replica-a", logger);
    index = new AuditIndex(100_000);
    const feed = await feedAuditIndex(storage.js, index, logger);
    feeds.push(feed);
    await feed.loaded;
    expect(feed.ready).toBe(true);
  });

  afterAll(async () => {
    for (const feed of feeds) feed.stop();
    await ncLate?.close();
    await nc?.close();
    await nats?.dispose();
  });

  it("a session's start and end, stored by record and recordSoon, merge into one summary in the index", async () => {
    const sessionId = uid("s");
    const startedAt = Date.now() - 5000;
    const granted = await trail.record(base({ sessionId: null }));
    expect(granted).toMatchObject({ kind: "access_granted", replica: "replica-a", id: expect.any(String), at: expect.any(Number) });
    const started = await trail.record(
      base({ kind: "session_started", sessionId, reason: "direct", mode: "direct", sshUser: "root", at: startedAt, startedAt, recorded: true }),
    );
    trail.recordSoon(
      base({
        kind: "session_ended",
        sessionId,
        reason: "exited",
        mode: "direct",
        sshUser: "root",
        at: startedAt + 4200,
        startedAt,
        durationMs: 4200,
        bytesIn: 12,
        bytesOut: 3456,
        closeCode: 1000,
        recorded: true,
      }),
    );

    await vi.waitFor(() => expect(index.session(sessionId)?.endedAt).toEqual(expect.any(Number)), { timeout: 10_000, interval: 50 });
    expect(index.session(sessionId)).toEqual({
      sessionId,
      userId: "user-1",
      username: "alice",
      hostId: "host-1",
      hostName: "web-01",
      mode: "direct",
      sshUser: "root",
      sourceAddress: "203.0.113.7",
      replica: "replica-a",
      startedAt,
      endedAt: startedAt + 4200,
      durationMs: 4200,
      bytesIn: 12,
      bytesOut: 3456,
      closeCode: 1000,
      reason: "exited",
      recorded: true,
    });
    const listed = index.listSessions({ limit: 10, userId: "user-1" }).sessions.find((s) => s.sessionId === sessionId);
    expect(listed?.endedAt).toBe(startedAt + 4200);
    expect(index.listEvents({ limit: 50 }).events.map((e) => e.id)).toEqual(expect.arrayContaining([granted.id, started.id]));
  });

  it("access_denied events stored with recordSoon are listed by listEvents, newest first", async () => {
    const userId = uid("u");
    for (const reason of ["TICKET_INVALID", "ORIGIN_FORBIDDEN", "FORBIDDEN"]) trail.recordSoon(base({ kind: "access_denied", userId, reason, hostId: null, hostName: null }));
    await vi.waitFor(() => expect(index.listEvents({ kind: "access_denied", userId, limit: 10 }).events).toHaveLength(3), { timeout: 10_000, interval: 50 });
    const { events, nextCursor } = index.listEvents({ kind: "access_denied", userId, limit: 10 });
    expect(nextCursor).toBeNull();
    expect(new Set(events.map((e) => e.reason))).toEqual(new Set(["TICKET_INVALID", "ORIGIN_FORBIDDEN", "FORBIDDEN"]));
    for (const e of events) expect(e).toMatchObject({ kind: "access_denied", userId, replica: "replica-a", sessionId: null });
    // only access_denied with that kind filter
    expect(index.listEvents({ kind: "access_denied", limit: 500 }).events.every((e) => e.kind === "access_denied")).toBe(true);
  });

  it("a fresh index fed after the events were stored has them all once `loaded` resolves", async () => {
    // more than one pull's worth (the feed pulls 1024 at a time)
    const userId = uid("bulk");
    const sessionIds = Array.from({ length: 1300 }, () => uid("s"));
    await Promise.all(sessionIds.map((sessionId, i) => trail.record(base({ kind: "session_started", sessionId, userId, reason: "proxy", mode: "proxy", at: 1_000_000 + i }))));
    const stored = await streamMessages(storage);
    expect(stored).toBeGreaterThan(1300);

    ncLate = await connect({ servers: nats.url, name: "replica-b" });
    const lateStorage = await openTerminalStorage(ncLate, storageOptions, logger);
    const fresh = new AuditIndex(100_000);
    const feed = await feedAuditIndex(lateStorage.js, fresh, logger);
    feeds.push(feed);
    expect(feed.ready).toBe(false);
    await feed.loaded;

    expect(feed.ready).toBe(true);
    expect(fresh.size).toBe(stored);
    for (const sessionId of sessionIds) expect(fresh.session(sessionId), sessionId).toBeDefined();
    expect(fresh.listSessions({ userId, limit: 500 }).sessions).toHaveLength(500);
    await vi.waitFor(() => expect(index.size).toBe(stored), { timeout: 10_000, interval: 50 });
    expect(fresh.listEvents({ limit: 100_000 }).events.map((e) => e.id)).toEqual(index.listEvents({ limit: 100_000 }).events.map((e) => e.id));

    // and it keeps following the stream
    const later = await trail.record(base({ kind: "access_denied", reason: "FORBIDDEN", userId: uid("u") }));
    await vi.waitFor(() => expect(fresh.listEvents({ limit: 1 }).events[0]?.id).toBe(later.id), { timeout: 10_000, interval: 50 });
  });
});

describe("audit trail while NATS is down", () => {
  let nats: TestNatsServer;
  let nc: NatsConnection;
  let trail: AuditTrail;
  let index: AuditIndex;
  let feed: AuditFeed | undefined;

  beforeAll(async () => {
    nats = await startNatsServer();
    nc = await connect({ servers: nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 200 });
    const storage = await openTerminalStorage(nc, storageOptions, logger);
    trail = new AuditTrail(storage.js, "replica-a", logger);
    index = new AuditIndex(1000);
    feed = await feedAuditIndex(storage.js, index, logger);
    await feed.loaded;
  });

  afterAll(async () => {
    feed?.stop();
    await nc?.close();
    await nats?.dispose();
  });

  /** Resolves on the connection's next reconnect. */
  async function nextReconnect(): Promise<void> {
    for await (const status of nc.status()) if (status.type === "reconnect") return;
  }

  it("record rejects with DEPENDENCY_UNAVAILABLE, and works again once NATS is back", async () => {
    const before = await trail.record(base({ kind: "access_granted", userId: uid("u") }));
    await vi.waitFor(() => expect(index.listEvents({ limit: 1 }).events[0]?.id).toBe(before.id), { timeout: 10_000, interval: 50 });

    await nats.stop();
    const err = await trail.record(base({ kind: "access_granted", userId: uid("u") })).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(CodedError);
    expect(err).toMatchObject({ code: "DEPENDENCY_UNAVAILABLE", status: 503, retryAfter: expect.any(Number) });

    const reconnected = nextReconnect();
    await nats.restart();
    await reconnected;
    const after = await trail.record(base({ kind: "session_started", sessionId: uid("s"), reason: "direct", mode: "direct" }));
    expect(after.kind).toBe("session_started");
    // the feed follows the stream across the outage
    await vi.waitFor(() => expect(index.listEvents({ limit: 1 }).events[0]?.id).toBe(after.id), { timeout: 20_000, interval: 100 });
  }, 60_000);
});
