/**
 * Terminal benchmark (`npm run bench -- terminal`): terminal-ws against bare ssh2 PTY sessions to the same OpenSSH
 * sshd, same user, PTY size (80×24) and cipher, measured in the same run, driven by the same client loops
 * (bench/lib/terminal-probe.ts). The bare sessions are held by a client process of their own
 * (bench/lib/bare-ssh-client.ts), as terminal-ws holds its sessions: both sides decrypt outside this process, which
 * only receives bytes. sshd accepts one cipher, the one terminal-ws's ssh2 negotiates (SSH_CIPHER), so every path
 * uses it. Each run measures:
 *
 *  - keystroke echo p50 / p99 (a key typed into `cat`, whose terminal echoes it), interleaved key by key across one
 *    open session per path: bare, the minimal relay, direct without the edge, direct through the local TLS edge,
 *    and proxy mode through a reference agent (its own process) held by agent-ws;
 *  - output throughput: 100 MB through `base64`, the time from the command to its end marker; CPU seconds per
 *    100 MB and RSS growth of terminal-ws and of the bare client process during the transfer;
 *  - 100 concurrent sessions typing at once: echo p99.
 *
 * Every figure comes from the median run by the direct echo p50 ratio. A PTY caps output near 84 MB/s on this
 * machine; only the ratios mean anything.
 */
import { localEdge } from "@patchmon-ws/edge";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startSshd, eventually } from "@patchmon-ws/testkit";
import { ManagedProcess, processRss, REPO_ROOT, startStack, type Stack } from "@patchmon-ws/stack";
import { fromMedianRun, knob, machine, percentile, printAndSave, type RunMeasurement, type RunsFigureInput } from "./lib/report.js";
import { benchFile, COMPILED, NODE_ARGS } from "./lib/runtime.js";
import { BareSshClients, terminalWs, type TerminalProbe } from "./lib/terminal-probe.js";

const RUNS = knob("BENCH_RUNS", 3);
const KEYSTROKES = knob("BENCH_KEYSTROKES", 500);
const THROUGHPUT_MB = knob("BENCH_THROUGHPUT_MB", 100);
const SESSIONS = knob("BENCH_SESSIONS", 100);
const CONCURRENT_ROUNDS = knob("BENCH_CONCURRENT_ROUNDS", 20);
const MB = 1_000_000;
const MiB = 1024 * 1024;
/** Unrecorded keys per path at the start of every run's echo. */
const WARMUP_KEYS = 100;
/**
 * The cipher of every session: the first of ssh2's defaults that it can run without its native binding (not built:
 * npm allowScripts), so the one terminal-ws negotiates; sshd is configured to accept only it.
 */
const SSH_CIPHER = "aes128-gcm@openssh.com";

/** CPU seconds (user + system) a process has used, from /proc. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Starts `cat` (its terminal echoes what is typed); resolves once the shell printed the line before it. */
async function startCat(probe: TerminalProbe): Promise<void> {
  const ready = probe.waitFor("BENCH-CAT-READY-2", 10_000);
  probe.write("echo BENCH-CAT-READY-$((1+1)); cat > /dev/null\r");
  await ready;
}

/** Milliseconds from typing one key into `cat` to seeing its echo. */
async function keystroke(probe: TerminalProbe): Promise<number> {
  const echoed = probe.waitFor("q", 10_000);
  const started = performance.now();
  probe.write("q");
  await echoed;
  return performance.now() - started;
}

/** A new line (cat's line holds 4095 characters), then one unmeasured key so the newline's echo is behind us. */
async function newLine(probe: TerminalProbe): Promise<void> {
  const settled = probe.waitFor("q", 10_000);
  probe.write("\rq");
  await settled;
}

async function stopCat(probe: TerminalProbe): Promise<void> {
  const prompt = probe.waitFor("BENCH-CAT-DONE-2", 10_000);
  probe.write("\r\x04echo BENCH-CAT-DONE-$((1+1))\r");
  await prompt;
}

let markers = 0;
/** Seconds to print `megabytes` MB of base64 (about 4/3 of its input) and the end marker. */
async function throughput(probe: TerminalProbe, megabytes: number): Promise<number> {
  const n = ++markers;
  const done = probe.waitFor(`TP-DONE-${n + 1}`, 300_000);
  const started = performance.now();
  probe.write(`head -c ${Math.round((megabytes * MB * 3) / 4)} /dev/zero | base64 -w 76; echo TP-DONE-$((${n}+1))\r`);
  await done;
  return (performance.now() - started) / 1000;
}

interface Targets {
  stack: Stack;
  sshd: Awaited<ReturnType<typeof startSshd>>;
  hostId: string;
  proxyHostId: string;
  token: string;
}

