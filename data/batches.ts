/**
 * Epoch plans over sample indices: per-class subsets (`--sample_size`), shuffled batches and
 * class-stratified batches (`--stratified_batch`), every one a pure function of
 * (labels, seed, epoch), so any epoch can be regenerated exactly (bit-exact resume).
 *
 * Randomness comes only from the project's seeded {@link Rng}, in independent streams derived by
 * {@link deriveSeed}: stream 0 of (seed, epoch) shuffles the epoch; the pipeline's augmentation
 * uses stream 1 of (seed, epoch, batch); a seeded subset uses stream 2 of (seed); the label noise
 * stream 3; the second batches of `--implicit_forward_bs` stream 4 of (seed, cycle).
 *
 * @module
 */
import { InvalidArgumentError } from "../core/errors.ts";
import { Rng } from "../core/random.ts";

/**
 * Stream tags for {@link deriveSeed}.
 *
 * @example
 * ```ts
 * import { Rng } from "../core/random.ts";
 * const seed = 1, epoch = 0, batch = 3;
 * new Rng(deriveSeed(seed, STREAM.augment, epoch, batch));
 * ```
 */
export const STREAM = {
  shuffle: 0,
  augment: 1,
  subset: 2,
  labelNoise: 3,
  implicitForward: 4,
} as const;

/**
 * A seed for an independent random stream, derived by hashing `seed` with `parts` (non-negative
 * integers such as a stream tag, the epoch and the batch number). Deterministic and
 * platform-independent; the result is a non-negative safe integer for `new Rng(...)`.
 *
 * @example
 * ```ts
 * import { Rng } from "../core/random.ts";
 * const rng = new Rng(deriveSeed(1, STREAM.shuffle, 7)); // epoch 7's shuffle for seed 1
 * ```
 */
export function deriveSeed(seed: number, ...parts: number[]): number {
  if (!Number.isSafeInteger(seed)) {
    throw new InvalidArgumentError("seed", `must be a safe integer, got ${seed}`);
  }
  for (const p of parts) {
    if (!Number.isSafeInteger(p) || p < 0) {
      throw new InvalidArgumentError("seed part", `must be a non-negative safe integer, got ${p}`);
    }
  }
  let h1 = 0x243f6a88 ^ parts.length, h2 = 0x85a308d3 + parts.length;
  const words = [seed >>> 0, Math.floor(seed / 4294967296) >>> 0];
  for (const p of parts) words.push(p >>> 0, Math.floor(p / 4294967296) >>> 0);
  for (const w of words) {
    h1 = fmix32((h1 ^ w) >>> 0);
    h2 = fmix32((Math.imul(h2, 0x9e3779b1) + w + h1) >>> 0);
  }
  return (h1 >>> 0) * 2097152 + (h2 >>> 11); // 32 + 21 bits < 2^53
}

function fmix32(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** A uniform integer in [0, n) from `rng` (53-bit uniform, so the bias is below 2^-36 for n < 2^17). */
function below(rng: Rng, n: number): number {
  return Math.floor(rng.uniform() * n);
}

/**
 * Shuffles `a` in place (Fisher–Yates, from the last element down).
 *
 * @example
 * ```ts
 * import { Rng } from "../core/random.ts";
 * const order = Int32Array.from({ length: 10 }, (_, i) => i);
 * shuffleInPlace(order, new Rng(3));
 * ```
 */
export function shuffleInPlace(a: Int32Array, rng: Rng): Int32Array {
  for (let i = a.length - 1; i > 0; i--) {
    const j = below(rng, i + 1);
    const t = a[i];
    a[i] = a[j];
    a[j] = t;
  }
  return a;
}

function checkLabels(labels: Int32Array, numClasses: number): Int32Array {
  if (!Number.isInteger(numClasses) || numClasses < 1) {
    throw new InvalidArgumentError("numClasses", `must be a positive integer, got ${numClasses}`);
  }
  const counts = new Int32Array(numClasses);
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i];
    if (!(y >= 0 && y < numClasses)) {
      throw new InvalidArgumentError(
        "labels",
        `label ${y} of sample ${i} is outside [0, ${numClasses})`,
      );
    }
    counts[y]++;
  }
  return counts;
}

/**
 * The samples of each class, in dataset order: `members[k]` lists the indices with label k.
 *
 * @example
 * ```ts
 * classMembers(Int32Array.of(1, 0, 1), 2); // [Int32Array [1], Int32Array [0, 2]]
 * ```
 */
export function classMembers(labels: Int32Array, numClasses: number): Int32Array[] {
  const counts = checkLabels(labels, numClasses);
  const members = Array.from(counts, (c) => new Int32Array(c));
  const fill = new Int32Array(numClasses);
  for (let i = 0; i < labels.length; i++) members[labels[i]][fill[labels[i]]++] = i;
  return members;
}

