/**
 * Seed statistics (docs/method.md section 9): per epoch, the mean, standard deviation (ddof 1,
 * Bessel's correction), median, minimum and maximum of a series over runs that differ only in
 * their seed. Plain numbers: importable from `mod.ts` without tfjs.
 *
 * @module
 */
import { InvalidArgumentError } from "../core/errors.ts";

/**
 * Statistics of one series at one epoch over the runs.
 *
 * @example
 * ```ts
 * const s: SeedStatistics = seedStatistics([1, 2, 4]); // mean 7/3, median 2, std ≈ 1.528
 * ```
 */
export type SeedStatistics = {
  mean: number;
  std: number;
  median: number;
  min: number;
  max: number;
};

/**
 * Mean, std (ddof 1), median (the mean of the two middle values for an even count), min and max
 * of at least two values; a non-finite value (a metric that was undefined in some run) makes
 * every statistic NaN.
 *
 * @example
 * ```ts
 * seedStatistics([3, 1]); // { mean: 2, std: √2, median: 2, min: 1, max: 3 }
 * ```
 */
export function seedStatistics(values: readonly number[]): SeedStatistics {
  const n = values.length;
  if (n < 2) {
    throw new InvalidArgumentError("values", `got ${n}, allowed: at least 2 runs (std has ddof 1)`);
  }
  if (values.some((v) => !Number.isFinite(v))) {
    return { mean: NaN, std: NaN, median: NaN, min: NaN, max: NaN };
  }
  const sorted = [...values].sort((a, b) => a - b);
  let mean = 0;
  for (const v of values) mean += v;
  mean /= n;
  let ss = 0;
  for (const v of values) ss += (v - mean) ** 2;
  const mid = Math.floor(n / 2);
  return {
    mean,
    std: Math.sqrt(ss / (n - 1)),
    median: n % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2,
    min: sorted[0],
    max: sorted[n - 1],
  };
}

/**
 * Per-epoch statistics of named series: `values[run][epoch]` → `{mean: [per epoch], …}`.
 *
 * @example
 * ```ts
 * const s = seriesStatistics([[1, 2], [3, 6]]); // two runs, two epochs
 * s.mean; // [2, 4]
 * ```
 */
export function seriesStatistics(
  values: readonly (readonly number[])[],
): { [K in keyof SeedStatistics]: number[] } {
  const epochs = values[0]?.length ?? 0;
  const out = {
    mean: [] as number[],
    std: [] as number[],
    median: [] as number[],
    min: [] as number[],
    max: [] as number[],
  };
  for (let e = 0; e < epochs; e++) {
    const s = seedStatistics(values.map((run) => run[e]));
    for (const k of Object.keys(out) as (keyof SeedStatistics)[]) out[k].push(s[k]);
  }
  return out;
}
