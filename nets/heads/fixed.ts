/**
 * The fixed-ETF head (METHOD.md section 2.2): `W = M̃·E`, `E = [I_K 0]` (K×d), frozen; the bias
 * is not learned: at every forward (training and evaluation) `b = −W·μ_G`, μ_G the batch mean of
 * h, detached (no gradient flows through b).
 *
 * @module
 */
import { detach } from "../training/detach.ts";
import { tf } from "../tf.ts";
import { type Head, type HeadOutput, simplexEtfTensor } from "./head.ts";

/**
 * Creates the fixed-ETF head (needs d ≥ K).
 *
 * @example
 * ```ts
 * const head = fixedEtfHead({ featureDim: 512, numClasses: 10 });
 * ```
 */
export function fixedEtfHead(options: { featureDim: number; numClasses: number }): Head {
  const { featureDim: d, numClasses: K } = options;
  if (!(d >= K)) {
    throw new RangeError(
      `fixed head: feature dimension d=${d} < K=${K}; the simplex ETF needs d ≥ K`,
    );
  }
  const W = tf.tidy(() => tf.concat([simplexEtfTensor(K), tf.zeros([K, d - K])], 1)) as tf.Tensor2D;
  return {
    method: "fixed",
    numClasses: K,
    parameters: [],
    forward(h): HeadOutput {
      return tf.tidy(() => {
        const muG = detach(tf.mean(h, 0));
        const b = tf.neg(tf.squeeze(tf.matMul(W, tf.reshape(muG, [d, 1])), [1])) as tf.Tensor1D;
        const logits = tf.add(tf.matMul(h, W, false, true), b) as tf.Tensor2D;
        return { logits, W: tf.clone(W), b };
      });
    },
    afterStep() {},
    dispose() {
      W.dispose();
    },
  };
}
