/**
 * The input pipeline: an epoch's batches ({@link planEpoch}) through the split's transforms
 * ({@link BatchTransform}), as float32 arrays ready for `tf.tensor4d` / `tf.tensor2d`.
 *
 * Everything is a function of (seed, epoch, batch number): batch b of epoch e draws its
 * augmentation from `new Rng(deriveSeed(seed, STREAM.augment, e, b))`, so an epoch — or any
 * batch of it (`startBatch`) — regenerates bit for bit, in any order.
 *
 * @module
 */
import { InvalidArgumentError } from "../core/errors.ts";
import { Rng } from "../core/random.ts";
import type { DatasetSplit } from "./dataset.ts";
import { deriveSeed, type EpochPlan, planEpoch, STREAM } from "./batches.ts";
import { BatchTransform, type Normalisation } from "./transforms.ts";

/**
 * Options of {@link batches}.
 *
 * @example
 * ```ts
 * const options: PipelineOptions = { batchSize: 256, seed: 1, epoch: 0, train: true, stratified: true };
 * ```
 */
export type PipelineOptions = {
  /** Samples per batch (`--batch_size`). */
  batchSize: number;
  /** The run's seed (`--seed`). */
  seed: number;
  /** The epoch (0-based). */
  epoch: number;
  /**
   * Training pass: augmentation on; shuffled unless `shuffle: false`. With a `transform` this
   * may be omitted (the transform's mode is the pass's mode) and must not contradict it.
   */
  train?: boolean;
  /** Shuffle the order (default: `train`). Evaluation passes keep the dataset order. */
  shuffle?: boolean;
  /** Class-stratified batches (`--stratified_batch`). */
  stratified?: boolean;
  /** Samples per class (`--sample_size`); null/undefined keeps all. */
  sampleSize?: number | null;
  /** Seed of a seeded per-class subset; default the first `sampleSize` of each class. */
  subsetSeed?: number;
  /** Drop a last, smaller batch. */
  dropLast?: boolean;
  /** Normalisation override (a folder test split needs the training split's `channelStats`). */
  normalisation?: Normalisation;
  /** Skip the first batches (they are not transformed). */
  startBatch?: number;
  /**
   * Write every batch into one reused buffer (default false). Only safe when each batch is
   * consumed before the next is requested *and* its data copied: tfjs's cpu backend keeps a
   * reference to the array passed to `tf.tensor`, so a reused buffer would change earlier tensors.
   */
  reuseOutput?: boolean;
  /**
   * A prepared transform to reuse across epochs, built for the same split; its `train` is the
   * pass's mode (augmentation, and the default for `shuffle`). Built here when absent.
   */
  transform?: BatchTransform;
};

/**
 * Whether the pass is a training pass: the transform's mode when one is given (an explicit
 * `train` that contradicts it is an error), else `options.train` (default false).
 */
function trainingPass(options: PipelineOptions): boolean {
  const t = options.transform;
  if (t === undefined) return options.train ?? false;
  if (options.train !== undefined && options.train !== t.train) {
    throw new InvalidArgumentError(
      "options.train",
      `got ${options.train}, but the transform was built for ${
        t.train ? "training (augmenting)" : "evaluation (no augmentation)"
      }; pass a transform of the pass's mode, or omit train`,
    );
  }
  return t.train;
}

/**
 * One batch.
 *
 * @example
 * ```ts
 * import { loadDataset } from "./load.ts";
 * const data = await loadDataset("cifar10", { dataDir: "~/data" });
 * const options = { batchSize: 500, seed: 0, epoch: 0, train: false };
 * const { x, shape, labels }: Batch = batches(data.test, options).next().value!;
 * ```
 */
export type Batch = {
  /** Inputs, row-major with shape `shape`. */
  x: Float32Array;
  /** [B, H, W, 3] for images, [B, d] for features. */
  shape: number[];
  /** The samples' labels. */
  labels: Int32Array;
  /** The samples' indices in the split. */
  indices: Int32Array;
  /** This batch's number in the epoch (0-based). */
  batch: number;
  /** Batches in the epoch. */
  batches: number;
};

/**
 * The epoch's plan for `split` under `options` (no transforms): the batches' indices, e.g. to
 * count batches for a progress bar.
 *
 * @example
 * ```ts
 * import { loadDataset } from "./load.ts";
 * const data = await loadDataset("cifar10", { dataDir: "~/data" });
 * const options = { batchSize: 256, seed: 1, epoch: 0, train: true };
 * const n = epochPlan(data.train, options).batches.length;
 * ```
 */
