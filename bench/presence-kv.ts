/**
 * Presence-KV benchmark: the writes agent-ws makes into the `agents_presence` bucket, on one nats-server with an R1
 * bucket and on a three-node JetStream cluster with an R3 bucket (KV_REPLICAS=3), each next to baselines measured in
 * the same run at the same concurrency:
 *  - presence write: one compare-and-set of a PresenceRecord (`kv.update(hostId, record, lastRevision)`), what
 *    PresenceWriter makes on connect (the hello rides along) and on disconnect; hosts alternate connected and
 *    disconnected records, each host written by one worker at a time (as PresenceWriter serialises a host's writes);
 *  - baselines: a bare NATS request/reply of the same bytes to an echo responder process (core NATS, no JetStream),
 *    and the same record stored with `kv.put` (no compare-and-set);
 *  - at the highest concurrency, presence writes again while BENCH_WATCHERS KV watches (one per agent-ws replica:
 *    each keeps one on the whole bucket) follow the bucket from another process: writes/s, and the lag from a
 *    record's updatedAt to each watch delivering it (epoch ms, whole milliseconds).
 * Also nats-server CPU per write (utime + stime from /proc over every node, divided by the writes of that interval),
 * the watching process's CPU per entry one watch delivered (what every agent-ws replica pays for every write), and
 * the heap per record of a mirror of the whole bucket (what every replica holds for every host).
 *
 * In the cluster, the benchmark's client connects to a node that does not lead the bucket's stream and the echo
 * responder to the leader, so the baseline crosses the same route a write does before replication. The bucket is
 * created as agent-ws creates it (openKvBucket: history 1, replicas 1 or 3) and seeded with BENCH_HOSTS
 * disconnected records first (a fleet that exists), so timed writes are updates of existing keys.
 *
 * Sizes: BENCH_RUNS (3), BENCH_DURATION_MS (2000) per measurement, BENCH_HOSTS (10000), BENCH_WATCHERS (3). A
 * full run takes three to five minutes after the build; raise BENCH_DURATION_MS or BENCH_RUNS for a longer one.
 * Medians of per-run figures. Writes bench/results/presence-kv.json.
 *
 * One file, two roles: the orchestrator (no argument) and `--role=watchers`.
 */
import { RoleProcess } from "./lib/role-process.js";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm, KvWatchInclude, type KV } from "@nats-io/kv";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { AGENT_CAPABILITIES, SSH_PROXY_CAPABILITY } from "@patchmon-ws/agent";
import { AgentBuckets, CloseCode, ObservedCloseCode, PresenceRecord } from "@patchmon-ws/protocol";
import { createLogger, openKvBucket } from "@patchmon-ws/service-kit";
import { ManagedProcess, REPO_ROOT, startNatsCluster, startNatsServer } from "@patchmon-ws/stack";
import { figure, knob, machine, median, percentile, printAndSave, type Figure, type Goal } from "./lib/report.js";
import { benchFile, NODE_ARGS } from "./lib/runtime.js";

const RUNS = knob("BENCH_RUNS", 3);
const DURATION_MS = knob("BENCH_DURATION_MS", 2000);
const HOSTS = knob("BENCH_HOSTS", 10_000);
const WATCHERS = knob("BENCH_WATCHERS", 3);
/** Writes in flight: one (the latency floor), a replica's steady trickle, a reconnect storm. */
const CONCURRENCY = [1, 64, 512] as const;
// One writer per host, as in agent-ws: two writers on one key would make compare-and-set conflicts the figure.
if (HOSTS < Math.max(...CONCURRENCY)) throw new Error(`BENCH_HOSTS must be at least ${Math.max(...CONCURRENCY)} (one writer per host at the highest concurrency)`);
const TOP = CONCURRENCY[CONCURRENCY.length - 1]!;
const SEED_CONCURRENCY = 256;
const ECHO_SUBJECT = "bench.presence.echo";
/** Writes/s a presence bucket must take for 200 000 connects and disconnects a minute (docs/capacity.md). */
const STORM_WRITES_PER_SECOND = 200_000 / 60;
const SELF = fileURLToPath(import.meta.url);
const role = process.argv.find((a) => a.startsWith("--role="))?.slice(7);
const encoder = new TextEncoder();

