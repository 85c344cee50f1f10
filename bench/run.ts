/**
 * `npm run bench [-- name ...]`: runs the benchmarks (each in its own process, one after another so they do not
 * compete for the two cores), then rewrites the figures section of BENCHMARKS.md from bench/results/*.json.
 * `npm run bench -- --render` only rewrites the figures section.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { REPO_ROOT } from "@patchmon-ws/stack";
import { benchFile, NODE_ARGS } from "./lib/runtime.js";
import { RESULTS_DIR, describeRevision, describeRuns, describeSettings, fmt, ratio, runsCell, verdict, type BenchResult } from "./lib/report.js";

const ALL = ["auth", "agent-ws", "presence-kv", "bullboard", "revocation", "terminal", "web"];
const renderOnly = process.argv.includes("--render");
const chosen = process.argv.slice(2).filter((a) => !a.startsWith("-"));
const benches = (renderOnly ? [] : chosen.length ? chosen : ALL).filter((name) => {
  const exists = existsSync(join(REPO_ROOT, "bench", `${name}.ts`));
  if (!exists) process.stderr.write(`no benchmark named ${name}\n`);
  return exists;
});

let failed = 0;
for (const name of benches) {
  process.stdout.write(`\n=== ${name} ===\n`);
  const result = spawnSync(process.execPath, [...NODE_ARGS, benchFile(name)], {
    cwd: REPO_ROOT,
    stdio: "inherit",
  });
  if (result.status !== 0) {
    failed++;
    process.stderr.write(`${name} failed (exit ${result.status})\n`);
  }
}

const results = readdirSync(RESULTS_DIR)
  .filter((f) => f.endsWith(".json"))
  .map((f) => JSON.parse(readFileSync(join(RESULTS_DIR, f), "utf8")) as BenchResult)
  .sort((a, b) => ALL.indexOf(a.bench) - ALL.indexOf(b.bench));

const lines = ["<!-- figures:start (written by bench/run.ts from bench/results/*.json; do not edit by hand) -->"];
for (const r of results) {
  lines.push("", `### ${r.bench}`, "", `${r.date.slice(0, 10)} · ${describeRevision(r)} · ${r.machine}`, "");
  if (r.reduced) lines.push(`**Reduced run** (not the documented size): ${describeSettings(r)}.`, "");
  lines.push(`Method: ${r.method}.`, "");
  const runs = describeRuns(r);
  if (runs) lines.push(`${runs[0]!.toUpperCase()}${runs.slice(1)}.`, "");
  lines.push("| figure | value | baseline (same run) | ratio | per run | goal | met |", "|---|---|---|---|---|---|---|");
  for (const f of r.figures) {
    const baseline = f.baseline === undefined ? "" : `${f.baselineName ?? ""}: ${fmt(f.baseline)} ${f.unit}`;
    // The met cell is filled only for a figure with a goal (verdict() ignores a stray "met" without one).
    const { goal, met } = verdict(f);
    lines.push(`| ${f.name} | ${fmt(f.value)} ${f.unit} | ${baseline} | ${ratio(f)} | ${runsCell(f, r.medianRun)} | ${goal} | ${met} |`);
  }
}
lines.push("", "<!-- figures:end -->");

const file = join(REPO_ROOT, "BENCHMARKS.md");
const current = readFileSync(file, "utf8");
const updated = current.replace(/<!-- figures:start[\s\S]*<!-- figures:end -->/, lines.join("\n"));
writeFileSync(file, updated);
process.stdout.write(`\nBENCHMARKS.md updated from ${results.length} result files\n`);
process.exit(failed ? 1 : 0);
