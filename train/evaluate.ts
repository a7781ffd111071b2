/**
 * The evaluation unit: clean features and accuracy of a whole split under one classifier
 * (docs/method.md section 2, "Evaluation"). The trainer calls it at every checkpoint; the
 * analysis tasks call it to compute the features of a split under a saved checkpoint.
 *
 * - Inputs are clean: the split's evaluation transform (resize and normalise only), built here
 *   in evaluation mode, so no training augmentation can leak in.
 * - The network runs in evaluation mode (BatchNorm running statistics) and features are
 *   normalised to the run's τ.
 * - One classifier (W, b) for every batch: the result does not depend on batch size or order.
 *
 * @module
 */
import type { DatasetSplit } from "../data/dataset.ts";
import { type Batch, batches } from "../data/pipeline.ts";
import { BatchTransform, type Normalisation } from "../data/transforms.ts";
import type { Backbone } from "../nets/models/model.ts";
import { type Classifier, classify, normaliseFeatures } from "../nets/heads/head.ts";
import { tf } from "../nets/tf.ts";

/**
 * What evaluation needs of a network and its inputs.
 *
 * @example
 * ```ts
 * import { createTrainingSetup } from "../nets/training/setup.ts";
 * const { setup } = createTrainingSetup({ model: "resnet18", method: "implicit", numClasses: 10 });
 * const net: EvaluationNetwork = { backbone: setup.backbone, temperature: 5, inputs: "images" };
 * ```
 */
export type EvaluationNetwork = {
  backbone: Backbone;
  /** τ: features are normalised to this radius. */
  temperature: number;
  /** "indices" for the unconstrained-features model (its inputs are sample indices). */
  inputs: "images" | "indices";
};

/**
 * Options of {@link evaluationBatches} and {@link evaluateAccuracy}.
 *
 * @example
 * ```ts
 * import { loadFolder } from "../data/folder.ts";
 * import { channelStats } from "../data/transforms.ts";
 * const { train } = await loadFolder({ root: "/home/me/pets" });
 * const o: EvaluationOptions = { batchSize: 500, normalisation: channelStats(train) };
 * ```
 */
export type EvaluationOptions = {
  /** Samples per forward (memory only: results do not depend on it). */
  batchSize: number;
  /**
   * The normalisation (the training split's: a folder test split needs its training images'
   * statistics). Default: the dataset's.
   */
  normalisation?: Normalisation;
  /** Evaluate the first `sampleSize` samples of each class only (a run's `--sample_size`). */
  sampleSize?: number | null;
};

/**
 * One evaluation batch: normalised features h (N×d, owned by the caller) and labels.
 *
 * @example
 * ```ts
 * import { syntheticDataset } from "../data/synthetic.ts";
 * import { createBackbone } from "../nets/models/backbones.ts";
 * const { test: split } = syntheticDataset({ datasetSize: 100, featureDim: 8, numClasses: 4 });
 * const backbone = createBackbone("mlp", { inputShape: [8], width: 16, depth: 2 });
 * const net: EvaluationNetwork = { backbone, temperature: 5, inputs: "images" };
 * const options: EvaluationOptions = { batchSize: 500 };
 * for await (const { h, labels } of evaluationBatches(net, split, options)) h.dispose();
 * ```
 */
export type EvaluationBatch = { h: tf.Tensor2D; labels: Int32Array; indices: Int32Array };

/**
 * The split's clean inputs, batch by batch, in dataset order: the evaluation transform
 * (resize and normalise only), whatever transform the training uses. With `reuseOutput` every
 * batch is written into one buffer: only when each batch's data is consumed (and any tensor
 * made from it disposed) before the next is requested.
 *
 * @example
 * ```ts
 * import { loadDataset } from "../data/load.ts";
 * const data = await loadDataset("cifar10", { dataDir: "~/data" });
 * const first = evaluationInputs(data.test, { batchSize: 100 }).next().value!;
 * first.shape; // [100, 32, 32, 3]
 * ```
 */
