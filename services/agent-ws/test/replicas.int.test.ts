/**
 * Two agent-ws replicas over one NATS and Redis: commands cross replicas, a duplicate connection on another
 * replica replaces the first, a replica killed with SIGKILL has its agents shown offline by the survivor, and a
 * SIGTERM drain tells agents to reconnect (1012).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ReferenceAgent } from "@patchmon-ws/agent";
import { AgentSubjects, CloseCode, type ServerToAgentMessage } from "@patchmon-ws/protocol";
import type { RunningService } from "@patchmon-ws/stack";
import { AgentWsStack, api, eventually, wsUrl, type TestHost } from "./support/stack.js";
import { StockAgent } from "./support/stock-agent.js";

describe("agent-ws across replicas", () => {
  let stack: AgentWsStack;
  let a: RunningService;
  let b: RunningService;
  let token: string;
  const agents: ReferenceAgent[] = [];

  beforeAll(async () => {
    stack = await AgentWsStack.start();
    [a, b] = await Promise.all([stack.startReplica({ REPLICA_ID: "replica-a" }), stack.startReplica({ REPLICA_ID: "replica-b" })]);
    token = await stack.token();
  });

  afterAll(async () => {
    await Promise.allSettled(agents.map((agent) => agent.stop()));
    await stack?.dispose();
  });

  const status = async (via: RunningService, hostId: string) =>
    (await api<{ host: Record<string, unknown> }>(via.url, "GET", `/api/v1/agents/${hostId}/status`, { token })).body.host;

  function agentOn(replica: RunningService, host: TestHost) {
    const agent = new ReferenceAgent({ server: replica.url, apiId: host.apiId, apiKey: host.apiKey, backoff: { initialMs: 100, maxMs: 1000 } });
    const commands: ServerToAgentMessage[] = [];
    const disconnects: { code: number }[] = [];
    agent.on("command", (m) => commands.push(m));
    agent.on("disconnected", (d) => disconnects.push(d));
    agent.on("error", () => undefined);
    agents.push(agent);
    agent.start();
    return { agent, commands, disconnects };
  }

  it("a command sent through replica A reaches (and is acked by) an agent on replica B", async () => {
    const host = await stack.createHost("on-b");
    const { agent, commands } = agentOn(b, host);
    await eventually(async () => (await status(a, host.id)).replica === "replica-b", 15_000, "A sees the agent on B");
    const res = await api(a.url, "POST", `/api/v1/agents/${host.id}/commands`, { token, body: { command: { type: "report_now" } } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: "acked", replica: "replica-b" });
    expect(commands.map((c) => c.type)).toEqual(["report_now"]);
    await agent.stop();
  });

  it("a bulk send through A reaches agents on both replicas (batched per replica)", async () => {
    const hosts = await Promise.all(Array.from({ length: 6 }, (_, i) => stack.createHost(`bulk-${i}`)));
    const running = hosts.map((host, i) => agentOn(i % 2 ? a : b, host));
    await eventually(async () => {
      const res = await api<{ hosts: Record<string, { connected: boolean }> }>(a.url, "GET", `/api/v1/agents/status?hostIds=${hosts.map((h) => h.id).join(",")}`, { token });
      return Object.values(res.body.hosts).every((h) => h.connected);
    }, 15_000, "all online");
    const res = await api<{ summary: Record<string, number> }>(a.url, "POST", "/api/v1/agents/commands", {
      token,
      body: { hostIds: hosts.map((h) => h.id), command: { type: "docker_inventory_refresh" } },
    });
    expect(res.body.summary).toEqual({ acked: 6 });
    for (const r of running) expect(r.commands.map((c) => c.type)).toEqual(["docker_inventory_refresh"]);
    await Promise.all(running.map((r) => r.agent.stop()));
  });

  it("a second connection of the same host on the other replica replaces the first (4000)", async () => {
    const host = await stack.createHost("duplicate");
    const first = await StockAgent.connect(wsUrl(a), { apiId: host.apiId, apiKey: host.apiKey });
    await eventually(async () => (await status(b, host.id)).replica === "replica-a", 15_000, "on A");
    const second = await StockAgent.connect(wsUrl(b), { apiId: host.apiId, apiKey: host.apiKey });
    const closed = await first.closed;
    expect(closed.code).toBe(CloseCode.REPLACED);
    await eventually(async () => {
      const record = await status(a, host.id);
      return record.connected === true && record.replica === "replica-b";
    }, 15_000, "presence shows B");
    const res = await api(a.url, "POST", `/api/v1/agents/${host.id}/commands`, { token, body: { command: { type: "report_now" } } });
    expect(res.body).toMatchObject({ status: "delivered", replica: "replica-b" });
    await second.waitFor((m) => m.type === "report_now");
    await second.close();
  });

  it("SIGTERM drains: agents are closed with 1012 and recorded as service_restart at once", async () => {
    const c = await stack.startReplica({ REPLICA_ID: "replica-c" });
    const host = await stack.createHost("drained");
    const agent = await StockAgent.connect(wsUrl(c), { apiId: host.apiId, apiKey: host.apiKey });
    await eventually(async () => (await status(a, host.id)).replica === "replica-c", 15_000, "on C");
    const stopping = c.stop();
    expect((await agent.closed).code).toBe(CloseCode.SERVICE_RESTART);
    expect(await stopping).toBe(0);
    await eventually(async () => {
      const record = await status(a, host.id);
      return record.connected === false && (record.lastDisconnect as { reason: string }).reason === "service_restart";
    }, 15_000, "recorded as drained");
  });

  it("kill -9 of a replica: the survivor shows its agents offline (replica_lost) and announces it", async () => {
    const d = await stack.startReplica({ REPLICA_ID: "replica-d" });
    const hosts = await Promise.all([stack.createHost("lost-1"), stack.createHost("lost-2")]);
    const nc = await stack.natsConnection();
    const gone: string[] = [];
    const sub = nc.subscribe("agents.v1.events.disconnected.*", {
      callback: (_e, msg) => {
        gone.push(msg.subject);
      },
    });
    const clients = await Promise.all(hosts.map((h) => StockAgent.connect(wsUrl(d), { apiId: h.apiId, apiKey: h.apiKey })));
    await eventually(async () => (await Promise.all(hosts.map((h) => status(a, h.id)))).every((r) => r.replica === "replica-d"), 15_000, "on D");
    await d.kill();
    await Promise.all(clients.map((client) => client.closed));
    const records = await eventually(async () => {
      const all = await Promise.all(hosts.map((h) => status(a, h.id)));
      return all.every((r) => r.connected === false) && all;
    }, 20_000, "offline after the replica TTL");
    for (const record of records) expect(record.lastDisconnect).toMatchObject({ reason: "replica_lost", replica: "replica-d", code: 1006 });
    await eventually(() => hosts.every((h) => gone.includes(AgentSubjects.disconnected(h.id))), 15_000, "disconnect events");
    sub.unsubscribe();
    // and a command for them now is "offline"
    const res = await api(b.url, "POST", `/api/v1/agents/${hosts[0]!.id}/commands`, { token, body: { command: { type: "report_now" } } });
    expect(res.status).toBe(409);
  });
});
