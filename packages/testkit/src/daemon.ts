import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, waitForPort } from "./ports.js";
import { ManagedProcess, requireBinary } from "./processes.js";

/** A server binary run on a free port with its data in a temporary folder, restartable with the same data. */
export interface TestDaemon {
  url: string;
  port: number;
  process: ManagedProcess;
  /** Stops the server; keeps its data so `restart()` finds it again. */
  stop(): Promise<void>;
  /** Starts the server again on the same port with the same data. */
  restart(): Promise<void>;
  /** Stops the server and deletes its data. */
  dispose(): Promise<void>;
}

export interface DaemonSpec {
  binary: string;
  debianPackage: string;
  scheme: string;
  args: (port: number, dataDir: string) => string[];
  /** Printed once the server accepts work. */
  ready: RegExp;
}

export async function startDaemon(spec: DaemonSpec): Promise<TestDaemon> {
  const binary = requireBinary(spec.binary, spec.debianPackage);
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), `patchmon-ws-${spec.binary}-`));
  const launch = async () => {
    const child = new ManagedProcess(binary, spec.args(port, dataDir));
    await child.waitForOutput(spec.ready);
    await waitForPort(port);
    return child;
  };
  const daemon: TestDaemon = {
    url: `${spec.scheme}://127.0.0.1:${port}`,
    port,
    process: await launch(),
    async stop() {
      await daemon.process.stop();
    },
    async restart() {
      await daemon.process.stop();
      daemon.process = await launch();
    },
    async dispose() {
      await daemon.process.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return daemon;
}
