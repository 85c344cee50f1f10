/**
 * The scale test: the system as local processes behind the local TLS edge, shaped like the compose
 * deployment scaled out (`--scale auth=2 --scale agent-ws=3 --scale terminal-ws=2`, the three-node NATS profile):
 * 2 auth, 3 agent-ws, 2 terminal-ws, bullboard, three nats-server nodes (JetStream, KV replicas 3), Redis and a real
 * sshd. While 500 simulated agents, a terminal in each mode and a Bull Board event socket are active, one process of
 * each kind is killed with SIGKILL in turn. A killed service comes back as compose's restart policy would bring it
 * (restartOnExit); the killed NATS node stays down until the end, so everything after it runs on two nodes.
 *
 * The tests run in order and share the fleet; each names what it proves.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ReferenceAgent, simulate, type Simulation } from "@patchmon-ws/agent";
import { CloseCode, QueueNames, RelaySubjects, type ServerToAgentMessage, type TerminalSessionSummary } from "@patchmon-ws/protocol";
import { TestWsClient, type TerminalTestClient } from "@patchmon-ws/testkit";
import { type RunningService } from "@patchmon-ws/stack";
import { boardSession } from "./bullboard-harness.js";
import { eventually, TerminalStack } from "./support/terminal-stack.js";

const FLEET_SIZE = 500;

/** What these tests read of a host's presence (HostStatus: a known host has its replica). */
type HostStatus = { connected: boolean; replica?: string | null };

let t: TerminalStack;
let simulation: Simulation;
const dir = mkdtempSync(join(tmpdir(), "patchmon-ws-scale-"));
const cleanups: (() => Promise<unknown>)[] = [];
/** Commands each simulated host received, by host id. */
const received = new Map<string, ServerToAgentMessage[]>();
let fleetIds: string[] = [];
/** Reference agents (proxy-capable) connected besides the fleet. */
let proxyAgentCount = 0;
/** Progress with timings, printed only when a test fails. */
const timeline: string[] = [];
const began = performance.now();
const mark = (what: string) => timeline.push(`${(performance.now() - began) / 1000}s ${what}`.replace(/(\.\d)\d*s/, "$1s"));

beforeAll(async () => {
  t = await TerminalStack.start({
    services: [
      { name: "auth", replicas: 2 },
      { name: "agent-ws", replicas: 3 },
      { name: "terminal-ws", replicas: 2 },
      "bullboard",
    ],
    stack: {
      natsCluster: 3,
      restartOnExit: true,
      // Restarts ("… exited (…); restarting") join the timeline a failure prints.
      onLog: (line) => mark(`stack: ${line}`),
      timeoutMs: 90_000,
      env: { KV_REPLICAS: "3" },
      serviceEnv: {
        // A dead replica's agents are shown offline within seconds instead of 30-45 s; queued commands retry fast.
        "agent-ws": { REPLICA_HEARTBEAT_MS: "1000", REPLICA_TTL_MS: "4000", PRESENCE_SWEEP_MS: "1000", COMMAND_BACKOFF_MS: "500", COMMAND_OFFLINE_RECHECK_MS: "5000" },
        bullboard: { QUEUE_DISCOVERY_INTERVAL_MS: "300", REDIS_RECONNECT_MAX_MS: "500", COUNTS_MIN_INTERVAL_MS: "50" },
      },
    },
  });
  mark("stack up");
}, 240_000);

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  await simulation?.stop().catch(() => undefined);
  await t?.stop();
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

beforeEach(({ onTestFailed }) => {
  onTestFailed(() => {
    process.stdout.write(`[scale test] ${timeline.join("; ")}\n`);
  });
});

// ---- helpers --------------------------------------------------------------------------------------------------

const replicas = (name: string): RunningService[] => t.stack.services[name] ?? [];

