import { fileURLToPath } from "node:url";
import { resolve } from "node:path";
import { ManagedProcess } from "./processes.js";
import { freePort } from "./ports.js";

export const REPO_ROOT = resolve(fileURLToPath(new URL(".", import.meta.url)), "../../..");

export interface RunningService {
  name: string;
  port: number;
  url: string;
  process: ManagedProcess;
  stop(): Promise<number | null>;
  kill(): Promise<number | null>;
}

/** Polls GET /healthz until it answers 200, the process exits, or the timeout passes. */
async function waitForHealth(url: string, child: ManagedProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!child.running) throw new Error(`service exited before it became healthy:\n${child.log}`);
    const ok = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) }).then(
      (res) => res.ok,
      () => false,
    );
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`service not healthy at ${url} after ${timeoutMs} ms:\n${child.log}`);
}

export interface StartServiceOptions {
  /** Entry file relative to the repository root; default `services/<name>/src/main.ts`. */
  entry?: string;
  timeoutMs?: number;
  /** Default a free port, passed as PORT. */
  port?: number;
  /**
   * How to tell the process is up: "healthz" (default) polls GET /healthz on PORT; "log" waits for the
   * `{"port":N,...,"msg":"listening"}` line and takes the port from it (for entries that choose their own port).
   */
  readiness?: "healthz" | "log";
}

/**
 * Runs a service of this repository as a real process from its TypeScript source, and waits until it is up. A
 * service that does not come up is killed, never left behind.
 */
export async function startService(name: string, env: Record<string, string>, options: StartServiceOptions = {}): Promise<RunningService> {
  const entry = resolve(REPO_ROOT, options.entry ?? `services/${name}/src/main.ts`);
  const timeoutMs = options.timeoutMs ?? 30_000;
  const byLog = options.readiness === "log";
  const chosenPort = byLog ? undefined : (options.port ?? (await freePort()));
  const child = new ManagedProcess(process.execPath, ["--conditions=source", "--import", "tsx", entry], {
    cwd: REPO_ROOT,
    env: { ...process.env, LOG_LEVEL: "info", HOST: "127.0.0.1", ...env, ...(chosenPort === undefined ? {} : { PORT: String(chosenPort) }) },
  });
  let port: number;
  try {
    if (chosenPort === undefined) {
      port = Number((await child.waitForOutput(/"port":(\d+)[^\n]*"msg":"listening"/, timeoutMs))[1]);
    } else {
      port = chosenPort;
      await waitForHealth(`http://127.0.0.1:${port}`, child, timeoutMs);
    }
  } catch (err) {
    await child.kill();
    throw err;
  }
  return { name, port, url: `http://127.0.0.1:${port}`, process: child, stop: () => child.stop(), kill: () => child.kill() };
}
