/**
 * Bullboard benchmark (not a test): real nats-server, redis-server, auth and bullboard processes.
 *
 *  1. `GET /bullboard/api/queues` latency with 10 queues × 10 000 jobs (goal p95 < 100 ms), for the overview the
 *     UI polls and for a queue page (counts plus one page of jobs). Each has its own baseline doing the same Redis
 *     work directly with bare BullMQ from this process (no HTTP, no auth, no Bull Board): the calls Bull Board's
 *     queues handler makes for every listed queue (getJobCounts, isPaused, getGlobalConcurrency, getRateLimitTtl,
 *     getJobSchedulersCount, getWorkers), plus, for the queue page, getJobs of one page over every status and toJSON.
 *  2. Live-event delivery latency from job completion (the worker's processor returning) to the `completed`
 *     message on /bullboard/events (goal p99 < 50 ms). Baseline: a bare BullMQ QueueEvents in this process
 *     receiving the same `completed` event.
 *
 * Repeats the whole measurement BENCH_RUNS times (default 3), prints each run's table, and saves the median run (by
 * the overview's p95 ratio) with every run's figures to bench/results/bullboard.json. Sizes: BENCH_RUNS (3), BENCH_QUEUES (10), BENCH_JOBS (10000 per queue),
 * BENCH_HTTP_SAMPLES (300), BENCH_EVENT_SAMPLES (500).
 * Run: node --conditions=source --import tsx bench/bullboard.ts
 */
import { pathToFileURL } from "node:url";
import { cpus } from "node:os";
import { Redis } from "ioredis";
import { Queue, QueueEvents, Worker, type JobType } from "bullmq";
import WebSocket from "ws";
import { startAuth, startNatsServer, startRedisServer, startService } from "@patchmon-ws/stack";
import { SERVICE_MODE } from "./lib/runtime.js";
import { fromMedianRun, knob, machine, printAndSave, type BenchResult } from "./lib/report.js";

const RUNS = knob("BENCH_RUNS", 3);

const QUEUE_COUNT = knob("BENCH_QUEUES", 10);
const JOBS_PER_QUEUE = knob("BENCH_JOBS", 10_000);
const HTTP_SAMPLES = knob("BENCH_HTTP_SAMPLES", 300);
const HTTP_WARMUP = 30;
const EVENT_SAMPLES = knob("BENCH_EVENT_SAMPLES", 500);
const EVENT_WARMUP = 30;
const LATENCY_QUEUE = "bench-latency";
/** Jobs on the measured queue page (Bull Board's default page size). */
const JOBS_PAGE = 10;

export interface Stats {
  samples: number;
  mean: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

export interface BullboardBenchResult {
  date: string;
  machine: { cpus: number; model: string; node: string };
  setup: { queues: number; jobsPerQueue: number };
  /** Queues the board lists (the bench queues, the latency queue and the ones declared in packages/protocol). */
  queuesApi: { listed: number; overview: Stats; queuePage: Stats; baselineOverview: Stats; baselineQueuePage: Stats; goalP95Ms: number };
  events: { socket: Stats; baselineQueueEvents: Stats; goalP99Ms: number };
}

function stats(values: number[]): Stats {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? 0;
  const round = (v: number) => Math.round(v * 1000) / 1000;
  return {
    samples: sorted.length,
    mean: round(sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length)),
    p50: round(at(0.5)),
    p95: round(at(0.95)),
    p99: round(at(0.99)),
    max: round(sorted.at(-1) ?? 0),
  };
}

const now = () => performance.now();

async function timed(samples: number, warmup: number, run: () => Promise<void>): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await run();
  const out: number[] = [];
  for (let i = 0; i < samples; i++) {
    const start = now();
    await run();
    out.push(now() - start);
  }
  return out;
}

