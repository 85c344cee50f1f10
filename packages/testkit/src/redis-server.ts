import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, waitForPort } from "./ports.js";
import { ManagedProcess, requireBinary } from "./processes.js";

export interface TestRedisServer {
  url: string;
  port: number;
  process: ManagedProcess;
  stop(): Promise<void>;
  restart(): Promise<void>;
  dispose(): Promise<void>;
}

/** Starts a private redis-server on a free port (no persistence), as BullMQ wants it (noeviction). */
export async function startRedisServer(): Promise<TestRedisServer> {
  const binary = requireBinary("redis-server", "redis-server");
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "patchmon-ws-redis-"));
  const launch = async () => {
    const process = new ManagedProcess(binary, [
      "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
      "--dir", dir, "--maxmemory-policy", "noeviction",
    ]);
    await process.waitForOutput(/Ready to accept connections/);
    await waitForPort(port);
    return process;
  };
  const server: TestRedisServer = {
    url: `redis://127.0.0.1:${port}`,
    port,
    process: await launch(),
    async stop() {
      await server.process.stop();
    },
    async restart() {
      await server.process.stop();
      server.process = await launch();
    },
    async dispose() {
      await server.process.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return server;
}
