/**
 * Terminal benchmark (`npm run bench -- terminal`): terminal-ws against a bare ssh2 PTY session to the same OpenSSH
 * sshd, same user, PTY size (80×24), cipher negotiation (the same ssh2 library on both sides), measured in the same
 * run, driven by the same client loops (bench/lib/terminal-probe.ts):
 *
 *  - keystroke echo p50 / p99 (a key typed into `cat`, whose terminal echoes it): direct without the edge, direct
 *    through the local TLS edge, and proxy mode through a reference agent (its own process) held by agent-ws;
 *  - output throughput: 100 MB through `base64`, the time from the command to its end marker; terminal-ws CPU
 *    seconds per 100 MB and its RSS growth during the transfer;
 *  - 100 concurrent sessions typing at once: echo p99.
 *
 * A PTY caps output near 84 MB/s on this machine; only the ratios mean anything.
 */
import { localEdge } from "@patchmon-ws/edge";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startSshd, eventually } from "@patchmon-ws/testkit";
import { ManagedProcess, processRss, REPO_ROOT, startStack, type Stack } from "@patchmon-ws/stack";
import { figure, knob, machine, median, percentile, printAndSave, type Figure } from "./lib/report.js";
import { benchFile, COMPILED, NODE_ARGS } from "./lib/runtime.js";
import { bareSsh, terminalWs, type TerminalProbe } from "./lib/terminal-probe.js";

const RUNS = knob("BENCH_RUNS", 3);
const KEYSTROKES = knob("BENCH_KEYSTROKES", 500);
const THROUGHPUT_MB = knob("BENCH_THROUGHPUT_MB", 100);
const SESSIONS = knob("BENCH_SESSIONS", 100);
const CONCURRENT_ROUNDS = knob("BENCH_CONCURRENT_ROUNDS", 20);
const MB = 1_000_000;
const MiB = 1024 * 1024;

