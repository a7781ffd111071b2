/**
 * `detach(x)`: the value of x with no gradient flowing back through it (tfjs has no
 * `stopGradient`; this is PyTorch's `.detach()` as a custom gradient of zero).
 *
 * @module
 */
import { tf } from "../tf.ts";

const detachOp = tf.customGrad(
  ((x: tf.Tensor) => ({
    value: tf.clone(x),
    gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy),
  })) as unknown as Parameters<typeof tf.customGrad>[0],
);

/**
 * The value of x, detached from the gradient tape.
 *
 * @example
 * ```ts
 * import { tf } from "../tf.ts";
 * const h = tf.randomNormal<tf.Rank.R2>([8, 512]); // features, N×d
 * const muG = detach(tf.mean(h, 0)); // no gradient through the bias
 * ```
 */
export function detach<T extends tf.Tensor>(x: T): T {
  return detachOp(x) as T;
}
