/**
 * agent-ws benchmark, on one replica, each figure next to a bare `ws` baseline measured in the same run:
 *  - connect storm: 10 000 agents connecting (and, for agent-ws, authenticating) with 200 attempts in flight, timed
 *    inside the agents' process from the first connection attempt to the last `open` (set-up excluded on both sides);
 *    goals <= 10 s and <= 2× bare ws;
 *  - RSS per idle agent: server RSS growth from idle to 10 000 connected, divided by 10 000, against bare ws's in
 *    the same run (goal <= 9 KiB at 10 000 agents);
 *  - command latency: HTTP POST → server → agent → ack → HTTP answer, serial, random hosts, 10 000 connected;
 *  - broadcast: one command to all 10 000 agents, answered when every agent acked;
 *  - restart: SIGTERM the server (agents told to reconnect), start a new one on the same port, time until
 *    99.9 % and 100 % of agents are back.
 * agent-ws runs as its real process with NATS, Redis and auth; its agents are the reference agent's simulate()
 * in a child process. The baseline is a bare `ws` server (no auth, no NATS) with the same HTTP shape (send one,
 * broadcast, the same request bodies, and every answer checked the same way), and its agents are the same
 * reference agents (identities `bench-<i>`, not checked): the client work on the two cores is the same on both sides.
 * Sizes: BENCH_AGENTS (10000; 19000 is one replica's planned load), BENCH_RUNS (5: its figures swing more than most),
 * BENCH_LATENCY_SAMPLES (1000), BENCH_BROADCASTS (3).
 * Agents live in processes of their own, at most AGENTS_PER_PROCESS each, so that no process holds more than 20 000
 * open files; they all start at once, and report their connection counts to the orchestrator as they change.
 * RUNS runs, every figure from the median run by the connect storm's ratio; every run starts fresh server processes. Writes bench/results/agent-ws.json.
 *
 * One file, three roles: the orchestrator (no argument), `--role=agents` and `--role=bare-server`.
 */
import { RoleProcess } from "./lib/role-process.js";
import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import WebSocket, { WebSocketServer } from "ws";
import { knob, type Goal } from "./lib/report.js";
import { NODE_ARGS, SERVICE_MODE } from "./lib/runtime.js";

const AGENTS = knob("BENCH_AGENTS", 10_000);
const RUNS = knob("BENCH_RUNS", 5);
const LATENCY_SAMPLES = knob("BENCH_LATENCY_SAMPLES", 1000);
const BROADCASTS = knob("BENCH_BROADCASTS", 3);
const CONNECT_CONCURRENCY = 200;
/** Agents (one socket each) per agents process: with its other files, well below 20 000 open files. */
const AGENTS_PER_PROCESS = 10_000;
const SETTLE_MS = 3000;
/** X-API-ID of the baseline's agents: `bench-<index>`. */
const BARE_API_ID_PREFIX = "bench-";
const BACKOFF = { initialMs: 1000, maxMs: 30_000, resetAfterMs: 5000 };
const SELF = fileURLToPath(import.meta.url);
const role = process.argv.find((a) => a.startsWith("--role="))?.slice(7);

/* ------------------------------------------------------------------ shared ------------------------------------------------------------------ */

interface Credentials {
  apiId: string;
  apiKey: string;
  hostId: string;
}

type ToChild = { cmd: "connect"; url: string; credentialsFile: string } | { cmd: "stop" };
/** Epoch times (performance.timeOrigin + now()), comparable across the agents processes. */
type FromChild =
  | { event: "connected"; startedAt: number; openedAt: number }
  /** The process's open agent sockets, sent whenever it changed (at most once per event-loop turn). */
  | { event: "count"; connected: number }
  | { event: "stopped" }
  | { event: "error"; message: string };

/** The number of open agent sockets, with waiters woken by every change (no polling). */
class ConnectedCount {
  private n = 0;
  private waiters: { done: (n: number) => boolean }[] = [];
  /** Called after every change. */
  onChange: (() => void) | undefined;

  get value(): number {
    return this.n;
  }

