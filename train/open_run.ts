/**
 * Opening a run: a fresh one (validated before anything is written) or a resumed one (the
 * stored configuration, the last checkpoint's weights and state). Everything a run's epochs
 * need is returned as one {@link OpenRun}.
 *
 * Resuming takes every setting from the run's `config.json`: only how the run is carried on may
 * change (`--epochs` to extend the plan, `--backend`, `--threads`, `--log_interval`,
 * `--data_dir`); any other flag that differs from the stored value, or another task's method,
 * is an error naming the flag, the stored and the given value.
 *
 * @module
 */
import { basename, dirname, join, resolve } from "node:path";
import { InputError, InvalidArgumentError } from "../core/errors.ts";
import type { Dataset, DatasetSplit } from "../data/dataset.ts";
import { DATASET_NAMES, expandHome, loadDataset } from "../data/load.ts";
import { epochPlan, type PipelineOptions } from "../data/pipeline.ts";
import { BatchTransform } from "../data/transforms.ts";
import { exists } from "../data/fs.ts";
import { longTailIndices, noisyLabels, selectSamples } from "../data/label_transforms.ts";
import {
  applyLibraryPaths,
  type BackendInfo,
  type BackendName,
  parseBackendName,
  selectBackend,
} from "../nets/backend/select.ts";
import {
  createTrainingSetup,
  type ResolvedSetup,
  type SetupOptions,
  validateSetupOptions,
} from "../nets/training/setup.ts";
import { headAt, type TrainingSetup } from "../nets/training/train_step.ts";
import { TFJS_VERSION } from "../nets/tf.ts";
import { loadModelCheckpoint, loadTensors, saveTensors } from "./checkpoint.ts";
import type { LrSchedule } from "../nets/optim/schedule.ts";
import {
  checkFlagsApply,
  checkStoredConfig,
  flagName,
  type TrainConfig,
  type TrainRequest,
} from "./config.ts";
import type { EvaluationNetwork, EvaluationOptions } from "./evaluate.ts";
import { type LatestCheckpoint, RunDirectory, RunFileError } from "./run_dir.ts";
import { modelStateOf } from "./save_checkpoint.ts";
import { IMAGE_BACKBONES } from "../nets/models/names.ts";
import { loadTrainingState } from "./state.ts";
import { readSafetensors } from "./safetensors.ts";
import { jpegDecoderName } from "../data/turbojpeg.ts";

/** The datasets read from image files (PNG/JPEG), whose JPEG decoder a run records. */
const IMAGE_FILE_DATASETS = ["folder", "tiny-imagenet", "imagenet"];

/** The toolkit's version, recorded in run directories. */
export const TOOLKIT_VERSION = "0.1.0";

/**
 * Where a run's messages go: `log` (stderr in the task), and an optional abort signal.
 *
 * @example
 * ```ts
 * const io: RunIo = { log: (line) => console.error(line) };
 * ```
 */
export type RunIo = { log: (line: string) => void; signal?: AbortSignal };

/**
 * An opened run, ready for its next epoch.
 *
 * @example
 * ```ts
 * import { parseTrainArgs, type TrainRequest } from "./config.ts";
 * const request = parseTrainArgs(["--preset", "quick"], "implicit") as TrainRequest;
 * const io: RunIo = { log: (line) => console.error(line) };
 * const run = await openRun(request, io);
 * try { console.log(run.start.epoch); } finally { run.dispose(); }
 * ```
 */
export type OpenRun = {
  config: TrainConfig;
  runDir: RunDirectory;
  backend: BackendInfo;
  data: Dataset;
  setup: TrainingSetup;
  resolved: ResolvedSetup;
  /** Training batches' options (`epoch` is set per epoch) with the training transform. */
  pipeline: PipelineOptions;
  /** The evaluation unit's network and options, and the splits it reports on. */
  evaluation: RunEvaluation;
  /** The last completed epoch and step (0 for a fresh run). */
  start: { epoch: number; globalStep: number };
  /** The last complete checkpoint, in words. */
  lastCheckpoint: string;
  /** The learning-rate schedule (`--decay_type`), or null for a constant rate. */
  lrSchedule: LrSchedule | null;
  /** Logs to `io.log` and the run's log.txt. */
  log(line: string): Promise<void>;
  dispose(): void;
};