/* ------------------------------------------------------------------ records ------------------------------------------------------------------ */

/** Fixed parts of the records: realistic sizes (a UUID host id, an api id, a REPLICA_ID of the default form). */
const REPLICA = "agent-ws-7c9d5b6f48-x2kqp-1-k3j9d2";
const CAPABILITIES = [...AGENT_CAPABILITIES, SSH_PROXY_CAPABILITY];

interface HostState {
  hostId: string;
  apiId: string;
  connected: boolean;
  revision: number;
  lastDisconnectAt: number;
}

/** The record a host's next presence write stores: connected after a disconnect, and the other way round. */
function nextRecord(host: HostState): PresenceRecord {
  const now = Date.now();
  const base = {
    hostId: host.hostId,
    apiId: host.apiId,
    secure: true,
    remoteAddress: "203.0.113.47",
    agentVersion: "1.3.0",
    capabilities: CAPABILITIES,
    updatedAt: now,
  };
  return host.connected
    ? { ...base, connected: false, replica: null, connectionId: null, since: null, lastDisconnect: { at: now, code: CloseCode.NORMAL, reason: "agent_closed", replica: REPLICA } }
    : {
        ...base,
        connected: true,
        replica: REPLICA,
        connectionId: randomUUID(),
        since: now,
        lastDisconnect: { at: host.lastDisconnectAt, code: ObservedCloseCode.ABNORMAL_CLOSURE, reason: "connection_lost", replica: REPLICA },
      };
}

/* ------------------------------------------------------------------ load ------------------------------------------------------------------ */

type Kind = "bare" | "put" | "cas";

interface Sample {
  perSecond: number;
  p50: number;
  p99: number;
  writes: number;
  /** nats-server CPU (every node) per operation, µs. */
  serverCpuUs: number;
  /** The highest revision a write of this sample returned (0 for bare requests). */
  lastRevision: number;
}

/** utime + stime of a process, in seconds (Linux /proc, clock ticks of 1/100 s). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

interface Target {
  nc: NatsConnection;
  kv: KV;
  hosts: HostState[];
  serverPids: number[];
}

/** `concurrency` workers, each owning the hosts whose index ≡ its own modulo concurrency, for DURATION_MS. */
async function load(target: Target, kind: Kind, concurrency: number, durationMs = DURATION_MS): Promise<Sample> {
  const { nc, kv, hosts } = target;
  const latencies: number[] = [];
  let lastRevision = 0;
  const op = async (host: HostState) => {
    const record = nextRecord(host);
    const bytes = encoder.encode(JSON.stringify(record));
    if (kind === "bare") {
      const reply = await nc.request(ECHO_SUBJECT, bytes, { timeout: 10_000 });
      if (!(reply.json() as { ok?: boolean }).ok) throw new Error("echo responder answered something else");
      return;
    }
    const revision = kind === "put" ? await kv.put(host.hostId, bytes) : await kv.update(host.hostId, bytes, host.revision);
    host.revision = revision;
    host.connected = record.connected;
    if (!record.connected) host.lastDisconnectAt = record.updatedAt;
    if (revision > lastRevision) lastRevision = revision;
  };
  const deadline = performance.now() + durationMs;
  const worker = async (index: number) => {
    for (let i = index; performance.now() < deadline; i += concurrency) {
      const host = hosts[i % hosts.length]!;
      const started = performance.now();
      await op(host);
      latencies.push(performance.now() - started);
    }
  };
  const cpuBefore = target.serverPids.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
  const started = performance.now();
  await Promise.all(Array.from({ length: Math.min(concurrency, hosts.length) }, (_, i) => worker(i)));
  const seconds = (performance.now() - started) / 1000;
  const cpu = target.serverPids.reduce((sum, pid) => sum + cpuSeconds(pid), 0) - cpuBefore;
  latencies.sort((a, b) => a - b);
  return {
    perSecond: latencies.length / seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    writes: latencies.length,
    serverCpuUs: (cpu * 1e6) / latencies.length,
    lastRevision,
  };
}

