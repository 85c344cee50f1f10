/**
 * How benchmark processes run. By default as production runs: `npm run bench` builds every workspace and the
 * benchmarks with tsc, and every process — services, baselines, load generators — is plain `node` on that
 * JavaScript. Under tsx every closure would carry an extra property store (its keepNames transform), a cost that
 * production never pays and that would blur the per-connection figures. BENCH_SOURCE=1 runs the TypeScript
 * sources through tsx instead (quicker to iterate; figures are then not comparable).
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "@patchmon-ws/stack";

export const COMPILED = process.env.BENCH_SOURCE !== "1";

/** Node arguments that run a bench or service file in the chosen mode. */
export const NODE_ARGS: readonly string[] = COMPILED ? [] : ["--conditions=source", "--import", "tsx"];

/** The runnable file of a bench module (`agent-ws`, `lib/echo-responder`, …) in the chosen mode. */
export function benchFile(name: string): string {
  const file = COMPILED ? join(REPO_ROOT, "bench", "dist", `${name}.js`) : join(REPO_ROOT, "bench", `${name}.ts`);
  if (!existsSync(file)) throw new Error(`${file} does not exist${COMPILED ? ": run `npm run bench` (it builds first) or set BENCH_SOURCE=1" : ""}`);
  return file;
}

/** startService options: the compiled service when benchmarks run compiled. */
export const SERVICE_MODE = { compiled: COMPILED } as const;