export function epochPlan(split: DatasetSplit, options: PipelineOptions): EpochPlan {
  return planEpoch(split.labels, split.numClasses, {
    batchSize: options.batchSize,
    seed: options.seed,
    epoch: options.epoch,
    shuffle: options.shuffle ?? trainingPass(options),
    stratified: options.stratified,
    sampleSize: options.sampleSize,
    subsetSeed: options.subsetSeed,
    dropLast: options.dropLast,
  });
}

/**
 * Yields the epoch's batches of `split`, transformed (training augmentation only when `train`).
 *
 * @example
 * ```ts
 * import { tf } from "../nets/tf.ts";
 * import { loadDataset } from "./load.ts";
 * import { BatchTransform } from "./transforms.ts";
 * const data = await loadDataset("cifar10", { dataDir: "~/data" });
 * const epoch = 0;
 * const transform = new BatchTransform(data.train, { train: true });
 * const options = { batchSize: 256, seed: 1, epoch, train: true, stratified: true, transform };
 * for (const { x, shape, labels } of batches(data.train, options)) {
 *   const input = tf.tensor4d(x, shape as [number, number, number, number]);
 *   // … train on (input, labels), then input.dispose()
 * }
 * ```
 */
export function* batches(split: DatasetSplit, options: PipelineOptions): Generator<Batch> {
  const plan = epochPlan(split, options);
  const make = batchMaker(split, options);
  for (let b = options.startBatch ?? 0; b < plan.batches.length; b++) yield make(plan, b);
}

/**
 * Makes batch b of a plan: its samples through the transform, augmentation drawn from
 * stream `augment` of (seed, options.epoch, b) — seed default `options.seed` — into a reused
 * buffer with `reuseOutput`.
 */
function batchMaker(
  split: DatasetSplit,
  options: PipelineOptions,
): (plan: EpochPlan, b: number, seed?: number) => Batch {
  const transform = options.transform ??
    new BatchTransform(split, {
      train: trainingPass(options),
      normalisation: options.normalisation,
    });
  const L = transform.sampleLength;
  let shared: Float32Array | null = null;
  return (plan, b, seed = options.seed) => {
    const indices = plan.batches[b];
    const B = indices.length;
    let x: Float32Array;
    if (options.reuseOutput) {
      if (!shared || shared.length < B * L) shared = new Float32Array(B * L);
      x = shared.subarray(0, B * L);
    } else {
      x = new Float32Array(B * L);
    }
    const rng = new Rng(deriveSeed(seed, STREAM.augment, options.epoch, b));
    transform.apply(indices, rng, x);
    const labels = new Int32Array(B);
    for (let i = 0; i < B; i++) labels[i] = split.labels[indices[i]];
    const count = plan.batches.length;
    return { x, shape: [B, ...transform.sampleShape], labels, indices, batch: b, batches: count };
  };
}

/**
 * The second batches of `--implicit_forward_bs`: `(b) =>` the batch of `batchSize` samples that
 * goes with training batch b of the epoch `options` describes. They come from epoch plans of
 * their own (the same shuffling, stratification and `--sample_size` subset, and the training
 * augmentation), seeded from stream `implicitForward` of (seed, cycle): when the training batches
 * outnumber them, cycle c serves training batches c·n₂ … (c+1)·n₂ − 1, a new order each cycle.
 * A function of (seed, epoch, b), so a resumed epoch regenerates them exactly.
 *
 * @example
 * ```ts
 * import { loadDataset } from "./load.ts";
 * const data = await loadDataset("cifar10", { dataDir: "~/data" });
 * const options = { batchSize: 256, seed: 1, epoch: 0, train: true, stratified: true };
 * const second = forwardBatches(data.train, options, 1024);
 * for (const batch of batches(data.train, options)) {
 *   const fed = second(batch.batch); // 1024 samples feeding the implicit head's average
 * }
 * ```
 */
export function forwardBatches(
  split: DatasetSplit,
  options: PipelineOptions,
  batchSize: number,
): (b: number) => Batch {
  const planOf = (cycle: number) => {
    const seed = deriveSeed(options.seed, STREAM.implicitForward, cycle);
    return { seed, plan: epochPlan(split, { ...options, batchSize, seed }) };
  };
  let current = { cycle: 0, ...planOf(0) };
  const make = batchMaker(split, options);
  return (b) => {
    if (!(Number.isSafeInteger(b) && b >= 0)) {
      throw new InvalidArgumentError("batch", `must be a non-negative integer, got ${b}`);
    }
    const n = current.plan.batches.length;
    const cycle = Math.floor(b / n);
    if (cycle !== current.cycle) current = { cycle, ...planOf(cycle) };
    // The augmentation of a second batch is drawn from its own plan's seed.
    return make(current.plan, b % n, current.seed);
  };
}