async function seed(kv: KV, count: number): Promise<HostState[]> {
  const hosts: HostState[] = Array.from({ length: count }, () => ({
    hostId: randomUUID(),
    apiId: `patchmon_${randomUUID().replaceAll("-", "")}`,
    // Written once as connected, so the first seeded record is a disconnected one: a fleet that has been seen.
    connected: true,
    revision: 0,
    lastDisconnectAt: Date.now(),
  }));
  PresenceRecord.parse(nextRecord(hosts[0]!));
  PresenceRecord.parse(nextRecord({ ...hosts[0]!, connected: false }));
  for (let i = 0; i < hosts.length; i += SEED_CONCURRENCY) {
    await Promise.all(
      hosts.slice(i, i + SEED_CONCURRENCY).map(async (host) => {
        const record = nextRecord(host);
        host.revision = await kv.create(host.hostId, encoder.encode(JSON.stringify(record)));
        host.connected = false;
      }),
    );
  }
  return hosts;
}

/* ------------------------------------------------------------------ role: watchers ------------------------------------------------------------------ */

type ToWatchers = { cmd: "expect"; afterRevision: number; count: number; timeoutMs: number } | { cmd: "stop" };
type FromWatchers = { event: "ready"; mirrorBytesPerRecord: number } | { event: "delivered"; lagsMs: number[]; delivered: number[] } | { event: "error"; message: string };

/** WATCHERS KV watches of the presence bucket, each on its own connection (as each agent-ws replica has its own). */
async function watchersRole(): Promise<void> {
  const [servers] = process.argv.slice(2).filter((a) => !a.startsWith("--"));
  const reply = (message: FromWatchers) => process.send!(message);
  /** Per watch: revision and lag (ms) of every entry delivered since the last report. */
  const seen = Array.from({ length: WATCHERS }, () => ({ revisions: [] as number[], lags: [] as number[], counted: 0 }));
  /** Entries after this revision are counted as they arrive (the expectation being waited for). */
  let countAfter = Infinity;
  let wake: (() => void) | undefined;
  const connections: NatsConnection[] = [];
  const mirror = await mirrorHeapPerRecord(servers!);
  for (let w = 0; w < WATCHERS; w++) {
    const nc = await connect({ servers: servers!.split(",") });
    connections.push(nc);
    const kv = await new Kvm(jetstream(nc)).open(AgentBuckets.presence);
    const watch = await kv.watch({ include: KvWatchInclude.UpdatesOnly });
    const mine = seen[w]!;
    void (async () => {
      for await (const entry of watch) {
        // Decoded as PresenceView decodes every entry it follows.
        const record = PresenceRecord.parse(entry.json());
        mine.revisions.push(entry.revision);
        mine.lags.push(Date.now() - record.updatedAt);
        if (entry.revision > countAfter) {
          mine.counted++;
          wake?.();
        }
      }
    })();
  }
  process.on("message", async (message: ToWatchers) => {
    try {
      if (message.cmd === "stop") {
        await Promise.all(connections.map((nc) => nc.close()));
        process.exit(0);
      }
      countAfter = message.afterRevision;
      for (const s of seen) s.counted = s.revisions.filter((r) => r > countAfter).length;
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          wake = undefined;
          resolve();
        };
        const timer = setTimeout(done, message.timeoutMs);
        wake = () => {
          if (seen.every((s) => s.counted >= message.count)) done();
        };
        wake();
      });
      countAfter = Infinity;
      const lagsMs: number[] = [];
      const delivered: number[] = [];
      for (const s of seen) {
        let count = 0;
        s.revisions.forEach((revision, i) => {
          if (revision > message.afterRevision) {
            lagsMs.push(s.lags[i]!);
            count++;
          }
        });
        delivered.push(count);
        s.revisions.length = 0;
        s.lags.length = 0;
      }
      reply({ event: "delivered", lagsMs, delivered });
    } catch (err) {
      reply({ event: "error", message: String((err as Error)?.stack ?? err) });
    }
  });
  // The watches are open (their consumers exist) once every connection has flushed.
  await Promise.all(connections.map((nc) => nc.flush()));
  reply({ event: "ready", mirrorBytesPerRecord: mirror });
}

