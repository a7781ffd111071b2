/**
 * `deno task nc` (the paper's `validate_NC`): the neural-collapse metrics of a trained run at its
 * checkpoint epochs, on the train and test splits.
 *
 * Features come from the trainer's evaluation unit (train/evaluate.ts): clean inputs (resize and
 * normalise only, also for the train split), the network in evaluation mode, features
 * normalised to the run's τ, and the checkpoint's own classifier (W, b from its state file).
 * The paper's scripts differ on two points, and we do not follow them: they measure at τ = 1 on
 * models trained at τ = 5, and their train-split pass applies the training augmentation.
 *
 * For each measured epoch and split it writes `<run>/nc/<split>/epoch-NNNN.safetensors` (the
 * sorted cosine margins, W, b, the class means, μ_G, H̄ and class counts, float64), then the
 * epoch's record in `<run>/nc/<split>.jsonl` (atomically; epochs in order) and a line in
 * `<run>/nc/<split>.log`. Epochs already recorded are skipped unless `--force`.
 *
 * @module
 */
import { join } from "node:path";
import { type Flag, flagHelp, parseFlags } from "../core/cli.ts";
import { InvalidArgumentError } from "../core/errors.ts";
import type { DatasetSplit } from "../data/dataset.ts";
import {
  applyLibraryPaths,
  type LibraryPaths,
  parseBackendName,
  selectBackend,
} from "../nets/backend/select.ts";
import { LIBRARY_FLAGS } from "../core/library_flags.ts";
import { atomicWriteFile } from "../train/atomic_write.ts";
import { loadModelCheckpoint } from "../train/checkpoint.ts";
import { evaluationBatches } from "../train/evaluate.ts";
import {
  createRunSetup,
  loadRunDataset,
  type RunEvaluation,
  runEvaluation,
} from "../train/open_run.ts";
import { encodeSafetensors, readSafetensors, type TensorEntry } from "../train/safetensors.ts";
import { modelStateOf } from "../train/save_checkpoint.ts";
import { formatDuration } from "../train/progress.ts";
import { type Matrix, matrix } from "../solver/matrix.ts";
import { type ClassMeans, NcAccumulator } from "./nc_accumulator.ts";
import type { NcMetrics } from "./nc_metrics.ts";
import { readRecords, upsertRecord } from "./records.ts";
import {
  readTrainedRun,
  RUN_FLAGS,
  type RunCheckpoint,
  runPathOf,
  selectEpochs,
  type TrainedRun,
} from "./trained_run.ts";

/** The splits a run can be measured on. */
export const SPLITS = ["train", "test"] as const;
/** A split name. */
export type SplitName = typeof SPLITS[number];

/** Flags of `deno task nc`. */
export const NC_FLAGS = {
  ...RUN_FLAGS,
  split: {
    kind: "string",
    default: "both",
    allowed: ["train", "test", "both"],
    help: "train | test | both (both: every split the run has; the UFM has no test split)",
  },
  every: {
    kind: "int",
    default: null,
    min: 1,
    help: "measure the checkpoint epochs divisible by N, and the last (default: every checkpoint)",
  },
  data_dir: { kind: "string", default: null, help: "dataset root (default: the run's)" },
  backend: { kind: "string", default: "auto", help: "auto | webgpu | native | wasm | cpu" },
  threads: {
    kind: "int",
    default: null,
    min: 1,
    help:
      "native: oneDNN's and OpenBLAS's threads (default: the cores); wasm: XNNPACK's (default 1)",
  },
  ...LIBRARY_FLAGS,
  batch_size: {
    kind: "int",
    default: null,
    min: 1,
    help: "samples per forward (memory only; default: the run's evaluation batch)",
  },
  force: { kind: "bool", default: false, help: "re-measure epochs already measured" },
} as const satisfies Record<string, Flag>;

/**
 * A parsed `deno task nc` command line.
 *
 * @example
 * ```ts
 * const request = await parseNcArgs(["--uid", "mnist-resnet18-implicit-seed1"]) as NcRequest;
 * request.splits; // ["train", "test"], or ["train"] for a UFM run
 * ```
 */
export type NcRequest = {
  run: TrainedRun;
  splits: SplitName[];
  epochs: RunCheckpoint[];
  dataDir: string | null;
  backend: string;
  threads: number | null;
  /** `--blas_library`, `--dnnl_library`. */
  libraries: LibraryPaths;
  batchSize: number | null;
  force: boolean;
};

