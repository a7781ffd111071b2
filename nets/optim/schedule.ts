/**
 * Learning-rate schedules for SGD, Adam and AdamW (`--decay_type`), with PyTorch's formulas, as
 * pure functions of the epoch and the global step — so a resumed run has the same learning rate at
 * every step as an uninterrupted one, bit for bit, with no scheduler state to save:
 *
 * - `none`: the base rate.
 * - `step` (`torch.optim.lr_scheduler.StepLR(step_size=patience, gamma)`, stepped per epoch):
 *   `lr·γ^⌊e/patience⌋` in epoch e (0-based).
 * - `cosine` (`CosineAnnealingLR(T_max=epochs, eta_min=0)`, per epoch):
 *   `lr·(1 + cos(π·e/epochs))/2`.
 * - `onecycle` (`OneCycleLR(max_lr, total_steps=epochs·steps_per_epoch, pct_start=0.3,
 *   anneal_strategy="cos", div_factor, final_div_factor, three_phase=False)`, per step s,
 *   0-based): from `max_lr/div_factor` up to `max_lr` by a half cosine until step
 *   `0.3·total − 1`, then down to `max_lr/(div_factor·final_div_factor)` at step `total − 1`.
 *   Momentum is not cycled (PyTorch's `cycle_momentum=False`); the base `--lr` is not used.
 *
 * @module
 */
import { InvalidArgumentError } from "../../core/errors.ts";

/** The schedule names, as `--decay_type` spells them. */
export const DECAY_TYPES = ["none", "step", "cosine", "onecycle"] as const;

/**
 * A learning-rate schedule and its settings.
 *
 * @example
 * ```ts
 * const s: LrSchedule = { type: "step", lr: 0.1, patience: 30, gamma: 0.1 };
 * ```
 */
export type LrSchedule =
  | { type: "none"; lr: number }
  | { type: "step"; lr: number; patience: number; gamma: number }
  | { type: "cosine"; lr: number; epochs: number }
  | {
    type: "onecycle";
    maxLr: number;
    divFactor: number;
    finalDivFactor: number;
    /** epochs × steps per epoch. */
    totalSteps: number;
  };

/** PyTorch's `_annealing_cos`: from `start` (pct 0) to `end` (pct 1) by a half cosine. */
function annealingCos(start: number, end: number, pct: number): number {
  return end + ((start - end) / 2) * (Math.cos(Math.PI * pct) + 1);
}

/**
 * The learning rate of the step `step` (0-based, global) in epoch `epoch` (0-based).
 *
 * @example
 * ```ts
 * learningRate({ type: "cosine", lr: 0.1, epochs: 200 }, 100, 0); // 0.05
 * learningRate({ type: "step", lr: 0.1, patience: 30, gamma: 0.1 }, 30, 0); // ≈ 0.01
 * ```
 */
export function learningRate(schedule: LrSchedule, epoch: number, step: number): number {
  switch (schedule.type) {
    case "none":
      return schedule.lr;
    case "step":
      return schedule.lr * schedule.gamma ** Math.floor(epoch / schedule.patience);
    case "cosine":
      return schedule.lr * (1 + Math.cos((Math.PI * epoch) / schedule.epochs)) / 2;
    case "onecycle": {
      const { maxLr, divFactor, finalDivFactor, totalSteps } = schedule;
      if (step >= totalSteps) {
        throw new InvalidArgumentError(
          "step",
          `${step} is past the one-cycle schedule's ${totalSteps} steps`,
        );
      }
      const initial = maxLr / divFactor, min = initial / finalDivFactor;
      const end1 = 0.3 * totalSteps - 1, end2 = totalSteps - 1;
      return step <= end1
        ? annealingCos(initial, maxLr, end1 > 0 ? step / end1 : 1)
        : annealingCos(maxLr, min, (step - end1) / (end2 - end1));
    }
  }
}