/**
 * Heap per record of a mirror of the whole bucket, as every agent-ws replica keeps one (PresenceView: host id →
 * decoded record and revision), without PresenceView's sharing of repeated strings (so slightly more): the bucket's
 * HOSTS records loaded through a watch into a Map, heap measured after a full collection before and after.
 */
async function mirrorHeapPerRecord(servers: string): Promise<number> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error("the watchers process needs --expose-gc");
  const nc = await connect({ servers: servers.split(",") });
  try {
    const kv = await new Kvm(jetstream(nc)).open(AgentBuckets.presence);
    gc();
    const before = process.memoryUsage().heapUsed;
    const records = new Map<string, { record: PresenceRecord; revision: number }>();
    const watch = await kv.watch();
    for await (const entry of watch) {
      records.set(entry.key, { record: PresenceRecord.parse(entry.json()), revision: entry.revision });
      if (records.size >= HOSTS) break;
    }
    watch.stop();
    gc();
    const bytes = (process.memoryUsage().heapUsed - before) / records.size;
    if (records.size < HOSTS) throw new Error(`the mirror loaded ${records.size} of ${HOSTS} records`);
    return bytes;
  } finally {
    await nc.close();
  }
}

class WatchersProcess extends RoleProcess<ToWatchers, FromWatchers> {
  constructor(servers: string) {
    super(SELF, "watchers", { args: [servers], execArgv: ["--expose-gc"] });
  }

  /** Resolves with the mirror's heap per record once the watches are open. */
  async ready(): Promise<number> {
    return ((await this.next()) as { mirrorBytesPerRecord: number }).mirrorBytesPerRecord;
  }

  /** Waits until every watch delivered `count` entries after `afterRevision`, then returns their lags. */
  async delivered(afterRevision: number, count: number): Promise<{ lagsMs: number[]; delivered: number[] }> {
    return (await this.ask({ cmd: "expect", afterRevision, count, timeoutMs: 30_000 })) as { lagsMs: number[]; delivered: number[] };
  }

  /** CPU seconds the watches' process has used so far. */
  cpuSeconds(): number {
    return cpuSeconds(this.child.pid!);
  }

  stop(): void {
    this.tell({ cmd: "stop" });
  }
}

/* ------------------------------------------------------------------ role: orchestrator ------------------------------------------------------------------ */

interface TopologyResult {
  label: string;
  samples: Record<Kind, Sample[]>[];
  /** Heap per record of a mirror of the whole bucket (bytes). */
  mirrorBytesPerRecord: number;
  watched: { sample: Sample; lagP50: number; lagP99: number; complete: boolean; watchCpuUs: number }[];
  leader?: string;
}

interface Topology {
  label: string;
  replicas: number;
  /** Where the benchmark's client connects, where the echo responder does, and every node's URL. */
  clientUrl: string;
  echoUrl: string;
  serverPids: number[];
  leader?: string;
}

