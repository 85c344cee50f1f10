/**
 * Commands, status and revocation against real servers, with the reference agent (acks + dedupe) and stock-like
 * clients: end-to-end acks, idempotent command ids, the durable queue (coalescing, delivery on reconnect), bulk
 * sends, the HTTP API's refusals, the SSE status stream, NATS events, key rotation and host deletion.
 */
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ReferenceAgent } from "@patchmon-ws/agent";
import { jetstream } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { AgentBuckets, AgentConnectionEvent, AgentSubjects, CloseCode, QueueNames, type ServerToAgentMessage } from "@patchmon-ws/protocol";
import { SseClient } from "@patchmon-ws/testkit";
import { type RunningService } from "@patchmon-ws/stack";
import { AgentWsStack, api, eventually, wsUrl, type TestHost } from "./support/stack.js";
import { StockAgent } from "./support/stock-agent.js";

interface Observed {
  agent: ReferenceAgent;
  commands: ServerToAgentMessage[];
  duplicates: ServerToAgentMessage[];
  disconnects: { code: number; reason: string }[];
  rejections: { status: number; body: unknown }[];
}

function referenceAgent(replica: RunningService, host: TestHost): Observed {
  const agent = new ReferenceAgent({
    server: replica.url,
    apiId: host.apiId,
    apiKey: host.apiKey,
    agentVersion: "9.9.9-test",
    backoff: { initialMs: 100, maxMs: 500 },
  });
  const observed: Observed = { agent, commands: [], duplicates: [], disconnects: [], rejections: [] };
  agent.on("command", (m) => observed.commands.push(m));
  agent.on("duplicate", (m) => observed.duplicates.push(m));
  agent.on("disconnected", (d) => observed.disconnects.push(d));
  agent.on("rejected", (r) => observed.rejections.push(r as { status: number; body: unknown }));
  agent.on("error", () => undefined);
  return observed;
}

async function connected(observed: Observed): Promise<void> {
  if (!observed.agent.connected) await new Promise<void>((resolve) => observed.agent.once("connected", () => resolve()));
}