/** Fields a resumed run may change: how it is carried on, not what it is. */
const CARRY_ON: ReadonlySet<keyof TrainConfig> = new Set<keyof TrainConfig>([
  "epochs",
  "backend",
  "threads",
  "blasLibrary",
  "dnnlLibrary",
  "logInterval",
  "dataDir",
  "storage",
  "uid",
  "resume",
  "resumeCheckpoint",
  "preset",
]);

/**
 * The configuration of a resumed run: the stored one, with the carry-on fields the user gave.
 * A given flag that would change the run itself is an error.
 *
 * @example
 * ```ts
 * import { parseTrainArgs, type TrainConfig, type TrainRequest } from "./config.ts";
 * const dir = "runs/mnist-resnet18-implicit-seed1";
 * const stored = JSON.parse(await Deno.readTextFile(`${dir}/config.json`)) as TrainConfig;
 * const args = ["--resume", "--epochs", "60"];
 * const config = resumedConfig(stored, parseTrainArgs(args, "implicit") as TrainRequest);
 * ```
 */
export function resumedConfig(stored: TrainConfig, request: TrainRequest): TrainConfig {
  const { config: given, flags, preset } = request;
  if (flags.has("method") && given.method !== stored.method) {
    throw new InvalidArgumentError(
      "--method",
      `the run ${stored.uid} was trained with --method ${stored.method}; this is ${given.method} ` +
        `(use train:${stored.method} --resume)`,
    );
  }
  const config: TrainConfig = { ...stored, resume: true, resumeCheckpoint: given.resumeCheckpoint };
  const record = config as unknown as Record<string, unknown>;
  for (const key of new Set([...flags, ...preset])) {
    if (key === "method") continue;
    const value = (given as unknown as Record<string, unknown>)[key];
    if (CARRY_ON.has(key)) {
      if (key !== "preset") record[key] = value;
      continue;
    }
    const before = (stored as unknown as Record<string, unknown>)[key];
    if (JSON.stringify(before) !== JSON.stringify(value)) {
      throw new InvalidArgumentError(
        flagName(key),
        `the run ${stored.uid} was started with ${shown(before)}, given ${
          shown(value)
        }; a resumed run keeps its configuration (only --epochs, --backend, --threads, ` +
          "--blas_library, --dnnl_library, --log_interval and --data_dir may change): drop the flag, or start a new run",
      );
    }
  }
  return config;
}

/** A stored or given value in an error ("" and null are the flag's default). */
function shown(v: unknown): string {
  return v === "" || v === null ? "the default" : JSON.stringify(v);
}

/**
 * The network set-up a configuration asks for (`extra`: what only the dataset tells).
 *
 * @example
 * ```ts
 * import { defaultConfig } from "./config.ts";
 * import { createTrainingSetup } from "../nets/training/setup.ts";
 * const options = setupOptions(defaultConfig("implicit"), { numClasses: 10, inputShape: [32, 32, 3] });
 * const { setup, dispose } = createTrainingSetup(options);
 * ```
 */
export function setupOptions(
  config: TrainConfig,
  extra: { numClasses: number; inputShape?: number[]; numSamples?: number },
): SetupOptions {
  return {
    model: config.model,
    method: config.method,
    optimiser: config.optimiser === "" ? undefined : config.optimiser,
    lr: config.lr ?? undefined,
    gain: config.gain ?? undefined,
    bias: config.bias,
    loss: config.loss,
    temperature: config.temperature,
    etfSolver: config.etfSolver,
    etfBackward: config.etfBackward,
    featureAverage: config.featureAverage,
    resnetWidth: config.resnetWidth,
    width: config.width,
    depth: config.depth,
    fixdim: config.fixdim,
    featureDim: config.featureDim,
    warmupEpochs: config.warmupEpochs ?? 0,
    seed: config.seed,
    ...extra,
  };
}