/**
 * The indices kept by `--sample_size`: `sampleSize` samples of every class, ascending. With
 * `seed` undefined they are the first `sampleSize` of each class in dataset order (the same subset
 * for every seed, so seeds are compared on the same data); with a seed, a seeded choice
 * (stream {@link STREAM}.subset). `sampleSize` null/undefined keeps every sample.
 * Throws {@link InvalidArgumentError} when `sampleSize` < 1 or exceeds a class's size.
 *
 * @example
 * ```ts
 * import { syntheticDataset } from "./synthetic.ts";
 * const { train: split } = syntheticDataset({ datasetSize: 1000, numClasses: 10 });
 * const keep = subsetIndices(split.labels, split.numClasses, 100); // 100 per class, first ones
 * ```
 */
export function subsetIndices(
  labels: Int32Array,
  numClasses: number,
  sampleSize?: number | null,
  seed?: number,
): Int32Array {
  const members = classMembers(labels, numClasses);
  if (sampleSize === undefined || sampleSize === null) {
    return Int32Array.from({ length: labels.length }, (_, i) => i);
  }
  if (!Number.isInteger(sampleSize) || sampleSize < 1) {
    throw new InvalidArgumentError(
      "sampleSize",
      `must be a positive integer (samples per class), got ${sampleSize}`,
    );
  }
  for (let k = 0; k < numClasses; k++) {
    if (members[k].length < sampleSize) {
      throw new InvalidArgumentError(
        "sampleSize",
        `${sampleSize} per class is more than class ${k} holds (${members[k].length} samples)`,
      );
    }
  }
  const rng = seed === undefined ? null : new Rng(deriveSeed(seed, STREAM.subset));
  const out = new Int32Array(sampleSize * numClasses);
  let o = 0;
  for (let k = 0; k < numClasses; k++) {
    let m = members[k];
    if (rng) m = shuffleInPlace(m, rng);
    out.set(m.subarray(0, sampleSize), o);
    o += sampleSize;
  }
  return out.sort();
}

/**
 * Options of {@link planEpoch}.
 *
 * @example
 * ```ts
 * const options: EpochOptions = { batchSize: 256, seed: 1, epoch: 0, stratified: true, sampleSize: 500 };
 * ```
 */
export type EpochOptions = {
  /** Samples per batch (≥ 1; ≥ K when stratified). */
  batchSize: number;
  /** The run's seed. */
  seed: number;
  /** The epoch number (≥ 0); with the seed it fixes the order. */
  epoch: number;
  /** Shuffle (default true). Without it batches follow the (subset's) dataset order. */
  shuffle?: boolean;
  /** Class-stratified batches (default false); always shuffled. */
  stratified?: boolean;
  /** Samples per class (`--sample_size`); null/undefined keeps all. */
  sampleSize?: number | null;
  /** Seed for a seeded per-class subset; default: the first `sampleSize` of each class. */
  subsetSeed?: number;
  /** Drop a last, smaller batch (default false; stratified batches are never partial). */
  dropLast?: boolean;
};

/**
 * One epoch's batches.
 *
 * @example
 * ```ts
 * const labels = Int32Array.from({ length: 1000 }, (_, i) => i % 10);
 * const options = { batchSize: 256, seed: 1, epoch: 0 };
 * const { batches, subset }: EpochPlan = planEpoch(labels, 10, options);
 * ```
 */
export type EpochPlan = {
  /** The sample indices of each batch: views into one buffer, in batch order. */
  batches: Int32Array[];
  /** The samples used (the subset), ascending. */
  subset: Int32Array;
};

/**
 * Splits the (subset of the) samples into this epoch's batches.
 *
 * - plain: a permutation from (seed, epoch), cut into `batchSize` chunks; the last is smaller
 *   unless `dropLast`.
 * - `stratified`: the n samples form F = ⌊n / batchSize⌋ folds, the test folds of a stratified
 *   F-fold split (as scikit-learn's `StratifiedKFold(F, shuffle=True)`, one fold per batch), so
 *   batches have ⌊n/F⌋ or ⌈n/F⌉ samples and every class k (n_k samples) appears in a batch of size
 *   b between ⌊b·n_k/n⌋ and ⌈b·n_k/n⌉ times — within ±1 of its proportion. The folds are redrawn
 *   every epoch (classes shuffled, remainders placed at random), then the order within each batch
 *   and the batch order are shuffled.
 *
 * Each batch is a subarray of one Int32Array of length n (n − dropped). Throws
 * {@link InvalidArgumentError} for batchSize < 1, stratified batchSize < numClasses, a bad
 * sampleSize, labels out of range or a negative epoch.
 *
 * @example
 * ```ts
 * import { syntheticDataset } from "./synthetic.ts";
 * const { train: split } = syntheticDataset({ datasetSize: 1000, numClasses: 10 });
 * const options = { batchSize: 256, seed: 1, epoch: 0, stratified: true };
 * const { batches } = planEpoch(split.labels, split.numClasses, options);
 * for (const idx of batches) console.log(idx.length);
 * ```
 */
