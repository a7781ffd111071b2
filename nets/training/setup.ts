/**
 * Builds everything one training run needs — backbone, head, optimiser, loss — from names and
 * options, with the paper's defaults and clear errors for bad input. The bench and the training
 * tasks share it, so a configuration means the same everywhere.
 *
 * @module
 */
import { InvalidArgumentError } from "../../core/errors.ts";
import { ETF_SOLVERS, type EtfSolver } from "../../solver/nearest_etf.ts";
import { BACKBONE_NAMES, type BackboneName, createBackbone } from "../models/backbones.ts";
import { ETF_BACKWARDS, type EtfBackward } from "../heads/closest_etf_geometry.ts";
import { FEATURE_AVERAGES, type FeatureAverageKind } from "../heads/feature_average.ts";
import { fixedEtfHead } from "../heads/fixed.ts";
import { type Head, type MethodName, parseMethod } from "../heads/head.ts";
import { implicitHead } from "../heads/implicit.ts";
import { standardHead } from "../heads/standard.ts";
import { type LossName, parseLoss } from "./losses.ts";
import { agdInitialise } from "../optim/agd.ts";
import { createOptimiser, type OptimiserSettings } from "../optim/create.ts";
import { type OptimiserName, parseOptimiser } from "../optim/optimiser.ts";
import type { TrainingSetup } from "./train_step.ts";

/**
 * Options of {@link createTrainingSetup} (names follow the paper's flags, in camelCase).
 *
 * @example
 * ```ts
 * const o: SetupOptions = { model: "resnet18", method: "implicit", numClasses: 10, resnetWidth: 8 };
 * ```
 */
export type SetupOptions = {
  model: string;
  method: string;
  numClasses: number;
  /** Default: AGD (the paper's recipe), SGD for the UFM. */
  optimiser?: string;
  lr?: number;
  gain?: number;
  momentum?: number;
  weightDecay?: number;
  /** Affine BatchNorm and classifier bias (the paper's recipe has none). */
  bias?: boolean;
  /** Default CrossEntropyLoss. */
  loss?: string;
  /** τ, default 5. */
  temperature?: number;
  etfSolver?: string;
  etfBackward?: string;
  featureAverage?: string;
  /** One input sample's shape, default [32, 32, 3]. */
  inputShape?: number[];
  /** ResNet base width, default 64. */
  resnetWidth?: number;
  /** MLP hidden width, default 1024. */
  width?: number;
  /** MLP depth, default 6. */
  depth?: number;
  /** ResNet: the last stage emits K+1 channels. */
  fixdim?: boolean;
  /**
   * Fixed and implicit methods: epochs trained with a learned classifier (a standard head)
   * before the method's head takes over (`--warmup_epochs`, default 0).
   */
  warmupEpochs?: number;
  /** UFM: number of samples. */
  numSamples?: number;
  /** UFM: feature dimension, default 512. */
  featureDim?: number;
  seed?: number;
};

/**
 * The resolved configuration (every default filled in), for logs and run directories.
 *
 * @example
 * ```ts
 * const options = { model: "resnet18", method: "implicit", numClasses: 10 };
 * const { resolved } = createTrainingSetup(options);
 * console.log(JSON.stringify(resolved));
 * ```
 */
export type ResolvedSetup = {
  model: BackboneName;
  method: MethodName;
  numClasses: number;
  optimiser: OptimiserName;
  lr: number | null;
  gain: number | null;
  bias: boolean;
  loss: LossName;
  temperature: number;
  etfSolver: EtfSolver;
  etfBackward: EtfBackward;
  featureAverage: FeatureAverageKind;
  featureDim: number;
  seed: number;
};

function choice<T extends string>(argument: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) {
    throw new InvalidArgumentError(
      argument,
      `got ${JSON.stringify(value)}, allowed: ${allowed.join(", ")}`,
    );
  }
  return value as T;
}