/** CPU seconds (user + system) a process has used, from /proc. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Milliseconds from typing one key into `cat` to seeing its echo, `count` times (a new line every 100 keys). */
async function echoLatencies(probe: TerminalProbe, count: number): Promise<number[]> {
  probe.write("cat > /dev/null\r");
  await new Promise((r) => setTimeout(r, 200));
  const latencies: number[] = [];
  for (let i = 0; i < count; i++) {
    const echoed = probe.waitFor("q", 10_000);
    const started = performance.now();
    probe.write("q");
    await echoed;
    latencies.push(performance.now() - started);
    if (i % 100 === 99) {
      // A new line (cat's line holds 4095 characters), then one unmeasured key so the newline's echo is behind us.
      const settled = probe.waitFor("q", 10_000);
      probe.write("\rq");
      await settled;
    }
  }
  const prompt = probe.waitFor("BENCH-CAT-DONE-2", 10_000);
  probe.write("\r\x04echo BENCH-CAT-DONE-$((1+1))\r");
  await prompt;
  return latencies.sort((a, b) => a - b);
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
const sshd = await startSshd();
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
try {
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
  const bareLogin = { host: sshd.host, port: sshd.port, username: sshd.user.username, password: sshd.user.password };

  // --- keystroke echo -------------------------------------------------------------------------------------------
  const echo: Record<"bare" | "floor" | "direct" | "edge" | "proxy", { p50: number[]; p99: number[] }> = {
    bare: { p50: [], p99: [] },
    floor: { p50: [], p99: [] },
    direct: { p50: [], p99: [] },
    edge: { p50: [], p99: [] },
    proxy: { p50: [], p99: [] },
  };
  const openers: Record<keyof typeof echo, () => Promise<TerminalProbe>> = {
    bare: () => bareSsh(bareLogin),
    floor: () => terminalWs({ url: `ws://127.0.0.1:${floorPort}/`, origin: "http://127.0.0.1", connect: {} }),
    direct: () => direct(t, "service"),
    edge: () => direct(t, "edge"),
    proxy: () => proxied(t),
  };
  // Warm-up: JIT on every path.
  for (const open of Object.values(openers)) {
    const probe = await open();
    await echoLatencies(probe, 100);
    await probe.close();
  }
  for (let run = 0; run < RUNS; run++) {
    for (const [name, open] of Object.entries(openers) as [keyof typeof echo, () => Promise<TerminalProbe>][]) {
      const probe = await open();
      const latencies = await echoLatencies(probe, KEYSTROKES);
      echo[name].p50.push(percentile(latencies, 50));
      echo[name].p99.push(percentile(latencies, 99));
      await probe.close();
    }
    process.stdout.write(`echo run ${run + 1}/${RUNS} done\n`);
  }

  // --- throughput, CPU, RSS ---------------------------------------------------------------------------------------
  const pid = stack.service("terminal-ws").process.child.pid!;
  const bareSeconds: number[] = [];
  const directSeconds: number[] = [];
  const cpuPer100MB: number[] = [];
  const rssGrowth: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const bare = await bareSsh(bareLogin);
    await throughput(bare, 1);
    bareSeconds.push(await throughput(bare, THROUGHPUT_MB));
    await bare.close();

    const probe = await direct(t, "service");
    await throughput(probe, 1);
    const rssBefore = processRss(pid);
    let peak = rssBefore;
    const sampler = setInterval(() => (peak = Math.max(peak, processRss(pid))), 50);
    const cpuBefore = cpuSeconds(pid);
    directSeconds.push(await throughput(probe, THROUGHPUT_MB));
    cpuPer100MB.push(((cpuSeconds(pid) - cpuBefore) * 100) / THROUGHPUT_MB);
    clearInterval(sampler);
    rssGrowth.push((peak - rssBefore) / MiB);
    await probe.close();
    process.stdout.write(`throughput run ${run + 1}/${RUNS} done\n`);
  }

  // --- concurrent sessions ----------------------------------------------------------------------------------------
  async function concurrentEcho(open: () => Promise<TerminalProbe>): Promise<number> {
    const probes: TerminalProbe[] = [];
    for (let i = 0; i < SESSIONS; i += 10) probes.push(...(await Promise.all(Array.from({ length: Math.min(10, SESSIONS - i) }, open))));
    for (const probe of probes) probe.write("cat > /dev/null\r");
    await new Promise((r) => setTimeout(r, 1000));
    const latencies: number[] = [];
    for (let round = 0; round < CONCURRENT_ROUNDS; round++) {
      await Promise.all(
        probes.map(async (probe) => {
          const echoed = probe.waitFor("q", 20_000);
          const started = performance.now();
          probe.write("q");
          await echoed;
          latencies.push(performance.now() - started);
        }),
      );
    }
    await Promise.all(probes.map((p) => p.close()));
    latencies.sort((a, b) => a - b);
    return percentile(latencies, 99);
  }
  const concurrentBare: number[] = [];
  const concurrentDirect: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    concurrentBare.push(await concurrentEcho(() => bareSsh(bareLogin)));
    concurrentDirect.push(await concurrentEcho(() => direct(t, "service")));
    process.stdout.write(`concurrency run ${run + 1}/${RUNS} done\n`);
  }

  const bareName = "bare ssh2→sshd";
  const m = median;
  const figures: Figure[] = [
    figure({ name: "keystroke echo p50, direct (no edge)", value: m(echo.direct.p50), unit: "ms", baseline: m(echo.bare.p50), baselineName: bareName, goals: [{ kind: "ratioMax", value: 1.5 }] }),
    figure({ name: "keystroke echo p99, direct (no edge)", value: m(echo.direct.p99), unit: "ms", baseline: m(echo.bare.p99), baselineName: bareName, goals: [{ kind: "ratioMax", value: 2 }] }),
    figure({ name: "keystroke echo p50, minimal ws↔ssh2 relay (reference: the cost of one more process)", value: m(echo.floor.p50), unit: "ms", baseline: m(echo.bare.p50), baselineName: bareName }),
    figure({ name: "keystroke echo p99, minimal ws↔ssh2 relay (reference)", value: m(echo.floor.p99), unit: "ms", baseline: m(echo.bare.p99), baselineName: bareName }),
    figure({ name: "keystroke echo p50, direct through the TLS edge", value: m(echo.edge.p50), unit: "ms", baseline: m(echo.bare.p50), baselineName: bareName, goals: [{ kind: "ratioMax", value: 3 }] }),
    figure({ name: "keystroke echo p99, direct through the TLS edge", value: m(echo.edge.p99), unit: "ms", baseline: m(echo.bare.p99), baselineName: bareName, goals: [{ kind: "ratioMax", value: 4 }] }),
    figure({ name: "keystroke echo p50, proxy through an agent", value: m(echo.proxy.p50), unit: "ms", baseline: m(echo.bare.p50), baselineName: bareName, goals: [{ kind: "ratioMax", value: 4 }] }),
    figure({ name: "keystroke echo p99, proxy through an agent", value: m(echo.proxy.p99), unit: "ms", baseline: m(echo.bare.p99), baselineName: bareName, goals: [{ kind: "ratioMax", value: 5 }] }),
    figure({
      name: `output throughput, ${THROUGHPUT_MB} MB through base64 (direct)`,
      value: THROUGHPUT_MB / m(directSeconds),
      unit: "MB/s",
      baseline: THROUGHPUT_MB / m(bareSeconds),
      baselineName: bareName,
      goals: [{ kind: "min", value: (0.95 * THROUGHPUT_MB) / m(bareSeconds), note: "(0.95× bare)" }],
    }),
    figure({ name: "terminal-ws CPU per 100 MB of output", value: m(cpuPer100MB), unit: "s" }),
    figure({ name: "terminal-ws RSS growth during the transfer", value: m(rssGrowth), unit: "MiB", goals: [{ kind: "max", value: 32, strict: true }] }),
    figure({ name: `keystroke echo p99, ${SESSIONS} concurrent sessions (direct)`, value: m(concurrentDirect), unit: "ms", baseline: m(concurrentBare), baselineName: `${SESSIONS} bare ssh2 sessions` }),
  ];
  printAndSave({
    bench: "terminal",
    date: new Date().toISOString(),
    machine: machine(),
    method: `${RUNS} runs; echo: ${KEYSTROKES} keys typed one at a time into cat (PTY echo), per path a fresh session after a 100-key warm-up; throughput: ${THROUGHPUT_MB} MB of base64 output to the end marker, CPU from /proc, RSS sampled every 50 ms; concurrency: ${SESSIONS} sessions, ${CONCURRENT_ROUNDS} rounds of one key each at once; proxy: the reference agent (separate process) through agent-ws, terminal clients connect to terminal-ws without the edge except where named; medians of per-run figures`,
    runs: RUNS,
    figures,
  });
} finally {
  await agent?.stop();
  await floor.stop();
  await stack.stop();
  await sshd.dispose();
  rmSync(dir, { recursive: true, force: true });
}
