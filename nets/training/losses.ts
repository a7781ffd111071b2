/**
 * The training losses of docs/method.md section 6, on logits z (N×K) and integer labels y (N):
 * cross-entropy; DotRegression `½·mean_i((z_{i,y_i} − 1)²)` (z_{i,y} = ⟨h_i, w_y⟩ + b_y); MSE of
 * the logits against one-hot targets, `mean_{i,k}((z_ik − [y_i = k])²)` (PyTorch's MSELoss mean).
 *
 * @module
 */
import { InvalidArgumentError } from "../../core/errors.ts";
import { tf } from "../tf.ts";

/** The loss names, as the `--loss` flag spells them. */
export const LOSS_NAMES = ["CrossEntropyLoss", "DotRegressionLoss", "MSELoss"] as const;
/** A loss name. */
export type LossName = typeof LOSS_NAMES[number];

/** Short aliases accepted by {@link parseLoss}. */
const ALIASES: Record<string, LossName> = {
  ce: "CrossEntropyLoss",
  "cross-entropy": "CrossEntropyLoss",
  crossentropy: "CrossEntropyLoss",
  dotregression: "DotRegressionLoss",
  dr: "DotRegressionLoss",
  mse: "MSELoss",
};

/**
 * The loss named `name` (case-insensitive; aliases ce, dr, mse), or a clear error.
 *
 * @example
 * ```ts
 * parseLoss("ce"); // "CrossEntropyLoss"
 * ```
 */
export function parseLoss(name: string, argument = "--loss"): LossName {
  const exact = LOSS_NAMES.find((n) => n.toLowerCase() === name.toLowerCase());
  const found = exact ?? ALIASES[name.toLowerCase()];
  if (found === undefined) {
    throw new InvalidArgumentError(
      argument,
      `unknown loss ${JSON.stringify(name)}; allowed: ${LOSS_NAMES.join(", ")} (or ce, dr, mse)`,
    );
  }
  return found;
}

/**
 * The mean loss of logits z (N×K) for int32 labels y (N), as a scalar tensor.
 *
 * @example
 * ```ts
 * import { tf } from "../tf.ts";
 * const logits = tf.randomNormal<tf.Rank.R2>([8, 4]); // N×K
 * const labels = tf.tensor1d([0, 1, 2, 3, 0, 1, 2, 3], "int32");
 * const L = loss("CrossEntropyLoss", logits, labels);
 * ```
 */
export function loss(name: LossName, logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => {
    const K = logits.shape[1];
    const onehot = tf.oneHot(labels, K).toFloat();
    switch (name) {
      case "CrossEntropyLoss": {
        const logp = tf.logSoftmax(logits);
        return tf.neg(tf.mean(tf.sum(tf.mul(onehot, logp), 1)));
      }
      case "DotRegressionLoss": {
        const target = tf.sum(tf.mul(onehot, logits), 1);
        return tf.mul(0.5, tf.mean(tf.square(tf.sub(target, 1))));
      }
      case "MSELoss":
        return tf.mean(tf.square(tf.sub(logits, onehot)));
    }
  }) as tf.Scalar;
}
