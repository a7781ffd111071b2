/**
 * Seed statistics made by hand, in the shape `deno task seed-stats` writes.
 *
 * @module
 */
import type { SplitSeedStats } from "../../analysis/seed_stats_task.ts";

/**
 * Hand-made seed statistics of one method (the figure and report tests' input): every series of
 * `split` is `scale/epoch` at epochs 5, 10, 15, 20 with a ±10 % band; the nc splits also hold
 * the last epoch's margins at three ranks.
 *
 * @example
 * ```ts
 * const s = handMadeStats("implicit", "train", 1);
 * s.series.nc1.median; // [0.2, 0.1, 0.0667, 0.05]
 * ```
 */
export function handMadeStats(
  method: string,
  split: SplitSeedStats["split"],
  scale: number,
): SplitSeedStats {
  const epochs = [5, 10, 15, 20];
  const keys = split === "training"
    ? ["loss", "batchTop1", "solverIterations", "solverSeconds", "stepSeconds"]
    : [
      "top1",
      "nc1",
      "nc2",
      "nc3",
      "nc4",
      "whEquinormDiff",
      "avgCosMargin",
      "etfWH",
      "wToEtf",
      "hToEtf",
      "wToRef",
      "hToRef",
    ];
  const series: SplitSeedStats["series"] = {};
  for (const key of keys) {
    const median = epochs.map((e) => scale / e);
    series[key] = {
      mean: median,
      std: median.map((m) => m / 10),
      median,
      min: median.map((m) => m * 0.9),
      max: median.map((m) => m * 1.1),
    };
  }
  const ranks = [0, 0.5, 1];
  return {
    split,
    experiment: { dataset: "mnist", model: "resnet18", method, numClasses: 10 },
    runs: ["a", "b"],
    uids: [`${method}-seed1`, `${method}-seed2`],
    epochs,
    series,
    source: {},
    ...(split === "training" ? {} : {
      lastEpochMargins: {
        ranks,
        mean: [-0.1, 0.2, 0.4],
        std: [0, 0, 0],
        median: [-0.1, 0.2, 0.4],
        min: [-0.2, 0.1, 0.3],
        max: [0, 0.3, 0.5],
      },
    }),
  };
}
