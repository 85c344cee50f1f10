/**
 * The session ledger against a real nats-server (JetStream KV): two replicas (two SessionLedgers, each on its own
 * connection and its own openTerminalStorage) race for the per-user and per-host slots, which must stay exact; slots
 * are given back, released once, listed in the directory; a dead replica's entries go with the bucket's max age while
 * a live replica's refreshed ones stay. And openTerminalStorage run again (another replica, other limits).
 */
import type { KV } from "@nats-io/kv";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { TerminalBuckets, TerminalStreams } from "@patchmon-ws/protocol";
import { createLogger } from "@patchmon-ws/service-kit";
import { startNatsServer, type TestNatsServer } from "@patchmon-ws/stack";
import { openTerminalStorage, type TerminalStorage, type TerminalStorageOptions } from "../src/jetstream-setup.js";
import { SessionLedger, SessionLimitReached, type LiveSessionRecord } from "../src/session-ledger.js";

const logger = createLogger("terminal-ws-test", "silent");
const DAY = 24 * 60 * 60 * 1000;
const storageOptions = (over: Partial<TerminalStorageOptions> = {}): TerminalStorageOptions => ({
  replicas: 1,
  auditMaxAgeMs: 30 * DAY,
  recordingMaxAgeMs: 7 * DAY,
  recordingMaxBytes: 64 * 1024 * 1024,
  sessionEntryTtlMs: 10 * 60 * 1000,
  ...over,
});

let counter = 0;
/** Ids unique in this file run, valid as KV key tokens and as terminal session ids. */
const uid = (prefix: string) => `${prefix}-${process.pid}-${++counter}`;

function session(userId: string, hostId: string, over: Partial<Omit<LiveSessionRecord, "replica">> = {}): Omit<LiveSessionRecord, "replica"> {
  return { sessionId: uid("s"), userId, hostId, mode: "direct", startedAt: Date.now(), ...over };
}

function ledger(kv: KV, replicaId: string, caps: { user: number; host: number }, refreshMs = 60_000): SessionLedger {
  return new SessionLedger(kv, { replicaId, maxPerUser: caps.user, maxPerHost: caps.host, refreshMs, logger });
}

/** Keys under `prefix` (e.g. `user.<id>`) whose current value is a PUT: the slots taken. */
async function takenKeys(kv: KV, prefix: string): Promise<string[]> {
  const taken: string[] = [];
  for await (const key of await kv.keys(`${prefix}.*`)) {
    const entry = await kv.get(key);
    if (entry?.operation === "PUT") taken.push(key);
  }
  return taken.sort();
}

async function isPut(kv: KV, key: string): Promise<boolean> {
  return (await kv.get(key))?.operation === "PUT";
}

/** The rejection of an acquire that must fail on a cap. */
async function limitOf(attempt: Promise<unknown>): Promise<SessionLimitReached> {
  const err = await attempt.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, "the acquire should have been refused").toBeInstanceOf(SessionLimitReached);
  return err as SessionLimitReached;
}

function settle<T>(results: PromiseSettledResult<T>[]): { held: T[]; refused: unknown[] } {
  return {
    held: results.filter((r): r is PromiseFulfilledResult<T> => r.status === "fulfilled").map((r) => r.value),
    refused: results.filter((r): r is PromiseRejectedResult => r.status === "rejected").map((r) => r.reason as unknown),
  };
}

