/**
 * Shared by every benchmark: statistics, the machine description, the commit being measured, size knobs, goals,
 * and the results file format.
 */
import { execFileSync } from "node:child_process";
import { cpus, totalmem, release } from "node:os";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "@patchmon-ws/stack";
import { COMPILED } from "./runtime.js";
import { median, medianRunIndex, runRatio, type RunMeasurement } from "./stats.js";

export { median, medianRunIndex, percentile, runRatio, type RunMeasurement } from "./stats.js";

export const RESULTS_DIR = join(REPO_ROOT, "bench", "results");
const REPO_DIR = REPO_ROOT;

/* ------------------------------------------------------------------ goals ------------------------------------------------------------------ */

/**
 * A goal a figure is held to. `max` / `min` bound the value itself (in the figure's unit); `ratioMax` / `ratioMin`
 * bound the value divided by the baseline measured in the same run. `strict` makes the bound exclusive (`<`
 * instead of `<=`).
 */
export type Goal =
  | { kind: "max"; value: number; strict?: boolean; note?: string }
  | { kind: "min"; value: number; strict?: boolean; note?: string }
  | { kind: "ratioMax"; value: number; strict?: boolean; note?: string }
  | { kind: "ratioMin"; value: number; strict?: boolean; note?: string };

const isRatioGoal = (goal: Goal) => goal.kind === "ratioMax" || goal.kind === "ratioMin";
const isLowerBound = (goal: Goal) => goal.kind === "min" || goal.kind === "ratioMin";

export interface GoalResult {
  goal: Goal;
  /** The goal in words, e.g. "<= 10000 ms" or "<= 2× bare ws". */
  text: string;
  met: boolean;
}

export interface Figure {
  /** What was measured, e.g. "agent-key verifications/s (64 in flight)". */
  name: string;
  value: number;
  unit: string;
  /** The same quantity for the baseline measured in the same run. */
  baseline?: number;
  baselineName?: string;
  /** Every goal this figure is held to, each evaluated. Absent or empty: the figure has no goal and no verdict. */
  goals?: GoalResult[];
  /** Benchmarks that repeat runs: every run's value (and baseline), in run order. */
  runs?: RunMeasurement[];
  /**
   * How value and baseline were taken from `runs`: "median run" = both from the one run the benchmark reports
   * (BenchResult.medianRun); "per-figure median" = each the median over the runs, so a row may mix runs.
   */
  summary?: "median run" | "per-figure median";
  /** Older results files only: the goal in words and its verdict. */
  goal?: string;
  met?: boolean;
}

export interface FigureInput {
  name: string;
  value: number;
  unit: string;
  baseline?: number;
  baselineName?: string;
  goals?: Goal[];
  runs?: RunMeasurement[];
  summary?: Figure["summary"];
}

export function goalText(goal: Goal, unit: string, baselineName?: string): string {
  const op = isLowerBound(goal) ? (goal.strict ? ">" : ">=") : goal.strict ? "<" : "<=";
  const bound = isRatioGoal(goal) ? `${goal.value}× ${baselineName ?? "baseline"}` : `${fmt(goal.value)} ${unit}`;
  return `${op} ${bound}${goal.note ? ` ${goal.note}` : ""}`;
}

/** Whether a value meets a goal; a ratio goal without a usable baseline is not met. */
export function evaluateGoal(goal: Goal, value: number, baseline: number | undefined): boolean {
  if (!Number.isFinite(value)) return false;
  let subject = value;
  if (isRatioGoal(goal)) {
    if (baseline === undefined || !Number.isFinite(baseline) || baseline <= 0) return false;
    subject = value / baseline;
  }
  if (isLowerBound(goal)) return goal.strict ? subject > goal.value : subject >= goal.value;
  return goal.strict ? subject < goal.value : subject <= goal.value;
}

/** Builds a figure and evaluates its goals. A figure without goals carries no verdict. */
export function figure(input: FigureInput): Figure {
  const { goals, ...rest } = input;
  const out: Figure = { ...rest };
  if (goals && goals.length > 0) {
    out.goals = goals.map((goal) => ({
      goal,
      text: goalText(goal, input.unit, input.baselineName),
      met: evaluateGoal(goal, input.value, input.baseline),
    }));
  }
  return out;
}

/** A figure of a benchmark that repeats runs: its name, unit, goals and every run's measurement. */
export interface RunsFigureInput extends Omit<FigureInput, "value" | "baseline" | "runs" | "summary"> {
  runs: RunMeasurement[];
}

/** Which run a benchmark's figures come from, and the figure that chose it. */
export interface MedianRun {
  /** 0-based. */
  index: number;
  of: number;
  by: string;
}

/**
 * The figures of a benchmark that repeats runs, all from one run: the median run by the headline figure (its
 * ratio to its baseline, else its value), so every row's value and baseline, and the table as a whole, come from
 * the same run. Every run's figures stay in `runs`.
 */