/** The live process whose replica id (…-<pid>-…, the default REPLICA_ID) is `replicaId`. */
function processOf(name: string, replicaId: string | null | undefined): RunningService | undefined {
  return replicas(name).find((r) => r.process.running && replicaId?.includes(`-${r.process.child.pid}-`));
}

/** Presence of every known host as agent-ws (any replica, through the edge) sees it. */
async function presence(): Promise<Record<string, HostStatus>> {
  const res = await t.api<{ hosts: Record<string, HostStatus> }>("/api/v1/agents/status");
  if (res.status !== 200) throw new Error(`status answered ${res.status}: ${res.text}`);
  return res.body.hosts;
}

/** Each live agent-ws replica's own view of presence (every replica answers from its mirror of the bucket). */
async function replicaViews(): Promise<Record<string, HostStatus>[]> {
  const token = await t.adminToken();
  return Promise.all(
    replicas("agent-ws")
      .filter((r) => r.process.running)
      .map(async (r) => {
        const res = await fetch(`${r.url}/api/v1/agents/status`, { headers: { authorization: `Bearer ${token}` } });
        if (!res.ok) throw new Error(`${r.url} answered ${res.status}`);
        return ((await res.json()) as { hosts: Record<string, HostStatus> }).hosts;
      }),
  );
}

/**
 * Every host in `ids` connected on a replica that is a live process right now, in every replica's view alike; else
 * an error naming what differs (for `eventually`'s message).
 */
async function allOnLiveReplicas(ids: readonly string[]): Promise<Record<string, HostStatus>> {
  const views = await replicaViews();
  const wrong = ids.filter((id) => views.some((view) => !view[id]?.connected || !processOf("agent-ws", view[id]!.replica) || view[id]!.replica !== views[0]![id]?.replica));
  if (wrong.length === 0) return views[0]!;
  const sample = wrong.slice(0, 3).map((id) => `${id}: ${views.map((v) => (v[id]?.connected ? v[id]!.replica : "offline")).join(" | ")}`);
  throw new Error(`${wrong.length} hosts not online alike in the ${views.length} live replicas' views, e.g. ${sample.join("; ")}`);
}

/** The terminal-ws process holding a terminal's session, as the cluster's session list records it. */
async function sessionHolder(terminal: TerminalTestClient): Promise<RunningService | undefined> {
  const id = (terminal.messages[0] as { session_id: string }).session_id;
  const res = await t.api<{ sessions: TerminalSessionSummary[] }>("/api/v1/terminal/sessions?limit=50");
  return processOf("terminal-ws", res.body.sessions.find((s) => s.sessionId === id)?.replica);
}

/** Runs `work` with the edge routing `service` only to `only`, then restores every live replica. */
async function pinned<T>(service: string, only: RunningService, work: () => Promise<T>): Promise<T> {
  t.stack.edge!.setUpstreams(service, [only.url]);
  try {
    return await work();
  } finally {
    t.stack.edge!.setUpstreams(service, replicas(service).map((r) => r.url));
  }
}

/** A reference agent allowed to proxy SSH, connected through the edge while it routes agents only to `replica`. */
async function proxyAgentOn(replica: RunningService, name: string, onlineWithinMs = 20_000) {
  // auth answers 503 (Retry-After) while the credential store has no leader, e.g. just after a NATS node died.
  const created = await eventually(() => t.createHost(name), 30_000, `host ${name} created`);
  mark(`host ${name} created`);
  const agent = t.agentFor(created, join(dir, `${name}-known_hosts`));
  cleanups.push(() => agent.stop());
  proxyAgentCount += 1;
  await pinned("agent-ws", replica, async () => {
    agent.start();
    await eventually(() => allOnLiveReplicas([created.host.id]), onlineWithinMs, `${name} online`);
  });
  mark(`${name} online in every view`);
  return { hostId: created.host.id, agent };
}

