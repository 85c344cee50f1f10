import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { spawnListening } from "./daemon.js";
import { freePort, PortInUseError } from "./ports.js";
import { requireBinary, type ManagedProcess } from "./processes.js";

export interface TestNatsNode {
  name: string;
  url: string;
  port: number;
  clusterPort: number;
  /** nats-server's HTTP monitoring (e.g. /connz?subs=1 lists each client's subscriptions). */
  monitorUrl: string;
  process: ManagedProcess;
  /** SIGKILL, no goodbye (the scale test's "kill -9"). */
  kill(): Promise<void>;
  /** Starts the node again with its data and ports; it rejoins the cluster. */
  restart(): Promise<void>;
}

export interface TestNatsCluster {
  /** Every node's client URL, comma-separated: what NATS_URL takes. */
  url: string;
  nodes: TestNatsNode[];
  /** The live node with a client subscribed to `subject` (exact match), e.g. to kill the node a session runs through. */
  nodeServing(subject: string): Promise<TestNatsNode | undefined>;
  /** Resolves once JetStream answers (a meta leader was elected), or rejects after `timeoutMs`. */
  jetStreamReady(timeoutMs?: number): Promise<void>;
  dispose(): Promise<void>;
}

const CLUSTER_NAME = "patchmon-ws-test";

/**
 * A JetStream cluster of `size` nats-server processes on loopback (nats-server 2.9: server and cluster names, routes
 * between every node, one store folder each), for tests that need KV and stream replicas (KV_REPLICAS=3) and a node
 * that dies. Ports are chosen free up front (routes name them); a start that finds one taken begins again.
 */
export async function startNatsCluster(options: { size?: number; dataDir?: string; timeoutMs?: number } = {}): Promise<TestNatsCluster> {
  const binary = requireBinary("nats-server", "nats-server");
  const size = options.size ?? 3;
  const ownData = options.dataDir === undefined;
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), "patchmon-ws-nats-cluster-"));
  for (let attempt = 1; ; attempt++) {
    const ports = await Promise.all(Array.from({ length: size * 3 }, () => freePort()));
    if (new Set(ports).size !== ports.length) continue;
    const specs = Array.from({ length: size }, (_, i) => ({ name: `n${i + 1}`, port: ports[i * 3]!, clusterPort: ports[i * 3 + 1]!, monitorPort: ports[i * 3 + 2]! }));
    const routes = specs.map((s) => `nats://127.0.0.1:${s.clusterPort}`).join(",");
    const launch = (spec: (typeof specs)[number]) => {
      const store = join(dataDir, spec.name);
      mkdirSync(store, { recursive: true });
      return spawnListening(
        binary,
        ["-a", "127.0.0.1", "-p", String(spec.port), "-m", String(spec.monitorPort), "-n", spec.name, "--cluster_name", CLUSTER_NAME, "--cluster", `nats://127.0.0.1:${spec.clusterPort}`, "--routes", routes, "-js", "-sd", store],
        spec.port,
        /Server is ready/,
        { timeoutMs: options.timeoutMs ?? 20_000 },
      );
    };
    let processes: ManagedProcess[];
    try {
      processes = await Promise.all(specs.map(launch));
    } catch (err) {
      if (err instanceof PortInUseError && attempt < 5) continue;
      if (ownData) rmSync(dataDir, { recursive: true, force: true });
      throw err;
    }
    const nodes: TestNatsNode[] = specs.map((spec, i) => {
      const node: TestNatsNode = {
        name: spec.name,
        port: spec.port,
        clusterPort: spec.clusterPort,
        monitorUrl: `http://127.0.0.1:${spec.monitorPort}`,
        url: `nats://127.0.0.1:${spec.port}`,
        process: processes[i]!,
        async kill() {
          await node.process.kill();
        },
        async restart() {
          await node.process.stop();
          node.process = await launch(spec);
        },
      };
      return node;
    });
    const url = nodes.map((n) => n.url).join(",");
    const cluster: TestNatsCluster = {
      url,
      nodes,
      async nodeServing(subject) {
        for (const node of nodes) {
          if (!node.process.running) continue;
          const res = await fetch(`${node.monitorUrl}/connz?subs=1&limit=10000`).catch(() => undefined);
          if (!res?.ok) continue;
          const { connections } = (await res.json()) as { connections?: { subscriptions_list?: string[] }[] };
          if (connections?.some((c) => c.subscriptions_list?.includes(subject))) return node;
        }
        return undefined;
      },
      async jetStreamReady(timeoutMs = 30_000) {
        const nc = await connect({ servers: nodes.map((n) => n.url), timeout: 5000 });
        try {
          const deadline = Date.now() + timeoutMs;
          for (;;) {
            try {
              const jsm = await jetstreamManager(nc, { timeout: 2000 });
              await jsm.getAccountInfo();
              return;
            } catch (err) {
              if (Date.now() > deadline) throw new Error(`JetStream not ready in the cluster after ${timeoutMs} ms: ${(err as Error).message}`);
              await new Promise((r) => setTimeout(r, 250));
            }
          }
        } finally {
          await nc.close();
        }
      },
      async dispose() {
        await Promise.all(nodes.map((n) => n.process.stop()));
        if (ownData) rmSync(dataDir, { recursive: true, force: true });
      },
    };
    await cluster.jetStreamReady().catch(async (err: unknown) => {
      await cluster.dispose();
      throw err;
    });
    return cluster;
  }
}