  add(delta: number): void {
    this.n += delta;
    if (this.waiters.length > 0) this.waiters = this.waiters.filter((w) => !w.done(this.n));
    this.onChange?.();
  }

  /** Resolves with the count once `predicate` holds for it, or after timeoutMs with whatever it is then. */
  until(predicate: (n: number) => boolean, timeoutMs: number): Promise<number> {
    if (predicate(this.n)) return Promise.resolve(this.n);
    return new Promise((resolve) => {
      const waiter = {
        done: (n: number) => {
          if (!predicate(n)) return false;
          clearTimeout(timer);
          resolve(n);
          return true;
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve(this.n);
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }
}

/** Reads VmRSS of a process, in bytes. */
function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]);
  return kib * 1024;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A free port for the servers below Linux's ephemeral range (32768 and up): the agents' tens of thousands of
 * outgoing connections take ephemeral ports, and one of them may hold the server's port when a restart binds it again.
 */
async function serverPort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const free = await new Promise<boolean>((resolve) => {
      const probe = createServer();
      probe.once("error", () => resolve(false));
      probe.listen(port, "127.0.0.1", () => probe.close(() => resolve(true)));
    });
    if (free) return port;
  }
}

/* ------------------------------------------------------------- role: bare server ------------------------------------------------------------- */

/** The baseline: a bare ws server with the same HTTP shape as agent-ws's command API, nothing else. */
async function bareServer(): Promise<void> {
  const port = Number(process.env.PORT);
  const clients = new Map<number, WebSocket>();
  const waiting = new Map<string, () => void>();
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 512 * 1024, clientTracking: false });
  const send = (ws: WebSocket) =>
    new Promise<void>((resolve) => {
      const id = randomUUID();
      waiting.set(id, resolve);
      ws.send(JSON.stringify({ type: "report_now", id }));
    });
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    // Read and parse the JSON body like agent-ws's command API does.
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    if (chunks.length > 0) JSON.parse(Buffer.concat(chunks).toString("utf8"));
    if (req.method === "POST" && url.pathname === "/send") {
      const ws = clients.get(Number(url.searchParams.get("i")));
      if (!ws) {
        res.writeHead(409).end('{"status":"offline"}');
        return;
      }
      await send(ws);
      res.writeHead(200, { "content-type": "application/json" }).end('{"status":"acked"}');
    } else if (req.method === "POST" && url.pathname === "/broadcast") {
      await Promise.all([...clients.values()].map(send));
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ acked: clients.size }));
    } else {
      res.writeHead(404).end();
    }
  });
  server.on("upgrade", (req: IncomingMessage, socket, head) => {
    // The same reference agents connect here: their X-API-ID is "bench-<index>" (no credential is checked).
    const index = Number(String(req.headers["x-api-id"] ?? "").slice(BARE_API_ID_PREFIX.length));
    wss.handleUpgrade(req, socket, head, (ws) => {
      clients.get(index)?.close(4000);
      clients.set(index, ws);
      ws.send('{"type":"connected"}');
      ws.on("message", (data) => {
        const message = JSON.parse(data.toString()) as { type: string; id?: string };
        if (message.type === "ack" && message.id) {
          waiting.get(message.id)?.();
          waiting.delete(message.id);
        }
      });
      ws.on("close", () => {
        if (clients.get(index) === ws) clients.delete(index);
      });
      ws.on("error", () => undefined);
    });
  });
  // Same heartbeat as agent-ws: a ping every 25 s.
  setInterval(() => {
    for (const ws of clients.values()) ws.ping();
  }, 25_000).unref();
  process.on("SIGTERM", () => {
    for (const ws of clients.values()) ws.close(1012);
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 5000).unref();
  });
  server.listen(port, "127.0.0.1", () => process.stdout.write(`{"port":${port},"msg":"listening"}\n`));
}

/* ---------------------------------------------------------------- role: agents ---------------------------------------------------------------- */

const epochNow = (at = performance.now()) => performance.timeOrigin + at;

interface Fleet {
  readonly count: ConnectedCount;
  /** `performance.now()` right before the first connection attempt. */
  readonly startedAt: number;
  /** Agents in this process. */
  readonly size: number;
  stop(): Promise<void>;
}

