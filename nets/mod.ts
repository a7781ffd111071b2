/**
 * The networks API (TensorFlow.js): backend selection, backbones, the three classifier heads,
 * optimisers, losses and the shared training step. Importable from a URL like `mod.ts` (the
 * solver library), which it builds on; kept separate so that solver users do not load tfjs.
 *
 * @example
 * ```ts
 * import { createTrainingSetup, selectBackend, tf, trainStep } from "./mod.ts";
 * await selectBackend("auto");
 * const { setup } = createTrainingSetup({ model: "resnet18", method: "implicit", numClasses: 10 });
 * const x = tf.randomNormal([8, 32, 32, 3]); // a batch of 8 CIFAR-sized images
 * const labels = tf.tensor1d([0, 1, 2, 3, 4, 5, 6, 7], "int32");
 * const metrics = await trainStep(setup, x, labels); // { loss, top1, top5, cosine, eta, solver }
 * ```
 *
 * @module
 */
export { tf, TFJS_VERSION } from "./tf.ts";
export {
  BACKEND_NAMES,
  type BackendInfo,
  type BackendName,
  BackendUnavailableError,
  type ConcreteBackendName,
  parseBackendName,
  selectBackend,
  type SelectBackendOptions,
} from "./backend/select.ts";
export type { Backbone, Parameter, ParameterKind } from "./models/model.ts";
export {
  BACKBONE_NAMES,
  type BackboneName,
  type BackboneOptions,
  createBackbone,
} from "./models/backbones.ts";
export {
  type AverageBatch,
  type Classifier,
  type Head,
  type HeadOutput,
  METHOD_NAMES,
  type MethodName,
  normaliseFeatures,
} from "./heads/head.ts";
export { standardHead } from "./heads/standard.ts";
export { fixedEtfHead } from "./heads/fixed.ts";
export { type ImplicitHead, implicitHead, type ImplicitState } from "./heads/implicit.ts";
export {
  applyGeometry,
  DEFAULT_GEOMETRY,
  ETF_BACKWARDS,
  type EtfBackward,
  type GeometryOptions,
  type GeometrySolution,
  type GeometryStats,
  solveGeometry,
} from "./heads/closest_etf_geometry.ts";
export {
  emaWeight,
  FEATURE_AVERAGES,
  type FeatureAverageKind,
  type FeatureAverageState,
  featureAverageStep,
  initialFeatureAverage,
} from "./heads/feature_average.ts";
export { loss, LOSS_NAMES, type LossName, parseLoss } from "./training/losses.ts";
export {
  type Optimiser,
  OPTIMISER_NAMES,
  type OptimiserName,
  parseOptimiser,
} from "./optim/optimiser.ts";
export { createOptimiser, type OptimiserSettings } from "./optim/create.ts";
export { agd, agdInitialise, agdScale } from "./optim/agd.ts";
export { sgd, type SgdOptions } from "./optim/sgd.ts";
export { DECAY_TYPES, learningRate, type LrSchedule } from "./optim/schedule.ts";
export { adam, type AdamOptions } from "./optim/adam.ts";
export {
  batchMetrics,
  headAt,
  type StepMetrics,
  type TrainingSetup,
  trainStep,
  type TrainStepOptions,
} from "./training/train_step.ts";
export { type RecordedForward, recordForward } from "./training/recorded_forward.ts";
export {
  checkBatchLabels,
  createTrainingSetup,
  type ResolvedSetup,
  type SetupOptions,
} from "./training/setup.ts";
export { detach } from "./heads/detach.ts";
