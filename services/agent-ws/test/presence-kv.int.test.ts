/**
 * Presence against a real nats-server (JetStream KV): compare-and-set writes of connection lifecycles, the
 * watched mirror, and sweeping the agents of dead replicas (two sweepers, one winner per host).
 */
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PresenceRecord } from "@patchmon-ws/protocol";
import { startNatsServer, type TestNatsServer } from "@patchmon-ws/stack";
import { openAgentWsBuckets, type AgentWsBuckets } from "../src/buckets.js";
import type { ConnectionFacts } from "../src/presence/presence-record.js";
import { PresenceSweeper } from "../src/presence/presence-sweeper.js";
import type { PresenceChange } from "../src/presence/presence-record.js";
import { PresenceView } from "../src/presence/presence-view.js";
import { PresenceWriter } from "../src/presence/presence-writer.js";
import { ReplicaDirectory } from "../src/presence/replica-directory.js";
import { eventually } from "./support/stack.js";
import { silentLogger } from "./fakes.js";

let seq = 0;
const facts = (over: Partial<ConnectionFacts> = {}): ConnectionFacts => ({
  hostId: `host-${++seq}`,
  apiId: "api",
  connectionId: `conn-${seq}`,
  replica: "r1",
  since: 1000 + seq,
  secure: true,
  remoteAddress: "10.0.0.1",
  agentVersion: null,
  capabilities: [],
  ...over,
});

