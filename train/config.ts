/**
 * The training tasks' command line: every flag of the paper's scripts (spelled as there), our
 * additions, the released recipe's defaults per method, the quick preset, and validation with
 * one-line errors (exit code 2 in the task).
 *
 * @module
 */
import { MAX_WASM_THREADS } from "../nets/backend/wasm_threads.ts";
import { parseArgs } from "node:util";
import { InvalidArgumentError } from "../core/errors.ts";
import { modelDefaults } from "./recipes.ts";
import { IMAGE_BACKBONES } from "../nets/models/names.ts";
import { RunFileError } from "./run_dir.ts";
import { DECAY_TYPES } from "../nets/optim/schedule.ts";

/** The resolved configuration of one training run (recorded in the run directory). */
export type TrainConfig = {
  method: "standard" | "fixed" | "implicit";
  dataset: string;
  model: string;
  /** "" means the method's default (AGD; SGD for the UFM). */
  optimiser: string;
  lr: number | null;
  /** null means AGD's default (10); only AGD has a gain. */
  gain: number | null;
  batchSize: number;
  epochs: number;
  temperature: number;
  bias: boolean;
  loss: string;
  seed: number;
  uid: string;
  storage: string;
  dataDir: string;
  logInterval: number;
  stratifiedBatch: boolean;
  sampleSize: number | null;
  resume: boolean;
  resumeCheckpoint: string | null;
  fixdim: boolean;
  backend: string;
  threads: number | null;
  /** `--blas_library`: the OpenBLAS (CBLAS + LAPACK) file to load, or null (found as usual). */
  blasLibrary: string | null;
  /** `--dnnl_library`: the oneDNN 2.x file the native backend loads, or null (found as usual). */
  dnnlLibrary: string | null;
  width: number;
  depth: number;
  resnetWidth: number;
  numClasses: number | null;
  force: boolean;
  etfSolver: string;
  etfBackward: string;
  featureAverage: string;
  checkpointEvery: number;
  datasetSize: number;
  featureDim: number;
  imageSize: number;
  preset: string | null;
  /** `--label_noise`: the fraction of training labels replaced by uniform random labels. */
  labelNoise: number;
  /** `--imb_factor`: the long-tailed profile's ratio n_min/n_max, or null (balanced). */
  imbFactor: number | null;
  /** `--decay_type`: none | step | cosine | onecycle (SGD, Adam, AdamW). */
  decayType: string;
  /** `--patience`: epochs between `step` decays. */
  patience: number | null;
  /** `--gamma`: the `step` decay factor. */
  gamma: number;
  /** `--max_lr`: the one-cycle peak (default: the run's learning rate). */
  maxLr: number | null;
  /** `--div_factor`: one-cycle initial rate = max_lr / div_factor. */
  divFactor: number;
  /** `--final_div_factor`: one-cycle final rate = initial / final_div_factor. */
  finalDivFactor: number;
  /** `--full_batch_mode`: every step takes the whole training set (one batch an epoch). */
  fullBatchMode: boolean;
  /**
   * `--implicit_forward_bs`: the size of a second batch per step whose features feed the implicit
   * head's feature average (and so the ETF node), or null (the training batch's own).
   */
  implicitForwardBs: number | null;
  /**
   * `--warmup_epochs`: fixed and implicit methods train a learned classifier for this many
   * epochs before the method's head takes over (0: none).
   */
  warmupEpochs: number;
};

/**
 * One command-line flag of the training task: its name, the config field it sets, how its value
 * is parsed, and its `--help` line.
 *
 * @example
 * ```ts
 * const lr: FlagSpec | undefined = FLAGS.find((f) => f.flag === "lr"); // kind "number"
 * ```
 */
export type FlagSpec = {
  /** The flag without the leading `--`, e.g. `"lr"`. */
  flag: string;
  /** The {@link TrainConfig} field it sets. */
  key: keyof TrainConfig;
  /** How the value is parsed (`bool` flags also have a `--no-…` form). */
  kind: "string" | "int" | "number" | "bool";
  /** The `--help` line. */
  help: string;
};