export function fromMedianRun(inputs: readonly RunsFigureInput[], headline: string): { figures: Figure[]; medianRun: MedianRun } {
  const chosen = inputs.find((input) => input.name === headline);
  if (!chosen) throw new Error(`no figure named ${headline}`);
  const index = medianRunIndex(chosen.runs);
  const figures = inputs.map((input) => {
    const run = input.runs[index];
    if (!run) throw new Error(`${input.name}: no run ${index + 1} (${input.runs.length} runs)`);
    return figure({ ...input, value: run.value, ...(run.baseline === undefined ? {} : { baseline: run.baseline }), summary: "median run" });
  });
  return { figures, medianRun: { index, of: chosen.runs.length, by: headline } };
}

/** A figure whose value (and baseline) is the median of each over the runs: labelled so, as its row may mix runs. */
export function perFigureMedian(input: RunsFigureInput): Figure {
  const baselines = input.runs.map((run) => run.baseline).filter((b): b is number => b !== undefined);
  return figure({
    ...input,
    value: median(input.runs.map((run) => run.value)),
    ...(baselines.length === input.runs.length ? { baseline: median(baselines) } : {}),
    summary: "per-figure median",
  });
}

/**
 * The per-run cell: every run's ratio to its baseline (or its value, without one) in run order, the reported run's
 * marked (bold in Markdown), and the median of the per-run ratios; a per-figure median says so.
 */
export function runsCell(f: Figure, medianRun?: MedianRun, mark = (text: string) => `**${text}**`): string {
  if (!f.runs || f.runs.length === 0) return "";
  const withRatio = f.runs.every((run) => run.baseline !== undefined);
  const shown = f.runs.map((run) => (withRatio ? runRatio(run) : run.value));
  const text = (v: number) => (withRatio ? (Number.isFinite(v) ? `${v.toFixed(2)}×` : "n/a") : fmt(v));
  const cells = shown.map((v, i) => (f.summary === "median run" && medianRun?.index === i ? mark(text(v)) : text(v)));
  const label = f.summary === "per-figure median" ? "per-figure median; " : "";
  return `${label}${cells.join(" · ")} (median ${text(median(shown.filter(Number.isFinite)))})`;
}

/** How a result's figures were taken from its runs, in words (empty for a single run). */
export function describeRuns(result: BenchResult): string {
  const m = result.medianRun;
  if (m) {
    const headline = result.figures.find((f) => f.name === m.by);
    const rankedBy = headline?.runs?.every((run) => run.baseline !== undefined) ? "its ratio to the baseline" : "its value";
    return `figures from run ${m.index + 1} of ${m.of}, the median run by "${m.by}" (${rankedBy}); per run: each run's ratio to its own baseline (its value where there is none), in run order, the reported run marked`;
  }
  if (result.figures.some((f) => f.summary === "per-figure median")) return "rows marked per-figure median take each figure's median over the runs separately; per run: in run order";
  return "";
}

/** The goal cell and the met cell of a figure: both empty when it has no goal, whatever an old file says. */
export function verdict(f: Figure): { goal: string; met: string } {
  if (f.goals && f.goals.length > 0) {
    const several = f.goals.length > 1;
    return {
      // The words are rebuilt from the goal itself, so a result file renders with today's wording.
      goal: f.goals
        .map((g) => goalText(g.goal, f.unit, f.baselineName))
        .map((text, i) => (several ? `${text} (${f.goals![i]!.met ? "yes" : "no"})` : text))
        .join("; "),
      met: f.goals.every((g) => g.met) ? "yes" : "no",
    };
  }
  if (f.goal && f.goal.trim() !== "" && f.met !== undefined) return { goal: f.goal, met: f.met ? "yes" : "no" };
  return { goal: "", met: "" };
}

/* ------------------------------------------------------------- knobs, revision ------------------------------------------------------------- */

const knobs: Record<string, { value: number; default: number }> = {};

/**
 * A size setting from the environment (e.g. BENCH_AGENTS), with its documented full-size default. Every knob read
 * is recorded in the result, so a reduced run says so wherever its figures are shown.
 */
export function knob(name: string, fullDefault: number): number {
  const raw = process.env[name];
  const value = raw === undefined || raw === "" ? fullDefault : Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`${name} must be a positive number (got ${raw})`);
  knobs[name] = { value, default: fullDefault };
  return value;
}

export interface Revision {
  /** `git rev-parse HEAD` when the benchmark started. */
  commit: string;
  /**
   * Whether `git status --porcelain` listed anything when the benchmark started, apart from the benchmark outputs
   * (bench/results/, BENCHMARKS.md), which an earlier benchmark of the same `npm run bench` rewrites.
   */
  dirty: boolean;
  /** The first of the changed paths, when dirty. */
  dirtyPaths?: string[];
}