/** The reference agents (simulate()), counted by their own connected/disconnected events. */
async function referenceAgents(url: string, credentialsFile: string): Promise<Fleet> {
  const { simulate } = await import("@patchmon-ws/agent");
  const credentials = JSON.parse(readFileSync(credentialsFile, "utf8")) as Credentials[];
  const simulation = await simulate({
    server: url,
    agents: credentials.map((c) => ({ apiId: c.apiId, apiKey: c.apiKey })),
    connectConcurrency: CONNECT_CONCURRENCY,
    backoff: { initialMs: BACKOFF.initialMs, maxMs: BACKOFF.maxMs },
  });
  // simulate() starts the agents before it returns; none can have connected yet (that needs the event loop).
  const count = new ConnectedCount();
  for (const agent of simulation.agents) {
    agent.on("connected", () => count.add(1));
    agent.on("disconnected", () => count.add(-1));
  }
  return { count, startedAt: simulation.startedAt, size: credentials.length, stop: () => simulation.stop() };
}

async function agentsRole(): Promise<void> {
  let fleet: Fleet | undefined;
  const reply = (message: FromChild) => process.send!(message);
  let countQueued = false;
  const reportCount = () => {
    countQueued = false;
    reply({ event: "count", connected: fleet!.count.value });
  };
  process.on("message", async (message: ToChild) => {
    try {
      if (message.cmd === "connect") {
        // Both clocks start at the first connection attempt, taken by the fleet itself (after any set-up).
        fleet = await referenceAgents(message.url, message.credentialsFile);
        const own = fleet.count;
        const reached = await own.until((n) => n >= fleet!.size, 120_000);
        if (reached < fleet.size) throw new Error(`only ${reached} of ${fleet.size} agents connected after 120 s`);
        reply({ event: "connected", startedAt: epochNow(fleet.startedAt), openedAt: epochNow() });
        own.onChange = () => {
          if (!countQueued) setImmediate(reportCount);
          countQueued = true;
        };
        reportCount();
      } else if (message.cmd === "stop") {
        await fleet?.stop();
        reply({ event: "stopped" });
        process.exit(0);
      }
    } catch (err) {
      reply({ event: "error", message: String((err as Error)?.stack ?? err) });
    }
  });
}

/* ------------------------------------------------------------- role: orchestrator ------------------------------------------------------------- */

/** One agents process of a run, with its open sockets as it last reported them. */
class AgentsProcess extends RoleProcess<ToChild, FromChild> {
  connected = 0;

  constructor(onCount: () => void) {
    super(SELF, "agents", {
      unsolicited: (m) => {
        if (m.event !== "count") return false;
        this.connected = m.connected;
        onCount();
        return true;
      },
    });
  }
}

/** Every agent of a run, in as many agents processes as the open-files limit asks for, counted together. */
class AgentFleet {
  readonly count = new ConnectedCount();
  private readonly processes: AgentsProcess[];

  constructor(private readonly credentialsFiles: readonly string[]) {
    this.processes = credentialsFiles.map(() => new AgentsProcess(() => this.recount()));
  }

  private recount(): void {
    const total = this.processes.reduce((sum, p) => sum + p.connected, 0);
    this.count.add(total - this.count.value);
  }

  /** Connects every agent at once; the storm lasts from the first connection attempt to the last open, in any process. */
  async connect(url: string): Promise<number> {
    const replies = (await Promise.all(this.processes.map((p, i) => p.ask({ cmd: "connect", url, credentialsFile: this.credentialsFiles[i]! })))) as Extract<FromChild, { event: "connected" }>[];
    return Math.max(...replies.map((r) => r.openedAt)) - Math.min(...replies.map((r) => r.startedAt));
  }

  /** Resolves with the total once it is at least / at most the given count, or after timeoutMs with whatever it is. */
  waitCount(bound: { atLeast?: number; atMost?: number }, timeoutMs: number): Promise<number> {
    const { atLeast, atMost } = bound;
    return this.count.until((n) => (atLeast === undefined || n >= atLeast) && (atMost === undefined || n <= atMost), timeoutMs);
  }