function checkDatasetName(name: string): void {
  if (!(DATASET_NAMES as readonly string[]).includes(name)) {
    throw new InvalidArgumentError(
      "--dataset",
      `got ${JSON.stringify(name)}, allowed: ${DATASET_NAMES.join(", ")}`,
    );
  }
}

/**
 * The checks of a run's configuration that need no backend, data or model: the network's
 * options, the dataset's name, the backend's name, and that a UFM reads synthetic data. Throws
 * InvalidArgumentError naming the flag; returns the backend name.
 *
 * @example
 * ```ts
 * import { defaultConfig } from "./config.ts";
 * checkRunConfig({ ...defaultConfig("implicit"), backend: "gpu" }); // throws: --backend
 * ```
 */
export function checkRunConfig(config: TrainConfig): BackendName {
  const { optimiser } = validateSetupOptions(
    setupOptions(config, { numClasses: config.numClasses ?? 2 }),
  );
  if ((config.decayType ?? "none") !== "none" && optimiser === "AGD") {
    throw new InvalidArgumentError(
      "--decay_type",
      `${config.decayType}: AGD has no learning rate to schedule; use --optimiser SGD, Adam or AdamW`,
    );
  }
  checkDatasetName(config.dataset);
  if (config.model === "ufm" && config.dataset !== "synthetic") {
    throw new InvalidArgumentError(
      "--model",
      `ufm learns one free feature per sample and never reads the samples; --dataset ${config.dataset} ` +
        "would only lend it labels: use --dataset synthetic (N from --dataset_size, K from --num_classes)",
    );
  }
  if (IMAGE_BACKBONES.includes(config.model) && config.dataset === "synthetic") {
    throw new InvalidArgumentError(
      "--model",
      `${config.model} needs images, but --dataset synthetic gives feature vectors; use --model mlp (or ufm)`,
    );
  }
  return parseBackendName(config.backend, "--backend");
}

/**
 * Samples per training batch: `--batch_size`, or the whole (sub)set with `--full_batch_mode`
 * and for the UFM by default.
 */
function trainingBatchSize(
  config: TrainConfig,
  request: TrainRequest,
  split: DatasetSplit,
): number {
  // (--full_batch_mode with --batch_size is refused by checkFlagsApply; a resume keeps its batch.)
  const full = config.fullBatchMode || (config.model === "ufm" && !request.flags.has("batchSize"));
  if (!full || config.resume) return config.batchSize;
  return config.sampleSize === null ? split.length : config.sampleSize * split.numClasses;
}

/**
 * Opens (creates or resumes) the run `request` describes. Bad input fails before anything is
 * written; a fresh run's directory is created only once everything is validated and loaded.
 *
 * @example
 * ```ts
 * import { parseTrainArgs, type TrainRequest } from "./config.ts";
 * const request = parseTrainArgs(["--preset", "quick"], "implicit") as TrainRequest;
 * const run = await openRun(request, { log: console.error });
 * ```
 */