/** Every flag, in `--help` order. */
export const FLAGS: readonly FlagSpec[] = [
  { flag: "method", key: "method", kind: "string", help: "standard | fixed | implicit" },
  {
    flag: "dataset",
    key: "dataset",
    kind: "string",
    help:
      "mnist | fashion-mnist | cifar10 | cifar100 | stl10 | svhn | emnist | tiny-imagenet | imagenet | mnist1d | synthetic | folder",
  },
  {
    flag: "model",
    key: "model",
    kind: "string",
    help: "resnet18 | resnet34 | resnet50 | vgg13 | mlp | ufm",
  },
  { flag: "optimiser", key: "optimiser", kind: "string", help: "AGD | SGD | Adam | AdamW" },
  {
    flag: "lr",
    key: "lr",
    kind: "number",
    help: "learning rate (not for AGD, which has none)",
  },
  { flag: "gain", key: "gain", kind: "number", help: "AGD gain" },
  { flag: "batch_size", key: "batchSize", kind: "int", help: "batch size" },
  { flag: "epochs", key: "epochs", kind: "int", help: "epochs" },
  {
    flag: "temperature",
    key: "temperature",
    kind: "number",
    help: "τ: features are normalised to this radius",
  },
  {
    flag: "bias",
    key: "bias",
    kind: "bool",
    help: "affine BatchNorm and classifier bias (--no-bias: none)",
  },
  {
    flag: "loss",
    key: "loss",
    kind: "string",
    help: "CrossEntropyLoss | DotRegressionLoss | MSELoss",
  },
  { flag: "seed", key: "seed", kind: "int", help: "random seed" },
  {
    flag: "uid",
    key: "uid",
    kind: "string",
    help: "run name",
  },
  { flag: "storage", key: "storage", kind: "string", help: "directory holding run directories" },
  { flag: "data_dir", key: "dataDir", kind: "string", help: "dataset directory" },
  { flag: "log_interval", key: "logInterval", kind: "int", help: "batches between log lines" },
  {
    flag: "stratified_batch",
    key: "stratifiedBatch",
    kind: "bool",
    help: "class-stratified batches",
  },
  {
    flag: "sample_size",
    key: "sampleSize",
    kind: "int",
    help: "samples per class (the first N of each)",
  },
  {
    flag: "resume",
    key: "resume",
    kind: "bool",
    help: "continue the run from its last checkpoint",
  },
  {
    flag: "resume_checkpoint",
    key: "resumeCheckpoint",
    kind: "string",
    help: "continue from this checkpoint",
  },
  { flag: "fixdim", key: "fixdim", kind: "bool", help: "the last ResNet block emits K+1 channels" },
  { flag: "backend", key: "backend", kind: "string", help: "auto | webgpu | native | wasm | cpu" },
  {
    flag: "threads",
    key: "threads",
    kind: "int",
    help: "native: oneDNN's and OpenBLAS's threads; wasm: XNNPACK's",
  },
  {
    flag: "blas_library",
    key: "blasLibrary",
    kind: "string",
    help: "path of the OpenBLAS library (else NC_BLAS_LIBRARY, else the usual places)",
  },
  {
    flag: "dnnl_library",
    key: "dnnlLibrary",
    kind: "string",
    help: "path of oneDNN 2.x for native (else NC_DNNL_LIBRARY, else the usual places)",
  },
  { flag: "width", key: "width", kind: "int", help: "MLP hidden width" },
  { flag: "depth", key: "depth", kind: "int", help: "MLP hidden layers" },
  {
    flag: "resnet_width",
    key: "resnetWidth",
    kind: "int",
    help: "ResNet and VGG13 base channel count",
  },
  { flag: "num_classes", key: "numClasses", kind: "int", help: "classes" },
  { flag: "force", key: "force", kind: "bool", help: "overwrite an existing run directory" },
  { flag: "etf_solver", key: "etfSolver", kind: "string", help: "trust-regions | closed-form" },
  { flag: "etf_backward", key: "etfBackward", kind: "string", help: "ddn | closed-form | none" },
  { flag: "feature_average", key: "featureAverage", kind: "string", help: "ema | cma" },
  {
    flag: "checkpoint_every",
    key: "checkpointEvery",
    kind: "int",
    help: "epochs between checkpoints (and the last)",
  },
  { flag: "dataset_size", key: "datasetSize", kind: "int", help: "synthetic: samples" },
  {
    flag: "feature_dim",
    key: "featureDim",
    kind: "int",
    help: "synthetic and UFM: feature dimension",
  },
  { flag: "image_size", key: "imageSize", kind: "int", help: "folder: image size" },
  {
    flag: "label_noise",
    key: "labelNoise",
    kind: "number",
    help: "fraction p of the training labels replaced by uniform random labels (seeded; 0 = none)",
  },
  {
    flag: "decay_type",
    key: "decayType",
    kind: "string",
    help: "learning-rate schedule (SGD, Adam, AdamW): none | step | cosine | onecycle",
  },
  { flag: "patience", key: "patience", kind: "int", help: "step: epochs between decays" },
  { flag: "gamma", key: "gamma", kind: "number", help: "step: decay factor (default 0.1)" },
  {
    flag: "max_lr",
    key: "maxLr",
    kind: "number",
    help: "onecycle: peak learning rate (default the run's --lr)",
  },
  { flag: "div_factor", key: "divFactor", kind: "number", help: "onecycle: max_lr / initial" },
  {
    flag: "final_div_factor",
    key: "finalDivFactor",
    kind: "number",
    help: "onecycle: initial / final learning rate",
  },
  {
    flag: "full_batch_mode",
    key: "fullBatchMode",
    kind: "bool",
    help: "one batch of the whole training set per step (as the UFM by default)",
  },
  {
    flag: "warmup_epochs",
    key: "warmupEpochs",
    kind: "int",
    help: "fixed, implicit: epochs with a learned classifier before the method's head takes over",
  },
  {
    flag: "implicit_forward_bs",
    key: "implicitForwardBs",
    kind: "int",
    help: "implicit: a second batch of this size per step feeds the feature average (the ETF node)",
  },
  {
    flag: "imb_factor",
    key: "imbFactor",
    kind: "number",
    help: "cifar10/cifar100: long-tailed training set n_k = n_max·r^(k/(K−1)), 0 < r ≤ 1",
  },
  {
    flag: "preset",
    key: "preset",
    kind: "string",
    help:
      "quick: ResNet18 width 16, the first 100 MNIST images per class, 18 epochs, batch 100, checkpoint every 6",
  },
];

