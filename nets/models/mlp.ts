/**
 * The MLP backbone: the input flattened, then `depth` hidden layers of Linear → BatchNorm1d →
 * ReLU, all `width` wide; the features are the last hidden layer's output (d = width).
 *
 * Names follow a PyTorch `self.layers = nn.Sequential(Linear, BatchNorm1d, ReLU, Linear, …)`:
 * hidden layer i (from 0) is `layers.{3i}` (Linear: `.weight`, `.bias` with `bias`),
 * `layers.{3i+1}` (BatchNorm1d: `.weight`/`.bias` with `bias`, `.running_mean`, `.running_var`,
 * `.num_batches_tracked`) and `layers.{3i+2}` (ReLU, no state). Linear weights are stored in
 * tfjs's dense layout [in, out] (PyTorch's [out, in] transposed), kind "dense".
 *
 * @example
 * ```ts
 * import { tf } from "../tf.ts";
 * const net = mlp({ inputShape: [32, 32, 3], depth: 2, width: 16 });
 * const x = tf.zeros([4, 32, 32, 3]);
 * const h = tf.tidy(() => net.features(x, true)); // [N, 16]
 * ```
 *
 * @module
 */
import { tf } from "../tf.ts";
import type { Backbone, Parameter } from "./model.ts";
import { type BatchNorm, batchNorm1d, ownedVariable } from "./batch_norm.ts";
import { linearInit, Rng } from "./init.ts";
import { InvalidArgumentError } from "../../core/errors.ts";

/**
 * Options of {@link mlp}.
 *
 * @example
 * ```ts
 * const options: MlpOptions = { inputShape: [784], depth: 6, width: 1024, bias: false };
 * ```
 */
export interface MlpOptions {
  /** Shape of one sample, without the batch axis (e.g. [32, 32, 3]); flattened. */
  inputShape: number[];
  /** Number of hidden layers (`--depth`); default 6. */
  depth?: number;
  /** Units per hidden layer (`--width`), also d; default 1024. */
  width?: number;
  /** Linear biases and affine BatchNorm (`--bias`); default false. */
  bias?: boolean;
  /** Seed of the initialisation; default 0. */
  seed?: number;
}

type Hidden = { weight: tf.Variable; bias: tf.Variable | null; bn: BatchNorm; index: number };

/**
 * An MLP backbone. Init: PyTorch's default Linear init, U(−1/sqrt(fan_in), 1/sqrt(fan_in)) for
 * weights and biases, from the seed; BatchNorm weight 1, bias 0.
 *
 * @example
 * ```ts
 * const net = mlp({ inputShape: [28, 28, 1], depth: 3, width: 64, bias: true, seed: 2 });
 * net.parameters.map((p) => p.name); // layers.0.weight, layers.0.bias, layers.1.weight, …
 * ```
 */
export function mlp(options: MlpOptions): Backbone {
  const inputShape = options.inputShape;
  if (
    !Array.isArray(inputShape) || inputShape.length === 0 ||
    !inputShape.every((v) => Number.isInteger(v) && v >= 1)
  ) {
    throw new InvalidArgumentError(
      "options.inputShape",
      `expected a non-empty list of integers ≥ 1 (one sample's shape), got ${
        JSON.stringify(inputShape)
      }`,
    );
  }
  const depth = options.depth ?? 6;
  if (!Number.isInteger(depth) || depth < 1) {
    throw new InvalidArgumentError(
      "options.depth",
      `expected the number of hidden layers (an integer ≥ 1), got ${depth}`,
    );
  }
  const width = options.width ?? 1024;
  if (!Number.isInteger(width) || width < 1) {
    throw new InvalidArgumentError("options.width", `expected an integer ≥ 1, got ${width}`);
  }
  const seed = options.seed ?? 0;
  if (!Number.isSafeInteger(seed)) {
    throw new InvalidArgumentError("options.seed", `expected a safe integer, got ${seed}`);
  }
  if (options.bias !== undefined && typeof options.bias !== "boolean") {
    throw new InvalidArgumentError("options.bias", `expected a boolean, got ${options.bias}`);
  }
  const withBias = options.bias ?? false;
  const inFeatures = inputShape.reduce((a, b) => a * b, 1);
  const rng = new Rng(seed);

  const hidden: Hidden[] = [];
  for (let i = 0; i < depth; i++) {
    const fanIn = i === 0 ? inFeatures : width;
    const init = linearInit(rng, fanIn, width, withBias);
    hidden.push({
      weight: ownedVariable(init.weight, true),
      bias: init.bias ? ownedVariable(init.bias, true) : null,
      bn: batchNorm1d(`layers.${3 * i + 1}`, width, { affine: withBias }),
      index: 3 * i,
    });
  }
  const parameters: Parameter[] = hidden.flatMap(({ weight, bias, bn, index }) => [
    { name: `layers.${index}.weight`, variable: weight, kind: "dense" as const },
    ...(bias ? [{ name: `layers.${index}.bias`, variable: bias, kind: "vector" as const }] : []),
    ...bn.parameters,
  ]);
  const buffers = hidden.flatMap(({ bn }) => bn.buffers);

  return {
    name: "mlp",
    featureDim: width,
    parameters,
    buffers,
    features(x: tf.Tensor, training: boolean, updateStatistics = training): tf.Tensor2D {
      const sample = x.shape.slice(1);
      if (
        x.dtype !== "float32" || x.rank < 2 ||
        sample.reduce((a, b) => a * b, 1) !== inFeatures
      ) {
        throw new InvalidArgumentError(
          "x",
          `mlp expects a float32 batch [N, ${
            inputShape.join(", ")
          }] (${inFeatures} values per sample), got ${x.dtype} [${x.shape.join(", ")}]`,
        );
      }
      return tf.tidy(() => {
        let h = tf.reshape(x, [x.shape[0], inFeatures]) as tf.Tensor2D;
        for (const { weight, bias, bn } of hidden) {
          let z = tf.matMul(h, weight as tf.Tensor2D);
          if (bias) z = tf.add(z, bias);
          h = tf.relu(bn.apply(z, training, updateStatistics)) as tf.Tensor2D;
        }
        return h;
      });
    },
    dispose(): void {
      for (const { weight, bias, bn } of hidden) {
        weight.dispose();
        bias?.dispose();
        bn.dispose();
      }
    },
  };
}
