/**
 * The training API: the training tasks' configuration and flags, the trainer and its units
 * (open or resume a run, one epoch, the evaluation unit, checkpoints), run directories and
 * the safetensors checkpoint format.
 *
 * @example
 * ```ts
 * import { parseTrainArgs, train, type TrainRequest } from "./mod.ts";
 * const outcome = await train(parseTrainArgs(["--preset", "quick"], "implicit") as TrainRequest);
 * console.log(outcome.trainAccuracy, outcome.testAccuracy);
 * ```
 *
 * @module
 */
export {
  checkFlagsApply,
  defaultConfig,
  FLAGS,
  type FlagSpec,
  helpText,
  parseTrainArgs,
  QUICK_PRESET,
  requestOf,
  type TrainConfig,
  type TrainRequest,
} from "./config.ts";
export { evaluateRun, train, type TrainOutcome } from "./trainer.ts";
export {
  checkRunConfig,
  createRunSetup,
  loadRunDataset,
  type OpenRun,
  openRun,
  resumedConfig,
  type RunEvaluation,
  runEvaluation,
  type RunIo,
  setupOptions,
  TOOLKIT_VERSION,
} from "./open_run.ts";
export { type EpochResult, trainEpoch } from "./epoch.ts";
export {
  evaluateAccuracy,
  type EvaluationBatch,
  evaluationBatches,
  evaluationInputs,
  type EvaluationNetwork,
  type EvaluationOptions,
} from "./evaluate.ts";
export { modelStateOf, writeCheckpoint } from "./save_checkpoint.ts";
export { type LatestCheckpoint, RunDirectory } from "./run_dir.ts";
export {
  CheckpointError,
  type LoadedCheckpoint,
  loadModelCheckpoint,
  loadTensors,
  type ModelState,
  saveModelCheckpoint,
  saveTensors,
} from "./checkpoint.ts";
export { loadTrainingState, saveTrainingState, type StateCounters } from "./state.ts";
export {
  readSafetensors,
  SAFETENSORS_DTYPES,
  type SafetensorsContents,
  type SafetensorsDtype,
  SafetensorsError,
  type TensorData,
  type TensorEntry,
} from "./safetensors.ts";
export type { LrSchedule } from "../nets/optim/schedule.ts";