function git(args: string[]): string {
  return execFileSync("git", args, { cwd: REPO_DIR, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

export function currentRevision(): Revision {
  try {
    const commit = git(["rev-parse", "HEAD"]).trim();
    const changed = git(["status", "--porcelain", "--", ".", ":(exclude)bench/results", ":(exclude)BENCHMARKS.md"])
      .split("\n")
      .filter((line) => line.trim() !== "")
      .map((line) => line.slice(3));
    return changed.length > 0 ? { commit, dirty: true, dirtyPaths: changed.slice(0, 20) } : { commit, dirty: false };
  } catch (err) {
    return { commit: "unknown", dirty: true, dirtyPaths: [`git failed: ${(err as Error).message.split("\n")[0]}`] };
  }
}

/** Taken when this module is first imported, i.e. when the benchmark starts: the code that is being measured. */
const STARTED_AT = currentRevision();

/* ------------------------------------------------------------------ results ------------------------------------------------------------------ */

export interface BenchResult {
  bench: string;
  date: string;
  machine: string;
  method: string;
  runs: number;
  figures: Figure[];
  /** Absent in files written before commits were recorded. */
  revision?: Revision;
  /** Size knobs and their full-size defaults. */
  settings?: Record<string, { value: number; default: number }>;
  /** True when any knob differed from its full-size default. */
  reduced?: boolean;
  /** "compiled" (tsc output under plain node, as production runs) or "source" (tsx, BENCH_SOURCE=1). */
  runtime?: "compiled" | "source";
  /** When the figures come from one of several runs: which, and the headline figure that chose it. */
  medianRun?: MedianRun;
  /** Anything else a benchmark wants on record (e.g. the failed trials of the revocation benchmark). */
  details?: Record<string, unknown>;
}

export function machine(): string {
  const cpu = cpus();
  return `${cpu.length} × ${cpu[0]?.model.trim() ?? "cpu"}, ${Math.round(totalmem() / 2 ** 30)} GiB, Linux ${release()}, Node ${process.version}`;
}

export function ratio(figure: Figure): string {
  // A value that could not be measured (NaN, stored as null in JSON) has no ratio.
  const { value, baseline } = figure;
  if (typeof value !== "number" || !Number.isFinite(value) || typeof baseline !== "number" || !Number.isFinite(baseline) || baseline === 0) return "";
  return `${(value / baseline).toFixed(2)}×`;
}

/** Adds the revision and the knobs to a result, prints it and writes bench/results/<bench>.json. */
export function printAndSave(input: Omit<BenchResult, "revision" | "settings" | "reduced" | "runtime">): BenchResult {
  const reduced = Object.values(knobs).some((k) => k.value !== k.default);
  const result: BenchResult = { ...input, revision: STARTED_AT, settings: { ...knobs }, reduced, runtime: COMPILED ? "compiled" : "source" };
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(join(RESULTS_DIR, `${result.bench}.json`), JSON.stringify(result, null, 2) + "\n");
  process.stdout.write(`\n${result.bench} — ${result.machine}\n  ${describeRevision(result)}\n`);
  if (reduced) process.stdout.write(`  reduced run: ${describeSettings(result)}\n`);
  const runs = describeRuns(result);
  if (runs) process.stdout.write(`  ${runs}\n`);
  for (const f of result.figures) {
    const base = f.baseline === undefined ? "" : `   baseline ${f.baselineName ?? ""} ${fmt(f.baseline)} ${f.unit} → ${ratio(f)}`;
    const v = verdict(f);
    const goal = v.goal ? `   goal ${v.goal} ${v.met === "yes" ? "✓" : "✗"}` : "";
    const perRun = runsCell(f, result.medianRun, (text) => `[${text}]`);
    process.stdout.write(`  ${f.name}: ${fmt(f.value)} ${f.unit}${base}${goal}${perRun ? `\n      per run: ${perRun}` : ""}\n`);
  }
  return result;
}

export function describeRevision(result: BenchResult): string {
  const r = result.revision;
  if (!r) return "commit not recorded";
  const state = r.dirty ? `dirty tree${r.dirtyPaths?.length ? ` (${r.dirtyPaths.join(", ")})` : ""}` : "clean tree";
  const runtime = result.runtime === undefined ? "" : result.runtime === "compiled" ? ", compiled JavaScript" : ", TypeScript through tsx (not comparable)";
  return `commit ${r.commit === "unknown" ? "unknown" : r.commit.slice(0, 12)}, ${state}${runtime}`;
}

export function describeSettings(result: BenchResult): string {
  return Object.entries(result.settings ?? {})
    .filter(([, k]) => k.value !== k.default)
    .map(([name, k]) => `${name}=${k.value} (full size ${k.default})`)
    .join(", ");
}

export function fmt(value: number | null): string {
  if (typeof value !== "number" || !Number.isFinite(value)) return "n/a";
  if (Number.isInteger(value)) return value.toLocaleString("en-US");
  return Math.abs(value) >= 100 ? Math.round(value).toLocaleString("en-US") : value.toFixed(value >= 10 ? 1 : 3);
}
