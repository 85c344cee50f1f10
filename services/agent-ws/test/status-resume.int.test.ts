/**
 * Resuming the status stream after a network blip, against real servers (nats-server, auth, two agent-ws replicas):
 * a stream closed and reopened with the id of its last event (`?lastEventId=` with a fresh ticket, or the
 * `Last-Event-ID` header) gets `resumed` and exactly the changes it missed — on the same replica or the other one —
 * and a full snapshot when the replica cannot prove them (an id from the future, or one older than the removals it
 * remembers).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jetstream } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { AgentBuckets } from "@patchmon-ws/protocol";
import { SseClient, type SseEvent } from "@patchmon-ws/testkit";
import { type RunningService } from "@patchmon-ws/stack";
import { DEFAULT_REMOVAL_LOG_LIMIT } from "../src/presence/presence-history.js";
import { AgentWsStack, api, eventually, wsUrl, type TestHost } from "./support/stack.js";
import { StockAgent } from "./support/stock-agent.js";

interface StreamData {
  hostId?: string;
  connected?: boolean;
  known?: boolean;
  fromRevision?: number;
  toRevision?: number;
  hosts?: Record<string, { connected: boolean; known: boolean }>;
}

describe("status stream resume (Last-Event-ID / lastEventId)", () => {
  let stack: AgentWsStack;
  let a: RunningService;
  let b: RunningService;
  let token: string;
  const agents: StockAgent[] = [];

  beforeAll(async () => {
    stack = await AgentWsStack.start();
    [a, b] = await Promise.all([stack.startReplica({ REPLICA_ID: "replica-a" }), stack.startReplica({ REPLICA_ID: "replica-b" })]);
    token = await stack.token();
  });

  afterAll(async () => {
    await Promise.allSettled(agents.map((agent) => agent.close()));
    await stack?.dispose();
  });

  const hostStatus = async (via: RunningService, hostId: string) =>
    (await api<{ host: { connected: boolean; known: boolean } }>(via.url, "GET", `/api/v1/agents/${hostId}/status`, { token })).body.host;
  /** Waits until `via`'s presence mirror shows the host so (the agents run on the other replica: what it shows came through its watch). */
  const seen = (via: RunningService, host: TestHost, expected: { connected?: boolean; known?: boolean }) =>
    eventually(async () => {
      const current = await hostStatus(via, host.id);
      return Object.entries(expected).every(([k, v]) => current[k as keyof typeof current] === v);
    }, 15_000, `${host.id} ${JSON.stringify(expected)} on ${via.url}`);
  const connectAgent = async (on: RunningService, host: TestHost) => {
    const agent = await StockAgent.connect(wsUrl(on), { apiId: host.apiId, apiKey: host.apiKey });
    agents.push(agent);
    return agent;
  };
  const streamUrl = (via: RunningService, hosts: TestHost[] | "all", extra = "") =>
    `${via.url}/api/v1/agents/status/stream?hostIds=${hosts === "all" ? "all" : hosts.map((h) => h.id).join(",")}${extra}`;
  const withTicket = async () => `&ticket=${await stack.auth.client.ticket(token, "agent-status")}`;
  const bearer = () => ({ headers: { authorization: `Bearer ${token}` } });
  const isStatus = (host: TestHost, connected: boolean) => (e: SseEvent<StreamData>) => e.event === "status" && e.data.hostId === host.id && e.data.connected === connected;
  /** "status h connected|offline" / "removed h" / "resumed" / "snapshot", with host names for readable failures. */
  const describeEvents = (events: SseEvent<StreamData>[], names: Map<string, string>) =>
    events.map((e) => {
      if (e.event === "status") return `status ${names.get(e.data.hostId!) ?? e.data.hostId} ${e.data.connected ? "connected" : "offline"}`;
      if (e.event === "removed") return `removed ${names.get(e.data.hostId!) ?? e.data.hostId}`;
      return e.event;
    });
  const ids = (events: SseEvent<StreamData>[]) => events.map((e) => Number(e.id));

  async function hosts(...names: string[]): Promise<{ list: TestHost[]; names: Map<string, string> }> {
    const list = await Promise.all(names.map((name) => stack.createHost(name)));
    return { list, names: new Map(list.map((h, i) => [h.id, names[i]!])) };
  }

  it("reopened with ?lastEventId= and a fresh ticket: `resumed`, then exactly the missed changes of its hosts, no snapshot", async () => {
    const { list, names } = await hosts("r1", "r2", "r3", "outside", "sentinel");
    const [h1, h2, h3, outside, sentinel] = list as [TestHost, TestHost, TestHost, TestHost, TestHost];
    const selected = [h1, h2, h3, sentinel];
    const a3 = await connectAgent(b, h3);
    await seen(a, h3, { connected: true });

    const first = await SseClient.open<StreamData>(streamUrl(a, selected, await withTicket()));
    let last: string;
    try {
      expect(first.status).toBe(200);
      const snapshot = await first.waitFor((e) => e.event === "snapshot");
      expect(Number(snapshot.id)).toBeGreaterThan(0);
      expect(snapshot.data.hosts![h3.id]).toMatchObject({ connected: true });
      const a1 = await connectAgent(b, h1);
      const online = await first.waitFor(isStatus(h1, true));
      expect(Number(online.id)).toBeGreaterThan(Number(snapshot.id));
      last = first.lastEventId!;
      expect(last).toBe(online.id);

      // The blip: the stream is gone while presence changes.
      first.close();
      await first.ended;
      await connectAgent(b, h2);
      await seen(a, h2, { connected: true });
      await a1.close();
      await seen(a, h1, { connected: false });
      await connectAgent(b, outside);
      await seen(a, outside, { connected: true });
      await stack.auth.client.deleteHost(token, h3.id);
      await a3.closed;
      await seen(a, h3, { known: false });
    } finally {
      first.close();
    }

    const resumed = await SseClient.open<StreamData>(streamUrl(a, selected, `&lastEventId=${last}${await withTicket()}`));
    try {
      expect(resumed.status).toBe(200);
      const head = await resumed.waitFor((e) => e.event === "resumed");
      // A change after the reopen marks the end of what there is to see.
      await connectAgent(b, sentinel);
      await resumed.waitFor(isStatus(sentinel, true));
      expect(describeEvents(resumed.events, names)).toEqual(["resumed", "status r2 connected", "status r1 offline", "removed r3", "status sentinel connected"]);
      expect(head.data).toEqual({ fromRevision: Number(last), toRevision: expect.any(Number) });
      expect(head.data.toRevision).toBeGreaterThanOrEqual(Math.max(...ids(resumed.events.slice(1, 4))));
      // `resumed` keeps the position it resumed from while changes follow; the ids then only go up.
      expect(head.id).toBe(last);
      const changeIds = ids(resumed.events.slice(1));
      expect(changeIds[0]).toBeGreaterThan(Number(last));
      expect(changeIds).toEqual([...new Set(changeIds)].sort((x, y) => x - y));
    } finally {
      resumed.close();
    }
  });

  it("reopened with the Last-Event-ID header (Bearer): the host's current record only, not every step in between", async () => {
    const { list, names } = await hosts("flapping", "steady", "sentinel");
    const [flapping, steady, sentinel] = list as [TestHost, TestHost, TestHost];
    const selected = [flapping, steady, sentinel];
    const first = await SseClient.open<StreamData>(streamUrl(b, selected), bearer());
    const steadyAgent = await connectAgent(a, steady);
    await first.waitFor(isStatus(steady, true));
    const last = first.lastEventId!;
    first.close();

    for (let i = 0; i < 3; i++) {
      const agent = await connectAgent(a, flapping);
      await seen(b, flapping, { connected: true });
      await agent.close();
      await seen(b, flapping, { connected: false });
    }

    const resumed = await SseClient.open<StreamData>(streamUrl(b, selected), { ...bearer(), lastEventId: last });
    try {
      expect(resumed.status).toBe(200);
      await resumed.waitFor((e) => e.event === "resumed");
      await steadyAgent.close();
      await resumed.waitFor(isStatus(steady, false));
      expect(describeEvents(resumed.events, names)).toEqual(["resumed", "status flapping offline", "status steady offline"]);
      expect(resumed.events[0]!.data.fromRevision).toBe(Number(last));
    } finally {
      resumed.close();
    }
  });

  it("resumes on the other replica: revisions are the same everywhere, a snapshot's id is enough", async () => {
    const { list, names } = await hosts("x1", "x2", "sentinel");
    const [x1, x2, sentinel] = list as [TestHost, TestHost, TestHost];
    const selected = [x1, x2, sentinel];
    const onA = await SseClient.open<StreamData>(streamUrl(a, selected), bearer());
    const onB = await SseClient.open<StreamData>(streamUrl(b, selected), bearer());
    const x1Agent = await connectAgent(a, x1);
    const [seenOnA, seenOnB] = await Promise.all([onA.waitFor(isStatus(x1, true)), onB.waitFor(isStatus(x1, true))]);
    expect(seenOnA.id).toBe(seenOnB.id);
    onB.close();
    onA.close();

    // A client that saw a snapshot on A, and nothing after it...
    const snapshotOnly = await SseClient.open<StreamData>(streamUrl(a, selected), bearer());
    const snapshot = await snapshotOnly.waitFor((e) => e.event === "snapshot");
    snapshotOnly.close();
    expect(snapshot.data.hosts![x1.id]).toMatchObject({ connected: true });
    await connectAgent(a, x2);
    await seen(b, x2, { connected: true });
    await x1Agent.close();
    await seen(b, x1, { connected: false });

    // ...resumes on B.
    const resumed = await SseClient.open<StreamData>(streamUrl(b, selected, `&lastEventId=${snapshot.id}`), bearer());
    try {
      await resumed.waitFor((e) => e.event === "resumed");
      await connectAgent(a, sentinel);
      await resumed.waitFor(isStatus(sentinel, true));
      expect(describeEvents(resumed.events, names)).toEqual(["resumed", "status x2 connected", "status x1 offline", "status sentinel connected"]);
      expect(resumed.events[0]!.data.fromRevision).toBe(Number(snapshot.id));
    } finally {
      resumed.close();
    }
  });

  it("under churn, a client that keeps reconnecting (alternating replicas) ends with every host's latest record", async () => {
    const { list } = await hosts("churn-1", "churn-2", "churn-3", "churn-4");
    let churning = true;
    // Agents on B connect and leave as fast as they are greeted: presence changes all the time.
    const churn = list.map(async (host) => {
      while (churning) {
        const agent = await StockAgent.connect(wsUrl(b), { apiId: host.apiId, apiKey: host.apiKey });
        await agent.waitFor((m) => m.type === "connected");
        await agent.close();
      }
    });
    const model = new Map<string, { connected: boolean; revision: number }>();
    const apply = (e: SseEvent<StreamData>) => {
      if (e.event === "snapshot") {
        model.clear();
        for (const [hostId, h] of Object.entries(e.data.hosts!)) if (h.known) model.set(hostId, { connected: h.connected, revision: Number(e.id) });
      } else if (e.event === "status") model.set(e.data.hostId!, { connected: e.data.connected!, revision: Number(e.id) });
      else if (e.event === "removed") model.delete(e.data.hostId!);
    };
    let last: string | undefined;
    const firstEvents: string[] = [];
    const readFrom = async (via: RunningService, until: (stream: SseClient<StreamData>) => boolean | Promise<boolean>) => {
      const stream = await SseClient.open<StreamData>(streamUrl(via, list, last === undefined ? "" : `&lastEventId=${last}`), bearer());
      try {
        await stream.waitFor((e) => e.event === "snapshot" || e.event === "resumed");
        await until(stream);
      } finally {
        stream.close();
        await stream.ended;
      }
      firstEvents.push(stream.events[0]!.event);
      const streamIds = ids(stream.events.filter((e) => e.event !== "resumed"));
      expect(streamIds, "ids go up along a stream, never repeat").toEqual([...new Set(streamIds)].sort((x, y) => x - y));
      for (const e of stream.events) apply(e);
      last = stream.lastEventId ?? last;
    };
    try {
      for (let round = 0; round < 8; round++) {
        // A few live changes, then the blip.
        await readFrom(round % 2 ? b : a, async (stream) => {
          await stream.waitFor(() => stream.events.filter((e) => e.event === "status").length >= 3);
          return true;
        });
      }
    } finally {
      churning = false;
      await Promise.all(churn);
    }
    expect(firstEvents).toEqual(["snapshot", ...Array(7).fill("resumed")]);
    const kv = await new Kvm(jetstream(await stack.natsConnection())).open(AgentBuckets.presence);
    const truth = new Map<string, { connected: boolean; revision: number }>();
    for (const host of list) {
      const entry = await kv.get(host.id);
      truth.set(host.id, { connected: entry!.json<{ connected: boolean }>().connected, revision: entry!.revision });
    }
    const latest = Math.max(...[...truth.values()].map((t) => t.revision));
    // One more resume, once the replica has everything: the model is now exactly the bucket.
    await readFrom(a, async (stream) => {
      // The last id reaches the newest revision of these hosts (the last change, or an empty resume up to it).
      await eventually(() => Number(stream.lastEventId) >= latest, 15_000, "caught up");
      return true;
    });
    expect(Object.fromEntries(model)).toEqual(Object.fromEntries(truth));
  });

  it("refuses a last event id that is not a non-negative integer (query or header) with 400 VALIDATION_FAILED", async () => {
    const viaQuery = await api(a.url, "GET", "/api/v1/agents/status/stream?hostIds=all&lastEventId=-3", { token });
    expect(viaQuery.status).toBe(400);
    expect(viaQuery.body).toMatchObject({ code: "VALIDATION_FAILED", error: expect.stringContaining("lastEventId") });
    const viaHeader = await fetch(`${a.url}/api/v1/agents/status/stream?hostIds=all`, { headers: { authorization: `Bearer ${token}`, "last-event-id": "abc" } });
    expect(viaHeader.status).toBe(400);
    expect(await viaHeader.json()).toMatchObject({ code: "VALIDATION_FAILED", error: expect.stringContaining("Last-Event-ID") });
    // The query wins over the header (which alone would be refused).
    const both = await SseClient.open<StreamData>(streamUrl(a, "all", "&lastEventId=5"), { ...bearer(), lastEventId: "abc" });
    try {
      expect(both.status).toBe(200);
      const first = await both.waitFor((e) => e.event === "resumed" || e.event === "snapshot");
      expect(first).toMatchObject({ event: "resumed", data: { fromRevision: 5 } });
    } finally {
      both.close();
    }
  });

  it("an id from the future (a replica behind) or older than the removals a replica remembers gets a full snapshot", async () => {
    const { list } = await hosts("kept");
    const [kept] = list as [TestHost];
    const probe = await SseClient.open<StreamData>(streamUrl(a, [kept]), bearer());
    const current = Number((await probe.waitFor((e) => e.event === "snapshot")).id);
    probe.close();

    const future = await SseClient.open<StreamData>(streamUrl(a, [kept], `&lastEventId=${current + 1000}`), bearer());
    try {
      const first = await future.waitFor((e) => e.event === "snapshot" || e.event === "resumed");
      expect(first.event).toBe("snapshot");
      expect(first.data.hosts).toEqual({ [kept.id]: { hostId: kept.id, known: false, connected: false } });
      expect(Number(first.id)).toBeGreaterThanOrEqual(current);
    } finally {
      future.close();
    }

    // More removals than a replica remembers, after `current` (keys that never held a record: only their removal
    // counts; delete markers, as agent-ws writes them). Streams of a host changed after them tell when each replica
    // has applied them all (revision order).
    const watchers = await Promise.all([a, b].map((via) => SseClient.open<StreamData>(streamUrl(via, [kept]), bearer())));
    await Promise.all(watchers.map((w) => w.waitFor((e) => e.event === "snapshot")));
    const kv = await new Kvm(jetstream(await stack.natsConnection())).open(AgentBuckets.presence);
    const keys = Array.from({ length: DEFAULT_REMOVAL_LOG_LIMIT + 1 }, (_, i) => `gone-${i}`);
    for (let i = 0; i < keys.length; i += 500) await Promise.all(keys.slice(i, i + 500).map((key) => kv.delete(key)));
    await connectAgent(b, kept);
    const caughtUp = await Promise.all(watchers.map((w) => w.waitFor(isStatus(kept, true))));
    for (const w of watchers) w.close();
    const after = Number(caughtUp[0]!.id);
    expect(caughtUp[1]!.id).toBe(caughtUp[0]!.id);
    expect(after).toBeGreaterThan(current + DEFAULT_REMOVAL_LOG_LIMIT);

    for (const via of [a, b]) {
      const ancient = await SseClient.open<StreamData>(streamUrl(via, [kept], `&lastEventId=${current}`), bearer());
      try {
        const first = await ancient.waitFor((e) => e.event === "snapshot" || e.event === "resumed");
        expect(first.event).toBe("snapshot");
        expect(first.data.hosts![kept.id]).toMatchObject({ known: true, connected: true });
        expect(Number(first.id)).toBeGreaterThanOrEqual(after);
      } finally {
        ancient.close();
      }
      // A recent id still resumes.
      const recent = await SseClient.open<StreamData>(streamUrl(via, [kept], `&lastEventId=${after}`), bearer());
      try {
        const first = await recent.waitFor((e) => e.event === "snapshot" || e.event === "resumed");
        expect(first).toMatchObject({ event: "resumed", data: { fromRevision: after } });
      } finally {
        recent.close();
      }
    }
  });
});