export function evaluationInputs(
  split: DatasetSplit,
  options: EvaluationOptions,
  reuseOutput = false,
): Generator<Batch> {
  const transform = new BatchTransform(split, {
    train: false,
    normalisation: options.normalisation,
  });
  return batches(split, {
    batchSize: options.batchSize,
    seed: 0,
    epoch: 0,
    transform,
    stratified: false,
    sampleSize: options.sampleSize,
    reuseOutput,
  });
}

/**
 * The split's clean features, batch by batch, in dataset order.
 *
 * @example
 * ```ts
 * import { loadDataset } from "../data/load.ts";
 * import { createBackbone } from "../nets/models/backbones.ts";
 * const data = await loadDataset("cifar10", { dataDir: "~/data" });
 * const net: EvaluationNetwork = {
 *   backbone: createBackbone("resnet18"),
 *   temperature: 5,
 *   inputs: "images",
 * };
 * for await (const { h, labels } of evaluationBatches(net, data.test, { batchSize: 500 })) {
 *   // … accumulate statistics of h …
 *   h.dispose();
 * }
 * ```
 */
export async function* evaluationBatches(
  net: EvaluationNetwork,
  split: DatasetSplit,
  options: EvaluationOptions,
): AsyncGenerator<EvaluationBatch> {
  // Each batch's input tensor is disposed (in the tidy) before the next batch is made, so one
  // buffer serves every batch: less garbage per batch (154 MB at ImageNet's 256×224×224×3).
  for (const batch of evaluationInputs(split, options, true)) {
    const h = tf.tidy(() => {
      const x = net.inputs === "indices"
        ? tf.tensor1d(batch.indices, "int32")
        : tf.tensor(batch.x, batch.shape);
      return normaliseFeatures(net.backbone.features(x, false), net.temperature);
    });
    yield { h, labels: batch.labels, indices: batch.indices };
    // Give a slow backend's queue a turn (WebGPU reads are asynchronous anyway).
    await Promise.resolve();
  }
}

/**
 * Top-1 and top-5 accuracy (fractions) of a split under one classifier.
 *
 * @example
 * ```ts
 * import { loadDataset } from "../data/load.ts";
 * import { tf } from "../nets/tf.ts";
 * import { createTrainingSetup } from "../nets/training/setup.ts";
 * const data = await loadDataset("cifar10", { dataDir: "~/data" });
 * const { setup } = createTrainingSetup({ model: "resnet18", method: "implicit", numClasses: 10 });
 * const { backbone, head, temperature } = setup;
 * const net: EvaluationNetwork = { backbone, temperature, inputs: "images" };
 * const c = head.classifier();
 * const { top1, top5, count } = await evaluateAccuracy(net, data.train, c, { batchSize: 500 });
 * tf.dispose([c.W, c.b]);
 * ```
 */
export async function evaluateAccuracy(
  net: EvaluationNetwork,
  split: DatasetSplit,
  classifier: Classifier,
  options: EvaluationOptions,
): Promise<{ top1: number; top5: number; count: number }> {
  let top1 = 0, top5 = 0, count = 0;
  const K = classifier.W.shape[0];
  for await (const { h, labels } of evaluationBatches(net, split, options)) {
    const hits = tf.tidy(() => {
      const logits = classify(h, classifier);
      const y = tf.reshape(tf.tensor1d(labels, "int32"), [-1, 1]);
      const within = (k: number) =>
        tf.sum(tf.cast(tf.any(tf.equal(tf.topk(logits, Math.min(k, K)).indices, y), 1), "int32"));
      return tf.stack([within(1), within(5)]);
    });
    h.dispose();
    const [a, b] = await hits.data();
    hits.dispose();
    top1 += a;
    top5 += b;
    count += labels.length;
  }
  return { top1: top1 / count, top5: top5 / count, count };
}
