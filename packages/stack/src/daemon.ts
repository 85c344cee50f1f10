import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ADDRESS_IN_USE, PortInUseError, waitForPort, withFreePort } from "./ports.js";
import { ManagedProcess, requireBinary } from "./processes.js";

/** A server binary run on a free port with its data in a folder, restartable with the same data. */
export interface TestDaemon {
  url: string;
  port: number;
  process: ManagedProcess;
  /** Where its data lives (a temporary folder unless one was given). */
  dataDir: string;
  /** Stops the server; keeps its data so `restart()` finds it again. */
  stop(): Promise<void>;
  /** Starts the server again on the same port with the same data. */
  restart(): Promise<void>;
  /** Stops the server and deletes its data (unless the data folder was given by the caller). */
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

export interface DaemonOptions {
  /** Keep the data here (created if missing, never deleted); default a temporary folder removed by dispose(). */
  dataDir?: string;
  /** Also append the server's output to this file. */
  logFile?: string;
  /** How long to wait for the ready line; default 15 s. */
  timeoutMs?: number;
}

/** Attempts on the same port in restart(): the port may be held a moment longer by the process just stopped. */
const RESTART_ATTEMPTS = 5;
const RESTART_PAUSE_MS = 200;

/**
 * Starts a daemon that cannot bind port 0 and tell us its port: it gets a free port, and if it still fails with
 * "address already in use" (another worker took the port meanwhile) it is started again on another one.
 */
/**
 * Spawns a server that was told to listen on `port` and waits until it says it is ready. One that cannot start is
 * killed; one whose port was taken meanwhile throws PortInUseError, so withFreePort can try another port.
 */
export async function spawnListening(
  command: string,
  args: string[],
  port: number,
  ready: RegExp,
  options: { timeoutMs?: number; logFile?: string; listening?: boolean } = {},
): Promise<ManagedProcess> {
  const child = new ManagedProcess(command, args);
  if (options.logFile) child.logTo(options.logFile);
  try {
    await child.waitForOutput(ready, options.timeoutMs ?? 15_000);
    if (options.listening !== false) await waitForPort(port);
  } catch (err) {
    await child.kill();
    if (ADDRESS_IN_USE.test(child.log)) throw new PortInUseError(port, child.log.slice(-2000));
    throw err;
  }
  return child;
}

export async function startDaemon(spec: DaemonSpec, options: DaemonOptions = {}): Promise<TestDaemon> {
  const binary = requireBinary(spec.binary, spec.debianPackage);
  const ownData = options.dataDir === undefined;
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), `patchmon-ws-${spec.binary}-`));
  mkdirSync(dataDir, { recursive: true });
  const launch = (port: number) =>
    spawnListening(binary, spec.args(port, dataDir), port, spec.ready, {
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
      ...(options.logFile === undefined ? {} : { logFile: options.logFile }),
    });
  let started: { port: number; child: ManagedProcess };
  try {
    started = await withFreePort(async (port) => ({ port, child: await launch(port) }));
  } catch (err) {
    if (ownData) rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  const { port } = started;
  const daemon: TestDaemon = {
    url: `${spec.scheme}://127.0.0.1:${port}`,
    port,
    dataDir,
    process: started.child,
    async stop() {
      await daemon.process.stop();
    },
    async restart() {
      await daemon.process.stop();
      // Same port (clients reconnect to it): retried while the port is still taken, then given up loudly.
      for (let attempt = 1; ; attempt++) {
        try {
          daemon.process = await launch(port);
          return;
        } catch (err) {
          if (!(err instanceof PortInUseError) || attempt >= RESTART_ATTEMPTS) throw err;
          await new Promise((r) => setTimeout(r, RESTART_PAUSE_MS * attempt));
        }
      }
    },
    async dispose() {
      await daemon.process.stop();
      if (ownData) rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return daemon;
}
