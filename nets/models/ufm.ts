/**
 * The unconstrained-features model (UFM): the features themselves are the parameters, an N×d
 * matrix named `features` (kind "features"), initialised N(0, 1) from the seed. The "input" of
 * `features(indices, training)` is the int32 vector of sample indices; the result gathers
 * those rows (training mode changes nothing: there is no BatchNorm).
 *
 * @example
 * ```ts
 * const net = ufm({ numSamples: 100, dim: 512, seed: 1 });
 * const h = net.features(tf.tensor1d([0, 5, 7], "int32"), true); // [3, 512]
 * ```
 *
 * @module
 */
import { tf } from "../tf.ts";
import type { Backbone } from "./model.ts";
import { ownedVariable } from "./batch_norm.ts";
import { normalTensor, Rng } from "./init.ts";
import { InvalidArgumentError } from "../../core/errors.ts";

/**
 * Options of {@link ufm}.
 *
 * @example
 * ```ts
 * const options: UfmOptions = { numSamples: 1000, dim: 512 };
 * ```
 */
export interface UfmOptions {
  /** Number of free feature vectors N (the training-set size). */
  numSamples: number;
  /** Feature dimension d; default 512. */
  dim?: number;
  /** Seed of the N(0, 1) initialisation; default 0. */
  seed?: number;
}

/**
 * An unconstrained-features backbone. `features(indices)` requires a rank-1 int32 tensor with
 * entries in [0, N) (the cpu and wasm backends reject others; GPU gathers are not checked).
 *
 * @example
 * ```ts
 * const net = ufm({ numSamples: 20, dim: 8 });
 * net.parameters[0].name; // "features"
 * ```
 */
export function ufm(options: UfmOptions): Backbone {
  const n = options.numSamples;
  if (!Number.isInteger(n) || n < 1) {
    throw new InvalidArgumentError(
      "options.numSamples",
      `expected the number of samples N (an integer ≥ 1), got ${n}`,
    );
  }
  const dim = options.dim ?? 512;
  if (!Number.isInteger(dim) || dim < 1) {
    throw new InvalidArgumentError(
      "options.dim",
      `expected the feature dimension d (an integer ≥ 1), got ${dim}`,
    );
  }
  const seed = options.seed ?? 0;
  if (!Number.isSafeInteger(seed)) {
    throw new InvalidArgumentError("options.seed", `expected a safe integer, got ${seed}`);
  }
  const H = ownedVariable(normalTensor(new Rng(seed), [n, dim], 1), true);
  return {
    name: "ufm",
    featureDim: dim,
    parameters: [{ name: "features", variable: H, kind: "features" }],
    buffers: [],
    features(indices: tf.Tensor, _training: boolean, _updateStatistics?: boolean): tf.Tensor2D {
      if (indices.rank !== 1 || indices.dtype !== "int32") {
        throw new InvalidArgumentError(
          "indices",
          `ufm expects a rank-1 int32 tensor of sample indices in [0, ${n}), got ${indices.dtype} [${
            indices.shape.join(", ")
          }]`,
        );
      }
      return tf.gather(H, indices) as tf.Tensor2D;
    },
    dispose(): void {
      H.dispose();
    },
  };
}
