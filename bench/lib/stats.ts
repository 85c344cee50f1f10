/**
 * The statistics every benchmark uses, with no side effects (report.ts re-exports them): percentiles, and which of
 * several runs a figure is reported from.
 */

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index]!;
}

/** The median (lower middle for an even count); a value that could not be measured (NaN) ranks above every other. */
export function median(values: readonly number[]): number {
  const rank = (v: number) => (Number.isNaN(v) ? Infinity : v);
  return percentile([...values].sort((a, b) => rank(a) - rank(b) || Number(Number.isNaN(a)) - Number(Number.isNaN(b))), 50);
}

/** One run's measurement of a figure: its value and, when it has one, its baseline's in the same run. */
export interface RunMeasurement {
  value: number;
  baseline?: number;
}

/** value / baseline, or NaN when there is no usable baseline. */
export function runRatio(run: RunMeasurement): number {
  const { value, baseline } = run;
  if (baseline === undefined || !Number.isFinite(value) || !Number.isFinite(baseline) || baseline === 0) return NaN;
  return value / baseline;
}

/**
 * The index of the median run by a headline figure: ranked by its ratio to its baseline when it has one in every
 * run, else by its value; for an even count the lower middle one (as `median`). A run that could not be measured
 * (NaN) ranks last, so it is the median run only when most runs failed.
 */
export function medianRunIndex(headline: readonly RunMeasurement[]): number {
  if (headline.length === 0) throw new RangeError("no runs");
  const byRatio = headline.every((run) => run.baseline !== undefined);
  const key = (run: RunMeasurement) => {
    const k = byRatio ? runRatio(run) : run.value;
    return Number.isFinite(k) ? k : Infinity;
  };
  const order = headline.map((run, index) => ({ index, key: key(run) })).sort((a, b) => a.key - b.key || a.index - b.index);
  return order[Math.max(0, Math.ceil(order.length / 2) - 1)]!.index;
}
