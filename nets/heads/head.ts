/**
 * The classifier-head interface shared by the three training methods (docs/method.md section 2), and
 * the feature normalisation `h = τ·h_raw/‖h_raw‖₂` that precedes every head.
 *
 * @module
 */
import { InvalidArgumentError } from "../../core/errors.ts";
import type { Parameter } from "../models/model.ts";
import { tf } from "../tf.ts";

/** The training methods, as the `--method` flag spells them. */
export const METHOD_NAMES = ["standard", "fixed", "implicit"] as const;
/** A training method. */
export type MethodName = typeof METHOD_NAMES[number];

/**
 * Parses a method name, or a clear error.
 *
 * @example
 * ```ts
 * parseMethod("implicit");
 * ```
 */
export function parseMethod(name: string, argument = "--method"): MethodName {
  if (!(METHOD_NAMES as readonly string[]).includes(name)) {
    throw new InvalidArgumentError(
      argument,
      `unknown method ${JSON.stringify(name)}; allowed: ${METHOD_NAMES.join(", ")}`,
    );
  }
  return name as MethodName;
}

/**
 * What a head's forward gives: logits `z = h·Wᵀ + b` (N×K) and the W (K×d) and b (K) used.
 *
 * @example
 * ```ts
 * import { tf } from "../tf.ts";
 * import { fixedEtfHead } from "./fixed.ts";
 * const head = fixedEtfHead({ featureDim: 512, numClasses: 4 });
 * const h = normaliseFeatures(tf.randomNormal<tf.Rank.R2>([8, 512]), 5);
 * const labels = tf.tensor1d([0, 1, 2, 3, 0, 1, 2, 3], "int32");
 * const { logits, W, b } = head.forward(h, labels, true);
 * ```
 */
export type HeadOutput = {
  logits: tf.Tensor2D;
  W: tf.Tensor2D;
  b: tf.Tensor1D;
};

/**
 * The batch whose class means feed the implicit head's feature average: normalised features
 * (N₂×d) and their labels — the training batch itself, or the second batch of
 * `--implicit_forward_bs`.
 *
 * @example
 * ```ts
 * import { tf } from "../tf.ts";
 * const average: AverageBatch = {
 *   h: normaliseFeatures(tf.randomNormal<tf.Rank.R2>([16, 512]), 5),
 *   labels: tf.tensor1d(Array.from({ length: 16 }, (_, i) => i % 4), "int32"),
 * };
 * ```
 */
export type AverageBatch = { h: tf.Tensor2D; labels: tf.Tensor1D };

/**
 * The one classifier a checkpoint is evaluated with (docs/method.md section 2, "Evaluation"):
 * W (K×d, one row per class) and b (K); logits `z = h·Wᵀ + b`, whatever the batching.
 *
 * @example
 * ```ts
 * import { tf } from "../tf.ts";
 * import { fixedEtfHead } from "./fixed.ts";
 * const head = fixedEtfHead({ featureDim: 512, numClasses: 4 });
 * const h = normaliseFeatures(tf.randomNormal<tf.Rank.R2>([8, 512]), 5);
 * const { W, b } = head.classifier();
 * const logits = tf.add(tf.matMul(h, W, false, true), b);
 * tf.dispose([W, b]);
 * ```
 */
export type Classifier = { W: tf.Tensor2D; b: tf.Tensor1D };

/**
 * A classifier head.
 *
 * @example
 * ```ts
 * import { tf } from "../tf.ts";
 * import { standardHead } from "./standard.ts";
 * const head = standardHead({ featureDim: 512, numClasses: 4, bias: false, seed: 1 });
 * const hRaw = tf.randomNormal<tf.Rank.R2>([8, 512]); // the backbone's features
 * const labels = tf.tensor1d([0, 1, 2, 3, 0, 1, 2, 3], "int32");
 * const out = head.forward(normaliseFeatures(hRaw, 5), labels, true);
 * // … optimiser step …
 * head.afterStep();
 * ```
 */