async function ticket(t: Targets, hostId: string): Promise<string> {
  return t.stack.auth.client.ticket(t.token, "ssh-terminal", hostId);
}

async function direct(t: Targets, via: "service" | "edge"): Promise<TerminalProbe> {
  const service = t.stack.service("terminal-ws");
  const login = { username: t.sshd.user.username, password: t.sshd.user.password, cols: 80, rows: 24 };
  const key = await ticket(t, t.hostId);
  return via === "edge"
    ? terminalWs({ url: `${t.stack.edgeUrl!.replace("https", "wss")}/api/v1/ssh-terminal/${t.hostId}?ticket=${key}`, origin: t.stack.edgeUrl!, ca: t.stack.edge!.certificate, connect: login })
    : terminalWs({ url: `ws://127.0.0.1:${service.port}/api/v1/ssh-terminal/${t.hostId}?ticket=${key}`, origin: `http://127.0.0.1:${service.port}`, connect: login });
}

async function proxied(t: Targets): Promise<TerminalProbe> {
  const service = t.stack.service("terminal-ws");
  const key = await ticket(t, t.proxyHostId);
  return terminalWs({
    url: `ws://127.0.0.1:${service.port}/api/v1/ssh-terminal/${t.proxyHostId}?ticket=${key}`,
    origin: `http://127.0.0.1:${service.port}`,
    connect: { connection_mode: "proxy", username: t.sshd.user.username, password: t.sshd.user.password, cols: 80, rows: 24 },
  });
}

