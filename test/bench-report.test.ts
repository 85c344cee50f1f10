/**
 * How a benchmark that repeats runs reports them (bench/lib/stats.ts, bench/lib/report.ts): every figure from the
 * median run by the headline figure, or labelled a per-figure median; ratio goals both ways.
 */
import { describe, expect, it } from "vitest";
import { describeRuns, evaluateGoal, fromMedianRun, goalText, perFigureMedian, runsCell, type BenchResult } from "../bench/lib/report.js";
import { median, medianRunIndex, runRatio } from "../bench/lib/stats.js";

describe("medianRunIndex", () => {
  it("ranks runs by the headline's ratio to its own run's baseline, not by its value", () => {
    // Values rank run 0 in the middle; ratios (2.0, 1.0, 3.0) rank run 0 in the middle too, run 1 lowest.
    expect(medianRunIndex([{ value: 4, baseline: 2 }, { value: 1, baseline: 1 }, { value: 30, baseline: 10 }])).toBe(0);
    // Same values, different baselines: the ratio decides (1.0, 4.0, 2.0 → run 2).
    expect(medianRunIndex([{ value: 4, baseline: 4 }, { value: 4, baseline: 1 }, { value: 4, baseline: 2 }])).toBe(2);
  });

  it("ranks by value without a baseline, takes the lower middle of an even count, and ranks failed runs last", () => {
    expect(medianRunIndex([{ value: 9 }, { value: 3 }, { value: 5 }])).toBe(2);
    expect(medianRunIndex([{ value: 4 }, { value: 1 }, { value: 3 }, { value: 2 }])).toBe(3);
    expect(medianRunIndex([{ value: NaN }, { value: 2 }, { value: 1 }])).toBe(1);
    expect(() => medianRunIndex([])).toThrow(RangeError);
  });

  it("has no ratio without a usable baseline", () => {
    expect(runRatio({ value: 3 })).toBeNaN();
    expect(runRatio({ value: 3, baseline: 0 })).toBeNaN();
    expect(runRatio({ value: 3, baseline: 2 })).toBe(1.5);
  });
});

describe("fromMedianRun", () => {
  const inputs = [
    { name: "headline", unit: "ms", baselineName: "bare", runs: [{ value: 3, baseline: 1 }, { value: 2, baseline: 2 }, { value: 4, baseline: 2 }] },
    { name: "other", unit: "ms", baselineName: "bare", runs: [{ value: 10, baseline: 1 }, { value: 20, baseline: 1 }, { value: 30, baseline: 1 }], goals: [{ kind: "ratioMax" as const, value: 25 }] },
  ];

  it("takes every figure's value and baseline from the headline's median run, and keeps every run", () => {
    const { figures, medianRun } = fromMedianRun(inputs, "headline");
    // Headline ratios 3, 1, 2: the median run is run 2 (index 2).
    expect(medianRun).toEqual({ index: 2, of: 3, by: "headline" });
    expect(figures.map((f) => [f.value, f.baseline, f.summary])).toEqual([
      [4, 2, "median run"],
      [30, 1, "median run"],
    ]);
    expect(figures[1]!.runs).toEqual(inputs[1]!.runs);
    // The goal is judged on that run: 30× > 25×, although the per-figure medians (20 / 1) would pass.
    expect(figures[1]!.goals!.map((g) => g.met)).toEqual([false]);
  });

  it("marks the reported run among the per-run ratios and gives their median", () => {
    const { figures, medianRun } = fromMedianRun(inputs, "headline");
    expect(runsCell(figures[0]!, medianRun)).toBe("3.00× · 1.00× · **2.00×** (median 2.00×)");
    expect(runsCell(figures[1]!, medianRun, (t) => `[${t}]`)).toBe("10.00× · 20.00× · [30.00×] (median 20.00×)");
    const result = { figures, medianRun } as unknown as BenchResult;
    expect(describeRuns(result)).toContain('run 3 of 3, the median run by "headline" (its ratio to the baseline)');
  });

  it("refuses an unknown headline", () => {
    expect(() => fromMedianRun(inputs, "nope")).toThrow(/no figure named nope/);
  });
});

describe("median", () => {
  it("ranks a run that could not be measured above every other, wherever it stands", () => {
    expect(median([NaN, 100, 90])).toBe(100);
    expect(median([100, NaN, 90])).toBe(100);
    expect(median([100, NaN])).toBe(100);
    expect(median([NaN, NaN, 1])).toBeNaN();
  });
});

describe("perFigureMedian", () => {
  it("takes each median separately and says so in its per-run cell", () => {
    const f = perFigureMedian({ name: "fcp", unit: "ms", runs: [{ value: 300 }, { value: 100 }, { value: 200 }] });
    expect(f.value).toBe(200);
    expect(f.baseline).toBeUndefined();
    expect(runsCell(f)).toBe("per-figure median; 300 · 100 · 200 (median 200)");
    expect(describeRuns({ figures: [f] } as unknown as BenchResult)).toMatch(/per-figure median/);
  });
});

describe("ratio goals", () => {
  it("bound the ratio to the same run's baseline from below (ratioMin) and above (ratioMax)", () => {
    const atLeast = { kind: "ratioMin" as const, value: 0.95 };
    expect(evaluateGoal(atLeast, 95, 100)).toBe(true);
    expect(evaluateGoal(atLeast, 94, 100)).toBe(false);
    expect(evaluateGoal(atLeast, 95, undefined)).toBe(false);
    expect(goalText(atLeast, "MB/s", "bare ssh2")).toBe(">= 0.95× bare ssh2");
    expect(evaluateGoal({ kind: "ratioMax", value: 2, strict: true }, 200, 100)).toBe(false);
    expect(goalText({ kind: "ratioMax", value: 2, strict: true }, "ms", "bare ws")).toBe("< 2× bare ws");
  });
});