export async function openRun(request: TrainRequest, io: RunIo): Promise<OpenRun> {
  const requested = request.config;
  const runPath = runPathOf(request);
  const resuming = requested.resume || requested.resumeCheckpoint !== null;
  let run: RunDirectory | null = resuming
    ? await RunDirectory.open(runPath, requested.resume ? "--resume" : "--resume_checkpoint")
    : null;
  if (run === null) await RunDirectory.checkAvailable(runPath, { force: requested.force });
  // Log lines wait here until the run is validated: bad input writes nothing, to a fresh run's
  // directory or to a resumed run's log.
  const pending: string[] = [];
  let validated = false;
  let config = requested;
  if (run !== null) {
    const stored = checkStoredConfig(await run.readJson("config.json"), run.file("config.json"));
    config = resumedConfig(stored, request);
  } else {
    checkFlagsApply(request);
  }
  const log = async (line: string) => {
    io.log(line);
    if (run === null || !validated) pending.push(line);
    else await run.log(line);
  };
  const flush = async (dir: RunDirectory) => {
    validated = true;
    for (const line of pending.splice(0)) await dir.log(line);
  };

  // Names and values first (no backend, data or model yet): bad input fails at once.
  const backendName = checkRunConfig(config);
  applyLibraryPaths({ blasLibrary: config.blasLibrary, dnnlLibrary: config.dnnlLibrary });
  const backend: BackendInfo = await selectBackend(backendName, {
    ...(config.threads !== null ? { threads: config.threads } : {}),
    log: (line) => void log(line),
  });
  if (config.threads !== null && backend.name !== "wasm" && backend.name !== "native") {
    await log(`note: --threads ${config.threads} has no effect on the ${backend.name} backend`);
  }
  const { data, variant } = await loadRunData(config, (line) => void log(line), run?.path);
  const split = data.train;
  const K = split.numClasses;
  if (config.numClasses !== null && config.numClasses !== K) {
    throw new InvalidArgumentError(
      "--num_classes",
      `got ${config.numClasses}, but ${config.dataset} has ${K} classes`,
    );
  }
  checkModelFitsData(config, split);
  // Which decoder reads the JPEGs of an image-folder dataset (recorded; a resume compares).
  const decoder = IMAGE_FILE_DATASETS.includes(config.dataset) ? jpegDecoderName() : null;
  if (decoder === "jpeg-js") {
    await log(
      "note: JPEGs are decoded by jpeg-js (libjpeg-turbo not loaded: no --allow-ffi, or no " +
        "libturbojpeg0): 4.8× slower, and a few levels off Pillow's pixels on subsampled files",
    );
  }
  const transform = new BatchTransform(split, { train: true });
  const pipeline: PipelineOptions = {
    batchSize: trainingBatchSize(config, request, split),
    seed: config.seed,
    epoch: 0,
    stratified: config.stratifiedBatch,
    sampleSize: config.sampleSize,
    transform,
  };
  if (pipeline.batchSize !== config.batchSize) {
    config = { ...config, batchSize: pipeline.batchSize };
  }
  if (config.stratifiedBatch && pipeline.batchSize < K) {
    throw new InvalidArgumentError(
      "--batch_size",
      `got ${pipeline.batchSize} < K = ${K}: stratified batches need every class in every batch`,
    );
  }
  // Validates the batching options before anything is written, naming the flags.
  const stepsPerEpoch = withFlagNames(() => epochPlan(split, pipeline)).batches.length;
  checkForwardBatches(config, split, pipeline);
  const { setup, resolved, dispose } = createRunSetup(config, data, transform.sampleShape);
  let lrSchedule: LrSchedule | null;
  try {
    lrSchedule = scheduleOf(config, resolved, stepsPerEpoch);
  } catch (e) {
    dispose();
    throw e;
  }
  let start = { epoch: 0, globalStep: 0 };
  let lastCheckpoint = "none";
  try {
    if (run === null) {
      run = await RunDirectory.create(runPath, { force: requested.force });
      await flush(run);
      await run.writeJson("config.json", {
        config,
        resolved,
        versions: {
          toolkit: TOOLKIT_VERSION,
          deno: Deno.version.deno,
          v8: Deno.version.v8,
          tfjs: TFJS_VERSION,
        },
        backend,
        ...(decoder !== null ? { jpegDecoder: decoder } : {}),
        dataset: {
          name: config.dataset,
          train: split.length,
          test: data.test.length,
          numClasses: K,
          sampleShape: split.sampleShape,
        },
        createdAt: new Date().toISOString(),
      });
      if (variant !== null) await recordLabels(run, variant);
    } else {
      const resumed = await restore(run, config, setup);
      start = resumed.start;
      lastCheckpoint = resumed.lastCheckpoint;
      if (config.epochs < start.epoch) {
        throw new InvalidArgumentError(
          "--epochs",
          `got ${config.epochs}, but the run has completed ${start.epoch} epochs; allowed: ≥ ${start.epoch}`,
        );
      }
      // Validated: from here on the run's files change.
      await flush(run);
      await resumed.commit(log);
      await extendPlan(run, config, log);
      const stored = (await run.readJson<{ jpegDecoder?: string }>("config.json")).jpegDecoder;
      if (decoder !== null && stored !== undefined && stored !== decoder) {
        await log(
          `resume: note: this run's JPEGs were decoded by ${stored}, now by ${decoder} ` +
            "(pixels differ on chroma-subsampled files): the resumed epochs are not bit for bit " +
            "those of an uninterrupted run",
        );
      }
    }
  } catch (e) {
    dispose();
    throw e;
  }
  const runDir: RunDirectory = run;
  return {
    config,
    runDir,
    backend,
    data,
    setup,
    resolved,
    pipeline,
    evaluation: runEvaluation(config, data, setup),
    start,
    lastCheckpoint,
    lrSchedule,
    log: (line) => log(line),
    dispose,
  };
}

