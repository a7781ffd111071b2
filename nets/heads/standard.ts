/**
 * The standard head (docs/method.md section 2.1): W (K×d) and, with `bias`, b are learned; after
 * every optimiser step each row of W is rescaled to unit L2 norm. W is stored in tfjs dense
 * layout [d, K] (PyTorch's `classifier.weight`, the paper's name, is its transpose) and initialised as PyTorch's Linear,
 * U(−1/sqrt(d), 1/sqrt(d)) for weight and bias, from the seed.
 *
 * @module
 */
import type { Parameter } from "../models/model.ts";
import { tf } from "../tf.ts";
import type { Head, HeadOutput } from "./head.ts";

/**
 * Creates the standard head.
 *
 * @example
 * ```ts
 * const head = standardHead({ featureDim: 512, numClasses: 10, bias: false, seed: 1 });
 * ```
 */
export function standardHead(
  options: { featureDim: number; numClasses: number; bias: boolean; seed: number },
): Head {
  const { featureDim: d, numClasses: K, bias, seed } = options;
  const bound = 1 / Math.sqrt(d);
  const weight = tf.variable(tf.randomUniform([d, K], -bound, bound, "float32", seed), true);
  const parameters: Parameter[] = [{ name: "classifier.weight", variable: weight, kind: "dense" }];
  const b = bias
    ? tf.variable(tf.randomUniform([K], -bound, bound, "float32", seed + 1), true)
    : null;
  if (b !== null) parameters.push({ name: "classifier.bias", variable: b, kind: "vector" });
  const renormalise = () =>
    tf.tidy(() => {
      // Rows of W (K×d) are the columns of the stored [d, K] matrix.
      const norms = tf.sqrt(tf.sum(tf.square(weight), 0, true));
      weight.assign(tf.div(weight, tf.maximum(norms, 1e-12)));
    });
  renormalise();
  return {
    method: "standard",
    numClasses: K,
    parameters,
    forward(h): HeadOutput {
      return tf.tidy(() => {
        const bb = (b ?? tf.zeros([K])) as tf.Tensor1D;
        const logits = tf.add(tf.matMul(h, weight), bb) as tf.Tensor2D;
        return { logits, W: tf.transpose(weight) as tf.Tensor2D, b: tf.clone(bb) };
      });
    },
    classifier: () =>
      tf.tidy(() => ({
        W: tf.transpose(weight) as tf.Tensor2D,
        b: (b === null ? tf.zeros([K]) : tf.clone(b)) as tf.Tensor1D,
      })),
    afterStep: renormalise,
    dispose() {
      weight.dispose();
      b?.dispose();
    },
  };
}