const dir = mkdtempSync(join(tmpdir(), "patchmon-ws-bench-terminal-"));
const sshd = await startSshd({ extraConfig: [`Ciphers ${SSH_CIPHER}`] });
const stack = await startStack({
  services: ["auth", "agent-ws", "terminal-ws"],
  edge: localEdge(),
  compiled: COMPILED,
  serviceEnv: { "terminal-ws": { MAX_SESSIONS_PER_USER: "1000", MAX_SESSIONS_PER_HOST: "1000", RECORD_SESSIONS: "false" } },
  timeoutMs: 60_000,
});
let agent: ManagedProcess | undefined;
// The floor: a bare ws↔ssh2 relay in its own process (bench/lib/minimal-relay.ts).
const floor = new ManagedProcess(process.execPath, [...NODE_ARGS, benchFile("lib/minimal-relay"), String(sshd.port), sshd.user.username, sshd.user.password], { cwd: REPO_ROOT });
const floorPort = Number((await floor.waitForOutput(/\{"port":(\d+)\}/))[1]);
const bareClients = await BareSshClients.start(benchFile("lib/bare-ssh-client"), NODE_ARGS, { host: sshd.host, port: sshd.port, username: sshd.user.username, password: sshd.user.password });
try {
  if (bareClients.cipher !== SSH_CIPHER) throw new Error(`the bare client negotiated ${bareClients.cipher}, not ${SSH_CIPHER}`);
  const token = await stack.auth.adminToken();
  const ssh = { address: sshd.host, port: sshd.port, username: sshd.user.username };
  const { host } = await stack.auth.client.createHost(token, { name: "bench-direct", ssh });
  const proxyHost = await stack.auth.client.createHost(token, { name: "bench-proxy", ssh });
  const caFile = join(dir, "ca.pem");
  writeFileSync(caFile, stack.edge!.certificate);
  // The agent in its own process, as on a real host (compiled like every other process of the benchmark).
  const cli = COMPILED ? join(REPO_ROOT, "agent", "dist", "cli.js") : join(REPO_ROOT, "agent", "src", "cli.ts");
  agent = new ManagedProcess(process.execPath, [...NODE_ARGS, cli, "run", "--server", stack.edgeUrl!, "--ca", caFile, "--ssh-proxy-enabled", "--known-hosts", join(dir, "known_hosts"), "--log-level", "warn"], {
    cwd: REPO_ROOT,
    env: { ...process.env, PATCHMON_API_ID: proxyHost.host.apiId, PATCHMON_API_KEY: proxyHost.apiKey },
  });
  await eventually(
    async () => {
      const res = await fetch(`${stack.service("agent-ws").url}/api/v1/agents/${proxyHost.host.id}/status`, { headers: { authorization: `Bearer ${token}` } });
      return ((await res.json()) as { host?: { connected?: boolean } }).host?.connected;
    },
    30_000,
    "the benchmark agent online",
  );
  const t: Targets = { stack, sshd, hostId: host.id, proxyHostId: proxyHost.host.id, token };

  type Path = "bare" | "floor" | "direct" | "edge" | "proxy";
  const openers: Record<Path, () => Promise<TerminalProbe>> = {
    bare: () => bareClients.open(),
    floor: () => terminalWs({ url: `ws://127.0.0.1:${floorPort}/`, origin: "http://127.0.0.1", connect: {} }),
    direct: () => direct(t, "service"),
    edge: () => direct(t, "edge"),
    proxy: () => proxied(t),
  };
  const paths = Object.keys(openers) as Path[];

  /**
   * One session per path, `cat` in each, then keys typed round-robin across them (each key's turn starting one
   * path further on), so that every path sees the same moments of the machine's load; p50 and p99 per path.
   */
  async function interleavedEcho(): Promise<Record<Path, { p50: number; p99: number }>> {
    const probes = {} as Record<Path, TerminalProbe>;
    for (const path of paths) probes[path] = await openers[path]();
    const latencies = Object.fromEntries(paths.map((path) => [path, [] as number[]])) as Record<Path, number[]>;
    await Promise.all(paths.map((path) => startCat(probes[path])));
    for (let i = 0; i < WARMUP_KEYS + KEYSTROKES; i++) {
      for (let k = 0; k < paths.length; k++) {
        const path = paths[(i + k) % paths.length]!;
        const ms = await keystroke(probes[path]);
        if (i >= WARMUP_KEYS) latencies[path].push(ms);
      }
      if (i % 100 === 99) for (const path of paths) await newLine(probes[path]);
    }
    for (const path of paths) {
      await stopCat(probes[path]);
      await probes[path].close();
    }
    return Object.fromEntries(
      paths.map((path) => {
        const sorted = latencies[path].sort((a, b) => a - b);
        return [path, { p50: percentile(sorted, 50), p99: percentile(sorted, 99) }];
      }),
    ) as Record<Path, { p50: number; p99: number }>;
  }

  /** Seconds for THROUGHPUT_MB through one session, with the CPU and peak RSS growth of the process holding it. */
  async function transfer(open: () => Promise<TerminalProbe>, pid: number): Promise<{ seconds: number; cpuPer100MB: number; rssGrowthMiB: number }> {
    const probe = await open();
    await throughput(probe, 1);
    const rssBefore = processRss(pid);
    let peak = rssBefore;
    const sampler = setInterval(() => (peak = Math.max(peak, processRss(pid))), 50);
    const cpuBefore = cpuSeconds(pid);
    const seconds = await throughput(probe, THROUGHPUT_MB);
    const cpuPer100MB = ((cpuSeconds(pid) - cpuBefore) * 100) / THROUGHPUT_MB;
    clearInterval(sampler);
    await probe.close();
    return { seconds, cpuPer100MB, rssGrowthMiB: (peak - rssBefore) / MiB };
  }

  /** SESSIONS sessions each typing one key at once, CONCURRENT_ROUNDS times: the p99. */
  async function concurrentEcho(open: () => Promise<TerminalProbe>): Promise<number> {
    const probes: TerminalProbe[] = [];
    for (let i = 0; i < SESSIONS; i += 10) probes.push(...(await Promise.all(Array.from({ length: Math.min(10, SESSIONS - i) }, open))));
    await Promise.all(probes.map(startCat));
    const latencies: number[] = [];
    for (let round = 0; round < CONCURRENT_ROUNDS; round++) latencies.push(...(await Promise.all(probes.map(keystroke))));
    await Promise.all(probes.map((p) => p.close()));
    latencies.sort((a, b) => a - b);
    return percentile(latencies, 99);
  }

  interface Run {
    echo: Record<Path, { p50: number; p99: number }>;
    bare: Awaited<ReturnType<typeof transfer>>;
    direct: Awaited<ReturnType<typeof transfer>>;
    concurrentBare: number;
    concurrentDirect: number;
  }
  const terminalPid = stack.service("terminal-ws").process.child.pid!;
  const runs: Run[] = [];
  for (let run = 0; run < RUNS; run++) {
    const echo = await interleavedEcho();
    // The slower figures are not interleaved within a run; which side goes first alternates from run to run.
    const bareFirst = run % 2 === 0;
    const transfers = {} as { bare: Run["bare"]; direct: Run["direct"] };
    for (const side of bareFirst ? (["bare", "direct"] as const) : (["direct", "bare"] as const)) {
      transfers[side] = side === "bare" ? await transfer(() => bareClients.open(), bareClients.pid) : await transfer(() => direct(t, "service"), terminalPid);
    }
    const concurrent = {} as { bare: number; direct: number };
    for (const side of bareFirst ? (["bare", "direct"] as const) : (["direct", "bare"] as const)) {
      concurrent[side] = await concurrentEcho(side === "bare" ? () => bareClients.open() : () => direct(t, "service"));
    }
    runs.push({ echo, ...transfers, concurrentBare: concurrent.bare, concurrentDirect: concurrent.direct });
    process.stdout.write(`run ${run + 1}/${RUNS}: ${JSON.stringify(runs.at(-1))}\n`);
  }

  const bareName = "bare ssh2→sshd";
  const echoRuns = (path: Path, p: "p50" | "p99"): RunMeasurement[] => runs.map((r) => ({ value: r.echo[path][p], baseline: r.echo.bare[p] }));
  const headline = "keystroke echo p50, direct (no edge)";
  const inputs: RunsFigureInput[] = [
    { name: headline, runs: echoRuns("direct", "p50"), unit: "ms", baselineName: bareName, goals: [{ kind: "ratioMax", value: 1.5 }] },
    { name: "keystroke echo p99, direct (no edge)", runs: echoRuns("direct", "p99"), unit: "ms", baselineName: bareName, goals: [{ kind: "ratioMax", value: 2 }] },
    { name: "keystroke echo p50, minimal ws↔ssh2 relay (reference: the cost of a ws hop instead of a pipe)", runs: echoRuns("floor", "p50"), unit: "ms", baselineName: bareName },
    { name: "keystroke echo p99, minimal ws↔ssh2 relay (reference)", runs: echoRuns("floor", "p99"), unit: "ms", baselineName: bareName },
    { name: "keystroke echo p50, direct through the TLS edge", runs: echoRuns("edge", "p50"), unit: "ms", baselineName: bareName, goals: [{ kind: "ratioMax", value: 3 }] },
    { name: "keystroke echo p99, direct through the TLS edge", runs: echoRuns("edge", "p99"), unit: "ms", baselineName: bareName, goals: [{ kind: "ratioMax", value: 4 }] },
    { name: "keystroke echo p50, proxy through an agent", runs: echoRuns("proxy", "p50"), unit: "ms", baselineName: bareName, goals: [{ kind: "ratioMax", value: 4 }] },
    { name: "keystroke echo p99, proxy through an agent", runs: echoRuns("proxy", "p99"), unit: "ms", baselineName: bareName, goals: [{ kind: "ratioMax", value: 5 }] },
    {
      name: `output throughput, ${THROUGHPUT_MB} MB through base64 (direct)`,
      runs: runs.map((r) => ({ value: THROUGHPUT_MB / r.direct.seconds, baseline: THROUGHPUT_MB / r.bare.seconds })),
      unit: "MB/s",
      baselineName: bareName,
      goals: [{ kind: "ratioMin", value: 0.95 }],
    },
    {
      name: "CPU per 100 MB of output: terminal-ws",
      runs: runs.map((r) => ({ value: r.direct.cpuPer100MB, baseline: r.bare.cpuPer100MB })),
      unit: "s",
      baselineName: "the bare ssh2 client process",
    },
    {
      name: "RSS growth during the transfer: terminal-ws",
      runs: runs.map((r) => ({ value: r.direct.rssGrowthMiB, baseline: r.bare.rssGrowthMiB })),
      unit: "MiB",
      baselineName: "the bare ssh2 client process",
      goals: [{ kind: "max", value: 32, strict: true }],
    },
    {
      name: `keystroke echo p99, ${SESSIONS} concurrent sessions (direct)`,
      runs: runs.map((r) => ({ value: r.concurrentDirect, baseline: r.concurrentBare })),
      unit: "ms",
      baselineName: `${SESSIONS} bare ssh2 sessions`,
    },
  ];
  const { figures, medianRun } = fromMedianRun(inputs, headline);
  printAndSave({
    bench: "terminal",
    date: new Date().toISOString(),
    machine: machine(),
    method:
      `${RUNS} runs; cipher ${SSH_CIPHER} on every session (sshd accepts only it; the bare client's handshake reported it); ` +
      `bare = ssh2 PTY sessions held by a client process of their own that passes their bytes to the benchmark process over a pipe, as terminal-ws passes them over ws, so both decrypt outside the benchmark process; ` +
      `echo: one fresh session per path each run, ${WARMUP_KEYS} unrecorded then ${KEYSTROKES} recorded keys typed into cat (PTY echo), interleaved key by key round-robin across the paths; ` +
      `throughput: ${THROUGHPUT_MB} MB of base64 output to the end marker, CPU from /proc, RSS sampled every 50 ms, of terminal-ws and of the bare client process; ` +
      `concurrency: ${SESSIONS} sessions, ${CONCURRENT_ROUNDS} rounds of one key each at once; throughput and concurrency alternate which side goes first from run to run; ` +
      `proxy: the reference agent (separate process) through agent-ws, terminal clients connect to terminal-ws without the edge except where named; figures from the median run by the direct echo p50 ratio`,
    runs: RUNS,
    figures,
    medianRun,
    details: { cipher: SSH_CIPHER, bareClientCipher: bareClients.cipher },
  });
} finally {
  await agent?.stop();
  await bareClients.stop();
  await floor.stop();
  await stack.stop();
  await sshd.dispose();
  rmSync(dir, { recursive: true, force: true });
}