  async stop(): Promise<void> {
    await Promise.all(this.processes.map((p) => p.ask({ cmd: "stop" })));
  }

  kill(): void {
    for (const p of this.processes) p.kill();
  }
}

interface RunFigures {
  stormMs: number;
  rssPerConnKiB: number;
  p50: number;
  p99: number;
  broadcastMs: number;
  restart999Ms: number;
  restart100Ms: number;
}

interface Target {
  start(): Promise<{ pid: number; stop(): Promise<unknown> }>;
  agentUrl: string;
  sendOne(index: number): Promise<void>;
  broadcast(): Promise<void>;
}

const RESTART_TIMEOUT_MS = 120_000;

/**
 * Times a restart from the SIGTERM: waits for the old server to exit and for the agents to see their sockets
 * closed, starts the new server on the same port, then takes the moments the agents' processes report 99.9 % and
 * 100 % of them connected again (they report on the connection events themselves, no polling). Prints when each
 * phase ended, for reading where a restart's time goes.
 */
async function timeUntilBack(agents: AgentFleet, stop: () => Promise<unknown>, start: () => Promise<unknown>): Promise<{ at999: number; at100: number }> {
  const began = performance.now();
  const phases: string[] = [];
  const phase = (name: string) => phases.push(`${name} ${Math.round(performance.now() - began)}`);
  await stop();
  phase("exited");
  await agents.waitCount({ atMost: 0 }, 30_000);
  phase("all-closed");
  await start();
  phase("listening");
  const left = () => Math.max(0, RESTART_TIMEOUT_MS - (performance.now() - began));
  await agents.waitCount({ atLeast: Math.ceil(AGENTS * 0.5) }, left());
  phase("50%");
  await agents.waitCount({ atLeast: Math.ceil(AGENTS * 0.999) }, left());
  const at999 = performance.now() - began;
  phase("99.9%");
  await agents.waitCount({ atLeast: AGENTS }, left());
  phase("100%");
  process.stdout.write(`  restart phases (ms after SIGTERM): ${phases.join(", ")}\n`);
  return { at999, at100: performance.now() - began };
}

async function measure(target: Target, credentialsFiles: readonly string[]): Promise<RunFigures> {
  let server = await target.start();
  await target.sendOne(-1).catch(() => undefined); // warm the HTTP path
  await sleep(1000);
  const idleRss = rssOf(server.pid);
  const agents = new AgentFleet(credentialsFiles);
  try {
    const stormMs = await agents.connect(target.agentUrl);
    await sleep(SETTLE_MS);
    const rssPerConnKiB = (rssOf(server.pid) - idleRss) / AGENTS / 1024;

    for (let i = 0; i < 100; i++) await target.sendOne(Math.floor(Math.random() * AGENTS)); // warm-up
    const latencies: number[] = [];
    for (let i = 0; i < LATENCY_SAMPLES; i++) {
      const index = Math.floor(Math.random() * AGENTS);
      const started = performance.now();
      await target.sendOne(index);
      latencies.push(performance.now() - started);
    }
    latencies.sort((a, b) => a - b);

    const broadcasts: number[] = [];
    for (let i = 0; i < BROADCASTS; i++) {
      const started = performance.now();
      await target.broadcast();
      broadcasts.push(performance.now() - started);
    }

    let next: { pid: number; stop(): Promise<unknown> } | undefined;
    const back = await timeUntilBack(
      agents,
      () => server.stop(),
      async () => {
        next = await target.start();
      },
    );
    server = next!;
    return {
      stormMs,
      rssPerConnKiB,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      broadcastMs: median(broadcasts),
      restart999Ms: back.at999,
      restart100Ms: back.at100,
    };
  } finally {
    await Promise.race([agents.stop(), sleep(15_000)]).catch(() => undefined);
    agents.kill();
    await server.stop();
  }
}

// Imported lazily so the child roles do not load the test harness.
let percentile: (sorted: readonly number[], p: number) => number;
let median: (values: readonly number[]) => number;

