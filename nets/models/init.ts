/**
 * Seeded initialisers for the networks: every initial weight comes from the toolkit's own
 * generator (`Rng`, xoshiro128**), filled on the CPU in tfjs's layout, so a network's initial
 * state depends only on its options and seed — not on the backend, and not on tfjs's global
 * random state.
 *
 * @example
 * ```ts
 * import { Rng } from "../../core/random.ts";
 * import { kaimingNormalConv } from "./init.ts";
 * const kernel = kaimingNormalConv(new Rng(0), 3, 3, 64, 128); // tfjs [kh, kw, in, out]
 * ```
 *
 * @module
 */
import { tf } from "../tf.ts";
import { Rng } from "../../core/random.ts";

export { Rng };

/**
 * A float32 tensor of independent N(0, std²) entries.
 *
 * @example
 * ```ts
 * const H = normalTensor(new Rng(0), [100, 512], 1); // unconstrained features
 * ```
 */
export function normalTensor(rng: Rng, shape: number[], std: number): tf.Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(size);
  for (let i = 0; i < size; i++) data[i] = std * rng.normal();
  return tf.tensor(data, shape, "float32");
}

/**
 * A float32 tensor of independent U(−bound, bound) entries.
 *
 * @example
 * ```ts
 * const w = uniformTensor(new Rng(0), [784, 1024], 1 / Math.sqrt(784));
 * ```
 */
export function uniformTensor(rng: Rng, shape: number[], bound: number): tf.Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(size);
  for (let i = 0; i < size; i++) data[i] = bound * (2 * rng.uniform() - 1);
  return tf.tensor(data, shape, "float32");
}

/**
 * torchvision's conv initialisation, `kaiming_normal_(mode="fan_out", nonlinearity="relu")`:
 * N(0, 2/fan_out) with fan_out = out·kh·kw, as a tfjs kernel [kh, kw, in, out].
 *
 * @example
 * ```ts
 * const stem = kaimingNormalConv(new Rng(0), 7, 7, 3, 64); // std = sqrt(2/(64·49))
 * ```
 */
export function kaimingNormalConv(
  rng: Rng,
  kh: number,
  kw: number,
  inChannels: number,
  outChannels: number,
): tf.Tensor4D {
  const std = Math.sqrt(2 / (outChannels * kh * kw));
  return normalTensor(rng, [kh, kw, inChannels, outChannels], std) as tf.Tensor4D;
}

/**
 * PyTorch's default `nn.Linear` initialisation (`kaiming_uniform_(a=√5)` for the weight, and
 * the same bound for the bias): U(−1/sqrt(fan_in), 1/sqrt(fan_in)). The weight is returned in
 * tfjs's dense layout [in, out]; the bias, when requested, is [out].
 *
 * @example
 * ```ts
 * const { weight, bias } = linearInit(new Rng(0), 3072, 1024, true);
 * ```
 */
export function linearInit(
  rng: Rng,
  inFeatures: number,
  outFeatures: number,
  withBias: boolean,
): { weight: tf.Tensor2D; bias: tf.Tensor1D | null } {
  const bound = 1 / Math.sqrt(inFeatures);
  const weight = uniformTensor(rng, [inFeatures, outFeatures], bound) as tf.Tensor2D;
  const bias = withBias ? uniformTensor(rng, [outFeatures], bound) as tf.Tensor1D : null;
  return { weight, bias };
}