/**
 * The stored configuration of a run (`config.json`'s `config`), checked field by field against
 * the flags' kinds: a damaged file that is still JSON (a field of the wrong type, a missing
 * method, model, dataset, epochs or seed) is a {@link RunFileError} naming the file and the
 * field, instead of a crash or a run of "method undefined" later.
 *
 * @example
 * ```ts
 * const path = "runs/mnist-resnet18-implicit-seed1/config.json";
 * const config = checkStoredConfig(JSON.parse(Deno.readTextFileSync(path)), path);
 * ```
 */
export function checkStoredConfig(value: unknown, file: string): TrainConfig {
  const advice = "the configuration is damaged: start a new run (--force to overwrite this " +
    "one), or restore config.json from a copy";
  const config = (value as { config?: unknown } | null)?.config;
  if (config === null || typeof config !== "object" || Array.isArray(config)) {
    throw new RunFileError(file, `has no "config" object; ${advice}`);
  }
  const c = config as Record<string, unknown>;
  const bad = (key: string, expected: string) =>
    new RunFileError(
      file,
      `config.${key} is ${JSON.stringify(c[key])}, expected ${expected}; ${advice}`,
    );
  if (!["standard", "fixed", "implicit"].includes(c.method as string)) {
    throw bad("method", "standard, fixed or implicit");
  }
  for (const key of ["dataset", "model", "epochs", "seed"]) {
    if (c[key] === undefined || c[key] === null) throw bad(key, "a value");
  }
  const kinds = {
    string: "a string",
    int: "an integer",
    number: "a number",
    bool: "true or false",
  };
  for (const f of FLAGS) {
    const v = c[f.key];
    if (v === undefined || v === null) continue;
    const ok = f.kind === "string"
      ? typeof v === "string"
      : f.kind === "int"
      ? Number.isSafeInteger(v)
      : f.kind === "number"
      ? typeof v === "number" && Number.isFinite(v)
      : typeof v === "boolean";
    if (!ok) throw bad(f.key, kinds[f.kind]);
  }
  return c as unknown as TrainConfig;
}