async function orchestrate(): Promise<void> {
  const report = await import("./lib/report.js");
  percentile = report.percentile;
  median = report.median;
  const { REPO_ROOT, ManagedProcess, startAuth, startNatsServer, startRedisServer, startService } = await import("@patchmon-ws/stack");

  const workDir = mkdtempSync(join(tmpdir(), "patchmon-ws-bench-agent-ws-"));
  const nats = await startNatsServer();
  const redis = await startRedisServer();
  const auth = await startAuth(nats.url, { AGENT_AUTH_MAX_FAILURES: "1000000" }, SERVICE_MODE);
  try {
    const token = await auth.adminToken();
    process.stdout.write(`creating ${AGENTS} hosts...\n`);
    const credentials: Credentials[] = new Array(AGENTS);
    let next = 0;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        for (let i = next++; i < AGENTS; i = next++) {
          const { host, apiKey } = await auth.client.createHost(token, { name: `bench-${i}` });
          credentials[i] = { apiId: host.apiId, apiKey, hostId: host.id };
        }
      }),
    );
    // One file per agents process, the agents split evenly.
    const processes = Math.ceil(AGENTS / AGENTS_PER_PROCESS);
    const share = Math.ceil(AGENTS / processes);
    const splitInto = (name: string, all: Credentials[]) =>
      Array.from({ length: processes }, (_, i) => {
        const file = join(workDir, `${name}-${i}.json`);
        writeFileSync(file, JSON.stringify(all.slice(i * share, (i + 1) * share)));
        return file;
      });
    const credentialsFiles = splitInto("credentials", credentials);

    const agentWsPort = await serverPort();
    const agentWsUrl = `http://127.0.0.1:${agentWsPort}`;
    const headers = { authorization: `Bearer ${token}`, "content-type": "application/json" };
    const post = async (url: string, body: unknown, expect: (b: Record<string, unknown>) => boolean) => {
      const res = await fetch(url, { method: "POST", headers, body: JSON.stringify(body) });
      const parsed = (await res.json()) as Record<string, unknown>;
      if (!expect(parsed)) throw new Error(`unexpected answer ${res.status}: ${JSON.stringify(parsed).slice(0, 300)}`);
    };
    const agentWs: Target = {
      agentUrl: agentWsUrl,
      async start() {
        const service = await startService(
          "agent-ws",
          { NATS_URL: nats.url, REDIS_URL: redis.url, LOG_LEVEL: "info", MAX_PENDING_UPGRADES: "5000" },
          { port: agentWsPort, ...SERVICE_MODE },
        );
        return { pid: service.process.child.pid!, stop: () => service.stop() };
      },
      async sendOne(index) {
        const hostId = index < 0 ? credentials[0]!.hostId : credentials[index]!.hostId;
        await post(`${agentWsUrl}/api/v1/agents/${hostId}/commands`, { command: { type: "report_now" } }, (b) => index < 0 || b.status === "acked");
      },
      async broadcast() {
        await post(`${agentWsUrl}/api/v1/agents/commands`, { hostIds: "all", command: { type: "report_now" } }, (b) => (b.summary as { acked?: number })?.acked === AGENTS);
      },
    };

    // The baseline's agents are the same reference agents (the same client work on the same two cores), with
    // identities the bare server maps to indexes.
    const bareCredentialsFiles = splitInto("bare-credentials", credentials.map((_, i) => ({ apiId: `${BARE_API_ID_PREFIX}${i}`, apiKey: "bench", hostId: String(i) })));
    const barePort = await serverPort();
    const bareUrl = `http://127.0.0.1:${barePort}`;
    const bare: Target = {
      agentUrl: `ws://127.0.0.1:${barePort}`,
      async start() {
        const child = new ManagedProcess(process.execPath, [...NODE_ARGS, SELF, "--role=bare-server"], {
          cwd: REPO_ROOT,
          env: { ...process.env, PORT: String(barePort) },
        });
        await child.waitForOutput(/"msg":"listening"/);
        return { pid: child.child.pid!, stop: () => child.stop() };
      },
      // The same request and the same check of the answer as for agent-ws.
      async sendOne(index) {
        await post(`${bareUrl}/send?i=${index}`, { command: { type: "report_now" } }, (b) => index < 0 || b.status === "acked");
      },
      async broadcast() {
        await post(`${bareUrl}/broadcast`, {}, (b) => b.acked === AGENTS);
      },
    };

    const ours: RunFigures[] = [];
    const baseline: RunFigures[] = [];
    for (let run = 1; run <= RUNS; run++) {
      process.stdout.write(`run ${run}/${RUNS}: bare ws baseline...\n`);
      baseline.push(await measure(bare, bareCredentialsFiles));
      process.stdout.write(`run ${run}/${RUNS}: agent-ws...\n`);
      ours.push(await measure(agentWs, credentialsFiles));
      process.stdout.write(`  agent-ws ${JSON.stringify(ours.at(-1))}\n  bare     ${JSON.stringify(baseline.at(-1))}\n`);
    }

    // Every figure from one run, the median run by the connect storm's ratio; every run's figures are kept.
    const runsOf = (key: keyof RunFigures) => ours.map((r, i) => ({ value: r[key], baseline: baseline[i]![key] }));
    const figure = (name: string, key: keyof RunFigures, unit: string, goals: Goal[]) => ({ name, runs: runsOf(key), unit, baselineName: "bare ws", goals });
    const stormName = `connect storm, ${AGENTS} agents`;
    const { figures, medianRun } = report.fromMedianRun(
      [
        figure(stormName, "stormMs", "ms", [
          { kind: "max", value: 10_000 },
          { kind: "ratioMax", value: 2 },
        ]),
        // The one RSS goal that can decide (a 20 KiB bound beside it never could); bare ws's RSS per connection of
        // the same run is its baseline.
        figure(`RSS per idle agent (${AGENTS} connected)`, "rssPerConnKiB", "KiB", [{ kind: "max", value: 9, note: "at 10000 agents" }]),
        figure(`command latency p50 (API → agent ack, ${AGENTS} connected)`, "p50", "ms", [{ kind: "max", value: 2, strict: true }]),
        figure(`command latency p99 (API → agent ack, ${AGENTS} connected)`, "p99", "ms", [{ kind: "max", value: 10, strict: true }]),
        figure(`broadcast to all ${AGENTS} (all acked)`, "broadcastMs", "ms", [{ kind: "max", value: 1000, strict: true }]),
        figure("restart: 99.9 % of agents back", "restart999Ms", "ms", [{ kind: "max", value: 60_000 }]),
        // No goal: shown for information, so it has no verdict either.
        figure("restart: 100 % of agents back", "restart100Ms", "ms", []),
      ],
      stormName,
    );
    report.printAndSave({
      bench: "agent-ws",
      date: new Date().toISOString(),
      machine: report.machine(),
      method:
        `${RUNS} runs, each with fresh server processes; ${AGENTS} agents (the reference agent's simulate() for both agent-ws and the bare baseline) ` +
        `in a child process, ${CONNECT_CONCURRENCY} connection attempts in flight; agent-ws with real NATS, Redis and auth on loopback, LOG_LEVEL=info; ` +
        `connect storm timed in the agents' process from its first connection attempt (after set-up) to the last open event, on both sides; ` +
        `RSS per idle agent = server RSS growth from idle to all connected (after ${SETTLE_MS / 1000} s settling) / agents; ` +
        `latency = ${LATENCY_SAMPLES} serial HTTP POSTs (same body, headers and answer check on both sides) to random hosts answered after the agent's ack; broadcast = median of ${BROADCASTS}; ` +
        `restart = SIGTERM (agents told to reconnect), new process on the same port, agents back with full-jitter backoff from 1 s, counted from the agents' connection events; figures from the median run by the connect storm's ratio`,
      runs: RUNS,
      figures,
      medianRun,
    });
  } finally {
    await auth.service.stop().catch(() => undefined);
    await redis.dispose();
    await nats.dispose();
    rmSync(workDir, { recursive: true, force: true });
  }
}

if (role === "agents") await agentsRole();
else if (role === "bare-server") await bareServer();
else await orchestrate();