/** The `--help` text. */
export const NC_HELP: string =
  flagHelp("deno task nc (--uid UID [--storage DIR] | --run DIR) [flags]", NC_FLAGS) +
  "\n\nWrites <run>/nc/<split>.jsonl, <split>.log and <split>/epoch-NNNN.safetensors. Features are" +
  "\nthe evaluation unit's: clean inputs and the run's τ (the paper's scripts use τ = 1 and an" +
  "\naugmented train pass; we do neither).";

/**
 * Parses and validates the command line against the run it names: a missing run, a run without
 * checkpoints, a split the run lacks, `--every` selecting nothing, or `--data_dir` for synthetic
 * data are InvalidArgumentErrors (nothing is written).
 *
 * @example
 * ```ts
 * const request = await parseNcArgs(["--run", "runs/mnist-resnet18-implicit-seed1", "--split", "test"]);
 * ```
 */
export async function parseNcArgs(args: string[]): Promise<NcRequest | "help"> {
  const parsed = parseFlags(args, NC_FLAGS);
  if (parsed === "help") return "help";
  const { values: v, given } = parsed;
  const { path, flag } = runPathOf(v);
  const run = await readTrainedRun(path, flag);
  const available = availableSplits(run);
  const missing = v.split === "both"
    ? (given.has("split") && available.length < 2)
    : !available.includes(v.split as SplitName);
  if (missing) {
    throw new InvalidArgumentError(
      "--split",
      `got ${v.split}, but the run ${run.uid} has no test split (${
        run.config.model === "ufm"
          ? "the UFM's free features exist for training samples only"
          : "its dataset has none"
      }); allowed: train`,
    );
  }
  const splits: SplitName[] = v.split === "both" ? available : [v.split as SplitName];
  const epochs = selectEpochs(run.checkpoints.map((c) => c.epoch), v.every ?? 1);
  if (v.data_dir !== null && run.config.dataset === "synthetic") {
    throw new InvalidArgumentError(
      "--data_dir",
      "the run's dataset is synthetic (regenerated from its seed): it reads no files",
    );
  }
  parseBackendName(v.backend, "--backend");
  return {
    run,
    splits,
    epochs: run.checkpoints.filter((c) => epochs.includes(c.epoch)),
    dataDir: v.data_dir,
    backend: v.backend!,
    threads: v.threads,
    libraries: { blasLibrary: v.blas_library, dnnlLibrary: v.dnnl_library },
    batchSize: v.batch_size,
    force: v.force,
  };
}

/** The splits the run has: train, and test unless it is a UFM run or its dataset has none. */
export function availableSplits(run: TrainedRun): SplitName[] {
  return run.config.model === "ufm" || run.dataset.test === 0 ? ["train"] : ["train", "test"];
}

/** Rows beyond this many bytes (N·d float32) are spilled to disk while a split is measured. */
const IN_MEMORY_BYTES = 2 ** 30;

/**
 * What one split at one epoch gave.
 *
 * @example
 * ```ts
 * declare const m: SplitMeasurement;
 * m.metrics.nc1; m.forwardSeconds; m.metricSeconds;
 * ```
 */
export type SplitMeasurement = {
  metrics: NcMetrics;
  means: ClassMeans;
  samples: number;
  forwardSeconds: number;
  metricSeconds: number;
};

/**
 * The metrics of one split under one classifier: the evaluation unit's features, batch by
 * batch, into an {@link NcAccumulator} (rows spilled under `spillDirectory` when N·d·4 bytes
 * exceed 1 GiB).
 *
 * @example
 * ```ts
 * import type { RunEvaluation } from "../train/open_run.ts";
 * import type { Matrix } from "../solver/matrix.ts";
 * declare const evaluation: RunEvaluation;
 * declare const W: Matrix, b: Float64Array;
 * const m = await measureSplit(evaluation, evaluation.splits.train, { W, b }, { spillDirectory: "/tmp/s" });
 * ```
 */
export async function measureSplit(
  evaluation: RunEvaluation,
  split: DatasetSplit,
  classifier: { W: Matrix; b: Float64Array },
  options: {
    spillDirectory: string;
    batchSize?: number | null;
    sampleSize?: number | null;
    /** Rows up to this many bytes (N·d·4) stay in memory (default 1 GiB). */
    inMemoryBytes?: number;
  },
): Promise<SplitMeasurement> {
  const K = classifier.W.rows, d = classifier.W.cols;
  const sampleSize = options.sampleSize ?? null;
  const N = sampleSize === null ? split.length : Math.min(split.length, sampleSize * K);
  const acc = new NcAccumulator({
    numClasses: K,
    dim: d,
    ...(N * d * 4 > (options.inMemoryBytes ?? IN_MEMORY_BYTES)
      ? { spillDirectory: options.spillDirectory }
      : {}),
  });
  try {
    let forward = 0, metric = 0, t = performance.now();
    const evalOptions = {
      ...evaluation.options,
      ...(options.batchSize ? { batchSize: options.batchSize } : {}),
      sampleSize,
    };
    for await (const { h, labels } of evaluationBatches(evaluation.net, split, evalOptions)) {
      const rows = await h.data() as Float32Array;
      h.dispose();
      const t1 = performance.now();
      forward += t1 - t;
      acc.add(rows, labels);
      t = performance.now();
      metric += t - t1;
    }
    const t2 = performance.now();
    const metrics = acc.compute(classifier.W, classifier.b);
    const means = acc.means();
    metric += performance.now() - t2;
    return {
      metrics,
      means,
      samples: acc.count,
      forwardSeconds: forward / 1000,
      metricSeconds: metric / 1000,
    };
  } finally {
    acc.dispose();
  }
}

