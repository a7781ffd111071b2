/**
 * The feature moving average that feeds the nearest-ETF node (docs/method.md section 3), as a pure
 * function of an explicit state, with tensor ops only (no reads back to the CPU).
 *
 * Per batch: `c_k = mean{h_i : y_i = k} − μ_G` for present classes; an absent class that was
 * never seen contributes μ_G itself (with gradient) and its stored running column is overwritten
 * with μ_G; an absent class seen before keeps its running value. Then EMA
 * `Ȳ_t = α_t·C_t + (1−α_t)·Ȳ_{t−1}`, `α_t = max(2/(t+1), 1e-4)`, or CMA
 * `Ȳ_t = (Ȳ_{t−1}·(t−1) + C_t)/t`, the previous value detached. Classes are rows here (K×d).
 *
 * @module
 */
import { detach } from "./detach.ts";
import { tf } from "../tf.ts";

/** The averaging rules. */
export const FEATURE_AVERAGES = ["ema", "cma"] as const;
/** An averaging rule. */
export type FeatureAverageKind = typeof FEATURE_AVERAGES[number];

/**
 * The moving average's state: step count t, running value Ȳ (K×d, detached), seen classes
 * (K, 1 where seen).
 *
 * @example
 * ```ts
 * let state = initialFeatureAverage(10, 512);
 * ```
 */
export type FeatureAverageState = { step: number; running: tf.Tensor2D; seen: tf.Tensor1D };

/**
 * The state before the first step (t = 0, zeros, nothing seen).
 *
 * @example
 * ```ts
 * const s = initialFeatureAverage(10, 512);
 * ```
 */
export function initialFeatureAverage(numClasses: number, featureDim: number): FeatureAverageState {
  return { step: 0, running: tf.zeros([numClasses, featureDim]), seen: tf.zeros([numClasses]) };
}

/**
 * The EMA weight `α_t = max(2/(t+1), 1e-4)`.
 *
 * @example
 * ```ts
 * emaWeight(1); // 1
 * ```
 */
export function emaWeight(t: number): number {
  return Math.max(2 / (t + 1), 1e-4);
}

/**
 * One averaging step for normalised features h (N×d) and labels (N): the new average Ȳ_t (K×d,
 * with gradients to h) and the next state (detached; the caller keeps or disposes it).
 *
 * @example
 * ```ts
 * import { tf } from "../tf.ts";
 * const state = initialFeatureAverage(4, 512);
 * const h = tf.randomNormal<tf.Rank.R2>([8, 512]); // normalised features, N×d
 * const labels = tf.tensor1d([0, 1, 2, 3, 0, 1, 2, 3], "int32");
 * const { average, next } = featureAverageStep("ema", state, h, labels);
 * ```
 */
export function featureAverageStep(
  kind: FeatureAverageKind,
  state: FeatureAverageState,
  h: tf.Tensor2D,
  labels: tf.Tensor1D,
): { average: tf.Tensor2D; next: FeatureAverageState } {
  const K = state.running.shape[0];
  const t = state.step + 1;
  const out = tf.tidy(() => {
    const onehot = tf.oneHot(labels, K).toFloat(); // N×K
    const counts = tf.sum(onehot, 0); // K
    const present = tf.cast(tf.greater(counts, 0), "float32");
    const absent = tf.sub(1, present);
    const sums = tf.matMul(onehot, h, true, false); // K×d
    const means = tf.div(sums, tf.reshape(tf.maximum(counts, 1), [K, 1]));
    const muG = tf.reshape(tf.mean(h, 0), [1, -1]); // 1×d
    const centred = tf.sub(means, muG);
    const neverSeenAbsent = tf.reshape(tf.mul(absent, tf.sub(1, state.seen)), [K, 1]);
    const seenAbsent = tf.reshape(tf.mul(absent, state.seen), [K, 1]);
    const previous = detach(state.running);
    // The stored running column of a never-seen absent class is overwritten with μ_G (detached).
    const prev = tf.add(
      tf.mul(neverSeenAbsent, detach(muG)),
      tf.mul(tf.sub(1, neverSeenAbsent), previous),
    );
    const C = tf.addN([
      tf.mul(tf.reshape(present, [K, 1]), centred),
      tf.mul(neverSeenAbsent, muG),
      tf.mul(seenAbsent, previous),
    ]);
    const average = kind === "ema"
      ? tf.add(tf.mul(emaWeight(t), C), tf.mul(1 - emaWeight(t), prev))
      : tf.div(tf.add(tf.mul(t - 1, prev), C), t);
    const seen = tf.maximum(state.seen, present);
    return {
      average: average as tf.Tensor2D,
      running: detach(average) as tf.Tensor2D,
      seen: seen as tf.Tensor1D,
    };
  });
  return { average: out.average, next: { step: t, running: out.running, seen: out.seen } };
}