async function measure(topology: Topology): Promise<TopologyResult> {
  const logger = createLogger("bench-presence-kv", "warn");
  const nc = await connect({ servers: topology.clientUrl });
  const echo = new ManagedProcess(process.execPath, [...NODE_ARGS, benchFile("lib/echo-responder"), topology.echoUrl, ECHO_SUBJECT], { cwd: REPO_ROOT });
  try {
    await echo.waitForOutput(/ready/);
    // As agent-ws opens it (buckets.ts): history 1, KV_REPLICAS copies, no TTL.
    const kv = await openKvBucket(jetstream(nc, { timeout: 10_000 }), AgentBuckets.presence, { replicas: topology.replicas }, logger);
    const hosts = await seed(kv, HOSTS);
    const target: Target = { nc, kv, hosts, serverPids: topology.serverPids };
    const kinds: Kind[] = ["bare", "put", "cas"];
    // Warm-up: JIT, connections, the stream's first blocks.
    for (const kind of kinds) await load(target, kind, TOP, DURATION_MS / 2);
    const samples: Record<Kind, Sample[]>[] = CONCURRENCY.map(() => ({ bare: [], put: [], cas: [] }));
    for (let run = 0; run < RUNS; run++) {
      for (const [i, concurrency] of CONCURRENCY.entries()) {
        for (const kind of kinds) samples[i]![kind].push(await load(target, kind, concurrency));
      }
      process.stdout.write(`  ${topology.label}: run ${run + 1} of ${RUNS} done\n`);
    }

    const watchers = new WatchersProcess(topology.clientUrl);
    const watched: TopologyResult["watched"] = [];
    let mirrorBytesPerRecord = NaN;
    try {
      mirrorBytesPerRecord = await watchers.ready();
      let afterRevision = Math.max(...hosts.map((h) => h.revision));
      await load(target, "cas", TOP, DURATION_MS / 2);
      for (let run = 0; run < RUNS; run++) {
        afterRevision = Math.max(...hosts.map((h) => h.revision));
        const cpuBefore = watchers.cpuSeconds();
        const sample = await load(target, "cas", TOP);
        const { lagsMs, delivered } = await watchers.delivered(afterRevision, sample.writes);
        const watchCpuUs = ((watchers.cpuSeconds() - cpuBefore) * 1e6) / Math.max(1, lagsMs.length);
        lagsMs.sort((a, b) => a - b);
        watched.push({ sample, lagP50: percentile(lagsMs, 50), lagP99: percentile(lagsMs, 99), complete: delivered.every((d) => d >= sample.writes), watchCpuUs });
      }
    } finally {
      watchers.stop();
    }
    return { label: topology.label, samples, watched, mirrorBytesPerRecord, ...(topology.leader ? { leader: topology.leader } : {}) };
  } finally {
    await nc.close();
    await echo.stop();
  }
}

function figuresOf(result: TopologyResult): Figure[] {
  const { label } = result;
  const m = (samples: Sample[], key: keyof Sample) => median(samples.map((s) => s[key]));
  const bareName = "bare NATS request/reply";
  const figures: Figure[] = [];
  for (const [i, concurrency] of CONCURRENCY.entries()) {
    const s = result.samples[i]!;
    const stormGoal: Goal[] = concurrency === TOP ? [{ kind: "min", value: Math.ceil(STORM_WRITES_PER_SECOND), note: "(200 000 connects and disconnects a minute)" }] : [];
    figures.push(
      figure({ name: `presence writes/s (compare-and-set), ${label}, ${concurrency} in flight`, value: m(s.cas, "perSecond"), unit: "ops/s", baseline: m(s.bare, "perSecond"), baselineName: bareName, goals: stormGoal }),
      figure({ name: `KV put/s (no compare-and-set), ${label}, ${concurrency} in flight`, value: m(s.put, "perSecond"), unit: "ops/s", baseline: m(s.bare, "perSecond"), baselineName: bareName }),
      figure({ name: `presence write latency p50, ${label}, ${concurrency} in flight`, value: m(s.cas, "p50"), unit: "ms", baseline: m(s.bare, "p50"), baselineName: bareName }),
      figure({ name: `presence write latency p99, ${label}, ${concurrency} in flight`, value: m(s.cas, "p99"), unit: "ms", baseline: m(s.bare, "p99"), baselineName: bareName }),
    );
  }
  const top = result.samples[CONCURRENCY.length - 1]!;
  figures.push(
    figure({ name: `nats-server CPU per presence write (every node), ${label}, ${TOP} in flight`, value: m(top.cas, "serverCpuUs"), unit: "µs", baseline: m(top.bare, "serverCpuUs"), baselineName: bareName }),
    figure({
      name: `presence writes/s with ${WATCHERS} KV watches on the bucket, ${label}, ${TOP} in flight`,
      value: median(result.watched.map((w) => w.sample.perSecond)),
      unit: "ops/s",
      baseline: m(top.cas, "perSecond"),
      baselineName: "the same writes without watches",
    }),
    figure({
      name: `nats-server CPU per presence write with ${WATCHERS} KV watches (every node), ${label}, ${TOP} in flight`,
      value: median(result.watched.map((w) => w.sample.serverCpuUs)),
      unit: "µs",
      baseline: m(top.cas, "serverCpuUs"),
      baselineName: "the same writes without watches",
    }),
    figure({
      name: `write → every watch p50 (updatedAt to delivery, whole ms), ${label}`,
      value: median(result.watched.map((w) => w.lagP50)),
      unit: "ms",
    }),
    figure({
      name: `write → every watch p99, ${label}`,
      value: median(result.watched.map((w) => w.lagP99)),
      unit: "ms",
    }),
    figure({
      name: `watching process CPU per entry delivered to one watch (receive, JSON, PresenceRecord schema), ${label}`,
      value: median(result.watched.map((w) => w.watchCpuUs)),
      unit: "µs",
    }),
    figure({
      name: `runs in which a watch missed writes, ${label}`,
      value: result.watched.filter((w) => !w.complete).length,
      unit: "runs",
      goals: [{ kind: "max", value: 0 }],
    }),
  );
  return figures;
}