/**
 * The classifier (W K×d, b K, float64) a checkpoint's state file stores.
 *
 * @example
 * ```ts
 * const { W, b } = await readClassifier("runs/r/checkpoints/state-epoch-0005.safetensors");
 * ```
 */
export async function readClassifier(statePath: string): Promise<{ W: Matrix; b: Float64Array }> {
  const { tensors } = await readSafetensors(statePath);
  const w = tensors.get("classifier.weight"), b = tensors.get("classifier.bias");
  if (w === undefined || b === undefined || w.shape.length !== 2) {
    throw new InvalidArgumentError(
      "--uid",
      `${statePath} holds no classifier (classifier.weight, classifier.bias): a checkpoint from an older toolkit? retrain`,
    );
  }
  return {
    W: matrix(w.shape[0], w.shape[1], Float64Array.from(w.data as Float32Array)),
    b: Float64Array.from(b.data as Float32Array),
  };
}

/** Where the measurement of one split at one epoch is stored (relative to `<run>/nc`). */
export function ncEpochFile(split: SplitName, epoch: number): string {
  return `${split}/epoch-${String(epoch).padStart(4, "0")}.safetensors`;
}

const f64 = (shape: number[], data: Float64Array): TensorEntry => ({ dtype: "F64", shape, data });

/** The keys of {@link NcMetrics} stored in the records (the margins go to the epoch file). */
export const NC_RECORD_KEYS = [
  "top1",
  "top5",
  "nccMismatch",
  "nc1",
  "nc1Trace",
  "cdnv",
  "vci",
  "numericalRank",
  "nc2",
  "nc3",
  "nc4",
  "wEquinorm",
  "hEquinorm",
  "whEquinormDiff",
  "avgCosMargin",
] as const;

/**
 * Runs `deno task nc` for a parsed request; returns the epochs measured and skipped per split.
 *
 * @example
 * ```ts
 * const request = await parseNcArgs(["--uid", "mnist-resnet18-implicit-seed1"]);
 * if (request !== "help") await runNc(request, { log: console.error });
 * ```
 */
export async function runNc(
  request: NcRequest,
  io: { log: (line: string) => void },
): Promise<{ measured: Record<string, number[]>; skipped: Record<string, number[]> }> {
  const { run } = request;
  // The libraries the flags name load (or fail, naming the flag) even when nothing is measured.
  applyLibraryPaths(request.libraries);
  const ncDir = join(run.path, "nc");
  const measured: Record<string, number[]> = {}, skipped: Record<string, number[]> = {};
  const todo = new Map<number, SplitName[]>();
  for (const split of request.splits) {
    const done = new Set((await readRecords(join(ncDir, `${split}.jsonl`))).map((r) => r.epoch));
    measured[split] = [];
    skipped[split] = [];
    for (const c of request.epochs) {
      if (done.has(c.epoch) && !request.force) skipped[split].push(c.epoch);
      else todo.set(c.epoch, [...(todo.get(c.epoch) ?? []), split]);
    }
    if (skipped[split].length > 0) {
      io.log(
        `nc: ${split}: epochs ${
          skipped[split].join(", ")
        } already measured (skipped; --force re-measures)`,
      );
    }
  }
  if (todo.size === 0) {
    io.log("nc: nothing to measure");
    return { measured, skipped };
  }
  const config = {
    ...run.config,
    ...(request.dataDir !== null ? { dataDir: request.dataDir } : {}),
  };
  const backend = await selectBackend(parseBackendName(request.backend, "--backend"), {
    ...(request.threads !== null ? { threads: request.threads } : {}),
    log: io.log,
  });
  if (request.threads !== null && backend.name !== "wasm" && backend.name !== "native") {
    io.log(`nc: note: --threads ${request.threads} has no effect on the ${backend.name} backend`);
  }
  const data = await loadRunDataset(config, io.log, run.path);
  const { setup, dispose } = createRunSetup(config, data);
  try {
    const evaluation = runEvaluation(config, data, setup);
    await Deno.mkdir(ncDir, { recursive: true });
    const started = performance.now();
    let count = 0;
    for (const c of request.epochs) {
      const splits = todo.get(c.epoch);
      if (splits === undefined) continue;
      await loadModelCheckpoint(join(run.path, c.model), modelStateOf(setup, c.epoch));
      const classifier = await readClassifier(join(run.path, c.state));
      for (const split of splits) {
        const source = split === "train" ? evaluation.splits.train : evaluation.splits.test!;
        const m = await measureSplit(evaluation, source, classifier, {
          spillDirectory: join(ncDir, `.spill-${split}`),
          batchSize: request.batchSize,
          sampleSize: split === "train" ? evaluation.trainSampleSize : null,
        });
        await writeMeasurement(ncDir, split, c, classifier, m, run.config.temperature);
        measured[split].push(c.epoch);
        count++;
        const total = [...todo.values()].reduce((a, s) => a + s.length, 0);
        const eta = ((performance.now() - started) / count) * (total - count) / 1000;
        io.log(
          `nc: ${summary(split, c.epoch, m)}${total > count ? `; ETA ${formatDuration(eta)}` : ""}`,
        );
      }
    }
  } finally {
    dispose();
  }
  return { measured, skipped };
}