/** The paper's released recipe (docs/method.md section 9), for every method. */
export function defaultConfig(method: TrainConfig["method"]): TrainConfig {
  return {
    method,
    dataset: "mnist",
    model: "resnet18",
    optimiser: "",
    lr: null,
    gain: null,
    batchSize: 256,
    epochs: 200,
    temperature: 5,
    bias: false,
    loss: "CrossEntropyLoss",
    seed: 1,
    uid: "",
    storage: "runs",
    dataDir: "~/data",
    logInterval: 10,
    stratifiedBatch: method === "implicit",
    sampleSize: null,
    resume: false,
    resumeCheckpoint: null,
    fixdim: false,
    backend: "auto",
    threads: null,
    blasLibrary: null,
    dnnlLibrary: null,
    width: 1024,
    depth: 6,
    resnetWidth: 64,
    numClasses: null,
    force: false,
    etfSolver: "trust-regions",
    etfBackward: "ddn",
    featureAverage: "ema",
    checkpointEvery: 5,
    datasetSize: 10000,
    featureDim: 512,
    imageSize: 32,
    preset: null,
    labelNoise: 0,
    imbFactor: null,
    decayType: "none",
    patience: null,
    gamma: 0.1,
    maxLr: null,
    divFactor: 25,
    finalDivFactor: 1e4,
    fullBatchMode: false,
    implicitForwardBs: null,
    warmupEpochs: 0,
  };
}

/** The quick preset: overrides applied before the user's flags. */
export const QUICK_PRESET: Partial<TrainConfig> = {
  dataset: "mnist",
  model: "resnet18",
  resnetWidth: 16,
  sampleSize: 100,
  epochs: 18,
  batchSize: 100,
  checkpointEvery: 6,
};

/** How `--help` shows defaults that are resolved later (by the method, the optimiser, the data). */
const SHOWN_DEFAULTS: Partial<Record<keyof TrainConfig, string>> = {
  optimiser: "AGD; SGD for the UFM",
  lr: "SGD 0.05 (UFM 0.1), Adam/AdamW 1e-3",
  gain: "10, AGD only",
  uid: "dataset-model-method-seedN",
  stratifiedBatch: "on for implicit",
  sampleSize: "all",
  threads: "native: the cores (at most 8); wasm: 1",
  numClasses: "the dataset's",
  preset: "none",
};

/**
 * The `--help` text, with defaults.
 *
 * @example
 * ```ts
 * console.log(helpText("implicit"));
 * ```
 */
export function helpText(method: TrainConfig["method"] | null): string {
  const d = defaultConfig(method ?? "implicit");
  const lines = FLAGS.map(({ flag, key, help }) => {
    const value = d[key];
    const shown = SHOWN_DEFAULTS[key] ?? (value === null ? "-" : String(value));
    return `  --${flag.padEnd(18)} ${help} (default: ${shown})`;
  });
  return [
    `deno task train${method ? `:${method}` : " --method NAME"} [flags]`,
    "Trains a network with the standard, fixed-ETF or implicit-ETF classifier (the paper's recipe by default).",
    "",
    ...lines,
    "  --no-bias, --no-stratified_batch   turn the flag off",
    "  --model ufm: the UFM recipe sets --optimiser SGD --lr 0.1 --epochs 2000 --dataset_size 1000",
    "               --feature_dim 512 --checkpoint_every 100 and full batches (flags override)",
    "  --help               this text",
  ].join("\n");
}

/**
 * A parsed command line: the configuration and which of its fields the user set, by a flag
 * (`flags`) or through `--preset` (`preset`). Resuming compares exactly those with the stored
 * run; the trainer refuses a flag that does not apply to the run (never ignores one).
 *
 * @example
 * ```ts
 * const request = parseTrainArgs(["--epochs", "40"], "implicit") as TrainRequest;
 * request.flags.has("epochs"); // true
 * ```
 */
export type TrainRequest = {
  config: TrainConfig;
  /** Fields set by a flag on the command line (including `--no-…`). */
  flags: ReadonlySet<keyof TrainConfig>;
  /** Fields set by `--preset` (and not overridden by a flag). */
  preset: ReadonlySet<keyof TrainConfig>;
};

/**
 * A request with every field of `config` as if given by flags (programmatic use).
 *
 * @example
 * ```ts
 * import { train } from "./trainer.ts";
 * await train(requestOf({ ...defaultConfig("fixed"), epochs: 2, uid: "demo" }));
 * ```
 */
export function requestOf(config: TrainConfig, flags?: Iterable<keyof TrainConfig>): TrainRequest {
  return { config, flags: new Set(flags ?? []), preset: new Set() };
}