describe("session ledger: caps across two replicas", () => {
  let nats: TestNatsServer;
  let ncA: NatsConnection;
  let ncB: NatsConnection;
  let storeA: TerminalStorage;
  let storeB: TerminalStorage;

  beforeAll(async () => {
    nats = await startNatsServer();
    ncA = await connect({ servers: nats.url, name: "replica-a" });
    ncB = await connect({ servers: nats.url, name: "replica-b" });
    // Each replica opens the storage itself, the second one finding it there.
    storeA = await openTerminalStorage(ncA, storageOptions(), logger);
    storeB = await openTerminalStorage(ncB, storageOptions(), logger);
  });

  afterAll(async () => {
    await ncA?.close();
    await ncB?.close();
    await nats?.dispose();
  });

  it("the per-user cap is exact when 20 acquires race on two replicas", async () => {
    const caps = { user: 3, host: 100 };
    const a = ledger(storeA.sessions, "replica-a", caps);
    const b = ledger(storeB.sessions, "replica-b", caps);
    const user = uid("u");
    const hosts = Array.from({ length: 20 }, () => uid("h"));
    const results = await Promise.allSettled(hosts.map((host, i) => (i % 2 === 0 ? a : b).acquire(session(user, host))));
    const { held, refused } = settle(results);

    expect(held).toHaveLength(3);
    expect(refused).toHaveLength(17);
    for (const err of refused) {
      expect(err).toBeInstanceOf(SessionLimitReached);
      expect(err).toMatchObject({ scope: "user", max: 3 });
    }
    expect(await takenKeys(storeA.sessions, `user.${user}`)).toEqual([`user.${user}.0`, `user.${user}.1`, `user.${user}.2`]);
    // the refused acquires took no host slot
    let hostSlots = 0;
    for (const host of hosts) hostSlots += (await takenKeys(storeA.sessions, `host.${host}`)).length;
    expect(hostSlots).toBe(3);
    const live = (await a.liveSessions()).filter((s) => s.userId === user);
    expect(live.map((s) => s.sessionId).sort()).toEqual(held.map((h) => h.sessionId).sort());
    expect(a.size + b.size).toBe(3);

    // release is a no-op on the replica that does not hold the session
    await Promise.all(held.flatMap((h) => [a.release(h), b.release(h)]));
    expect(await takenKeys(storeA.sessions, `user.${user}`)).toEqual([]);
  });

  it("the per-host cap is exact when 20 acquires race on two replicas, and the refused give their user slot back", async () => {
    const caps = { user: 100, host: 3 };
    const a = ledger(storeA.sessions, "replica-a", caps);
    const b = ledger(storeB.sessions, "replica-b", caps);
    const host = uid("h");
    const users = Array.from({ length: 20 }, () => uid("u"));
    const results = await Promise.allSettled(users.map((user, i) => (i % 2 === 0 ? a : b).acquire(session(user, host))));
    const { held, refused } = settle(results);

    expect(held).toHaveLength(3);
    expect(refused).toHaveLength(17);
    for (const err of refused) {
      expect(err).toBeInstanceOf(SessionLimitReached);
      expect(err).toMatchObject({ scope: "host", max: 3 });
    }
    expect(await takenKeys(storeB.sessions, `host.${host}`)).toEqual([`host.${host}.0`, `host.${host}.1`, `host.${host}.2`]);
    let userSlots = 0;
    for (const user of users) userSlots += (await takenKeys(storeB.sessions, `user.${user}`)).length;
    expect(userSlots, "only the sessions that got a host slot keep a user slot").toBe(3);

    for (const h of held) {
      await a.release(h);
      await b.release(h);
    }
    expect(await takenKeys(storeB.sessions, `host.${host}`)).toEqual([]);
  });

  it("both caps at once: never exceeded, and no slot is left behind by the refused", async () => {
    const caps = { user: 3, host: 2 };
    const a = ledger(storeA.sessions, "replica-a", caps);
    const b = ledger(storeB.sessions, "replica-b", caps);
    const users = [uid("u"), uid("u")];
    const hosts = [uid("h"), uid("h"), uid("h")];
    const attempts = Array.from({ length: 30 }, (_, i) => ({ user: users[i % 2]!, host: hosts[i % 3]!, via: i % 4 < 2 ? a : b }));
    const results = await Promise.allSettled(attempts.map(({ user, host, via }) => via.acquire(session(user, host))));
    const { held, refused } = settle(results);

    expect(held.length).toBeGreaterThan(0);
    for (const err of refused) expect(err).toBeInstanceOf(SessionLimitReached);
    let userSlots = 0;
    for (const user of users) {
      const taken = await takenKeys(storeA.sessions, `user.${user}`);
      expect(taken.length).toBeLessThanOrEqual(3);
      userSlots += taken.length;
    }
    let hostSlots = 0;
    for (const host of hosts) {
      const taken = await takenKeys(storeA.sessions, `host.${host}`);
      expect(taken.length).toBeLessThanOrEqual(2);
      hostSlots += taken.length;
    }
    expect(userSlots).toBe(held.length);
    expect(hostSlots).toBe(held.length);

    for (const h of held) {
      await a.release(h);
      await b.release(h);
    }
  });

  it("a refused host slot gives the user slot back", async () => {
    const caps = { user: 1, host: 1 };
    const a = ledger(storeA.sessions, "replica-a", caps);
    const b = ledger(storeB.sessions, "replica-b", caps);
    const [user, other, busyHost, freeHost] = [uid("u"), uid("u"), uid("h"), uid("h")];
    const hostHolder = await a.acquire(session(other, busyHost));

    expect((await limitOf(b.acquire(session(user, busyHost)))).scope).toBe("host");
    expect(await takenKeys(storeB.sessions, `user.${user}`)).toEqual([]);
    expect(b.size).toBe(0);
    // the user's only slot is free: a session to another host is granted
    const granted = await b.acquire(session(user, freeHost));
    expect(granted.keys).toContain(`user.${user}.0`);

    await a.release(hostHolder);
    await b.release(granted);
  });

  it("release frees the slot for the next acquire, on the other replica too", async () => {
    const caps = { user: 1, host: 10 };
    const a = ledger(storeA.sessions, "replica-a", caps);
    const b = ledger(storeB.sessions, "replica-b", caps);
    const user = uid("u");
    const first = await a.acquire(session(user, uid("h")));
    expect((await limitOf(b.acquire(session(user, uid("h"))))).scope).toBe("user");
    expect((await limitOf(a.acquire(session(user, uid("h"))))).scope).toBe("user");

    await a.release(first);
    expect(a.size).toBe(0);
    for (const key of first.keys) expect(await isPut(storeA.sessions, key), key).toBe(false);
    const second = await b.acquire(session(user, uid("h")));
    expect(second.keys).toContain(`user.${user}.0`);
    await b.release(second);
  });

  it("release is idempotent: a second release never frees a slot someone else holds since", async () => {
    const caps = { user: 1, host: 10 };
    const a = ledger(storeA.sessions, "replica-a", caps);
    const b = ledger(storeB.sessions, "replica-b", caps);
    const user = uid("u");
    const first = await a.acquire(session(user, uid("h")));
    await Promise.all([a.release(first), a.release(first)]);
    await a.release(first);
    expect(a.size).toBe(0);

    const second = await b.acquire(session(user, uid("h")));
    expect(second.keys).toContain(`user.${user}.0`); // the very key the first session held
    await a.release(first);
    await b.release(first); // not b's hold
    expect(await isPut(storeA.sessions, `user.${user}.0`)).toBe(true);
    expect((await limitOf(a.acquire(session(user, uid("h"))))).scope).toBe("user");
    expect(b.size).toBe(1);

    await b.release(second);
    expect(await isPut(storeA.sessions, `user.${user}.0`)).toBe(false);
  });

  it("liveSessions lists every replica's sessions with their replica", async () => {
    const caps = { user: 5, host: 5 };
    const a = ledger(storeA.sessions, "replica-a", caps);
    const b = ledger(storeB.sessions, "replica-b", caps);
    const user = uid("u");
    const onA = session(user, uid("h"), { mode: "direct" });
    const onB = session(user, uid("h"), { mode: "proxy" });
    const holdA = await a.acquire(onA);
    const holdB = await b.acquire(onB);

    for (const view of [a, b]) {
      const mine = (await view.liveSessions()).filter((s) => s.userId === user).sort((x, y) => x.replica.localeCompare(y.replica));
      expect(mine).toEqual([
        { ...onA, replica: "replica-a" },
        { ...onB, replica: "replica-b" },
      ]);
    }

    await b.release(holdB);
    expect((await a.liveSessions()).filter((s) => s.userId === user)).toEqual([{ ...onA, replica: "replica-a" }]);
    await a.release(holdA);
    expect((await b.liveSessions()).filter((s) => s.userId === user)).toEqual([]);
  });
});