/**
 * Checks names and values of setup options (everything that needs no dataset or model) and
 * resolves the defaults; `createTrainingSetup` calls it first, and a training task calls it
 * before any expensive work so bad input fails at once.
 *
 * @example
 * ```ts
 * const v = validateSetupOptions({ model: "resnet18", method: "implicit", numClasses: 10 });
 * ```
 */
export function validateSetupOptions(options: SetupOptions) {
  const model = choice("--model", options.model, BACKBONE_NAMES);
  const method = parseMethod(options.method);
  const K = options.numClasses;
  if (!(Number.isInteger(K) && K >= 2)) {
    throw new InvalidArgumentError("--num_classes", `got ${K}, allowed: an integer ≥ 2`);
  }
  const temperature = options.temperature ?? 5;
  if (!(Number.isFinite(temperature) && temperature > 0)) {
    throw new InvalidArgumentError(
      "--temperature",
      `got ${temperature}, allowed: τ > 0 (features are normalised to radius τ)`,
    );
  }
  const optimiser = parseOptimiser(options.optimiser ?? (model === "ufm" ? "SGD" : "AGD"));
  if (optimiser === "AGD" && options.lr !== undefined) {
    throw new InvalidArgumentError(
      "--lr",
      `got ${options.lr}, but AGD has no learning rate (its step is set by --gain); ` +
        "drop --lr, or choose --optimiser SGD, Adam or AdamW",
    );
  }
  if (optimiser !== "AGD" && options.gain !== undefined) {
    throw new InvalidArgumentError(
      "--gain",
      `got ${options.gain}, but only AGD has a gain; ${optimiser} takes --lr`,
    );
  }
  const bias = options.bias ?? false;
  if (optimiser === "AGD" && bias) {
    throw new InvalidArgumentError(
      "--bias",
      "AGD supports no biases (as in the paper's code); use --no-bias or another optimiser",
    );
  }
  if (optimiser === "AGD" && model === "ufm") {
    throw new InvalidArgumentError(
      "--optimiser",
      "AGD applies to weight matrices and conv kernels, not the UFM's free features; use SGD, Adam or AdamW",
    );
  }
  const loss = parseLoss(options.loss ?? "CrossEntropyLoss");
  const etfSolver = choice("--etf_solver", options.etfSolver ?? "trust-regions", ETF_SOLVERS);
  const etfBackward = choice("--etf_backward", options.etfBackward ?? "ddn", ETF_BACKWARDS);
  const featureAverage = choice(
    "--feature_average",
    options.featureAverage ?? "ema",
    FEATURE_AVERAGES,
  );
  const seed = options.seed ?? 0;
  return {
    model,
    method,
    K,
    temperature,
    optimiser,
    bias,
    loss,
    etfSolver,
    etfBackward,
    featureAverage,
    seed,
  };
}

/**
 * Validates the options and builds backbone, head, optimiser and loss.
 *
 * @example
 * ```ts
 * const { setup, resolved, dispose } = createTrainingSetup({ model: "mlp", method: "fixed", numClasses: 10, inputShape: [784] });
 * ```
 */