/**
 * The run's learning-rate schedule (nets/optim/schedule.ts), or null for `--decay_type none`.
 */
function scheduleOf(
  config: TrainConfig,
  resolved: ResolvedSetup,
  stepsPerEpoch: number,
): LrSchedule | null {
  const type = config.decayType ?? "none";
  if (type === "none") return null;
  // checkRunConfig refuses a schedule for AGD, the one optimiser without a learning rate.
  if (resolved.lr === null) throw new Error(`scheduleOf: ${resolved.optimiser} has no lr`);
  const lr = resolved.lr;
  switch (type) {
    case "step":
      return { type, lr, patience: config.patience!, gamma: config.gamma };
    case "cosine":
      return { type, lr, epochs: config.epochs };
    default:
      return {
        type: "onecycle",
        maxLr: config.maxLr ?? lr,
        divFactor: config.divFactor,
        finalDivFactor: config.finalDivFactor,
        totalSteps: config.epochs * stepsPerEpoch,
      };
  }
}

/**
 * The network set-up of a run with configuration `config` on `data` (K, the input shape and N
 * from the training split; `sampleShape` defaults to its evaluation transform's).
 *
 * @example
 * ```ts
 * import { defaultConfig } from "./config.ts";
 * const config = defaultConfig("implicit");
 * const data = await loadRunDataset(config, console.error);
 * const { setup, dispose } = createRunSetup(config, data);
 * ```
 */
export function createRunSetup(
  config: TrainConfig,
  data: Dataset,
  sampleShape: readonly number[] = new BatchTransform(data.train, { train: false }).sampleShape,
): ReturnType<typeof createTrainingSetup> {
  return createTrainingSetup(setupOptions(config, {
    numClasses: data.train.numClasses,
    inputShape: [...sampleShape],
    numSamples: data.train.length,
  }));
}

/**
 * How a run is evaluated: the evaluation unit's network and options, and the splits it reports
 * on. The trainer and the analysis tasks both build it with {@link runEvaluation}.
 *
 * @example
 * ```ts
 * declare const e: RunEvaluation;
 * e.splits.test === null; // the UFM (free features exist for training samples only)
 * ```
 */
export type RunEvaluation = {
  net: EvaluationNetwork;
  options: EvaluationOptions;
  splits: { train: DatasetSplit; test: DatasetSplit | null };
  /** The training samples evaluated: the run's `--sample_size` subset. */
  trainSampleSize: number | null;
};

/**
 * The evaluation of a run with configuration `config` on `data` by `setup`'s backbone: the
 * run's τ, evaluation batches of max(batch size, 256), the training split's normalisation.
 *
 * @example
 * ```ts
 * import { defaultConfig } from "./config.ts";
 * import { loadDataset } from "../data/load.ts";
 * import { createTrainingSetup } from "../nets/training/setup.ts";
 * const config = defaultConfig("implicit");
 * const data = await loadDataset("mnist");
 * const { setup } = createTrainingSetup(setupOptions(config, { numClasses: 10, inputShape: [32, 32, 3] }));
 * const { net, options, splits } = runEvaluation(config, data, setup);
 * ```
 */
export function runEvaluation(
  config: TrainConfig,
  data: Dataset,
  setup: TrainingSetup,
): RunEvaluation {
  const isUfm = config.model === "ufm";
  const normalisation = new BatchTransform(data.train, { train: false }).normalisation;
  return {
    net: {
      backbone: setup.backbone,
      temperature: setup.temperature,
      inputs: isUfm ? "indices" : "images",
    },
    options: {
      batchSize: Math.max(config.batchSize, 256),
      normalisation: normalisation ?? undefined,
    },
    // The UFM's free features exist for training samples only.
    splits: { train: data.train, test: isUfm || data.test.length === 0 ? null : data.test },
    trainSampleSize: config.sampleSize,
  };
}