describe("session ledger: entries expire with the bucket's max age", () => {
  const TTL_MS = 1500;
  let nats: TestNatsServer;
  let ncLive: NatsConnection;
  let ncDead: NatsConnection | undefined;
  let live: TerminalStorage;
  const stops: Array<() => void> = [];

  beforeAll(async () => {
    nats = await startNatsServer();
    ncLive = await connect({ servers: nats.url, name: "live-replica" });
    live = await openTerminalStorage(ncLive, storageOptions({ sessionEntryTtlMs: TTL_MS }), logger);
  });

  afterAll(async () => {
    for (const stop of stops) stop();
    if (ncDead && !ncDead.isClosed()) await ncDead.close();
    await ncLive?.close();
    await nats?.dispose();
  });

  it("the bucket has the configured TTL", async () => {
    expect((await live.sessions.status()).ttl).toBe(TTL_MS);
  });

  it("a dead replica's slots and directory entry disappear after the TTL, and the slot is free again", async () => {
    const caps = { user: 1, host: 1 };
    ncDead = await connect({ servers: nats.url, name: "dead-replica" });
    const deadStore = await openTerminalStorage(ncDead, storageOptions({ sessionEntryTtlMs: TTL_MS }), logger);
    const dead = ledger(deadStore.sessions, "replica-dead", caps, 400); // never started: it stops refreshing at once
    const survivor = ledger(live.sessions, "replica-live", caps);
    const [user, host] = [uid("u"), uid("h")];
    const lost = await dead.acquire(session(user, host));
    const acquiredAt = Date.now();
    await ncDead.close(); // dies without releasing

    expect((await limitOf(survivor.acquire(session(user, uid("h"))))).scope).toBe("user");
    expect((await survivor.liveSessions()).map((s) => s.sessionId)).toContain(lost.sessionId);

    const next = await vi.waitFor(() => survivor.acquire(session(user, host)), { timeout: 15_000, interval: 200 });
    const waited = Date.now() - acquiredAt;
    expect(waited, "the slot came free only through the TTL").toBeGreaterThanOrEqual(TTL_MS - 300);
    expect(next.keys).toEqual(expect.arrayContaining([`user.${user}.0`, `host.${host}.0`]));
    expect((await survivor.liveSessions()).map((s) => s.sessionId)).not.toContain(lost.sessionId);
    expect(await isPut(live.sessions, `session.${lost.sessionId}`)).toBe(false);
    await survivor.release(next);
  });

  it("refresh keeps a live replica's entries past the TTL while unrefreshed ones go", async () => {
    const caps = { user: 1, host: 1 };
    const refreshed = ledger(live.sessions, "replica-live", caps, 300);
    const idle = ledger(live.sessions, "replica-idle", caps, 300); // acquires, never refreshes
    const other = ledger(live.sessions, "replica-other", caps);
    const kept = await refreshed.acquire(session(uid("u"), uid("h")));
    refreshed.start();
    stops.push(() => refreshed.stop());
    const control = await idle.acquire(session(uid("u"), uid("h")));
    const since = Date.now();

    // the control entry goes with the TTL; wait for it and for two TTLs in all
    await vi.waitFor(
      async () => {
        expect(await isPut(live.sessions, `session.${control.sessionId}`)).toBe(false);
        expect(Date.now() - since).toBeGreaterThanOrEqual(2 * TTL_MS);
      },
      { timeout: 15_000, interval: 200 },
    );
    for (const key of kept.keys) expect(await isPut(live.sessions, key), key).toBe(true);
    expect((await other.liveSessions()).map((s) => s.sessionId)).toContain(kept.sessionId);
    const [userKey] = kept.keys.filter((k) => k.startsWith("user."));
    const userId = userKey!.split(".")[1]!;
    expect((await limitOf(other.acquire(session(userId, uid("h"))))).scope).toBe("user");

    refreshed.stop();
    await refreshed.release(kept);
    for (const key of kept.keys) expect(await isPut(live.sessions, key), key).toBe(false);
  });

  it("refresh() by hand also keeps them (each call rewrites every held entry)", async () => {
    const caps = { user: 1, host: 1 };
    const holder = ledger(live.sessions, "replica-live", caps);
    const hold = await holder.acquire(session(uid("u"), uid("h")));
    const revisions = async () => Promise.all(hold.keys.map(async (k) => (await live.sessions.get(k))?.revision ?? 0));
    const before = await revisions();
    await holder.refresh();
    const after = await revisions();
    for (let i = 0; i < before.length; i++) expect(after[i]!).toBeGreaterThan(before[i]!);
    await holder.release(hold);
  });

  it("a replica that stalled past the TTL does not take back, or free, a slot another replica holds since", async () => {
    // A replica cut off from NATS longer than the TTL loses its entries; another replica takes the slot. When the
    // first one comes back, its refresh must not overwrite the newcomer's slot, nor its release delete it: otherwise
    // the user would hold two sessions on a cap of one, or the newcomer's slot would be freed under it.
    const caps = { user: 1, host: 5 };
    const stalled = ledger(live.sessions, "replica-stalled", caps);
    const newcomer = ledger(live.sessions, "replica-new", caps);
    const user = uid("u");
    const old = await stalled.acquire(session(user, uid("h")));
    const fresh = await vi.waitFor(() => newcomer.acquire(session(user, uid("h"))), { timeout: 15_000, interval: 200 });
    const slot = `user.${user}.0`;
    expect(fresh.keys).toContain(slot);

    await stalled.refresh(); // it comes back
    expect((await live.sessions.get(slot))?.json<{ sessionId: string }>().sessionId, "the slot still names the newcomer's session").toBe(fresh.sessionId);
    await stalled.release(old);
    expect(await isPut(live.sessions, slot), "the newcomer's slot survives the stalled replica's release").toBe(true);
    expect((await limitOf(stalled.acquire(session(user, uid("h"))))).scope).toBe("user");
    await newcomer.release(fresh);
  });
});

