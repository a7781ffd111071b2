/**
 * Builds an optimiser by name with the defaults of docs/method.md section 6.
 *
 * @module
 */
import { InvalidArgumentError } from "../../core/errors.ts";
import type { Parameter } from "../models/model.ts";
import { adam } from "./adam.ts";
import { agd } from "./agd.ts";
import type { Optimiser, OptimiserName } from "./optimiser.ts";
import { sgd } from "./sgd.ts";

/**
 * Settings for any optimiser; each uses what applies to it (AGD: gain; SGD: lr, momentum,
 * weightDecay; Adam/AdamW: lr, betas, eps, weightDecay). Unset values take the defaults.
 *
 * @example
 * ```ts
 * const s: OptimiserSettings = { lr: 0.1 };
 * ```
 */
export type OptimiserSettings = {
  lr?: number;
  gain?: number;
  momentum?: number;
  weightDecay?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
};

/** Default learning rates: SGD 0.05 (docs/method.md), Adam/AdamW 1e-3 (PyTorch's); AGD has none. */
export const DEFAULT_LR: Record<OptimiserName, number | null> = {
  AGD: null,
  SGD: 0.05,
  Adam: 1e-3,
  AdamW: 1e-3,
};

/**
 * The optimiser `name` over `parameters`.
 *
 * @example
 * ```ts
 * import { createBackbone } from "../models/backbones.ts";
 * const backbone = createBackbone("resnet18", { width: 8 });
 * const opt = createOptimiser("SGD", backbone.parameters, { lr: 0.1 });
 * ```
 */
export function createOptimiser(
  name: OptimiserName,
  parameters: readonly Parameter[],
  settings: OptimiserSettings = {},
): Optimiser {
  for (const [key, value] of Object.entries(settings)) {
    if (value !== undefined && !(typeof value === "number" && Number.isFinite(value))) {
      throw new InvalidArgumentError(
        `optimiser setting ${key}`,
        `got ${value}, allowed: a finite number`,
      );
    }
  }
  if (settings.lr !== undefined && !(settings.lr > 0)) {
    throw new InvalidArgumentError("--lr", `got ${settings.lr}, allowed: a number > 0`);
  }
  switch (name) {
    case "AGD":
      if (settings.gain !== undefined && !(settings.gain > 0)) {
        throw new InvalidArgumentError("--gain", `got ${settings.gain}, allowed: a number > 0`);
      }
      return agd(parameters, { gain: settings.gain });
    case "SGD":
      return sgd(parameters, settings);
    case "Adam":
      return adam(parameters, settings, false);
    case "AdamW":
      return adam(parameters, settings, true);
  }
}
