/**
 * The agent gateway end to end: agents over real TLS through the local edge (which sets X-Forwarded-Proto: wss like
 * Traefik), two agent-ws replicas, real nats-server, redis-server and auth, the reference agent and a stock-like
 * client.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from "vitest";
import { ReferenceAgent, simulate, type Simulation } from "@patchmon-ws/agent";
import { startEdge, type Edge } from "@patchmon-ws/edge";
import { CloseCode, QueueNames, type ServerToAgentMessage } from "@patchmon-ws/protocol";
import { SseClient } from "@patchmon-ws/testkit";
import { type RunningService } from "@patchmon-ws/stack";
import { httpsJson } from "../services/agent-ws/test/support/https-client.js";
import { AgentWsStack, api, eventually, type TestHost } from "../services/agent-ws/test/support/stack.js";
import { expectRefusal, StockAgent } from "../services/agent-ws/test/support/stock-agent.js";

type HostStatus = { connected: boolean; replica: string | null; secure: boolean | null; known: boolean; lastDisconnect: { reason: string } | null };

describe("agent-ws end to end: TLS edge, two replicas, reference agents", () => {
  let stack: AgentWsStack;
  let a: RunningService;
  let b: RunningService;
  let edge: Edge;
  let ca: string;
  let token: string;
  const stateDir = mkdtempSync(join(tmpdir(), "patchmon-ws-agent-e2e-"));
  const cleanups: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    stack = await AgentWsStack.start();
    [a, b] = await Promise.all([stack.startReplica({ REPLICA_ID: "replica-a" }), stack.startReplica({ REPLICA_ID: "replica-b" })]);
    edge = await startEdge({
      port: 0,
      stateDir,
      healthCheckIntervalMs: 500,
      upstreams: { "agent-ws": [a.url, b.url], auth: [stack.auth.service.url] },
    });
    ca = edge.certificate;
    token = await stack.token();
  });

  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    await edge?.close();
    await stack?.dispose();
    rmSync(stateDir, { recursive: true, force: true });
  });

  const agentUrl = (version = "v1") => `${edge.url.replace(/^https/, "wss")}/api/${version}/agents/ws`;
  const status = async (hostId: string) =>
    (await httpsJson<{ host: HostStatus }>(`${edge.url}/api/v1/agents/${hostId}/status`, "GET", { ca, token })).body.host;

  function referenceAgent(host: TestHost) {
    const agent = new ReferenceAgent({ server: edge.url, ca, apiId: host.apiId, apiKey: host.apiKey, backoff: { initialMs: 200, maxMs: 1000 } });
    const commands: ServerToAgentMessage[] = [];
    const disconnects: { code: number; reason: string }[] = [];
    agent.on("command", (m) => commands.push(m));
    agent.on("disconnected", (d) => disconnects.push(d));
    agent.on("error", () => undefined);
    cleanups.push(() => agent.stop());
    agent.start();
    return { agent, commands, disconnects };
  }

  it("an agent on one replica receives (and acks) a command sent through the other replica's API", async () => {
    const host = await stack.createHost("cross-replica");
    const { agent, commands } = referenceAgent(host);
    const record = await eventually(async () => {
      const s = await status(host.id);
      return s.connected && s;
    }, 15_000, "agent online");
    expect(record.secure).toBe(true); // TLS ended at the edge, which said X-Forwarded-Proto: wss
    const other = record.replica === "replica-a" ? b : a;
    const res = await api(other.url, "POST", `/api/v1/agents/${host.id}/commands`, { token, body: { command: { type: "report_now" } } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: "acked", replica: record.replica });
    expect(commands.map((c) => c.type)).toEqual(["report_now"]);
    // and through the edge, whichever replica answers
    const viaEdge = await httpsJson(`${edge.url}/api/v1/agents/${host.id}/commands`, "POST", { ca, token, body: { command: { type: "upgrade_ssg" } } });
    expect(viaEdge.body).toMatchObject({ status: "acked" });
    await agent.stop();
  });

  it("one status stream (ticket, through the edge) reports connect and disconnect", async () => {
    const host = await stack.createHost("streamed");
    const ticket = await stack.auth.client.ticket(token, "agent-status");
    const stream = await SseClient.open(`${edge.url}/api/v1/agents/status/stream?hostIds=${host.id}&ticket=${ticket}`, { ca });
    try {
      await stream.waitFor((e) => e.event === "snapshot");
      const { agent } = referenceAgent(host);
      await stream.waitFor((e) => e.event === "status" && e.data.connected === true);
      await agent.stop();
      const offline = await stream.waitFor((e) => e.event === "status" && e.data.connected === false);
      expect(offline.data.lastDisconnect).toMatchObject({ reason: "agent_closed" });
    } finally {
      stream.close();
    }
  });

  it("a duplicate connection replaces the old one (4000), whichever replicas they land on", async () => {
    const host = await stack.createHost("duplicate");
    const first = await StockAgent.connect(agentUrl(), { apiId: host.apiId, apiKey: host.apiKey, ca });
    await eventually(async () => (await status(host.id)).connected, 15_000, "first online");
    const second = await StockAgent.connect(agentUrl(), { apiId: host.apiId, apiKey: host.apiKey, ca });
    expect((await first.closed).code).toBe(CloseCode.REPLACED);
    const res = await httpsJson(`${edge.url}/api/v1/agents/${host.id}/commands`, "POST", { ca, token, body: { command: { type: "report_now" } } });
    expect(res.body).toMatchObject({ status: "delivered" });
    await second.waitFor((m) => m.type === "report_now");
    await second.close();
  });

  it("a raw ws client behaving like the stock Go agent (no hello, no acks) works through the edge", async () => {
    const host = await stack.createHost("stock");
    const agent = await StockAgent.connect(agentUrl(), { apiId: host.apiId, apiKey: host.apiKey, ca });
    try {
      await agent.waitFor((m) => m.type === "connected");
      await eventually(async () => (await status(host.id)).connected, 15_000, "online");
      const res = await httpsJson(`${edge.url}/api/v1/agents/${host.id}/commands`, "POST", {
        ca,
        token,
        body: { command: { type: "integration_toggle", integration: "docker", enabled: true } },
      });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ status: "delivered" });
      expect(await agent.waitFor((m) => m.type === "integration_toggle")).toMatchObject({ integration: "docker", enabled: true, id: res.body.commandId });
      expect(await status(host.id)).toMatchObject({ secure: true, known: true });
    } finally {
      await agent.close();
    }
  });

  it("kill -9 of the replica holding 50 agents: all reconnect to the other, show online, and commands queued meanwhile arrive exactly once", async () => {
    const hosts = await Promise.all(Array.from({ length: 50 }, (_, i) => stack.createHost(`fleet-${i}`)));
    // Timeline, printed only if the test fails.
    const phases: string[] = [];
    const began = performance.now();
    const phase = (name: string) => phases.push(`${name} at ${Math.round(performance.now() - began)} ms`);
    onTestFailed(() => {
      process.stdout.write(`[kill -9 test] ${phases.join("; ")}\n`);
    });
    const c = await stack.startReplica({ REPLICA_ID: "replica-c" });
    phase("replica C started");
    edge.setUpstreams("agent-ws", [c.url]);
    const simulation: Simulation = await simulate({
      server: edge.url,
      ca,
      agents: hosts.map((h) => ({ apiId: h.apiId, apiKey: h.apiKey })),
      backoff: { initialMs: 1000, maxMs: 2000 },
      connectConcurrency: 25,
    });
    cleanups.push(() => simulation.stop());
    const received = new Map<string, ServerToAgentMessage[]>();
    simulation.agents.forEach((agent, i) => {
      const list: ServerToAgentMessage[] = [];
      received.set(hosts[i]!.id, list);
      agent.on("command", (m) => list.push(m));
      agent.on("error", () => undefined);
    });
    await simulation.waitForConnected(50, 30_000);
    phase("50 agents connected");
    const ids = hosts.map((h) => h.id).join(",");
    const fleetStatus = async () =>
      Object.values((await api<{ hosts: Record<string, HostStatus> }>(a.url, "GET", `/api/v1/agents/status?hostIds=${ids}`, { token })).body.hosts);
    await eventually(async () => (await fleetStatus()).every((s) => s.connected && s.replica === "replica-c"), 15_000, "all 50 on replica C");

    // Replica C is the only one holding them; now the edge may use A too, and C dies without a word.
    edge.setUpstreams("agent-ws", [a.url, c.url]);
    await c.kill();
    phase("replica C killed");

    const sends = [];
    for (const command of [{ type: "update_agent" }, { type: "remediate_rule", rule_id: "rule_exactly_once" }]) {
      sends.push(
        await api<{ summary: Record<string, number> }>(a.url, "POST", "/api/v1/agents/commands", {
          token,
          body: { hostIds: hosts.map((h) => h.id), command, ifOffline: "queue" },
        }),
      );
    }
    for (const res of sends) {
      expect(res.status).toBe(200);
      expect((res.body.summary.queued ?? 0) + (res.body.summary.acked ?? 0)).toBe(50);
    }
    expect(sends.some((res) => (res.body.summary.queued ?? 0) > 0)).toBe(true);

    phase("commands sent");
    await simulation.waitForConnected(50, 60_000);
    phase("50 agents reconnected");
    await eventually(async () => (await fleetStatus()).every((s) => s.connected && s.replica === "replica-a"), 30_000, "all 50 online on replica A");
    phase("presence shows all on A");
    await eventually(() => [...received.values()].every((list) => list.length >= 2), 30_000, "every agent got both commands");
    phase("commands received");
    // Count only once nothing is left to (re)deliver: the durable queue is empty.
    const redis = new Redis(stack.redis.url, { maxRetriesPerRequest: null });
    const queue = new Queue(QueueNames.agentCommands, { connection: redis });
    try {
      const counts = await queue.getJobCounts("completed");
      expect(counts.completed).toBeGreaterThan(0);
      await eventually(async () => {
        const counts = await queue.getJobCounts("waiting", "active", "delayed", "prioritized");
        return Object.values(counts).every((n) => n === 0);
      }, 30_000, "command queue drained");
      const failed = await queue.getJobs(["failed"]);
      expect(failed.map((j) => j.failedReason)).toEqual([]);
    } finally {
      await queue.close();
      redis.disconnect();
    }
    for (const [hostId, list] of received) {
      expect(list.map((m) => m.type).sort(), hostId).toEqual(["remediate_rule", "update_agent"]);
    }
    await simulation.stop();
  }, 180_000);

  it("rotating a host's key closes its socket (CREDENTIALS_REVOKED) through the edge", async () => {
    const host = await stack.createHost("rotated");
    const { disconnects } = referenceAgent(host);
    await eventually(async () => (await status(host.id)).connected, 15_000, "online");
    await stack.auth.client.rotateHostKey(token, host.id);
    await eventually(() => disconnects.length > 0, 5000, "closed within the bound");
    expect(disconnects[0]!.code).toBe(CloseCode.CREDENTIALS_REVOKED);
  });

  it("refusals through the edge: wrong version 404, missing headers 401, bad key 401", async () => {
    const host = await stack.createHost("refusals");
    const wrongVersion = await expectRefusal(agentUrl("v7"), { apiId: host.apiId, apiKey: host.apiKey, ca });
    expect([wrongVersion.status, wrongVersion.body.code]).toEqual([404, "UNSUPPORTED_API_VERSION"]);
    const missing = await expectRefusal(agentUrl(), { ca });
    expect([missing.status, missing.body.code]).toEqual([401, "CREDENTIALS_MISSING"]);
    const badKey = await expectRefusal(agentUrl(), { apiId: host.apiId, apiKey: "not-the-key", ca });
    expect([badKey.status, badKey.body.code]).toEqual([401, "INVALID_CREDENTIALS"]);
    expect(typeof badKey.body.error).toBe("string");
  });

  it("an oversized frame closes with 1009 and garbage with 1008, through the edge", async () => {
    const host = await stack.createHost("misbehaving");
    const big = await StockAgent.connect(agentUrl(), { apiId: host.apiId, apiKey: host.apiKey, ca });
    big.send({ type: "docker_status", name: "x".repeat(600 * 1024) });
    expect((await big.closed).code).toBe(CloseCode.MESSAGE_TOO_BIG);
    const noisy = await StockAgent.connect(agentUrl(), { apiId: host.apiId, apiKey: host.apiKey, ca });
    for (let i = 0; i < 12; i++) noisy.ws.send(`garbage ${i}`);
    expect((await noisy.closed).code).toBe(CloseCode.POLICY_VIOLATION);
  });

  it("with the auth service down, upgrades get 503 with Retry-After, never 401", async () => {
    const host = await stack.createHost("auth-down");
    await stack.auth.service.stop();
    const refusal = await expectRefusal(agentUrl(), { apiId: host.apiId, apiKey: host.apiKey, ca });
    expect([refusal.status, refusal.body.code]).toEqual([503, "DEPENDENCY_UNAVAILABLE"]);
    expect(Number(refusal.headers["retry-after"])).toBeGreaterThan(0);
  });
});
