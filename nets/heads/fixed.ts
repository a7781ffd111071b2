/**
 * The fixed-ETF head (docs/method.md section 2.2): `W = M̃·E`, `E = [I_K 0]` (K×d), frozen; the bias
 * is not learned: at every forward (training and evaluation) `b = −W·μ_G`, μ_G the batch mean of
 * h, detached (no gradient flows through b). Evaluation uses one classifier for every batch:
 * `b = −W·μ_G` with μ_G of the last training batch (the paper's fixed head recomputes b from
 * each evaluation batch; we do not, so evaluation does not depend on batch composition).
 *
 * @module
 */
import { InvalidArgumentError } from "../../core/errors.ts";
import { detach } from "./detach.ts";
import { tf } from "../tf.ts";
import { centringBias, classify, type Head, type HeadOutput, simplexEtfTensor } from "./head.ts";

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
    throw new InvalidArgumentError(
      "featureDim",
      `fixed head: feature dimension d=${d} < K=${K}; the simplex ETF needs d ≥ K`,
    );
  }
  const W = tf.tidy(() => tf.concat([simplexEtfTensor(K), tf.zeros([K, d - K])], 1)) as tf.Tensor2D;
  /** μ_G of the last committed training batch, and of the forward awaiting `afterStep`. */
  let committed: tf.Tensor1D | null = null, pending: tf.Tensor1D | null = null;
  const classifier = () => ({ W: tf.clone(W), b: centringBias(W, committed) });
  return {
    method: "fixed",
    numClasses: K,
    parameters: [],
    forward(h, _labels, training): HeadOutput {
      if (!training) {
        const c = classifier();
        return { logits: classify(h, c), ...c };
      }
      return tf.tidy(() => {
        const muG = detach(tf.mean(h, 0)) as tf.Tensor1D;
        pending?.dispose();
        pending = tf.keep(tf.clone(muG));
        const b = centringBias(W, muG);
        const logits = tf.add(tf.matMul(h, W, false, true), b) as tf.Tensor2D;
        return { logits, W: tf.clone(W), b };
      });
    },
    classifier,
    afterStep() {
      if (pending === null) return;
      committed?.dispose();
      committed = pending;
      pending = null;
    },
    dispose() {
      W.dispose();
      committed?.dispose();
      pending?.dispose();
    },
  };
}