export function planEpoch(
  labels: Int32Array,
  numClasses: number,
  options: EpochOptions,
): EpochPlan {
  const { batchSize, seed, epoch } = options;
  const stratified = options.stratified ?? false;
  const shuffle = options.shuffle ?? true;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new InvalidArgumentError("batchSize", `must be a positive integer, got ${batchSize}`);
  }
  if (stratified && batchSize < numClasses) {
    throw new InvalidArgumentError(
      "batchSize",
      `stratified batches must hold every class: batch size ${batchSize} < ${numClasses} classes`,
    );
  }
  if (!Number.isSafeInteger(epoch) || epoch < 0) {
    throw new InvalidArgumentError("epoch", `must be a non-negative integer, got ${epoch}`);
  }
  const subset = subsetIndices(labels, numClasses, options.sampleSize, options.subsetSeed);
  const n = subset.length;
  const rng = new Rng(deriveSeed(seed, STREAM.shuffle, epoch));
  if (stratified) {
    return { batches: stratifiedFolds(labels, numClasses, subset, batchSize, rng), subset };
  }
  const order = Int32Array.from(subset);
  if (shuffle) shuffleInPlace(order, rng);
  const batches: Int32Array[] = [];
  for (let s = 0; s < n; s += batchSize) {
    const e = Math.min(n, s + batchSize);
    if (e - s < batchSize && options.dropLast) break;
    batches.push(order.subarray(s, e));
  }
  return { batches, subset };
}

/**
 * Stratified folds. With n = F·q + r, the r folds of size q+1 ("large") and the F − r of size q
 * ("small") have per-class targets t'_k = (q+1)·n_k/n and t_k = q·n_k/n. Each class is first split
 * between the two groups, N⁰_k ∈ {⌊(F−r)·t_k⌋, ⌈(F−r)·t_k⌉} by largest remainders (random tie
 * order) so that the small group gets exactly (F−r)·q samples; inside a group of G folds the
 * class-sorted list is dealt round-robin, giving every fold ⌊N_k/G⌋ or ⌈N_k/G⌉ ⊂ [⌊t_k⌋, ⌈t_k⌉]
 * of class k and exactly its size in total.
 */
function stratifiedFolds(
  labels: Int32Array,
  numClasses: number,
  subset: Int32Array,
  batchSize: number,
  rng: Rng,
): Int32Array[] {
  const n = subset.length;
  if (n === 0) return [];
  const F = Math.max(1, Math.floor(n / batchSize));
  const q = Math.floor(n / F), r = n - F * q;
  const small = F - r;
  // Per-class members of the subset, shuffled (in class order, so the stream use is fixed).
  const counts = new Int32Array(numClasses);
  for (let i = 0; i < n; i++) counts[labels[subset[i]]]++;
  const members = Array.from(counts, (c) => new Int32Array(c));
  const fill = new Int32Array(numClasses);
  for (let i = 0; i < n; i++) {
    const y = labels[subset[i]];
    members[y][fill[y]++] = subset[i];
  }
  for (const m of members) shuffleInPlace(m, rng);
  // Split each class between the small and the large group (largest remainder, exact integers).
  const toSmall = new Int32Array(numClasses);
  const rem = new Float64Array(numClasses);
  let assigned = 0;
  for (let k = 0; k < numClasses; k++) {
    const num = small * q * counts[k]; // < 2^53: n ≤ 2^17 in practice, exact anyway for n < 2^26
    toSmall[k] = Math.floor(num / n);
    rem[k] = num - toSmall[k] * n;
    assigned += toSmall[k];
  }
  const classOrder = shuffleInPlace(Int32Array.from({ length: numClasses }, (_, k) => k), rng);
  const byRemainder = Array.from(classOrder).sort((a, b) => rem[b] - rem[a]); // stable: ties stay random
  for (let i = 0; assigned < small * q; i++) {
    toSmall[byRemainder[i]]++;
    assigned++;
  }
  // Deal each group's class-sorted list round-robin into its folds.
  const out = new Int32Array(n);
  const starts = new Int32Array(F + 1);
  for (let f = 0; f < F; f++) starts[f + 1] = starts[f] + (f < small ? q : q + 1);
  const pos = starts.slice(0, F);
  let p = 0; // position in the small group's sorted list
  let p1 = 0; // position in the large group's sorted list
  for (let k = 0; k < numClasses; k++) {
    const m = members[k];
    for (let i = 0; i < m.length; i++) {
      const f = i < toSmall[k] ? p++ % small : small + (p1++ % r);
      out[pos[f]++] = m[i];
    }
  }
  const batches: Int32Array[] = [];
  for (let f = 0; f < F; f++) {
    batches.push(shuffleInPlace(out.subarray(starts[f], starts[f + 1]), rng));
  }
  // Shuffle the batch order.
  for (let i = F - 1; i > 0; i--) {
    const j = below(rng, i + 1);
    const t = batches[i];
    batches[i] = batches[j];
    batches[j] = t;
  }
  return batches;
}
