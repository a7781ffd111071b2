/**
 * The classifier-head interface shared by the three training methods (METHOD.md section 2), and
 * the feature normalisation `h = τ·h_raw/‖h_raw‖₂` that precedes every head.
 *
 * @module
 */
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
    throw new RangeError(
      `${argument}: unknown method ${JSON.stringify(name)}; allowed: ${METHOD_NAMES.join(", ")}`,
    );
  }
  return name as MethodName;
}

/**
 * What a head's forward gives: logits `z = h·Wᵀ + b` (N×K) and the W (K×d) and b (K) used.
 *
 * @example
 * ```ts
 * const { logits, W, b } = head.forward(h, labels, true);
 * ```
 */
export type HeadOutput = {
  logits: tf.Tensor2D;
  W: tf.Tensor2D;
  b: tf.Tensor1D;
};

/**
 * A classifier head.
 *
 * @example
 * ```ts
 * const out = head.forward(normaliseFeatures(hRaw, 5), labels, true);
 * // … optimiser step …
 * head.afterStep();
 * ```
 */
export interface Head {
  readonly method: MethodName;
  /** Number of classes K. */
  readonly numClasses: number;
  /** Trainable parameters (the standard head's W and b; none for the others). */
  readonly parameters: readonly Parameter[];
  /**
   * Logits for normalised features h (N×d). `labels` are needed in training by the implicit
   * head (feature means); `training` false evaluates with the current state, changing nothing.
   */
  forward(h: tf.Tensor2D, labels: tf.Tensor1D | null, training: boolean): HeadOutput;
  /** After the optimiser step: renormalise W's rows (standard) or commit the state (implicit). */
  afterStep(): void;
  /** Frees the head's variables and state. */
  dispose(): void;
}

/**
 * `h = τ·h_raw/‖h_raw‖₂` row by row (a zero row stays zero).
 *
 * @example
 * ```ts
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