describe("agent-ws commands, status and revocation", () => {
  let stack: AgentWsStack;
  let replica: RunningService;
  let token: string;
  let redis: Redis;
  let queue: Queue;
  const agents: ReferenceAgent[] = [];

  beforeAll(async () => {
    stack = await AgentWsStack.start();
    replica = await stack.startReplica({ COMMAND_BACKOFF_MS: "200", ACK_TIMEOUT_MS: "3000" });
    token = await stack.token();
    redis = new Redis(stack.redis.url, { maxRetriesPerRequest: null });
    queue = new Queue(QueueNames.agentCommands, { connection: redis });
  });

  afterAll(async () => {
    await Promise.allSettled(agents.map((a) => a.stop()));
    await queue?.close();
    redis?.disconnect();
    await stack?.dispose();
  });

  const start = (host: TestHost) => {
    const observed = referenceAgent(replica, host);
    agents.push(observed.agent);
    observed.agent.start();
    return observed;
  };
  const send = (hostId: string, body: object) => api(replica.url, "POST", `/api/v1/agents/${hostId}/commands`, { token, body });
  const status = async (hostId: string) => (await api<{ host: Record<string, unknown> }>(replica.url, "GET", `/api/v1/agents/${hostId}/status`, { token })).body.host;
  const queueIdle = () =>
    eventually(async () => {
      const counts = await queue.getJobCounts("waiting", "active", "delayed", "prioritized");
      return Object.values(counts).every((n) => n === 0);
    }, 20_000, "command queue drained");

  it("the reference agent's hello is recorded and its acks come back end to end", async () => {
    const host = await stack.createHost("acking");
    const observed = start(host);
    await connected(observed);
    await eventually(async () => (await status(host.id)).agentVersion === "9.9.9-test", 15_000, "hello recorded");
    expect(await status(host.id)).toMatchObject({ connected: true, capabilities: ["ack", "dedupe"] });
    const res = await send(host.id, { command: { type: "set_compliance_mode", mode: "on-demand" } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ hostId: host.id, status: "acked" });
    expect(observed.commands).toEqual([{ type: "set_compliance_mode", mode: "on-demand", id: res.body.commandId }]);
    await observed.agent.stop();
  });

  /** The host's next connected event, subscribed to before anything connects it (presence has recorded it then). */
  async function nextConnectedEvent(hostId: string): Promise<{ event: Promise<AgentConnectionEvent> }> {
    const nc = await stack.natsConnection();
    const sub = nc.subscribe(AgentSubjects.connected(hostId), { max: 1 });
    await nc.flush();
    const event = (async () => {
      for await (const msg of sub) return AgentConnectionEvent.parse(msg.json());
      throw new Error(`no connected event for ${hostId}`);
    })();
    return { event };
  }

  it("routes by presence: a replica's command subject delivers to agents it holds", async () => {
    const host = await stack.createHost("routing");
    const recorded = await nextConnectedEvent(host.id);
    const observed = start(host);
    await connected(observed);
    // The greeting goes out before presence records the connection (after the hello wait): wait for the record.
    const event = await recorded.event;
    const nc = await stack.natsConnection();
    const record = (await status(host.id)) as { replica: string };
    expect(record.replica).toBe(event.record.replica);
    const ask = async (subject: string, body: object) => (await nc.request(subject, JSON.stringify(body), { timeout: 5000 })).json<Record<string, unknown>>();
    const viaReplica = await ask(AgentSubjects.replicaCommand(record.replica), { hostId: host.id, commandId: "route-1", message: { type: "report_now" } });
    expect(viaReplica).toMatchObject({ ok: true, result: { hostId: host.id, commandId: "route-1", status: "acked" } });
    const elsewhere = await ask(AgentSubjects.replicaCommand(record.replica), { hostId: "not-held-here", commandId: "route-2", message: { type: "report_now" } });
    expect(elsewhere).toMatchObject({ ok: true, result: { status: "not_held" } });
    const noHost = await ask(AgentSubjects.replicaCommand(record.replica), { commandId: "route-3", message: { type: "report_now" } });
    expect(noHost).toMatchObject({ ok: false, code: "VALIDATION_FAILED" });
    await observed.agent.stop();
  });

  /**
   * Writes what a replica that is not running here would leave in the buckets: its heartbeat and the host's presence
   * naming it. `remove` takes both away.
   */
  async function pretendHolder(host: TestHost, replica: string) {
    const kvm = new Kvm(jetstream(await stack.natsConnection()));
    const [replicas, presence] = await Promise.all([kvm.open(AgentBuckets.replicas), kvm.open(AgentBuckets.presence)]);
    const now = Date.now();
    await replicas.put(replica, JSON.stringify({ replicaId: replica, startedAt: now, heartbeatAt: Date.now(), connections: 1 }));
    const record = { hostId: host.id, apiId: host.apiId, connected: true, replica, connectionId: `${replica}-connection`, since: now, secure: true };
    await presence.put(host.id, JSON.stringify({ ...record, remoteAddress: "192.0.2.10", agentVersion: null, capabilities: [], lastDisconnect: null, updatedAt: now }));
    return {
      remove: async () => {
        await presence.delete(host.id);
        await replicas.delete(replica);
      },
    };
  }

  it("a holder that died (its heartbeat not yet expired) makes the host offline at once, not after a timeout", async () => {
    const host = await stack.createHost("held-by-dead-replica");
    const dead = "killed-replica";
    // What a replica killed with SIGKILL leaves behind: a fresh heartbeat, and presence naming it.
    const { remove } = await pretendHolder(host, dead);
    try {
      await eventually(async () => (await status(host.id)).replica === dead, 15_000, "presence names the dead replica");
      const res = await send(host.id, { command: { type: "report_now" } });
      // "No responders" on its command subject means gone: offline, not a 503 after the request timed out.
      expect([res.status, res.body.code]).toEqual([409, "AGENT_OFFLINE"]);
    } finally {
      await remove();
    }
  });

  it("re-sending with the same commandId is acked again but runs once (agent dedupe)", async () => {
    const host = await stack.createHost("dedupe");
    const observed = start(host);
    await connected(observed);
    const first = await send(host.id, { command: { type: "update_agent" }, commandId: "fixed-id-1" });
    const second = await send(host.id, { command: { type: "update_agent" }, commandId: "fixed-id-1" });
    expect([first.body.status, second.body.status]).toEqual(["acked", "acked"]);
    expect(observed.commands.filter((c) => c.type === "update_agent")).toHaveLength(1);
    expect(observed.duplicates).toHaveLength(1);
    await observed.agent.stop();
  });

  it("offline: 409 without queueing; queued commands coalesce and arrive once, newest value, on reconnect", async () => {
    const host = await stack.createHost("offline-queue");
    const offline = await send(host.id, { command: { type: "report_now" } });
    expect(offline.status).toBe(409);
    expect(offline.body).toMatchObject({ code: "AGENT_OFFLINE", status: "offline", error: expect.any(String) });

    const queued = [];
    for (let i = 0; i < 5; i++) queued.push(await send(host.id, { command: { type: "report_now" }, ifOffline: "queue" }));
    queued.push(await send(host.id, { command: { type: "settings_update", update_interval: 10 }, ifOffline: "queue" }));
    queued.push(await send(host.id, { command: { type: "settings_update", update_interval: 20 }, ifOffline: "queue" }));
    queued.push(await send(host.id, { command: { type: "update_agent" }, ifOffline: "queue" }));
    queued.push(await send(host.id, { command: { type: "remediate_rule", rule_id: "rule_a" }, ifOffline: "queue" }));
    queued.push(await send(host.id, { command: { type: "remediate_rule", rule_id: "rule_b" }, ifOffline: "queue" }));
    for (const res of queued) expect(res.status).toBe(202);
    expect(queued[1]!.body).toMatchObject({ status: "queued", replaces: queued[0]!.body.jobId });

    const observed = start(host);
    await connected(observed);
    await eventually(() => observed.commands.length >= 5, 20_000, "queued commands delivered").catch(async (err: unknown) => {
      const jobs = await queue.getJobs(["waiting", "active", "delayed", "completed", "failed"]);
      const mine = await Promise.all(jobs.filter((j) => j.data.hostId === host.id).map(async (j) => ({ id: j.id, name: j.name, state: await j.getState(), rv: j.returnvalue, failed: j.failedReason })));
      throw new Error(`${String(err)}\ncommands: ${JSON.stringify(observed.commands)}\njobs: ${JSON.stringify(mine)}\nlog: ${replica.process.log.slice(-6000)}`);
    });
    await queueIdle();
    const summary = observed.commands.map((c) => (c.type === "settings_update" ? `settings_update:${c.update_interval}` : c.type === "remediate_rule" ? `remediate_rule:${c.rule_id}` : c.type)).sort();
    expect(summary).toEqual(["remediate_rule:rule_a", "remediate_rule:rule_b", "report_now", "settings_update:20", "update_agent"]);
    expect(observed.duplicates).toEqual([]);
    const completed = await queue.getJobs(["completed"]);
    const superseded = completed.filter((j) => j.data.hostId === host.id && (j.returnvalue as { status?: string })?.status === "superseded");
    expect(superseded).toHaveLength(5);
    await observed.agent.stop();
  });

  it("a queued command reaches a stock agent too (delivered once written)", async () => {
    const host = await stack.createHost("stock-queue");
    expect((await send(host.id, { command: { type: "docker_inventory_refresh" }, ifOffline: "queue" })).status).toBe(202);
    const agent = await StockAgent.connect(wsUrl(replica), { apiId: host.apiId, apiKey: host.apiKey });
    await agent.waitFor((m) => m.type === "docker_inventory_refresh", 20_000);
    await queueIdle();
    expect(agent.commands().filter((m) => m.type === "docker_inventory_refresh")).toHaveLength(1);
    await agent.close();
  });

  it("bulk: one command to many hosts or all, each with its own outcome", async () => {
    const [a, b, c] = [await stack.createHost("bulk-a"), await stack.createHost("bulk-b"), await stack.createHost("bulk-c")];
    const oa = start(a);
    const stock = await StockAgent.connect(wsUrl(replica), { apiId: b.apiId, apiKey: b.apiKey });
    await connected(oa);
    await eventually(async () => (await status(b.id)).connected === true);
    const res = await api<{ total: number; summary: Record<string, number>; results: { hostId: string; status: string }[] }>(replica.url, "POST", "/api/v1/agents/commands", {
      token,
      body: { hostIds: [a.id, b.id, c.id, "no-such-host"], command: { type: "refresh_integration_status" } },
    });
    expect(res.status).toBe(200);
    const byHost = Object.fromEntries(res.body.results.map((r) => [r.hostId, r.status]));
    expect(byHost).toEqual({ [a.id]: "acked", [b.id]: "delivered", [c.id]: "offline", "no-such-host": "not_found" });
    expect(res.body.summary).toEqual({ acked: 1, delivered: 1, offline: 1, not_found: 1 });

    const all = await api<{ total: number; summary: Record<string, number> }>(replica.url, "POST", "/api/v1/agents/commands", {
      token,
      body: { hostIds: "all", command: { type: "report_now" } },
    });
    expect(all.status).toBe(200);
    expect(all.body.summary.acked).toBeGreaterThanOrEqual(1);
    expect(all.body.summary.delivered).toBeGreaterThanOrEqual(1);
    await stock.waitFor((m) => m.type === "report_now");
    await oa.agent.stop();
    await stock.close();
  });

  it("refuses bad API calls with a status and {error, code}", async () => {
    const host = await stack.createHost("api-refusals");
    const user = await stack.auth.client.createUser(token, { username: "viewer", password: "viewer-password-1", role: "user", permissions: [] });
    const viewerToken = (await stack.auth.client.login(user.username, "viewer-password-1")).accessToken;
    const cases: [string, Awaited<ReturnType<typeof api>>, number, string][] = [
      ["no token", await api(replica.url, "POST", `/api/v1/agents/${host.id}/commands`, { body: { command: { type: "report_now" } } }), 401, "CREDENTIALS_MISSING"],
      ["bad token", await api(replica.url, "POST", `/api/v1/agents/${host.id}/commands`, { token: "not-a-token", body: { command: { type: "report_now" } } }), 401, "TOKEN_INVALID"],
      ["no permission", await api(replica.url, "POST", `/api/v1/agents/${host.id}/commands`, { token: viewerToken, body: { command: { type: "report_now" } } }), 403, "FORBIDDEN"],
      ["bulk without permission", await api(replica.url, "POST", "/api/v1/agents/commands", { token: viewerToken, body: { hostIds: "all", command: { type: "report_now" } } }), 403, "FORBIDDEN"],
      ["unknown command", await send(host.id, { command: { type: "format_disk" } }), 400, "VALIDATION_FAILED"],
      ["ssh relay is not an operator command", await send(host.id, { command: { type: "ssh_proxy_input", session_id: "s", data: "x" } }), 400, "VALIDATION_FAILED"],
      ["invalid field", await send(host.id, { command: { type: "settings_update", update_interval: "soon" } }), 400, "VALIDATION_FAILED"],
      ["invalid host id", await send("bad.host", { command: { type: "report_now" } }), 400, "VALIDATION_FAILED"],
      ["unknown host", await send("no-such-host", { command: { type: "report_now" }, ifOffline: "queue" }), 404, "HOST_NOT_FOUND"],
      ["frame over 64 KiB", await send(host.id, { command: { type: "report_now", padding: "x".repeat(70_000) } }), 413, "PAYLOAD_TOO_LARGE"],
      ["bad bulk selection", await api(replica.url, "POST", "/api/v1/agents/commands", { token, body: { hostIds: ["a*"], command: { type: "report_now" } } }), 400, "VALIDATION_FAILED"],
      ["status without token", await api(replica.url, "GET", "/api/v1/agents/status"), 401, "CREDENTIALS_MISSING"],
      ["stream without credentials", await api(replica.url, "GET", "/api/v1/agents/status/stream?hostIds=all"), 401, "CREDENTIALS_MISSING"],
      ["stream with a bogus ticket", await api(replica.url, "GET", "/api/v1/agents/status/stream?hostIds=all&ticket=bogus"), 401, "TICKET_INVALID"],
    ];
    for (const [name, res, statusCode, code] of cases) {
      expect(res.status, name).toBe(statusCode);
      expect(res.body, name).toMatchObject({ code, error: expect.any(String) });
    }
    // the viewer may read status
    expect((await api(replica.url, "GET", `/api/v1/agents/status?hostIds=${host.id}`, { token: viewerToken })).status).toBe(200);
  });

  it("one SSE stream (ticket auth) shows a snapshot, then connect and disconnect; a ticket works once", async () => {
    const host = await stack.createHost("streamed");
    const ticket = await stack.auth.client.ticket(token, "agent-status");
    const stream = await SseClient.open(`${replica.url}/api/v1/agents/status/stream?hostIds=${host.id}&ticket=${ticket}`);
    try {
      expect(stream.status).toBe(200);
      const snapshot = await stream.waitFor((e) => e.event === "snapshot");
      expect(snapshot.data).toEqual({ hosts: { [host.id]: { hostId: host.id, known: false, connected: false } } });
      const observed = start(host);
      await stream.waitFor((e) => e.event === "status" && (e.data as { connected: boolean }).connected === true);
      await observed.agent.stop();
      const offline = await stream.waitFor((e) => e.event === "status" && (e.data as { connected: boolean }).connected === false);
      expect(offline.data).toMatchObject({ hostId: host.id, lastDisconnect: { code: 1000, reason: "agent_closed" } });
    } finally {
      stream.close();
    }
    const reused = await api(replica.url, "GET", `/api/v1/agents/status/stream?hostIds=all&ticket=${ticket}`);
    expect(reused.status).toBe(401);
    expect(reused.body.code).toBe("TICKET_INVALID");
  });

  it("a Bearer token works for the stream too", async () => {
    const stream = await SseClient.open(`${replica.url}/api/v1/agents/status/stream?hostIds=all`, { headers: { authorization: `Bearer ${token}` } });
    try {
      expect(stream.status).toBe(200);
      await stream.waitFor((e) => e.event === "snapshot");
    } finally {
      stream.close();
    }
  });

  it("publishes connection events and agent messages on NATS", async () => {
    const host = await stack.createHost("nats-events");
    const nc = await stack.natsConnection();
    const events: { subject: string; data: Record<string, unknown> }[] = [];
    const subs = [AgentSubjects.eventsAll, AgentSubjects.fromAgentOfHost(host.id)].map((subject) =>
      nc.subscribe(subject, {
        callback: (_err, msg) => {
          events.push({ subject: msg.subject, data: msg.json() });
        },
      }),
    );
    await nc.flush();
    const observed = start(host);
    await connected(observed);
    await eventually(() => events.some((e) => e.subject === AgentSubjects.connected(host.id)), 15_000, "connected event");
    observed.agent.send({ type: "docker_status", container_id: "c1", name: "web", status: "running", event: { type: "container_start" } });
    const published = await eventually(() => events.find((e) => e.subject === AgentSubjects.fromAgent(host.id, "docker_status")), 15_000, "agent message published");
    expect(published.data).toMatchObject({ hostId: host.id, apiId: host.apiId, message: { type: "docker_status", container_id: "c1", status: "running" } });
    await observed.agent.stop();
    const gone = await eventually(() => events.find((e) => e.subject === AgentSubjects.disconnected(host.id)), 15_000, "disconnected event");
    expect(gone.data).toMatchObject({ kind: "disconnected", hostId: host.id, record: { connected: false } });
    for (const sub of subs) sub.unsubscribe();
  });

  it("rotating a host's key closes its socket with CREDENTIALS_REVOKED; the old key is refused after", async () => {
    const host = await stack.createHost("rotated");
    const observed = start(host);
    await connected(observed);
    // Within the contract's second, with the code the event carries: the socket is closed by the revocation
    // event itself (agent keys are never cached, so nothing could run out instead).
    const revokedAt = Date.now();
    await stack.auth.client.rotateHostKey(token, host.id);
    await eventually(() => observed.disconnects.length > 0, 1000, "closed within a second of the rotation");
    expect(Date.now() - revokedAt).toBeLessThan(1000);
    expect(observed.disconnects[0]!.code).toBe(CloseCode.CREDENTIALS_REVOKED);
    await eventually(() => observed.rejections.length > 0, 15_000, "reconnect refused");
    expect(observed.rejections[0]).toMatchObject({ status: 401, body: { code: "INVALID_CREDENTIALS" } });
    await observed.agent.stop();
    expect((await status(host.id)).lastDisconnect).toMatchObject({ code: CloseCode.CREDENTIALS_REVOKED, reason: "credentials_revoked" });
  });

  it("with Redis down, queueing a command answers 503 at once (never a hung request); direct delivery still works", async () => {
    const [offlineHost, onlineHost] = [await stack.createHost("redis-down-offline"), await stack.createHost("redis-down-online")];
    const observed = start(onlineHost);
    await connected(observed);
    await stack.redis.stop();
    try {
      const queued = await send(offlineHost.id, { command: { type: "report_now" }, ifOffline: "queue" });
      expect(queued.status).toBe(503);
      expect(queued.body).toMatchObject({ code: "DEPENDENCY_UNAVAILABLE", error: expect.any(String) });
      expect(Number(queued.headers.get("retry-after"))).toBeGreaterThan(0);
      const direct = await send(onlineHost.id, { command: { type: "report_now" } });
      expect(direct.body).toMatchObject({ status: "acked" });
      expect((await api(replica.url, "GET", "/readyz")).status).toBe(503);
    } finally {
      await stack.redis.restart();
      await observed.agent.stop();
    }
    await eventually(async () => (await api(replica.url, "GET", "/readyz")).status === 200, 20_000, "ready again");
  });

  it("deleting a host closes its socket with HOST_DELETED and forgets it", async () => {
    const host = await stack.createHost("deleted");
    const observed = start(host);
    await connected(observed);
    await eventually(async () => (await status(host.id)).connected === true);
    const deletedAt = Date.now();
    await stack.auth.client.deleteHost(token, host.id);
    await eventually(() => observed.disconnects.length > 0, 1000, "closed within a second of the deletion");
    expect(Date.now() - deletedAt).toBeLessThan(1000);
    expect(observed.disconnects[0]!.code).toBe(CloseCode.HOST_DELETED);
    await observed.agent.stop();
    await eventually(async () => (await status(host.id)).known === false, 15_000, "presence forgotten");
  });
});