/**
 * The dataset a run's configuration names (the synthetic one regenerated from its seed, size,
 * feature dimension and K), downloaded into `config.dataDir` when missing, with the training
 * split's variant applied: the long-tailed subset (`--imb_factor`) and the noisy labels
 * (`--label_noise`, from the run's seed; data/label_transforms.ts). With `runDir`, the labels a
 * run recorded when it was created ({@link TRAIN_LABELS_FILE}) must be these: a dataset that has
 * changed since is an error naming the file, so the analysis never measures other labels.
 *
 * @example
 * ```ts
 * import { defaultConfig } from "./config.ts";
 * const data = await loadRunDataset(defaultConfig("implicit"), console.error);
 * ```
 */
export async function loadRunDataset(
  config: TrainConfig,
  log: (line: string) => void,
  runDir?: string,
): Promise<Dataset> {
  return (await loadRunData(config, log, runDir)).data;
}

/** {@link loadRunDataset}, with the training variant applied (null when none). */
async function loadRunData(
  config: TrainConfig,
  log: (line: string) => void,
  runDir?: string,
): Promise<{ data: Dataset; variant: TrainingVariant | null }> {
  const data = await loadDataset(config.dataset, {
    dataDir: config.dataDir,
    log,
    datasetSize: config.datasetSize,
    featureDim: config.featureDim,
    numClasses: config.numClasses ?? undefined,
    seed: config.seed,
    imageSize: config.imageSize,
  });
  const variant = trainingVariant(data.train, config);
  if (variant === null) return { data, variant };
  if (runDir !== undefined) await checkRecordedLabels(join(runDir, TRAIN_LABELS_FILE), variant);
  const { imbFactor, labelNoise } = config;
  log(
    `training set: ${variant.split.length} of ${data.train.length} samples` +
      (imbFactor !== null ? ` (long-tailed, r = ${imbFactor})` : "") +
      (labelNoise > 0
        ? `, ${variant.relabelled} labels replaced at random (p = ${labelNoise})`
        : ""),
  );
  return { data: { ...data, train: variant.split }, variant };
}

/**
 * The file in a run directory recording the training set's sample indices and labels when the run
 * uses `--imb_factor` or `--label_noise` (int32 tensors `indices` and `labels`).
 *
 * @example
 * ```ts
 * TRAIN_LABELS_FILE; // "train-labels.safetensors"
 * ```
 */
export const TRAIN_LABELS_FILE = "train-labels.safetensors";

type TrainingVariant = { split: DatasetSplit; indices: Int32Array; relabelled: number };

function trainingVariant(train: DatasetSplit, config: TrainConfig): TrainingVariant | null {
  const imbFactor = config.imbFactor ?? null, labelNoise = config.labelNoise ?? 0;
  if (imbFactor === null && labelNoise === 0) return null;
  const indices = imbFactor === null
    ? Int32Array.from({ length: train.length }, (_, i) => i)
    : longTailIndices(train.labels, train.numClasses, imbFactor);
  let split = imbFactor === null ? train : selectSamples(train, indices);
  let relabelled = 0;
  if (labelNoise > 0) {
    const labels = noisyLabels(split.labels, split.numClasses, labelNoise, config.seed);
    relabelled = Math.floor(labelNoise * split.length + 0.5);
    split = { ...split, labels };
  }
  return { split, indices, relabelled };
}

/** Writes the training set's indices and labels into a new run (see {@link TRAIN_LABELS_FILE}). */
async function recordLabels(runDir: RunDirectory, variant: TrainingVariant): Promise<void> {
  await saveTensors(
    runDir.file(TRAIN_LABELS_FILE),
    new Map([
      ["indices", { dtype: "I32", shape: [variant.indices.length], data: variant.indices }],
      ["labels", { dtype: "I32", shape: [variant.split.length], data: variant.split.labels }],
    ]),
  );
}

