/** Shared by every benchmark: statistics, the machine description, and the results file format. */
import { cpus, totalmem, release } from "node:os";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const RESULTS_DIR = join(dirname(fileURLToPath(import.meta.url)), "..", "results");

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index]!;
}

export function median(values: readonly number[]): number {
  return percentile([...values].sort((a, b) => a - b), 50);
}

export interface Figure {
  /** What was measured, e.g. "agent-key verifications/s (64 in flight)". */
  name: string;
  value: number;
  unit: string;
  /** The same quantity for the baseline measured in the same run. */
  baseline?: number;
  baselineName?: string;
  /** The goal, in words, e.g. ">= 10000/s". */
  goal?: string;
  met?: boolean;
}

export interface BenchResult {
  bench: string;
  date: string;
  machine: string;
  method: string;
  runs: number;
  figures: Figure[];
}

export function machine(): string {
  const cpu = cpus();
  return `${cpu.length} × ${cpu[0]?.model.trim() ?? "cpu"}, ${Math.round(totalmem() / 2 ** 30)} GiB, Linux ${release()}, Node ${process.version}`;
}

export function ratio(figure: Figure): string {
  return figure.baseline === undefined || figure.baseline === 0 ? "" : `${(figure.value / figure.baseline).toFixed(2)}×`;
}

export function printAndSave(result: BenchResult): void {
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(join(RESULTS_DIR, `${result.bench}.json`), JSON.stringify(result, null, 2) + "\n");
  process.stdout.write(`\n${result.bench} — ${result.machine}\n`);
  for (const f of result.figures) {
    const base = f.baseline === undefined ? "" : `   baseline ${f.baselineName ?? ""} ${fmt(f.baseline)} ${f.unit} → ${ratio(f)}`;
    const goal = f.goal ? `   goal ${f.goal} ${f.met ? "✓" : "✗"}` : "";
    process.stdout.write(`  ${f.name}: ${fmt(f.value)} ${f.unit}${base}${goal}\n`);
  }
}

export function fmt(value: number): string {
  return Math.abs(value) >= 100 ? Math.round(value).toLocaleString("en-US") : value.toFixed(value >= 10 ? 1 : 3);
}