export interface Head {
  /** The training method this head implements. */
  readonly method: MethodName;
  /** Number of classes K. */
  readonly numClasses: number;
  /** Trainable parameters (the standard head's W and b; none for the others). */
  readonly parameters: readonly Parameter[];
  /**
   * Logits for normalised features h (N×d). `labels` are needed in training by the implicit
   * head (feature means). `training` false evaluates with {@link Head.classifier}, the same
   * for every batch, changing nothing. `average` (the implicit head, `--implicit_forward_bs`):
   * the features and labels of a second batch that feed the feature average in place of h's.
   */
  forward(
    h: tf.Tensor2D,
    labels: tf.Tensor1D | null,
    training: boolean,
    average?: AverageBatch,
  ): HeadOutput;
  /**
   * The classifier evaluation uses, as new tensors the caller disposes. Standard: its W and b
   * (zeros without bias). Fixed and implicit: the current W and `b = −W·μ_G`, μ_G the mean
   * feature of the last committed training batch (b = 0 before the first step).
   */
  classifier(): Classifier;
  /**
   * After the optimiser step: renormalise W's rows (standard) or commit the training
   * forward's state (the implicit head's average and U⋆, the batch's μ_G).
   */
  afterStep(): void;
  /** Frees the head's variables and state. */
  dispose(): void;
}

/**
 * Logits `h·Wᵀ + b` of a {@link Classifier} (no state, no gradient bookkeeping of its own).
 *
 * @example
 * ```ts
 * import { tf } from "../tf.ts";
 * import { fixedEtfHead } from "./fixed.ts";
 * const head = fixedEtfHead({ featureDim: 512, numClasses: 4 });
 * const h = normaliseFeatures(tf.randomNormal<tf.Rank.R2>([8, 512]), 5);
 * const logits = classify(h, head.classifier());
 * ```
 */
export function classify(h: tf.Tensor2D, c: Classifier): tf.Tensor2D {
  return tf.tidy(() => tf.add(tf.matMul(h, c.W, false, true), c.b) as tf.Tensor2D);
}

/**
 * `b = −W·μ_G` (K) for W (K×d) and μ_G (d), or zeros when μ_G is null.
 *
 * @example
 * ```ts
 * import { tf } from "../tf.ts";
 * const W = simplexEtfTensor(4); // K×K here (d = K)
 * const h = normaliseFeatures(tf.randomNormal<tf.Rank.R2>([8, 4]), 5);
 * const muG = tf.mean(h, 0) as tf.Tensor1D; // the batch's mean feature μ_G
 * const b = centringBias(W, muG);
 * ```
 */
export function centringBias(W: tf.Tensor2D, muG: tf.Tensor1D | null): tf.Tensor1D {
  return tf.tidy(() =>
    muG === null
      ? tf.zeros([W.shape[0]]) as tf.Tensor1D
      : tf.neg(tf.squeeze(tf.matMul(W, tf.reshape(muG, [-1, 1])), [1])) as tf.Tensor1D
  );
}

/**
 * `h = τ·h_raw/‖h_raw‖₂` row by row (a zero row stays zero).
 *
 * @example
 * ```ts
 * import { tf } from "../tf.ts";
 * const hRaw = tf.randomNormal<tf.Rank.R2>([8, 512]); // the backbone's features
 * const h = normaliseFeatures(hRaw, 5);
 * ```
 */
export function normaliseFeatures(hRaw: tf.Tensor2D, temperature: number): tf.Tensor2D {
  return tf.tidy(() => {
    // max(‖h‖, 1e-12) rather than a where(): comparison ops have no gradient in tfjs.
    const norm = tf.maximum(tf.sqrt(tf.sum(tf.square(hRaw), 1, true)), 1e-12);
    return tf.mul(temperature, tf.div(hRaw, norm)) as tf.Tensor2D;
  });
}

/**
 * The standard simplex ETF `M̃ = sqrt(K/(K−1))·(I − 11ᵀ/K)` as a K×K tensor.
 *
 * @example
 * ```ts
 * const Mt = simplexEtfTensor(10);
 * ```
 */
export function simplexEtfTensor(K: number): tf.Tensor2D {
  return tf.tidy(() => {
    const s = Math.sqrt(K / (K - 1));
    return tf.mul(s, tf.sub(tf.eye(K), tf.fill([K, K], 1 / K))) as tf.Tensor2D;
  });
}
