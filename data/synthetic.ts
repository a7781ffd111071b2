/**
 * The `synthetic` dataset for the unconstrained-features model (UFM): Gaussian features whose
 * mean depends on the class.
 *
 * From `seed`: class means μ_k ~ N(0, I_d) (k < K), then each sample of class k is
 * x = μ_k + σ·ε with ε ~ N(0, I_d) (σ = `noise`, default 1). Labels are balanced — class k gets
 * ⌊N/K⌋ or ⌈N/K⌉ samples, the first N mod K classes one more — and shuffled. The train and test
 * splits share the class means and draw their samples from separate streams, so the train split
 * does not depend on `testSize`.
 *
 * @module
 */
import { InvalidArgumentError } from "../core/errors.ts";
import { Rng } from "../core/random.ts";
import type { DatasetSplit } from "./dataset.ts";

/**
 * Options of {@link syntheticDataset} (the `--dataset_size`, `--feature_dim`, `--num_classes`
 * and `--seed` flags).
 *
 * @example
 * ```ts
 * const o: SyntheticOptions = { datasetSize: 1000, featureDim: 512, numClasses: 10, seed: 1 };
 * ```
 */
export type SyntheticOptions = {
  /** Training samples N (default 1000). */
  datasetSize?: number;
  /** Test samples (default max(K, round(N / 5))). */
  testSize?: number;
  /** Feature dimension d (default 512). */
  featureDim?: number;
  /** Classes K (default 10). */
  numClasses?: number;
  /** Seed (default 0). */
  seed?: number;
  /** Standard deviation σ of the within-class noise (default 1). */
  noise?: number;
};

function positiveInt(value: number, flag: string): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new InvalidArgumentError(flag, `must be a positive integer, got ${value}`);
  }
  return value;
}

function split(
  which: "train" | "test",
  n: number,
  means: Float64Array,
  d: number,
  k: number,
  noise: number,
  rng: Rng,
): DatasetSplit {
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) labels[i] = i % k;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng.uniform() * (i + 1));
    const t = labels[i];
    labels[i] = labels[j];
    labels[j] = t;
  }
  const features = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const mean = labels[i] * d;
    for (let j = 0; j < d; j++) features[i * d + j] = means[mean + j] + noise * rng.normal();
  }
  return {
    name: "synthetic",
    split: which,
    length: n,
    sampleShape: [d],
    images: null,
    features,
    labels,
    numClasses: k,
    classNames: [...Array(k).keys()].map((c) => `class ${c}`),
  };
}

/**
 * Generates the synthetic dataset (see the module notes). Throws `InvalidArgumentError` naming
 * the flag for non-positive sizes or fewer than 2 classes.
 *
 * @example
 * ```ts
 * const { train } = syntheticDataset({ datasetSize: 100, featureDim: 8, numClasses: 4, seed: 1 });
 * console.log(train.features!.length); // 800
 * ```
 */
export function syntheticDataset(options: SyntheticOptions = {}): {
  train: DatasetSplit;
  test: DatasetSplit;
} {
  const n = positiveInt(options.datasetSize ?? 1000, "--dataset_size");
  const d = positiveInt(options.featureDim ?? 512, "--feature_dim");
  const k = positiveInt(options.numClasses ?? 10, "--num_classes");
  if (k < 2) throw new InvalidArgumentError("--num_classes", `must be at least 2, got ${k}`);
  const testSize = positiveInt(options.testSize ?? Math.max(k, Math.round(n / 5)), "testSize");
  const seed = options.seed ?? 0;
  if (!Number.isSafeInteger(seed)) {
    throw new InvalidArgumentError("--seed", `must be an integer, got ${seed}`);
  }
  const noise = options.noise ?? 1;
  if (!(noise >= 0 && Number.isFinite(noise))) {
    throw new InvalidArgumentError("noise", `must be a finite number ≥ 0, got ${noise}`);
  }
  const meanRng = new Rng(seed);
  const means = new Float64Array(k * d);
  for (let i = 0; i < means.length; i++) means[i] = meanRng.normal();
  // separate streams for the two splits, derived from the seed
  const trainRng = new Rng(meanRng.nextUint32()), testRng = new Rng(meanRng.nextUint32());
  return {
    train: split("train", n, means, d, k, noise, trainRng),
    test: split("test", testSize, means, d, k, noise, testRng),
  };
}