async function checkRecordedLabels(path: string, variant: TrainingVariant): Promise<void> {
  if (!(await exists(path))) return; // a run from before the labels were recorded
  const { tensors } = await loadTensors(path);
  const same = (name: string, mine: Int32Array) => {
    const t = tensors.get(name)?.data;
    return t instanceof Int32Array && t.length === mine.length && t.every((v, i) => v === mine[i]);
  };
  if (!same("indices", variant.indices) || !same("labels", variant.split.labels)) {
    throw new RunFileError(
      path,
      "the training samples or labels recorded when the run was created differ from those the " +
        "dataset gives now (its files changed?): restore the dataset the run was trained on",
    );
  }
}

/**
 * The run directory a request names: `<storage>/<uid>`, or, for `--resume_checkpoint FILE`
 * without `--uid`, the run that holds FILE (`<run>/checkpoints/model-epoch-NNNN.safetensors`).
 */
function runPathOf(request: TrainRequest): string {
  const c = request.config;
  if (c.resumeCheckpoint !== null && !request.flags.has("uid")) {
    const file = resolve(expandHome(c.resumeCheckpoint));
    if (basename(dirname(file)) !== "checkpoints") {
      throw new InvalidArgumentError(
        "--resume_checkpoint",
        `${file} is not in a run's checkpoints/ folder; pass --storage and --uid of its run too`,
      );
    }
    return dirname(dirname(file));
  }
  return join(expandHome(c.storage), c.uid);
}

/** Refuses a network that needs images on feature vectors (before anything is written). */
function checkModelFitsData(config: TrainConfig, split: DatasetSplit): void {
  const images = split.images !== null || split.files !== undefined;
  if (IMAGE_BACKBONES.includes(config.model) && !images) {
    throw new InvalidArgumentError(
      "--model",
      `${config.model} needs images, but --dataset ${config.dataset} gives feature vectors ` +
        `[${split.sampleShape}]; use --model mlp${
          config.dataset === "synthetic" ? " (or ufm)" : ""
        }`,
    );
  }
}

/** `--implicit_forward_bs`: its batches must hold every class when stratified, and fit the data. */
function checkForwardBatches(
  config: TrainConfig,
  split: DatasetSplit,
  pipeline: PipelineOptions,
): void {
  const size = config.implicitForwardBs;
  if (size === null) return;
  const K = split.numClasses;
  if (config.stratifiedBatch && size < K) {
    throw new InvalidArgumentError(
      "--implicit_forward_bs",
      `got ${size} < K = ${K}: stratified batches need every class in every batch`,
    );
  }
  try {
    epochPlan(split, { ...pipeline, batchSize: size });
  } catch (e) {
    if (!(e instanceof InvalidArgumentError) || e.argument !== "batchSize") throw e;
    throw new InvalidArgumentError("--implicit_forward_bs", e.message.slice(e.argument.length + 2));
  }
}

/** Runs `f`, renaming the pipeline's option names in its input errors to the flags'. */
function withFlagNames<T>(f: () => T): T {
  const flags: Record<string, string> = {
    batchSize: "--batch_size",
    sampleSize: "--sample_size",
    numClasses: "--num_classes",
  };
  try {
    return f();
  } catch (e) {
    if (e instanceof InvalidArgumentError && flags[e.argument] !== undefined) {
      throw new InvalidArgumentError(
        flags[e.argument],
        e.message.slice(e.argument.length + 2),
      );
    }
    throw e;
  }
}

/**
 * Loads the checkpoint to resume from (the latest, or `--resume_checkpoint`) into the set-up;
 * `commit` then cuts the run's logs back to it (only once the resume is validated).
 */