/** Opens a terminal on one terminal-ws replica (the edge pinned to it) and checks it echoes. */
async function terminalOn(replica: RunningService, hostId: string, mode: "direct" | "proxy"): Promise<TerminalTestClient> {
  const terminal = await pinned("terminal-ws", replica, () => t.shell(hostId, undefined, { connection_mode: mode }));
  cleanups.push(async () => terminal.ws.terminate());
  await echoes(terminal, `${mode}-opened`);
  return terminal;
}

let echoCounter = 0;
/** Types a command and waits for its output (the arithmetic shows the shell ran it, not just echoed the keys). */
async function echoes(terminal: TerminalTestClient, label: string, timeoutMs = 15_000): Promise<void> {
  const n = ++echoCounter;
  const from = terminal.outputLength;
  terminal.type(`echo ${label}-$((${n} * 1000 + 7))\n`);
  await terminal.waitForOutput(`${label}-${n * 1000 + 7}`, { from, timeoutMs });
}

/** Sends one command to the whole fleet, queued for hosts whose agent is offline; returns its summary. */
async function sendToFleet(command: Record<string, unknown>): Promise<Record<string, number>> {
  const res = await t.api<{ summary: Record<string, number>; elapsedMs: number; results: { status: string; reason?: string }[] }>("/api/v1/agents/commands", undefined, {
    method: "POST",
    body: { hostIds: fleetIds, command, ifOffline: "queue" },
  });
  expect(res.status, res.text).toBe(200);
  const why: Record<string, number> = {};
  for (const { status, reason } of res.body.results) {
    const key = reason ? `${status} (${reason})` : status;
    why[key] = (why[key] ?? 0) + 1;
  }
  mark(`${String(command.type)} answered in ${Math.round(res.body.elapsedMs)} ms: ${JSON.stringify(why)}`);
  return res.body.summary;
}

/** Waits until the durable command queue is empty and nothing in it failed. */
async function commandQueueDrained(): Promise<void> {
  const redis = new Redis(t.stack.redisUrl, { maxRetriesPerRequest: null });
  const queue = new Queue(QueueNames.agentCommands, { connection: redis });
  try {
    await eventually(async () => {
      const counts = await queue.getJobCounts("waiting", "active", "delayed", "prioritized");
      return Object.values(counts).every((n) => n === 0);
    }, 60_000, "command queue drained");
    const failed = await queue.getJobs(["failed"]);
    expect(failed.map((job) => job.failedReason)).toEqual([]);
  } finally {
    await queue.close();
    redis.disconnect();
  }
}

/** Every simulated host received exactly one command of `type`, and it carried the same id everywhere it went. */
function deliveredExactlyOnce(type: string): void {
  const missing: string[] = [];
  const duplicated: string[] = [];
  for (const id of fleetIds) {
    const copies = (received.get(id) ?? []).filter((m) => m.type === type);
    if (copies.length === 0) missing.push(id);
    if (copies.length > 1) duplicated.push(`${id}×${copies.length}`);
  }
  expect({ missing: missing.length, duplicated }).toEqual({ missing: 0, duplicated: [] });
}

// ---- the fleet ------------------------------------------------------------------------------------------------

