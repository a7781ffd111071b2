/**
 * The optimiser interface and factory (docs/method.md section 6): AGD, SGD, Adam, AdamW. Every
 * update is made of tensor ops (no reads back to the CPU), so a step never blocks the GPU.
 *
 * @module
 */
import { InvalidArgumentError } from "../../core/errors.ts";
import type { Parameter } from "../models/model.ts";
import type { tf } from "../tf.ts";

/** The optimiser names, as the `--optimiser` flag spells them. */
export const OPTIMISER_NAMES = ["AGD", "SGD", "Adam", "AdamW"] as const;
/** An optimiser name. */
export type OptimiserName = typeof OPTIMISER_NAMES[number];

/**
 * An optimiser over a fixed list of parameters.
 *
 * @example
 * ```ts
 * import { tf } from "../tf.ts";
 * import { createBackbone } from "../models/backbones.ts";
 * import { agd } from "./agd.ts";
 * const model = createBackbone("resnet18", { width: 8 });
 * const optimiser: Optimiser = agd(model.parameters);
 * const x = tf.zeros([2, 32, 32, 3]);
 * const lossFn = () => tf.sum(model.features(x, true)) as tf.Scalar;
 * const vars = model.parameters.map((p) => p.variable);
 * const { grads } = tf.variableGrads(lossFn, vars);
 * const { eta } = optimiser.step(grads); // AGD returns η (a scalar tensor) for logging
 * ```
 */
export interface Optimiser {
  /** Which optimiser this is. */
  readonly name: OptimiserName;
  /** The parameters it updates. */
  readonly parameters: readonly Parameter[];
  /**
   * Updates every parameter from its gradient (keyed by `variable.name`, as
   * `tf.variableGrads` returns them). Returns AGD's η as a scalar tensor (undefined otherwise);
   * the caller owns (and disposes) it.
   */
  step(grads: tf.NamedTensorMap): { eta?: tf.Scalar };
  /** Named state tensors (momentum buffers, moments) for checkpoints, and the step count. */
  state(): { step: number; tensors: Map<string, tf.Tensor> };
  /**
   * Restores what `state()` returned (names as there; the optimiser copies the values). Unknown
   * or missing names, or shapes that do not fit, are errors.
   */
  setState(state: { step: number; tensors: Map<string, tf.Tensor> }): void;
  /**
   * Sets the learning rate of the following steps (SGD, Adam, AdamW: for `--decay_type`
   * schedules, nets/optim/schedule.ts). Absent on AGD, which has no learning rate.
   */
  setLearningRate?(lr: number): void;
  /**
   * From the next step on, leaves these parameters unchanged and needs no gradient for them
   * (PyTorch's treatment of a parameter whose `grad` is None: no update, no weight decay, no
   * momentum; AGD's depth and η count the others) — `--warmup_epochs`' classifier once the
   * method's head takes over. Not saved in `state()`: the caller re-applies it on resume.
   */
  freeze(parameters: readonly Parameter[]): void;
  /** Frees the optimiser's state. */
  dispose(): void;
}

/**
 * Parses an optimiser name (case-insensitive), or a clear error.
 *
 * @example
 * ```ts
 * parseOptimiser("agd"); // "AGD"
 * ```
 */
export function parseOptimiser(name: string, argument = "--optimiser"): OptimiserName {
  const found = OPTIMISER_NAMES.find((n) => n.toLowerCase() === name.toLowerCase());
  if (found === undefined) {
    throw new InvalidArgumentError(
      argument,
      `unknown optimiser ${JSON.stringify(name)}; allowed: ${OPTIMISER_NAMES.join(", ")}`,
    );
  }
  return found;
}

/**
 * A learning rate must be a finite number ≥ 0 (a schedule may reach 0), else a clear error.
 *
 * @example
 * ```ts
 * checkLearningRate(0.05); // fine
 * ```
 */
export function checkLearningRate(lr: number): void {
  if (!(Number.isFinite(lr) && lr >= 0)) {
    throw new InvalidArgumentError("lr", `got ${lr}, allowed: a finite number ≥ 0`);
  }
}

/** Gradient for `p`, or a clear error when the gradient map lacks it. */
export function gradientOf(grads: tf.NamedTensorMap, p: Parameter): tf.Tensor {
  const g = grads[p.variable.name];
  if (g === undefined) throw new Error(`optimiser: no gradient for parameter ${p.name}`);
  return g;
}

/**
 * Checks that a restored state's names are exactly `expected` (order-free), or throws naming
 * the missing and unexpected ones.
 *
 * @example
 * ```ts
 * import { tf } from "../tf.ts";
 * const state = { step: 3, tensors: new Map([["w.momentum_buffer", tf.zeros([3])]]) };
 * checkStateNames("SGD", new Set(["w.momentum_buffer"]), state.tensors);
 * ```
 */
export function checkStateNames(
  optimiser: string,
  expected: Set<string>,
  tensors: Map<string, tf.Tensor>,
): void {
  const missing = [...expected].filter((n) => !tensors.has(n));
  const unexpected = [...tensors.keys()].filter((n) => !expected.has(n));
  if (missing.length > 0 || unexpected.length > 0) {
    throw new InvalidArgumentError(
      "optimiser state",
      `${optimiser} state: ${missing.length ? `missing ${missing.join(", ")}` : ""}` +
        `${missing.length && unexpected.length ? "; " : ""}${
          unexpected.length ? `unexpected ${unexpected.join(", ")}` : ""
        }`,
    );
  }
}

/**
 * Checks that a restored tensor has its parameter's shape, or throws naming the parameter.
 *
 * @example
 * ```ts
 * import { tf } from "../tf.ts";
 * import type { Parameter } from "../models/model.ts";
 * const p: Parameter = {
 *   name: "conv1.weight",
 *   variable: tf.variable(tf.zeros([7, 7, 3, 64])),
 *   kind: "conv",
 * };
 * const saved = tf.zeros([7, 7, 3, 64]); // e.g. its momentum buffer from a checkpoint
 * checkShape("conv1.weight", saved, p.variable);
 * ```
 */
export function checkShape(name: string, t: tf.Tensor, like: tf.Tensor): void {
  if (t.shape.length !== like.shape.length || t.shape.some((n, i) => n !== like.shape[i])) {
    throw new InvalidArgumentError(
      "optimiser state",
      `optimiser state for ${name}: shape [${t.shape}], expected [${like.shape}]`,
    );
  }
}
