import { fileURLToPath } from "node:url";
import { resolve } from "node:path";
import { ManagedProcess } from "./processes.js";
import { ADDRESS_IN_USE, PortInUseError } from "./ports.js";

export const REPO_ROOT = resolve(fileURLToPath(new URL(".", import.meta.url)), "../../..");

export interface RunningService {
  name: string;
  port: number;
  url: string;
  process: ManagedProcess;
  stop(): Promise<number | null>;
  kill(): Promise<number | null>;
}

/** The line every entry point prints once it listens: `{"port":N,...,"msg":"listening"}`. */
const LISTENING = /"port":(\d+)[^\n]*"msg":"listening"/;

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
  /** Entry file relative to the repository root; default `services/<name>/src/main.ts` (`dist/main.js` compiled). */
  entry?: string;
  /**
   * Run the JavaScript `npm run build` emitted, with plain `node`, as production does (no tsx, whose keepNames
   * transform adds a property store to every closure; benchmarks measure what production runs). Default false:
   * run the TypeScript source through tsx, so tests need no build step.
   */
  compiled?: boolean;
  timeoutMs?: number;
  /**
   * A fixed port, passed as PORT (a restart on the same port, a benchmark). Default 0: the service binds any free
   * port itself and the port is read from its "listening" line, so two workers never race for one port.
   */
  port?: number;
  /**
   * How to tell the process is up: "log" (default) waits for the `{"port":N,...,"msg":"listening"}` line and takes
   * the port from it; "healthz" polls GET /healthz on the given `port` (for entries that print no such line).
   */
  readiness?: "healthz" | "log";
  /** Also append the process's output to this file. */
  logFile?: string;
  /** Called with everything the process writes to stderr (npm start shows it on the terminal). */
  onStderr?: (text: string) => void;
}

/**
 * Runs a service of this repository as a real process from its TypeScript source, and waits until it is up. A
 * service that does not come up is killed, never left behind; one that fails because its fixed port is taken
 * throws PortInUseError.
 */
export async function startService(name: string, env: Record<string, string>, options: StartServiceOptions = {}): Promise<RunningService> {
  const entry = resolve(REPO_ROOT, options.entry ?? (options.compiled ? `services/${name}/dist/main.js` : `services/${name}/src/main.ts`));
  const timeoutMs = options.timeoutMs ?? 30_000;
  const byHealth = options.readiness === "healthz";
  if (byHealth && !options.port) throw new Error(`startService(${name}): readiness "healthz" needs a fixed port`);
  const requestedPort = options.port ?? 0;
  const args = options.compiled ? [entry] : ["--conditions=source", "--import", "tsx", entry];
  const child = new ManagedProcess(process.execPath, args, {
    cwd: REPO_ROOT,
    env: { ...process.env, LOG_LEVEL: "info", HOST: "127.0.0.1", ...env, PORT: String(requestedPort) },
  });
  if (options.logFile) child.logTo(options.logFile);
  if (options.onStderr) {
    const onStderr = options.onStderr;
    child.child.stderr?.on("data", (chunk: Buffer) => onStderr(chunk.toString()));
  }
  let port: number;
  try {
    if (byHealth) {
      port = requestedPort;
      await waitForHealth(`http://127.0.0.1:${port}`, child, timeoutMs);
    } else {
      port = Number((await child.waitForOutput(LISTENING, timeoutMs))[1]);
    }
  } catch (err) {
    await child.kill();
    if (requestedPort && ADDRESS_IN_USE.test(child.log)) throw new PortInUseError(requestedPort, child.log.slice(-2000));
    throw new Error(`${name} did not come up: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  return { name, port, url: `http://127.0.0.1:${port}`, process: child, stop: () => child.stop(), kill: () => child.kill() };
}