export function createTrainingSetup(
  options: SetupOptions,
): { setup: TrainingSetup; resolved: ResolvedSetup; dispose(): void } {
  const {
    model,
    method,
    K,
    temperature,
    optimiser,
    bias,
    loss,
    etfSolver,
    etfBackward,
    featureAverage,
    seed,
  } = validateSetupOptions(options);
  const warmupEpochs = options.warmupEpochs ?? 0;
  if (!(Number.isSafeInteger(warmupEpochs) && warmupEpochs >= 0)) {
    throw new InvalidArgumentError(
      "--warmup_epochs",
      `got ${warmupEpochs}, allowed: an integer ≥ 0`,
    );
  }
  if (warmupEpochs > 0 && method === "standard") {
    throw new InvalidArgumentError(
      "--warmup_epochs",
      "the standard method learns its classifier throughout: a warmup applies to fixed and implicit",
    );
  }
  const backbone = createBackbone(
    model,
    model === "ufm"
      ? { numSamples: options.numSamples, dim: options.featureDim ?? 512, seed }
      : model === "mlp"
      ? {
        inputShape: options.inputShape ?? [32, 32, 3],
        depth: options.depth ?? 6,
        width: options.width ?? 1024,
        bias,
        seed,
      }
      : model === "vgg13"
      ? {
        inChannels: (options.inputShape ?? [32, 32, 3])[2],
        width: options.resnetWidth ?? 64,
        bias,
        seed,
      }
      : {
        inChannels: (options.inputShape ?? [32, 32, 3])[2],
        width: options.resnetWidth ?? 64,
        bias,
        fixdim: options.fixdim ? K : null,
        seed,
      },
  );
  const d = backbone.featureDim;
  let head: Head;
  try {
    head = method === "standard"
      ? standardHead({ featureDim: d, numClasses: K, bias, seed: seed + 1 })
      : method === "fixed"
      ? fixedEtfHead({ featureDim: d, numClasses: K })
      : implicitHead({
        featureDim: d,
        numClasses: K,
        average: featureAverage,
        geometry: { solver: etfSolver, backward: etfBackward },
      });
  } catch (e) {
    backbone.dispose();
    throw e;
  }
  const warmup = warmupEpochs > 0
    ? {
      head: standardHead({ featureDim: d, numClasses: K, bias, seed: seed + 1 }),
      epochs: warmupEpochs,
    }
    : undefined;
  // The warmup classifier last: the backbone's initialisation is that of a run without it.
  const parameters = [
    ...backbone.parameters,
    ...head.parameters,
    ...(warmup?.head.parameters ?? []),
  ];
  if (optimiser === "AGD") agdInitialise(parameters, seed + 2);
  const ufmDefaults = model === "ufm" && optimiser === "SGD"
    ? { lr: 0.1, momentum: 0.9, weightDecay: 5e-4 }
    : {};
  const settings: OptimiserSettings = {
    ...ufmDefaults,
    ...Object.fromEntries(
      Object.entries({
        lr: options.lr,
        gain: options.gain,
        momentum: options.momentum,
        weightDecay: options.weightDecay,
      })
        .filter(([, v]) => v !== undefined),
    ),
  };
  const opt = createOptimiser(optimiser, parameters, settings);
  const resolved: ResolvedSetup = {
    model,
    method,
    numClasses: K,
    optimiser,
    lr: optimiser === "AGD" ? null : (settings.lr ?? (optimiser === "SGD" ? 0.05 : 1e-3)),
    gain: optimiser === "AGD" ? settings.gain ?? 10 : null,
    bias,
    loss,
    temperature,
    etfSolver,
    etfBackward,
    featureAverage,
    featureDim: d,
    seed,
  };
  return {
    setup: { backbone, head, optimiser: opt, loss, temperature, ...(warmup ? { warmup } : {}) },
    resolved,
    dispose() {
      opt.dispose();
      warmup?.head.dispose();
      head.dispose();
      backbone.dispose();
    },
  };
}

/**
 * Checks a batch's labels (integers in [0, K)) and, for the implicit head with stratified
 * batches, that every class fits (batch size ≥ K).
 *
 * @example
 * ```ts
 * const labels = Int32Array.from({ length: 256 }, (_, i) => i % 10);
 * checkBatchLabels(labels, 10, { method: "implicit", stratified: true });
 * ```
 */
export function checkBatchLabels(
  labels: ArrayLike<number>,
  numClasses: number,
  context: { method?: MethodName; stratified?: boolean } = {},
): void {
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i];
    if (!(Number.isInteger(y) && y >= 0 && y < numClasses)) {
      throw new InvalidArgumentError(
        "labels",
        `label ${y} at position ${i} is outside [0, ${numClasses}) (K = ${numClasses})`,
      );
    }
  }
  if (context.method === "implicit" && context.stratified && labels.length < numClasses) {
    throw new InvalidArgumentError(
      "--batch_size",
      `got ${labels.length} < K = ${numClasses}: stratified batches for the implicit head need every class in every batch`,
    );
  }
}