async function restore(
  runDir: RunDirectory,
  config: TrainConfig,
  setup: TrainingSetup,
): Promise<{
  start: { epoch: number; globalStep: number };
  lastCheckpoint: string;
  commit(log: (line: string) => Promise<void>): Promise<void>;
}> {
  // --resume_checkpoint is a path as the user typed it (relative to the working directory);
  // latest.json's names are relative to the run directory.
  const given = config.resumeCheckpoint === null
    ? null
    : resolve(expandHome(config.resumeCheckpoint));
  if (given !== null) {
    // An explicit checkpoint: it must verify (no fallback to another one).
    const state = join(dirname(given), basename(given).replace("model-", "state-"));
    const loaded = await loadCheckpointPair(given, state, setup);
    return resumeFrom(runDir, loaded, given, []);
  }
  // latest.json, then every checkpoint on disk, newest first: the first pair that verifies.
  const notes: string[] = [];
  const candidates: LatestCheckpoint[] = [];
  try {
    const latest = await runDir.latest();
    if (latest !== null) candidates.push(latest);
  } catch (e) {
    if (!(e instanceof RunFileError)) throw e;
    notes.push(`resume: ${e.message}`);
  }
  for (const c of await runDir.checkpointsOnDisk()) {
    if (!candidates.some((k) => k.model === c.model)) candidates.push(c);
  }
  if (candidates.length === 0) {
    return {
      start: { epoch: 0, globalStep: 0 },
      lastCheckpoint: "none",
      commit: async (log) => {
        for (const n of notes) await log(n);
        // The steps logged before the run died are trained again: drop them.
        for (const name of ["steps.jsonl", "epochs.jsonl"]) {
          const note = await runDir.truncateJsonLines(name, 0);
          if (note !== null) await log(`resume: ${note}`);
        }
        await log("resume: no checkpoint yet, starting from epoch 1");
      },
    };
  }
  for (const c of candidates) {
    try {
      const loaded = await loadCheckpointPair(runDir.file(c.model), runDir.file(c.state), setup);
      if (notes.length > 0) {
        notes.push(`resume: falling back to ${c.model}, the newest checkpoint that verifies`);
      }
      return resumeFrom(runDir, loaded, c.model, notes);
    } catch (e) {
      if (!(e instanceof InputError)) throw e;
      notes.push(`resume: ${c.model} does not verify (${e.message})`);
    }
  }
  throw new InputError(
    `${runDir.path}: no checkpoint verifies, so the run cannot be resumed:\n  ${
      notes.join("\n  ")
    }`,
  );
}

/**
 * Loads a model checkpoint and its training state into the set-up (both validated first), into
 * the head that trained its epoch (`--warmup_epochs`); the epoch is read from the file's name,
 * else from its metadata.
 */
async function loadCheckpointPair(model: string, state: string, setup: TrainingSetup) {
  let epoch = Number(/model-epoch-(\d+)\.safetensors$/.exec(model)?.[1] ?? NaN);
  if (!Number.isSafeInteger(epoch)) {
    epoch = Number((await readSafetensors(model)).metadata.epoch);
  }
  await loadModelCheckpoint(model, modelStateOf(setup, epoch));
  const loaded = await loadTrainingState(state, setup.optimiser, headAt(setup, epoch));
  if (loaded.epoch !== epoch) {
    throw new InputError(`${state}: holds epoch ${loaded.epoch}, its model file epoch ${epoch}`);
  }
  return loaded;
}

function resumeFrom(
  runDir: RunDirectory,
  { epoch, globalStep }: { epoch: number; globalStep: number },
  model: string,
  notes: string[],
) {
  return {
    start: { epoch, globalStep },
    lastCheckpoint: `epoch ${epoch} (${model})`,
    async commit(log: (line: string) => Promise<void>) {
      for (const n of notes) await log(n);
      for (const name of ["steps.jsonl", "epochs.jsonl"]) {
        const note = await runDir.truncateJsonLines(name, epoch);
        if (note !== null) await log(`resume: ${note}`);
      }
      await log(`resume: continuing after epoch ${epoch} (step ${globalStep}) from ${model}`);
    },
  };
}

/** Records a changed `--epochs` in config.json (so the next resume keeps the new plan). */
async function extendPlan(
  runDir: RunDirectory,
  config: TrainConfig,
  log: (line: string) => Promise<void>,
): Promise<void> {
  const file = await runDir.readJson<{ config: TrainConfig }>("config.json");
  if (file.config.epochs !== config.epochs) {
    await log(`resume: the plan changes from ${file.config.epochs} to ${config.epochs} epochs`);
    await runDir.writeJson("config.json", {
      ...file,
      config: { ...file.config, epochs: config.epochs },
    });
  }
}