describe("openTerminalStorage run again", () => {
  let nats: TestNatsServer;
  const connections: NatsConnection[] = [];

  beforeAll(async () => {
    nats = await startNatsServer();
    for (let i = 0; i < 3; i++) connections.push(await connect({ servers: nats.url, name: `replica-${i}` }));
  });

  afterAll(async () => {
    for (const nc of connections) await nc.close();
    await nats?.dispose();
  });

  it("two replicas starting at once both succeed, on the same streams and bucket", async () => {
    const options = storageOptions({ sessionEntryTtlMs: 60_000 });
    const [one, two] = await Promise.all([openTerminalStorage(connections[0]!, options, logger), openTerminalStorage(connections[1]!, options, logger)]);
    await one.sessions.put("probe", new TextEncoder().encode("x"));
    expect((await two.sessions.get("probe"))?.string()).toBe("x");
    const names: string[] = [];
    for await (const name of one.jsm.streams.names()) names.push(name);
    expect(names.sort()).toEqual([`KV_${TerminalBuckets.sessions}`, TerminalStreams.audit.name, TerminalStreams.recordings.name].sort());
  });

  it("a restart with other limits succeeds, keeps the data and applies the new limits", async () => {
    const before = await openTerminalStorage(connections[0]!, storageOptions({ sessionEntryTtlMs: 60_000 }), logger);
    await before.js.publish(`terminal.v1.audit.access_denied`, new TextEncoder().encode("{}"));
    await before.sessions.put("kept", new TextEncoder().encode("y"));

    const limits = storageOptions({ auditMaxAgeMs: 90 * DAY, recordingMaxAgeMs: 3 * DAY, recordingMaxBytes: 8 * 1024 * 1024, sessionEntryTtlMs: 45_000 });
    const after = await openTerminalStorage(connections[2]!, limits, logger);

    const audit = await after.jsm.streams.info(TerminalStreams.audit.name);
    expect(audit.config.max_age).toBe(limits.auditMaxAgeMs * 1_000_000);
    expect(audit.state.messages).toBeGreaterThanOrEqual(1);
    const recordings = await after.jsm.streams.info(TerminalStreams.recordings.name);
    expect(recordings.config.max_age).toBe(limits.recordingMaxAgeMs * 1_000_000);
    expect(recordings.config.max_bytes).toBe(limits.recordingMaxBytes);
    expect((await after.sessions.get("kept"))?.string()).toBe("y");
    expect((await after.sessions.status()).ttl, "the live-session bucket takes the new entry TTL").toBe(limits.sessionEntryTtlMs);
  });
});