/**
 * Parses the command line into a validated configuration (`method` given by the task, or by
 * `--method`; with `--resume` it may be omitted and comes from the stored run). Throws
 * InvalidArgumentError naming the flag, the value and what is allowed.
 *
 * @example
 * ```ts
 * const request = parseTrainArgs(["--epochs", "2", "--preset", "quick"], "implicit");
 * ```
 */
export function parseTrainArgs(
  args: string[],
  method: TrainConfig["method"] | null,
): TrainRequest | "help" {
  const options: Record<string, { type: "string" | "boolean" }> = { help: { type: "boolean" } };
  for (const f of FLAGS) {
    options[f.flag] = { type: f.kind === "bool" ? "boolean" : "string" };
    if (f.kind === "bool") options[`no-${f.flag}`] = { type: "boolean" };
  }
  let values: Record<string, unknown>;
  try {
    values = parseArgs({ args, options, strict: true, allowPositionals: false }).values;
  } catch (e) {
    throw new InvalidArgumentError(
      "arguments",
      // node:util's messages can span lines ("… is ambiguous …\nDid you forget …"): one line.
      (e as Error).message.replace(/\. To specify.*$/s, "").replace(/\s*\n\s*/g, " "),
    );
  }
  if (values.help) return "help";
  const resuming = values.resume === true || values.resume_checkpoint !== undefined;
  const flags = new Set<keyof TrainConfig>();
  if (method !== null || values.method !== undefined) flags.add("method");
  const chosen = (values.method as string | undefined) ?? method ??
    (resuming ? "implicit" : null); // a placeholder: the stored run's method replaces it
  if (chosen === null || chosen === undefined) {
    throw new InvalidArgumentError("--method", "missing; allowed: standard, fixed, implicit");
  }
  if (method !== null && values.method !== undefined && values.method !== method) {
    throw new InvalidArgumentError(
      "--method",
      `${values.method} contradicts the task train:${method}`,
    );
  }
  if (!["standard", "fixed", "implicit"].includes(chosen)) {
    throw new InvalidArgumentError(
      "--method",
      `got ${JSON.stringify(chosen)}, allowed: standard, fixed, implicit`,
    );
  }
  const config = defaultConfig(chosen as TrainConfig["method"]);
  const preset = values.preset as string | undefined;
  if (preset !== undefined) {
    if (preset !== "quick") {
      throw new InvalidArgumentError("--preset", `got ${JSON.stringify(preset)}, allowed: quick`);
    }
    Object.assign(config, QUICK_PRESET, { preset });
    flags.add("preset");
  }
  const record = config as unknown as Record<string, unknown>;
  for (const f of FLAGS) {
    if (f.key === "method" || f.key === "preset") continue;
    const raw = values[f.flag];
    if (f.kind === "bool") {
      if (raw === true && values[`no-${f.flag}`] === true) {
        throw new InvalidArgumentError(`--${f.flag}`, `given together with --no-${f.flag}`);
      }
      if (raw === true) record[f.key] = true;
      if (values[`no-${f.flag}`] === true) record[f.key] = false;
      if (raw === true || values[`no-${f.flag}`] === true) flags.add(f.key);
      continue;
    }
    if (raw === undefined) continue;
    flags.add(f.key);
    const text = raw as string;
    if (f.kind === "string") {
      record[f.key] = text;
      continue;
    }
    const n = Number(text);
    const ok = text.trim() !== "" && Number.isFinite(n) &&
      (f.kind !== "int" || Number.isInteger(n));
    if (!ok) {
      throw new InvalidArgumentError(
        `--${f.flag}`,
        `got ${JSON.stringify(text)}, allowed: ${f.kind === "int" ? "an integer" : "a number"}`,
      );
    }
    record[f.key] = n;
  }
  // The model's recipe (train/recipes.ts): over the paper's defaults, under --preset and flags.
  for (
    const [key, value] of Object.entries(
      modelDefaults(config.model, config.method, config.optimiser),
    )
  ) {
    const k = key as keyof TrainConfig;
    if (!flags.has(k) && !(config.preset !== null && k in QUICK_PRESET)) record[k] = value;
  }
  validate(config);
  if (config.uid === "") {
    if (resuming && !flags.has("method")) {
      throw new InvalidArgumentError(
        "--uid",
        "missing: resuming without a task method needs --uid (or use train:METHOD --resume)",
      );
    }
    config.uid = `${config.dataset}-${config.model}-${config.method}-seed${config.seed}`;
  }
  if (config.force && resuming) {
    throw new InvalidArgumentError(
      "--force",
      "given with --resume: --force starts the run afresh, --resume continues it; pick one",
    );
  }
  const presetKeys = new Set<keyof TrainConfig>(
    config.preset === null
      ? []
      : (Object.keys(QUICK_PRESET) as (keyof TrainConfig)[]).filter((k) => !flags.has(k)),
  );
  return { config, flags, preset: presetKeys };
}