describe("presence in JetStream KV", () => {
  let nats: TestNatsServer;
  let nc: NatsConnection;
  let buckets: AgentWsBuckets;
  let view: PresenceView;
  let writer: PresenceWriter;

  beforeAll(async () => {
    nats = await startNatsServer();
    nc = await connect({ servers: nats.url });
    buckets = await openAgentWsBuckets(nc, { replicas: 1, replicaTtlMs: 1500 }, silentLogger);
    view = new PresenceView(buckets.presence, nc, silentLogger);
    await view.start();
    writer = new PresenceWriter(view, { logger: silentLogger });
  });

  afterAll(async () => {
    writer?.stop();
    view?.stop();
    await nc?.close();
    await nats?.dispose();
  });

  it("connect, hello and disconnect of one connection", async () => {
    const f = facts();
    const written = await writer.connect(f);
    expect(written.written).toBe(true);
    await writer.hello({ ...f, agentVersion: "1.0", capabilities: ["ack"] });
    expect((await view.fetch(f.hostId))?.record).toMatchObject({ connected: true, agentVersion: "1.0", capabilities: ["ack"], connectionId: f.connectionId });
    const gone = await writer.disconnect(f, { code: 1000, reason: "agent_closed", replica: "r1" });
    expect(gone?.record).toMatchObject({ connected: false, lastDisconnect: { code: 1000, reason: "agent_closed" } });
    expect((await view.fetch(f.hostId))?.record.connected).toBe(false);
  });

  it("a replaced connection's late writes never overwrite its successor", async () => {
    const first = facts();
    const second = { ...first, connectionId: "successor", replica: "r2", since: first.since + 10 };
    await writer.connect(first);
    // the successor is written by another replica (another writer, another mirror)
    const otherView = new PresenceView(buckets.presence, nc, silentLogger);
    await otherView.start();
    const other = new PresenceWriter(otherView, { logger: silentLogger });
    await other.connect(second);
    expect(await writer.disconnect(first, { code: 4000, reason: "replaced", replica: "r1" })).toBeNull();
    await writer.hello({ ...first, agentVersion: "old" });
    // and a late connect write of the older connection is refused
    const late = await writer.connect(first);
    expect(late.written).toBe(false);
    expect((await view.fetch(first.hostId))?.record).toMatchObject({ connected: true, connectionId: "successor", replica: "r2", agentVersion: null });
    otherView.stop();
  });

  it("ended() records a short-lived connection's last disconnect, unless a newer one is live", async () => {
    const f = facts();
    await writer.ended(f, { code: 1009, reason: "message_too_big", replica: "r1" });
    expect((await view.fetch(f.hostId))?.record).toMatchObject({ connected: false, lastDisconnect: { reason: "message_too_big" } });
    const live = { ...f, connectionId: "live", since: f.since + 5 };
    await writer.connect(live);
    expect(await writer.ended({ ...f, connectionId: "older" }, { code: 1006, reason: "agent_closed", replica: "r1" })).toBeNull();
    expect((await view.fetch(f.hostId))?.record.connectionId).toBe("live");
  });

  it("the mirror sees every change, including other writers', and removals", async () => {
    const changes: PresenceChange[] = [];
    const unsubscribe = view.subscribe((c) => changes.push(c));
    const f = facts();
    const otherView = new PresenceView(buckets.presence, nc, silentLogger);
    await otherView.start();
    await new PresenceWriter(otherView, { logger: silentLogger }).connect(f);
    await eventually(() => view.get(f.hostId)?.record.connected === true, 5000, "mirror updated");
    await writer.remove(f.hostId);
    await eventually(() => view.get(f.hostId) === undefined, 5000, "removal mirrored");
    expect(changes.filter((c) => c.hostId === f.hostId).map((c) => c.record?.connected ?? "removed")).toEqual([true, "removed"]);
    unsubscribe();
    otherView.stop();
  });

  it("host removals amid other writes: a watching mirror follows every change, skipping none", async () => {
    const watcher = new PresenceView(buckets.presence, nc, silentLogger);
    await watcher.start();
    const followed = new Set<number>();
    watcher.follow((c) => followed.add(c.revision));
    const removable = await Promise.all(Array.from({ length: 60 }, () => writer.connect(facts())));
    const written: number[] = [];
    for (const [i, doomed] of removable.entries()) {
      const [first, , second] = await Promise.all([writer.connect(facts()), writer.remove(doomed.written ? doomed.record.hostId : `none-${i}`), writer.connect(facts())]);
      for (const w of [first, second]) if (w.written) written.push(w.revision);
    }
    const last = (await buckets.presence.status()).streamInfo.state.last_seq;
    await eventually(() => watcher.revision >= last, 5000, "watcher caught up");
    expect(written.filter((revision) => !followed.has(revision))).toEqual([]);
    for (const doomed of removable) if (doomed.written) expect(watcher.get(doomed.record.hostId)).toBeUndefined();
    watcher.stop();
  });

  it("sweeps the agents of a replica whose heartbeat expired, once across sweepers", async () => {
    const dead = new ReplicaDirectory(buckets.replicas, "dead-replica", () => 2, silentLogger);
    await dead.beat();
    const live = new ReplicaDirectory(buckets.replicas, "live-replica", () => 0, silentLogger);
    await live.start(200);
    const orphans = [facts({ replica: "dead-replica" }), facts({ replica: "dead-replica" })];
    for (const f of orphans) await writer.connect(f);
    const kept = facts({ replica: "live-replica" });
    await writer.connect(kept);

    const marked: PresenceRecord[] = [];
    const otherView = new PresenceView(buckets.presence, nc, silentLogger);
    await otherView.start();
    const sweepers = [
      new PresenceSweeper(view, live, "live-replica", (r) => marked.push(r), silentLogger),
      new PresenceSweeper(otherView, live, "another-replica", (r) => marked.push(r), silentLogger),
    ];
    // while the dead replica's heartbeat lives, its agents are not swept (earlier tests' replicas are gone: swept)
    await sweepers[0]!.sweep();
    for (const f of orphans) expect(view.get(f.hostId)?.record.connected).toBe(true);
    marked.length = 0;
    expect(await live.isAlive("dead-replica")).toBe(true);
    await eventually(async () => !(await live.isAlive("dead-replica")), 10_000, "heartbeat expired");
    await eventually(() => otherView.get(orphans[1]!.hostId)?.record.connected === true, 5000, "other mirror caught up");
    const counts = await Promise.all(sweepers.map((s) => s.sweep()));
    expect(counts[0]! + counts[1]!).toBe(2);
    expect(marked.map((r) => r.hostId).sort()).toEqual(orphans.map((f) => f.hostId).sort());
    for (const f of orphans) {
      expect((await view.fetch(f.hostId))?.record).toMatchObject({ connected: false, lastDisconnect: { reason: "replica_lost", replica: "dead-replica", code: 1006 } });
    }
    expect((await view.fetch(kept.hostId))?.record.connected).toBe(true);
    await live.stop();
    expect(await live.isAlive("live-replica")).toBe(false);
    otherView.stop();
  });
});
