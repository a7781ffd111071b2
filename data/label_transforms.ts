/**
 * The paper's code's two training-set variants: a long-tailed subset (`--imb_factor r`, CIFAR's
 * exponential profile `n_k = ⌊n_max·r^(k/(K−1))⌋`, keeping the first n_k images of each class in
 * dataset order) and label noise (`--label_noise p`: ⌊p·N + 0.5⌋ samples, drawn from the run's
 * seed, get a label drawn uniformly from the K classes — which may be their own). Both are pure
 * functions of the labels and the seed, so the trainer, a resume and the analysis compute the same
 * labels; the run directory also records them (train/open_run.ts) and they are checked on reload.
 *
 * @module
 */
import { InvalidArgumentError } from "../core/errors.ts";
import { Rng } from "../core/random.ts";
import { classMembers, deriveSeed, shuffleInPlace, STREAM } from "./batches.ts";
import type { DatasetSplit } from "./dataset.ts";

/**
 * The indices kept by the long-tailed profile `n_k = ⌊n_max·r^(k/(K−1))⌋` (n_max the largest
 * class), the first n_k of each class, ascending. `r` in (0, 1].
 *
 * @example
 * ```ts
 * const labels = Int32Array.from({ length: 1000 }, (_, i) => i % 10); // 100 per class
 * longTailIndices(labels, 10, 0.1).length; // 100 + 77 + 59 + … + 10
 * ```
 */
export function longTailIndices(labels: Int32Array, numClasses: number, r: number): Int32Array {
  if (!(r > 0 && r <= 1)) {
    throw new InvalidArgumentError("imbFactor", `got ${r}, allowed: 0 < r ≤ 1`);
  }
  const members = classMembers(labels, numClasses);
  const nMax = Math.max(...members.map((m) => m.length));
  const kept: number[] = [];
  for (let k = 0; k < numClasses; k++) {
    const n = Math.floor(nMax * r ** (k / (numClasses - 1)));
    for (let i = 0; i < Math.min(n, members[k].length); i++) kept.push(members[k][i]);
  }
  return Int32Array.from(kept).sort();
}

/**
 * The labels with ⌊p·N + 0.5⌋ of them (a seeded choice) replaced by labels drawn uniformly from
 * [0, K). `p` in [0, 1]. A new array; `labels` is unchanged.
 *
 * @example
 * ```ts
 * const labels = Int32Array.from({ length: 1000 }, (_, i) => i % 10);
 * const noisy = noisyLabels(labels, 10, 0.2, 1); // 200 relabelled (about 180 changed)
 * ```
 */
export function noisyLabels(
  labels: Int32Array,
  numClasses: number,
  p: number,
  seed: number,
): Int32Array {
  if (!(p >= 0 && p <= 1)) {
    throw new InvalidArgumentError("labelNoise", `got ${p}, allowed: 0 ≤ p ≤ 1`);
  }
  const out = labels.slice();
  const n = Math.floor(p * labels.length + 0.5);
  if (n === 0) return out;
  const rng = new Rng(deriveSeed(seed, STREAM.labelNoise));
  const order = shuffleInPlace(Int32Array.from({ length: labels.length }, (_, i) => i), rng);
  for (let i = 0; i < n; i++) {
    out[order[i]] = Math.min(numClasses - 1, Math.floor(rng.uniform() * numClasses));
  }
  return out;
}

/**
 * The samples `indices` of a split (images, features or file paths, and labels copied), the rest
 * as given.
 *
 * @example
 * ```ts
 * import { syntheticDataset } from "./synthetic.ts";
 * const { train } = syntheticDataset({ datasetSize: 100, featureDim: 4, numClasses: 2 });
 * const first10 = selectSamples(train, Int32Array.from({ length: 10 }, (_, i) => i));
 * ```
 */
export function selectSamples(split: DatasetSplit, indices: Int32Array): DatasetSplit {
  const size = split.sampleShape.reduce((a, b) => a * b, 1);
  const pick = <T extends Uint8Array | Float32Array>(data: T | null): T | null => {
    if (data === null) return null;
    const out = new (data.constructor as new (n: number) => T)(indices.length * size);
    for (let i = 0; i < indices.length; i++) {
      out.set(data.subarray(indices[i] * size, (indices[i] + 1) * size), i * size);
    }
    return out;
  };
  return {
    ...split,
    length: indices.length,
    images: pick(split.images),
    features: pick(split.features),
    ...(split.files !== undefined ? { files: Array.from(indices, (i) => split.files![i]) } : {}),
    labels: Int32Array.from(indices, (i) => split.labels[i]),
  };
}