function atLeast(flag: string, value: number | null, min: number): void {
  if (value !== null && !(value >= min)) {
    throw new InvalidArgumentError(`--${flag}`, `got ${value}, allowed: ≥ ${min}`);
  }
}

function validate(c: TrainConfig): void {
  atLeast("batch_size", c.batchSize, 1);
  atLeast("epochs", c.epochs, 1);
  atLeast("log_interval", c.logInterval, 1);
  atLeast("checkpoint_every", c.checkpointEvery, 1);
  atLeast("implicit_forward_bs", c.implicitForwardBs, 1);
  atLeast("warmup_epochs", c.warmupEpochs, 0);
  if (c.warmupEpochs >= c.epochs) {
    throw new InvalidArgumentError(
      "--warmup_epochs",
      `got ${c.warmupEpochs} with --epochs ${c.epochs}: the method's head would never train; ` +
        `allowed: fewer than --epochs`,
    );
  }
  atLeast("sample_size", c.sampleSize, 1);
  atLeast("width", c.width, 1);
  atLeast("depth", c.depth, 1);
  atLeast("resnet_width", c.resnetWidth, 1);
  atLeast("num_classes", c.numClasses, 2);
  atLeast("dataset_size", c.datasetSize, 1);
  atLeast("feature_dim", c.featureDim, 1);
  atLeast("image_size", c.imageSize, 1);
  atLeast("threads", c.threads, 1);
  if (c.threads !== null && c.threads > MAX_WASM_THREADS) {
    throw new InvalidArgumentError(
      "--threads",
      `got ${c.threads}, allowed: 1 to ${MAX_WASM_THREADS}`,
    );
  }
  atLeast("seed", c.seed, 0);
  if (!(c.temperature > 0)) {
    throw new InvalidArgumentError("--temperature", `got ${c.temperature}, allowed: τ > 0`);
  }
  if (c.lr !== null && !(c.lr > 0)) {
    throw new InvalidArgumentError("--lr", `got ${c.lr}, allowed: > 0`);
  }
  if (!(c.labelNoise >= 0 && c.labelNoise <= 1)) {
    throw new InvalidArgumentError("--label_noise", `got ${c.labelNoise}, allowed: 0 ≤ p ≤ 1`);
  }
  if (!(DECAY_TYPES as readonly string[]).includes(c.decayType)) {
    throw new InvalidArgumentError(
      "--decay_type",
      `got ${JSON.stringify(c.decayType)}, allowed: ${DECAY_TYPES.join(", ")}`,
    );
  }
  if (c.decayType === "step" && c.patience === null) {
    throw new InvalidArgumentError(
      "--decay_type",
      "step needs --patience N, the number of epochs between decays (StepLR's step_size)",
    );
  }
  atLeast("patience", c.patience, 1);
  for (const [flag, v] of [["gamma", c.gamma], ["div_factor", c.divFactor]] as const) {
    if (!(v > 0)) throw new InvalidArgumentError(`--${flag}`, `got ${v}, allowed: > 0`);
  }
  if (!(c.finalDivFactor > 0)) {
    throw new InvalidArgumentError("--final_div_factor", `got ${c.finalDivFactor}, allowed: > 0`);
  }
  if (c.maxLr !== null && !(c.maxLr > 0)) {
    throw new InvalidArgumentError("--max_lr", `got ${c.maxLr}, allowed: > 0`);
  }
  if (c.imbFactor !== null && !(c.imbFactor > 0 && c.imbFactor <= 1)) {
    throw new InvalidArgumentError("--imb_factor", `got ${c.imbFactor}, allowed: 0 < r ≤ 1`);
  }
  if (c.gain !== null && !(c.gain > 0)) {
    throw new InvalidArgumentError("--gain", `got ${c.gain}, allowed: > 0`);
  }
  if (!/^[A-Za-z0-9._-]+$/.test(c.uid) && c.uid !== "") {
    throw new InvalidArgumentError(
      "--uid",
      `got ${JSON.stringify(c.uid)}, allowed: letters, digits, '.', '_', '-'`,
    );
  }
}