/** The epoch file, then the record, then the log line. */
async function writeMeasurement(
  ncDir: string,
  split: SplitName,
  c: RunCheckpoint,
  classifier: { W: Matrix; b: Float64Array },
  m: SplitMeasurement,
  temperature: number,
): Promise<void> {
  const { W, b } = classifier, { means, globalMean, centred, counts } = m.means;
  const K = W.rows, d = W.cols;
  const file = ncEpochFile(split, c.epoch);
  await Deno.mkdir(join(ncDir, split), { recursive: true });
  const tensors = new Map<string, TensorEntry>([
    ["cos_margins", f64([m.metrics.cosMargins.length], m.metrics.cosMargins)],
    ["W", f64([K, d], W.data)],
    ["b", f64([K], b)],
    ["class_means", f64([K, d], means.data)],
    ["global_mean", f64([d], globalMean)],
    ["H_bar", f64([K, d], centred.data)],
    ["class_counts", f64([K], counts)],
  ]);
  const path = join(ncDir, file);
  await atomicWriteFile(
    path,
    encodeSafetensors(tensors, {
      epoch: String(c.epoch),
      split,
      temperature: String(temperature),
      checkpoint: c.model,
      layout: "H_bar row k = mu_k - mu_G (K x d); W row k = w_k",
    }, path),
  );
  const record: Record<string, unknown> = { epoch: c.epoch, samples: m.samples };
  for (const key of NC_RECORD_KEYS) record[key] = m.metrics[key];
  Object.assign(record, {
    file,
    checkpoint: c.model,
    forwardSeconds: m.forwardSeconds,
    metricSeconds: m.metricSeconds,
  });
  await upsertRecord(join(ncDir, `${split}.jsonl`), record as { epoch: number });
  const log = await Deno.open(join(ncDir, `${split}.log`), { append: true, create: true });
  try {
    await log.write(
      new TextEncoder().encode(`${new Date().toISOString()} ${summary(split, c.epoch, m)}\n`),
    );
  } finally {
    log.close();
  }
}

const g = (
  v: number,
) => (Math.abs(v) >= 1e-3 && Math.abs(v) < 1e4 ? v.toFixed(4) : v.toExponential(3));

/** One readable line per measured split and epoch. */
function summary(split: SplitName, epoch: number, m: SplitMeasurement): string {
  const x = m.metrics;
  return `${split} epoch ${epoch}: top-1 ${x.top1.toFixed(2)}%, top-5 ${x.top5.toFixed(2)}%, ` +
    `NCC mismatch ${x.nccMismatch.toFixed(2)}%, NC1 ${g(x.nc1)} (trace ${g(x.nc1Trace)}, CDNV ${
      g(x.cdnv)
    }), ` +
    `VCI ${g(x.vci)}, rank ${g(x.numericalRank)}, NC2 ${g(x.nc2)}, NC3 ${g(x.nc3)}, NC4 ${
      g(x.nc4)
    }, ` +
    `equinorm W ${g(x.wEquinorm)} H ${g(x.hEquinorm)} |W−H| ${g(x.whEquinormDiff)}, ` +
    `cos margin ${g(x.avgCosMargin)}; ${m.samples} samples, forward ${
      m.forwardSeconds.toFixed(1)
    } s, ` +
    `metrics ${m.metricSeconds.toFixed(1)} s`;
}