export async function runBullboardBench(log: (line: string) => void = console.log): Promise<BullboardBenchResult> {
  const nats = await startNatsServer();
  const redis = await startRedisServer();
  const cleanups: (() => Promise<unknown> | void)[] = [];
  try {
    const queueNames = Array.from({ length: QUEUE_COUNT }, (_, i) => `bench-${i}`);
    const connections: Redis[] = [];
    const connect = () => {
      const client = new Redis(redis.url, { maxRetriesPerRequest: null });
      client.on("error", () => undefined);
      connections.push(client);
      return client;
    };
    // Registered first, so it runs last: BullMQ leaves connections it was handed open.
    cleanups.push(() => connections.forEach((c) => c.disconnect()));
    const connection = connect();

    log(`filling ${QUEUE_COUNT} queues with ${JOBS_PER_QUEUE} jobs each…`);
    const queues = queueNames.map((name) => new Queue(name, { connection }));
    cleanups.push(() => Promise.all(queues.map((q) => q.close())));
    for (const queue of queues) {
      for (let offset = 0; offset < JOBS_PER_QUEUE; offset += 1000) {
        await queue.addBulk(
          Array.from({ length: Math.min(1000, JOBS_PER_QUEUE - offset) }, (_, i) => ({
            name: "report_now",
            data: { api_id: `patchmon_${offset + i}`, type: "report_now" },
            // One job in ten is delayed, so the counts span more than one state.
            opts: (offset + i) % 10 === 0 ? { delay: 3_600_000 } : {},
          })),
        );
      }
    }

    const auth = await startAuth(nats.url, {}, SERVICE_MODE);
    cleanups.push(() => auth.service.stop());
    const board = await startService("bullboard", {
      NATS_URL: nats.url,
      REDIS_URL: redis.url,
      BULLBOARD_QUEUES: [...queueNames, LATENCY_QUEUE].join(","),
      LOG_LEVEL: "info",
    }, SERVICE_MODE);
    cleanups.push(() => board.stop());

    const ticket = await auth.client.ticket(await auth.adminToken(), "bullboard");
    const exchange = await fetch(`${board.url}/bullboard?ticket=${ticket}`, { redirect: "manual" });
    const cookie = exchange.headers
      .getSetCookie()
      .map((c) => c.split(";")[0])
      .join("; ");

    // --- 1. /bullboard/api/queues --------------------------------------------------------------------------
    const get = (path: string) => async () => {
      const res = await fetch(`${board.url}${path}`, { headers: { cookie } });
      if (res.status !== 200) throw new Error(`${path} answered ${res.status}`);
      await res.arrayBuffer();
    };
    const OVERVIEW = "/bullboard/api/queues";
    const PAGE_QUEUE = queueNames[0]!;
    const JOBS_PER_PAGE = JOBS_PAGE;
    const QUEUE_PAGE = `/bullboard/api/queues?activeQueue=${PAGE_QUEUE}&status=latest&page=1&jobsPerPage=${JOBS_PER_PAGE}`;

    // The baselines do, with bare BullMQ in this process, what Bull Board's queues handler does for each request
    // (@bull-board/api dist/handlers/queues.js): for every listed queue getJobCounts, isPaused,
    // getGlobalConcurrency, the rate-limit TTL, getJobSchedulersCount and getWorkers; for the active queue of a
    // queue page also getJobs over every job status ("latest": BullMQ 6 has no paused state) for one page,
    // serialised with toJSON. The listed queues are the board's own (read from its answer).
    const listedRes = await fetch(`${board.url}${OVERVIEW}`, { headers: { cookie } });
    const listedNames = ((await listedRes.json()) as { queues: { name: string }[] }).queues.map((q) => q.name);
    if (!listedNames.includes(PAGE_QUEUE)) throw new Error(`the board does not list ${PAGE_QUEUE}: ${listedNames.join(", ")}`);
    const listed = listedNames.map((name) => queues.find((q) => q.name === name) ?? new Queue(name, { connection }));
    cleanups.push(() => Promise.all(listed.filter((q) => !queues.includes(q)).map((q) => q.close())));
    const LATEST: JobType[] = ["active", "waiting", "waiting-children", "prioritized", "completed", "failed", "delayed"];
    const perQueue = (queue: Queue) =>
      Promise.all([
        queue.getJobCounts(),
        queue.isPaused(),
        queue.getGlobalConcurrency(),
        queue.getRateLimitTtl().catch(() => 0),
        queue.getJobSchedulersCount(),
        queue.getWorkers(),
      ]);
    const bareOverview = async () => {
      const answers = await Promise.all(listed.map(perQueue));
      JSON.stringify(answers);
    };
    const bareQueuePage = async () => {
      const answers = await Promise.all(
        listed.map(async (queue) => {
          const [counts, ...rest] = await perQueue(queue);
          const jobs = queue.name === PAGE_QUEUE ? (await queue.getJobs(LATEST, 0, JOBS_PER_PAGE - 1)).filter(Boolean).map((j) => j.toJSON()) : [];
          return { counts, rest, jobs };
        }),
      );
      const page = answers.find((a) => a.jobs.length > 0);
      if (!page) throw new Error(`bare queue page found no jobs in ${PAGE_QUEUE}`);
      JSON.stringify(answers);
    };

    log("measuring /bullboard/api/queues…");
    const overview = stats(await timed(HTTP_SAMPLES, HTTP_WARMUP, get(OVERVIEW)));
    const baselineOverview = stats(await timed(HTTP_SAMPLES, HTTP_WARMUP, bareOverview));
    const queuePage = stats(await timed(HTTP_SAMPLES, HTTP_WARMUP, get(QUEUE_PAGE)));
    const baselineQueuePage = stats(await timed(HTTP_SAMPLES, HTTP_WARMUP, bareQueuePage));

    // --- 2. live-event latency ------------------------------------------------------------------------------
    log("measuring live-event latency…");
    const finishedAt = new Map<string, number>();
    const worker = new Worker(
      LATENCY_QUEUE,
      async (job) => {
        finishedAt.set(job.id!, now());
        return null;
      },
      { connection: connect() },
    );
    cleanups.push(() => worker.close());
    const bare = new QueueEvents(LATENCY_QUEUE, { connection: connect() });
    cleanups.push(() => bare.close());
    await bare.waitUntilReady();

    const ws = new WebSocket(`ws://127.0.0.1:${board.port}/bullboard/events`, { headers: { cookie, origin: board.url } });
    cleanups.push(() => ws.terminate());
    await new Promise<void>((resolve, reject) => {
      ws.once("message", () => resolve());
      ws.once("error", reject);
    });
    ws.send(JSON.stringify({ type: "subscribe", queues: [LATENCY_QUEUE] }));

    const socketLatency = new Map<string, number>();
    const bareLatency = new Map<string, number>();
    const waiting = new Map<string, () => void>();
    const settle = (id: string) => {
      if (socketLatency.has(id) && bareLatency.has(id)) waiting.get(id)?.();
    };
    ws.on("message", (data) => {
      const at = now();
      const message = JSON.parse(data.toString()) as { type: string; event?: string; jobId?: string };
      if (message.type !== "job" || message.event !== "completed" || !message.jobId) return;
      const start = finishedAt.get(message.jobId);
      if (start !== undefined) socketLatency.set(message.jobId, at - start);
      settle(message.jobId);
    });
    bare.on("completed", ({ jobId }) => {
      const at = now();
      const start = finishedAt.get(jobId);
      if (start !== undefined) bareLatency.set(jobId, at - start);
      settle(jobId);
    });

    const latencyQueue = new Queue(LATENCY_QUEUE, { connection });
    cleanups.push(() => latencyQueue.close());
    const ids: string[] = [];
    for (let i = 0; i < EVENT_WARMUP + EVENT_SAMPLES; i++) {
      const job = await latencyQueue.add("report_now", { i });
      const id = job.id!;
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no completed event for job ${id}`)), 10_000);
        waiting.set(id, () => {
          clearTimeout(timer);
          resolve();
        });
        settle(id);
      });
      waiting.delete(id);
      if (i >= EVENT_WARMUP) ids.push(id);
    }
    const socket = stats(ids.map((id) => socketLatency.get(id)!));
    const baselineEvents = stats(ids.map((id) => bareLatency.get(id)!));

    return {
      date: new Date().toISOString(),
      machine: { cpus: cpus().length, model: cpus()[0]?.model ?? "unknown", node: process.version },
      setup: { queues: QUEUE_COUNT, jobsPerQueue: JOBS_PER_QUEUE },
      queuesApi: { listed: listed.length, overview, queuePage, baselineOverview, baselineQueuePage, goalP95Ms: 100 },
      events: { socket, baselineQueueEvents: baselineEvents, goalP99Ms: 50 },
    };
  } finally {
    for (const cleanup of cleanups.reverse()) {
      try {
        await cleanup();
      } catch {
        // keep cleaning up
      }
    }
    await redis.dispose();
    await nats.dispose();
  }
}

function table(result: BullboardBenchResult): string {
  const row = (name: string, s: Stats, baseline: Stats, goal: string) =>
    `| ${name.padEnd(44)} | ${s.p50.toFixed(2).padStart(7)} | ${s.p95.toFixed(2).padStart(7)} | ${s.p99.toFixed(2).padStart(7)} | ${s.max.toFixed(2).padStart(7)} | ${(s.p95 / baseline.p95).toFixed(1).padStart(9)}× | ${goal.padEnd(14)} |`;
  const q = result.queuesApi;
  const e = result.events;
  return [
    `bullboard — ${result.setup.queues} queues × ${result.setup.jobsPerQueue} jobs, ${result.machine.cpus} CPUs, node ${result.machine.node} (ms)`,
    `| ${"measurement".padEnd(44)} | ${"p50".padStart(7)} | ${"p95".padStart(7)} | ${"p99".padStart(7)} | ${"max".padStart(7)} | p95/base   | goal           |`,
    `|${"-".repeat(46)}|${"-".repeat(9)}|${"-".repeat(9)}|${"-".repeat(9)}|${"-".repeat(9)}|${"-".repeat(12)}|${"-".repeat(16)}|`,
    row("GET /bullboard/api/queues (overview)", q.overview, q.baselineOverview, `p95 < ${q.goalP95Ms} ${q.overview.p95 < q.goalP95Ms ? "✓" : "✗"}`),
    row(`baseline: overview's BullMQ calls × ${q.listed}`, q.baselineOverview, q.baselineOverview, ""),
    row("GET /bullboard/api/queues (queue page)", q.queuePage, q.baselineQueuePage, `p95 < ${q.goalP95Ms} ${q.queuePage.p95 < q.goalP95Ms ? "✓" : "✗"}`),
    row("baseline: queue page's BullMQ calls", q.baselineQueuePage, q.baselineQueuePage, ""),
    row("completed → /bullboard/events message", e.socket, e.baselineQueueEvents, `p99 < ${e.goalP99Ms} ${e.socket.p99 < e.goalP99Ms ? "✓" : "✗"}`),
    row("baseline: completed → bare QueueEvents", e.baselineQueueEvents, e.baselineQueueEvents, ""),
  ].join("\n");
}

/** The common results format (bench/lib/report.ts): every figure from the median run by the overview's p95 ratio. */
function summarise(runs: BullboardBenchResult[]): BenchResult {
  const each = (value: (r: BullboardBenchResult) => number, baseline: (r: BullboardBenchResult) => number) => runs.map((r) => ({ value: value(r), baseline: baseline(r) }));
  const listed = runs[0]?.queuesApi.listed ?? QUEUE_COUNT;
  const overviewName = `GET /bullboard/api/queues p95 (${QUEUE_COUNT} queues × ${JOBS_PER_QUEUE} jobs, overview)`;
  const { figures, medianRun } = fromMedianRun(
    [
      {
        name: overviewName,
        unit: "ms",
        runs: each((r) => r.queuesApi.overview.p95, (r) => r.queuesApi.baselineOverview.p95),
        baselineName: `bare BullMQ, Bull Board's per-queue calls × ${listed} queues`,
        goals: [{ kind: "max", value: 100, strict: true }],
      },
      {
        name: `GET /bullboard/api/queues p95 (queue page: ${JOBS_PAGE} jobs of one queue)`,
        unit: "ms",
        runs: each((r) => r.queuesApi.queuePage.p95, (r) => r.queuesApi.baselineQueuePage.p95),
        baselineName: `bare BullMQ, the same per-queue calls + getJobs/toJSON of one page`,
        goals: [{ kind: "max", value: 100, strict: true }],
      },
      {
        name: "job completed → /bullboard/events message p50",
        unit: "ms",
        runs: each((r) => r.events.socket.p50, (r) => r.events.baselineQueueEvents.p50),
        baselineName: "bare BullMQ QueueEvents",
      },
      {
        name: "job completed → /bullboard/events message p99",
        unit: "ms",
        runs: each((r) => r.events.socket.p99, (r) => r.events.baselineQueueEvents.p99),
        baselineName: "bare BullMQ QueueEvents",
        goals: [{ kind: "max", value: 50, strict: true }],
      },
    ],
    overviewName,
  );
  return {
    bench: "bullboard",
    date: new Date().toISOString(),
    machine: machine(),
    method: `${runs.length} runs; each seeds ${QUEUE_COUNT} queues × ${JOBS_PER_QUEUE} jobs, then ${HTTP_SAMPLES} sequential HTTP requests through auth-verified cookies (after ${HTTP_WARMUP} warm-up) per page, each page against its own in-process bare-BullMQ baseline making the calls Bull Board's handler makes for it (per listed queue: getJobCounts, isPaused, getGlobalConcurrency, getRateLimitTtl, getJobSchedulersCount, getWorkers; queue page: plus getJobs of ${JOBS_PAGE} jobs over every status, toJSON), and ${EVENT_SAMPLES} job completions timed to the socket message; figures from the median run by the overview's p95 ratio`,
    runs: runs.length,
    figures,
    medianRun,
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const runs: BullboardBenchResult[] = [];
  for (let run = 0; run < RUNS; run++) {
    const result = await runBullboardBench();
    console.log(table(result));
    runs.push(result);
  }
  printAndSave(summarise(runs));
}