const RESNETS = ["resnet18", "resnet34", "resnet50"];

/**
 * When a flag takes effect: each entry names the flags a run's model, method or dataset makes
 * meaningless. A flag given where it does not apply is an error, never dropped.
 */
const APPLIES: readonly {
  keys: readonly (keyof TrainConfig)[];
  when: (c: TrainConfig) => boolean;
  only: string;
}[] = [
  { keys: ["width", "depth"], when: (c) => c.model === "mlp", only: "--model mlp" },
  {
    keys: ["resnetWidth"],
    when: (c) => IMAGE_BACKBONES.includes(c.model),
    only: "--model resnet18|resnet34|resnet50|vgg13",
  },
  {
    keys: ["fixdim"],
    when: (c) => RESNETS.includes(c.model),
    only: "--model resnet18|resnet34|resnet50",
  },
  {
    keys: ["etfSolver", "etfBackward", "featureAverage", "implicitForwardBs"],
    when: (c) => c.method === "implicit",
    only: "the implicit method",
  },
  {
    keys: ["warmupEpochs"],
    when: (c) => c.method === "fixed" || c.method === "implicit",
    only: "the fixed and implicit methods",
  },
  { keys: ["datasetSize"], when: (c) => c.dataset === "synthetic", only: "--dataset synthetic" },
  {
    keys: ["featureDim"],
    when: (c) => c.dataset === "synthetic" || c.model === "ufm",
    only: "--dataset synthetic or --model ufm",
  },
  { keys: ["imageSize"], when: (c) => c.dataset === "folder", only: "--dataset folder" },
  { keys: ["patience", "gamma"], when: (c) => c.decayType === "step", only: "--decay_type step" },
  {
    keys: ["maxLr", "divFactor", "finalDivFactor"],
    when: (c) => c.decayType === "onecycle",
    only: "--decay_type onecycle",
  },
  {
    keys: ["imbFactor"],
    when: (c) => c.dataset === "cifar10" || c.dataset === "cifar100",
    only: "--dataset cifar10|cifar100",
  },
  {
    keys: ["dataDir"],
    when: (c) => c.dataset !== "synthetic",
    only: "datasets read from files (not --dataset synthetic)",
  },
  {
    keys: ["threads"],
    when: (c) => c.backend === "wasm" || c.backend === "native" || c.backend === "auto",
    only: "the native and wasm backends (--backend native, wasm or auto)",
  },
  {
    keys: ["dnnlLibrary"],
    when: (c) => c.backend === "native" || c.backend === "auto",
    only: "the native backend (--backend native or auto)",
  },
];

/**
 * Refuses flags the run would ignore (an MLP width for a ResNet, ETF-solver flags for the
 * standard method, `--threads` on WebGPU, …). `--lr` without a learning-rate optimiser and
 * `--gain` without AGD are refused when the optimiser is resolved (`validateSetupOptions`).
 *
 * @example
 * ```ts
 * const request = parseTrainArgs(["--model", "resnet18", "--width", "512"], "implicit");
 * if (request !== "help") {
 *   checkFlagsApply(request); // throws InvalidArgumentError("--width", "applies to --model mlp …")
 * }
 * ```
 */
export function checkFlagsApply(request: Pick<TrainRequest, "config" | "flags">): void {
  const { config, flags } = request;
  if (config.fullBatchMode && flags.has("batchSize")) {
    throw new InvalidArgumentError(
      "--full_batch_mode",
      "takes the whole training set as the batch: give it or --batch_size, not both",
    );
  }
  for (const rule of APPLIES) {
    for (const key of rule.keys) {
      if (flags.has(key) && !rule.when(config)) {
        const spec = FLAGS.find((f) => f.key === key)!;
        throw new InvalidArgumentError(
          `--${spec.flag}`,
          `applies to ${rule.only} only; this run has --model ${config.model}, --method ${config.method}, ` +
            `--dataset ${config.dataset}, --backend ${config.backend}: remove the flag`,
        );
      }
    }
  }
}

/** The flag spelling of a configuration field (`batchSize` → `--batch_size`). */
export function flagName(key: keyof TrainConfig): string {
  return `--${FLAGS.find((f) => f.key === key)?.flag ?? key}`;
}
