import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, waitForPort } from "./ports.js";
import { ManagedProcess, requireBinary } from "./processes.js";

export interface TestNatsServer {
  url: string;
  port: number;
  process: ManagedProcess;
  /** Stops the server; keeps its JetStream data so `restart()` finds it again. */
  stop(): Promise<void>;
  /** Starts the server again on the same port with the same data. */
  restart(): Promise<void>;
  /** Stops the server and deletes its data. */
  dispose(): Promise<void>;
}

/** Starts a private nats-server with JetStream on a free port, data in a temporary folder. */
export async function startNatsServer(): Promise<TestNatsServer> {
  const binary = requireBinary("nats-server", "nats-server");
  const port = await freePort();
  const storeDir = mkdtempSync(join(tmpdir(), "patchmon-ws-nats-"));
  const launch = async () => {
    const process = new ManagedProcess(binary, ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", storeDir]);
    await process.waitForOutput(/Server is ready/);
    await waitForPort(port);
    return process;
  };
  const server: TestNatsServer = {
    url: `nats://127.0.0.1:${port}`,
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
      rmSync(storeDir, { recursive: true, force: true });
    },
  };
  return server;
}
