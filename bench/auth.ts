/**
 * Auth benchmark: agent-key verifications over NATS (the check every agent upgrade makes) with 64 requests in
 * flight, against a bare NATS request/reply to an echo responder measured in the same run. Both responders are
 * separate processes; the client is this process. RUNS runs of DURATION_MS each, every figure from the median run
 * by the throughput ratio.
 */
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { AuthSubjects } from "@patchmon-ws/protocol";
import { ManagedProcess, REPO_ROOT, startAuth, startNatsServer } from "@patchmon-ws/stack";
import { fromMedianRun, knob, machine, percentile, printAndSave } from "./lib/report.js";
import { benchFile, NODE_ARGS, SERVICE_MODE } from "./lib/runtime.js";

const RUNS = knob("BENCH_RUNS", 5);
const DURATION_MS = knob("BENCH_DURATION_MS", 3000);
const IN_FLIGHT = 64;

interface Sample {
  perSecond: number;
  p50: number;
  p99: number;
}

async function load(nc: NatsConnection, subject: string, payload: Uint8Array, check: (reply: unknown) => void): Promise<Sample> {
  const latencies: number[] = [];
  const deadline = performance.now() + DURATION_MS;
  const worker = async () => {
    while (performance.now() < deadline) {
      const started = performance.now();
      const msg = await nc.request(subject, payload, { timeout: 5000 });
      latencies.push(performance.now() - started);
      check(msg.json());
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return { perSecond: latencies.length / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

const nats = await startNatsServer();
const auth = await startAuth(nats.url, { AGENT_AUTH_MAX_FAILURES: "1000000" }, SERVICE_MODE);
const echo = new ManagedProcess(process.execPath, [...NODE_ARGS, benchFile("lib/echo-responder"), nats.url, "bench.echo"], { cwd: REPO_ROOT });
await echo.waitForOutput(/ready/);
const nc = await connect({ servers: nats.url });
try {
  const { host, apiKey } = await auth.client.createHost(await auth.adminToken(), { name: "bench" });
  const encode = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
  const verifyPayload = encode({ apiId: host.apiId, apiKey, sourceAddress: "127.0.0.1" });
  const echoPayload = encode({ apiId: host.apiId, apiKey, sourceAddress: "127.0.0.1" });
  const mustBeOk = (reply: unknown) => {
    if (!(reply as { ok?: boolean }).ok) throw new Error(`verification failed: ${JSON.stringify(reply)}`);
  };

  // Warm-up: JIT, connection setup, mirror caches.
  await load(nc, AuthSubjects.verifyAgent, verifyPayload, mustBeOk);
  const verify: Sample[] = [];
  const bare: Sample[] = [];
  for (let run = 0; run < RUNS; run++) {
    bare.push(await load(nc, "bench.echo", echoPayload, () => undefined));
    verify.push(await load(nc, AuthSubjects.verifyAgent, verifyPayload, mustBeOk));
  }
  const runsOf = (key: keyof Sample) => verify.map((v, i) => ({ value: v[key], baseline: bare[i]![key] }));
  const bareName = "bare NATS request/reply";
  const throughputName = `agent-key verifications/s (${IN_FLIGHT} in flight)`;
  const { figures, medianRun } = fromMedianRun(
    [
      { name: throughputName, unit: "req/s", baselineName: bareName, runs: runsOf("perSecond"), goals: [{ kind: "min", value: 10_000 }] },
      { name: "verification latency p50", unit: "ms", baselineName: bareName, runs: runsOf("p50"), goals: [{ kind: "ratioMax", value: 1.5 }] },
      { name: "verification latency p99", unit: "ms", baselineName: bareName, runs: runsOf("p99"), goals: [{ kind: "ratioMax", value: 1.5 }] },
    ],
    throughputName,
  );
  printAndSave({
    bench: "auth",
    date: new Date().toISOString(),
    machine: machine(),
    method: `${RUNS} runs × ${DURATION_MS} ms, ${IN_FLIGHT} requests in flight from one nats.js client; auth and the echo responder are separate processes on one nats-server; each run the bare side first, then auth; figures from the median run by throughput ratio`,
    runs: RUNS,
    figures,
    medianRun,
  });
} finally {
  await nc.close();
  await echo.stop();
  await auth.service.stop();
  await nats.dispose();
}