describe("the scaled-out system under kill -9", () => {
  let directHostId: string;
  let proxyA: { hostId: string; agent: ReferenceAgent };
  let proxyB: { hostId: string; agent: ReferenceAgent };
  let direct: TerminalTestClient;
  let viaA: TerminalTestClient;
  let viaB: TerminalTestClient;
  let events: TestWsClient<{ type: string; [key: string]: unknown }>;
  let board: Awaited<ReturnType<typeof boardSession>>;

  const eventsUrl = () => `${t.edgeUrl.replace(/^https/, "wss")}/bullboard/events`;
  const openEvents = async () => {
    const socket = await TestWsClient.connect<{ type: string; [key: string]: unknown }>(eventsUrl(), { ca: t.ca, headers: { cookie: board.cookie, origin: t.origin } });
    cleanups.push(async () => socket.terminate());
    await socket.waitFor((m) => m.type === "hello", { what: "the event socket's hello" });
    return socket;
  };
  /** A job event for the agent-commands queue at or after message `since`. */
  const commandJobEvent = (socket: typeof events, since: number) =>
    socket.waitFor((m) => m.type === "job" && m.queue === QueueNames.agentCommands, { since, timeoutMs: 30_000, what: "an agent-commands job event" });

  it(`brings up ${FLEET_SIZE} agents through the edge, spread over the three agent-ws replicas`, async () => {
    const token = await t.adminToken();
    const credentials: { hostId: string; apiId: string; apiKey: string }[] = [];
    for (let i = 0; i < FLEET_SIZE; i += 50) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(50, FLEET_SIZE - i) }, (_, j) => t.stack.auth.client.createHost(token, { name: `fleet-${String(i + j).padStart(3, "0")}` })),
      );
      for (const { host, apiKey } of batch) credentials.push({ hostId: host.id, apiId: host.apiId, apiKey });
    }
    fleetIds = credentials.map((c) => c.hostId);
    mark("hosts created");
    simulation = await simulate({
      server: t.edgeUrl,
      ca: t.ca,
      agents: credentials.map(({ apiId, apiKey }) => ({ apiId, apiKey })),
      backoff: { initialMs: 500, maxMs: 2000 },
      connectConcurrency: 50,
    });
    simulation.agents.forEach((agent, i) => {
      const list: ServerToAgentMessage[] = [];
      received.set(credentials[i]!.hostId, list);
      agent.on("command", (m) => list.push(m));
    });
    await simulation.waitForConnected(FLEET_SIZE, 120_000);
    mark("fleet connected");
    const hosts = await eventually(() => allOnLiveReplicas(fleetIds), 30_000, "the fleet online in every replica's view");
    const perReplica = new Map<string, number>();
    for (const id of fleetIds) perReplica.set(hosts[id]!.replica!, (perReplica.get(hosts[id]!.replica!) ?? 0) + 1);
    expect(perReplica.size).toBe(3);
    for (const count of perReplica.values()) expect(count).toBeGreaterThan(FLEET_SIZE / 10);
  }, 240_000);

  it("opens a direct terminal, a proxy terminal through each of two agent-ws replicas, and a Bull Board event socket", async () => {
    const [agentWsA, agentWsB] = replicas("agent-ws");
    const [terminalWs1, terminalWs2] = replicas("terminal-ws");
    proxyA = await proxyAgentOn(agentWsA!, "proxy-a");
    proxyB = await proxyAgentOn(agentWsB!, "proxy-b");
    directHostId = (await t.createHost("direct")).host.id;
    direct = await terminalOn(terminalWs1!, directHostId, "direct");
    viaA = await terminalOn(terminalWs2!, proxyA.hostId, "proxy");
    viaB = await terminalOn(terminalWs2!, proxyB.hostId, "proxy");
    // The session list (audit trail, written asynchronously) agrees on where each one lives.
    await eventually(async () => (await sessionHolder(direct)) === terminalWs1, 10_000, "the direct session on terminal-ws 1");
    expect([await sessionHolder(viaA), await sessionHolder(viaB)]).toEqual([terminalWs2, terminalWs2]);

    board = await boardSession(t.stack.service("bullboard"), t.stack.auth, await t.adminToken());
    events = await openEvents();
    mark("terminals and event socket open");
  }, 120_000);

  it("kill -9 of an agent-ws replica: its agents reconnect, commands queued meanwhile arrive exactly once, its proxy terminal is told why, the others carry on", async () => {
    const victim = processOf("agent-ws", (await presence())[proxyA.hostId]!.replica)!;
    expect(victim).toBeDefined();
    const eventsSince = events.messages.length;
    await victim.kill();
    mark("agent-ws killed");

    const summary = await sendToFleet({ type: "update_agent" });
    expect(Object.values(summary).reduce((a, b) => a + b, 0)).toBe(FLEET_SIZE);
    expect(Object.keys(summary).every((status) => ["acked", "delivered", "queued"].includes(status))).toBe(true);
    expect(summary.queued ?? 0).toBeGreaterThan(0);

    // The proxy terminal whose agent the dead replica held: terminal-ws notices the silence and says so.
    const close = await viaA.ws.waitForClose(40_000);
    mark("proxy terminal A closed");
    expect(close.code).toBe(CloseCode.TARGET_UNAVAILABLE);
    expect(viaA.errors.at(-1)).toMatchObject({ code: "RELAY_LOST", message: expect.stringMatching(/stopped answering/) });
    // Unaffected: the direct terminal and the proxy terminal through a surviving replica.
    await echoes(direct, "direct-after-agent-ws");
    await echoes(viaB, "proxy-b-after-agent-ws");

    await simulation.waitForConnected(FLEET_SIZE, 60_000);
    await eventually(() => allOnLiveReplicas([...fleetIds, proxyA.hostId, proxyB.hostId]), 60_000, "everyone online on live replicas");
    mark("fleet reconnected");
    await eventually(() => fleetIds.every((id) => received.get(id)!.some((m) => m.type === "update_agent")), 60_000, "every agent got the command");
    await commandQueueDrained();
    deliveredExactlyOnce("update_agent");
    mark("queued commands delivered");
    // Bull Board showed the queued commands moving.
    await commandJobEvent(events, eventsSince);
    // The proxied host is reachable through its agent again (now on another replica).
    viaA = await terminalOn(replicas("terminal-ws")[1]!, proxyA.hostId, "proxy");
  }, 240_000);

  it("kill -9 of a terminal-ws replica: its terminal ends (1006, the process is gone), the one on the survivor carries on, new terminals open", async () => {
    const [survivor, victim] = replicas("terminal-ws");
    expect(await sessionHolder(direct)).toBe(survivor);
    await eventually(async () => (await sessionHolder(viaA)) === victim, 10_000, "the reopened proxy session on terminal-ws 2");
    await victim!.kill();
    mark("terminal-ws killed");
    expect((await viaB.ws.waitForClose(15_000)).code).toBe(1006);
    expect((await viaA.ws.waitForClose(15_000)).code).toBe(1006);
    await echoes(direct, "direct-after-terminal-ws");
    // A reconnect (the web UI's, with a fresh ticket) lands on a live replica.
    await eventually(() => replicas("terminal-ws").every((r) => r.process.running), 60_000, "terminal-ws restarted");
    viaB = await t.shell(proxyB.hostId, undefined, { connection_mode: "proxy" });
    cleanups.push(async () => viaB.ws.terminate());
    await echoes(viaB, "proxy-b-reopened");
    mark("terminal reopened");
  }, 120_000);

  it("kill -9 of an auth replica: sign-in, tickets, agent authentication and terminals keep working", async () => {
    const [victim] = replicas("auth");
    await victim!.kill();
    mark("auth killed");
    await echoes(direct, "direct-after-auth");
    await echoes(viaB, "proxy-b-after-auth");
    // Requests the edge sent to the dead replica before its health check noticed are retried by the caller.
    const user = await eventually(() => t.user(), 15_000, "a new user signs in");
    const terminal = await eventually(() => t.shell(directHostId, user.token), 15_000, "a terminal with a fresh ticket");
    await echoes(terminal, "new-user");
    await terminal.disconnect();
    // An agent whose key auth has to check now.
    const fresh = await proxyAgentOn(replicas("agent-ws")[2]!, "after-auth-kill");
    expect((await presence())[fresh.hostId]).toMatchObject({ connected: true });
    expect(simulation.connectedCount()).toBe(FLEET_SIZE);
    mark("auth checks done");
  }, 120_000);

  it("kill -9 of bullboard: the event socket drops, and once it is back a new socket follows the queues again", async () => {
    const [victim] = replicas("bullboard");
    await victim!.kill();
    expect((await events.waitForClose(15_000)).code).toBe(1006);
    mark("bullboard killed");
    events = await eventually(() => openEvents(), 60_000, "the event socket again");
    // A queue of its own: discovered by the new replica (its first job), then its next job reported live.
    const redis = new Redis(t.stack.redisUrl, { maxRetriesPerRequest: null });
    const queue = new Queue("scale-check", { connection: redis });
    try {
      await queue.add("discover", {});
      await events.waitFor((m) => m.type === "queues" && (m.queues as string[]).includes("scale-check"), { timeoutMs: 30_000, what: "the queue discovered" });
      const since = events.messages.length;
      const job = await queue.add("check", { after: "bullboard restart" });
      await events.waitFor((m) => m.type === "job" && m.queue === "scale-check" && m.jobId === job.id, { since, timeoutMs: 30_000, what: "the new job's event" });
      await queue.obliterate({ force: true });
    } finally {
      await queue.close();
      redis.disconnect();
    }
    mark("bullboard back");
  }, 120_000);

  it("kill -9 of a NATS node: commands, presence, terminals in both modes and the event socket carry on over the other two", async () => {
    const cluster = t.stack.natsCluster!;
    // The node the proxy terminal's relay runs through: the agent-ws replica holding its agent subscribes there.
    const sessionId = (viaB.messages[0] as { session_id: string }).session_id;
    const victim = await cluster.nodeServing(RelaySubjects.input(sessionId));
    expect(victim).toBeDefined();
    await victim!.kill();
    mark(`NATS node ${victim!.name} killed`);
    await echoes(direct, "direct-after-nats", 30_000);
    await echoes(viaB, "proxy-b-after-nats", 30_000);
    // Commands cross replicas over NATS: all 500 acked or delivered (or queued and then delivered).
    await sendToFleet({ type: "docker_inventory_refresh" });
    await eventually(() => fleetIds.every((id) => received.get(id)!.some((m) => m.type === "docker_inventory_refresh")), 60_000, "every agent got it");
    await commandQueueDrained();
    deliveredExactlyOnce("docker_inventory_refresh");
    // Presence is written to KV (three replicas, now two): a new connection shows up in every replica's view. A view
    // whose watch ran through the dead node catches up once its follower sees the stall (a check every 5 s) and
    // reads the bucket again, while JetStream may still be electing new leaders: allow for both.
    const fresh = await proxyAgentOn(replicas("agent-ws").find((r) => r.process.running)!, "after-nats-kill", 45_000);
    expect((await presence())[fresh.hostId]).toMatchObject({ connected: true });
    expect(events.ws.readyState).toBe(events.ws.OPEN);
    mark("NATS node checks done");
  }, 180_000);

  it("afterwards presence is exact: every agent connected once, on a live replica, and each replica's view agrees", async () => {
    // Each replica answers from its own view of the presence bucket: all three agree, on live replicas only.
    await eventually(() => allOnLiveReplicas(fleetIds), 30_000, "the fleet on live replicas in every view");
    expect(simulation.connectedCount()).toBe(FLEET_SIZE);
    // One connection per host, no ghosts: the replicas together hold exactly the fleet and the proxy agents.
    const held = await Promise.all(
      replicas("agent-ws").map(async (r) => {
        const metrics = await (await fetch(`${r.url}/metrics`)).text();
        return Number(/^agent_ws_connections(?:\{[^}]*\})? (\d+)/m.exec(metrics)?.[1] ?? NaN);
      }),
    );
    expect(held.reduce((a, b) => a + b, 0)).toBe(FLEET_SIZE + proxyAgentCount);
    mark("presence exact");
  }, 120_000);
});
