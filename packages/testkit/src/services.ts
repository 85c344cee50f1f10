import { fileURLToPath } from "node:url";
import { resolve } from "node:path";
import { ManagedProcess } from "./processes.js";

export const REPO_ROOT = resolve(fileURLToPath(new URL(".", import.meta.url)), "../../..");

export interface RunningService {
  name: string;
  port: number;
  url: string;
  process: ManagedProcess;
  stop(): Promise<number | null>;
  kill(): Promise<number | null>;
}

/**
 * Runs a service of this repository (`services/<name>/src/main.ts`, or any entry relative to the repo root) as a
 * real process from its TypeScript source, on a free port (PORT=0), and waits for its "listening" log line.
 */
export async function startService(
  name: string,
  env: Record<string, string>,
  options: { entry?: string; timeoutMs?: number } = {},
): Promise<RunningService> {
  const entry = resolve(REPO_ROOT, options.entry ?? `services/${name}/src/main.ts`);
  const child = new ManagedProcess(process.execPath, ["--conditions=source", "--import", "tsx", entry], {
    cwd: REPO_ROOT,
    env: { ...process.env, LOG_LEVEL: "info", HOST: "127.0.0.1", PORT: "0", ...env },
  });
  const match = await child.waitForOutput(/"port":(\d+)[^\n]*"msg":"listening"/, options.timeoutMs ?? 30_000);
  const port = Number(match[1]);
  return {
    name,
    port,
    url: `http://127.0.0.1:${port}`,
    process: child,
    stop: () => child.stop(),
    kill: () => child.kill(),
  };
}