async function orchestrate(): Promise<void> {
  const results: TopologyResult[] = [];

  const single = await startNatsServer();
  try {
    results.push(await measure({ label: "R1 (one node)", replicas: 1, clientUrl: single.url, echoUrl: single.url, serverPids: [single.process.child.pid!] }));
  } finally {
    await single.dispose();
  }

  const cluster = await startNatsCluster({ size: 3 });
  try {
    // Create the bucket first to learn its stream's leader; the client then connects to another node.
    const probe = await connect({ servers: cluster.url });
    let leader: string;
    try {
      await openKvBucket(jetstream(probe, { timeout: 10_000 }), AgentBuckets.presence, { replicas: 3 }, createLogger("bench-presence-kv", "warn"));
      const info = await (await jetstreamManager(probe)).streams.info(`KV_${AgentBuckets.presence}`);
      leader = info.cluster?.leader ?? cluster.nodes[0]!.name;
    } finally {
      await probe.close();
    }
    const leaderNode = cluster.nodes.find((n) => n.name === leader) ?? cluster.nodes[0]!;
    const clientNode = cluster.nodes.find((n) => n !== leaderNode)!;
    results.push(
      await measure({
        label: "R3 (three nodes)",
        replicas: 3,
        clientUrl: clientNode.url,
        echoUrl: leaderNode.url,
        serverPids: cluster.nodes.map((n) => n.process.child.pid!),
        leader,
      }),
    );
  } finally {
    await cluster.dispose();
  }

  printAndSave({
    bench: "presence-kv",
    date: new Date().toISOString(),
    machine: machine(),
    method:
      `${RUNS} runs × ${DURATION_MS} ms per measurement, concurrency ${CONCURRENCY.join(" / ")} in flight from one nats.js client; bucket agents_presence created as agent-ws does (history 1; R1 on one nats-server, R3 on a three-node cluster) and seeded with ${HOSTS} records; ` +
      `presence write = kv.update(hostId, PresenceRecord JSON, last revision), alternating connected and disconnected records per host, one writer per host; baselines at the same concurrency: bare NATS request/reply of the same bytes to an echo responder process, and kv.put of the same record; ` +
      `in the cluster the client connects to a node that does not lead the stream, the echo responder to the leader; nats-server CPU from /proc over every node; watches: ${WATCHERS} KV watches (updates only, each on its own connection, every entry decoded) in another process, lag = delivery time − the record's updatedAt (epoch ms); medians of per-run figures`,
    runs: RUNS,
    figures: [
      ...results.flatMap(figuresOf),
      figure({
        name: `heap per presence record in a replica's mirror of the bucket (${HOSTS} records decoded, no string sharing)`,
        value: median(results.map((r) => r.mirrorBytesPerRecord)),
        unit: "bytes",
      }),
    ],
    details: Object.fromEntries(results.map((r) => [r.label, { leader: r.leader, watched: r.watched.map((w) => ({ writesPerSecond: Math.round(w.sample.perSecond), lagP50: w.lagP50, lagP99: w.lagP99, complete: w.complete, watchCpuUs: Math.round(w.watchCpuUs) })) }])),
  });
}

if (role === "watchers") await watchersRole();
else await orchestrate();
