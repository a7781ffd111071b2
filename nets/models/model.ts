/**
 * The network interface shared by every backbone (ResNets, MLP, unconstrained features) and
 * used by the heads, optimisers and the training step.
 *
 * Parameters and buffers are plain `tf.Variable`s in insertion order, named as PyTorch's
 * `state_dict` names them (e.g. `layer1.0.conv1.weight`, `bn1.running_mean`), with PyTorch's
 * layouts recorded alongside so checkpoints can be written in PyTorch's layout later.
 *
 * @module
 */
import type { tf } from "../tf.ts";

/** How a parameter is laid out in tfjs, so it can be converted to PyTorch's layout. */
export type ParameterKind =
  | "conv" // tfjs [kh, kw, in, out]  ↔ PyTorch [out, in, kh, kw]
  | "dense" // tfjs [in, out]         ↔ PyTorch [out, in]
  | "vector" // [n] (BatchNorm affine, biases)
  | "features"; // UFM free features [N, d]

/**
 * A named trainable parameter.
 *
 * @example
 * ```ts
 * import { tf } from "../tf.ts";
 * const variable = tf.variable(tf.zeros([7, 7, 3, 64]), true, "conv1.weight");
 * const p: Parameter = { name: "conv1.weight", variable, kind: "conv" };
 * ```
 */
export type Parameter = { name: string; variable: tf.Variable; kind: ParameterKind };

/**
 * A backbone: maps an input batch to raw penultimate features h_raw (N×d), before the
 * normalisation to radius τ (which the heads apply).
 *
 * @example
 * ```ts
 * import { tf } from "../tf.ts";
 * import { createBackbone } from "./backbones.ts";
 * const model: Backbone = createBackbone("resnet18", { width: 8 });
 * const x = tf.zeros([2, 32, 32, 3]);
 * const h = tf.tidy(() => model.features(x, true)); // training mode: batch statistics
 * ```
 */
export interface Backbone {
  /** Architecture name, e.g. "resnet18". */
  readonly name: string;
  /** Feature dimension d of `features`. */
  readonly featureDim: number;
  /** Trainable parameters, in PyTorch's state_dict order. */
  readonly parameters: readonly Parameter[];
  /** Non-trainable state (BatchNorm running statistics, counters), PyTorch names. */
  readonly buffers: readonly Parameter[];
  /**
   * Raw features for a batch. `training` selects batch statistics or running statistics;
   * `updateStatistics` (default: `training`) says whether a training forward updates the
   * running statistics — false for the extra features-only forward of the implicit method on
   * WebGPU, so a step updates them once. For the UFM the input is the int32 tensor of indices.
   */
  features(x: tf.Tensor, training: boolean, updateStatistics?: boolean): tf.Tensor2D;
  /** Frees every variable. */
  dispose(): void;
}
