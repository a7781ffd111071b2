/**
 * The unconstrained-features model (UFM): the features themselves are the parameters, an N×d
 * matrix named `features` (kind "features"), initialised N(0, 1/d) from the seed, so each row
 * has norm ≈ 1 whatever d. The "input" of `features(indices, training)` is the int32 vector of
 * sample indices; the result gathers those rows (training mode changes nothing: there is no
 * BatchNorm).
 *
 * Why 1/d and not N(0, 1): training normalises every feature to radius τ
 * (`h = τ·h_raw/‖h_raw‖`), so the loss does not depend on a row's norm r = ‖h_raw‖ and only
 * sets the step: the gradient reaching h_raw is (τ/r)·(I − ĥĥᵀ)·∂L/∂h, and the angle a row
 * turns per SGD step is lr·τ·‖∂L/∂h‖/r². N(0, 1) rows in d = 512 have r ≈ sqrt(d) ≈ 22.6, which
 * divides the effective step by d = 512: with the UFM's SGD defaults (lr 0.1, momentum 0.9,
 * weight decay 5e-4) and the 1/N of a full-batch mean loss, 300 iterations on UFM-10 moved the
 * loss from 1.872 to 1.857. With r ≈ 1 the same optimiser reaches 100% train accuracy and
 * NC1 ≤ 1e-2 in about 250 full-batch iterations (train/recipes.ts has the measurements).
 * `std` sets another scale (`std: 1` is the former N(0, 1)).
 *
 * @example
 * ```ts
 * import { tf } from "../tf.ts";
 * import { ufm } from "./ufm.ts";
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
 * const options: UfmOptions = { numSamples: 1000, dim: 512 }; // rows N(0, I/512), norm ≈ 1
 * ```
 */
export interface UfmOptions {
  /** Number of free feature vectors N (the training-set size). */
  numSamples: number;
  /** Feature dimension d; default 512. */
  dim?: number;
  /** Seed of the initialisation; default 0. */
  seed?: number;
  /**
   * Standard deviation of the N(0, std²) initial entries; default 1/sqrt(d), rows of norm ≈ 1
   * (see the module notes: under the τ normalisation the scale sets the effective step).
   */
  std?: number;
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
  const std = options.std ?? 1 / Math.sqrt(dim);
  if (!(Number.isFinite(std) && std > 0)) {
    throw new InvalidArgumentError(
      "options.std",
      `expected the initial standard deviation (a finite number > 0), got ${std}`,
    );
  }
  const H = ownedVariable(normalTensor(new Rng(seed), [n, dim], std), true);
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
