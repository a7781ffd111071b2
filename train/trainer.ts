/**
 * The training loop behind `deno task train:standard|fixed|implicit`: builds the run from a
 * {@link TrainConfig}, trains epoch by epoch with the shared `trainStep`, logs per step and per
 * epoch, checkpoints every `checkpointEvery` epochs and at the last, resumes bit for bit, stops
 * cleanly on Ctrl-C (the last checkpoint stays intact) and on a non-finite loss.
 *
 * @module
 */
import { join } from "node:path";
import type { DatasetSplit } from "../data/dataset.ts";
import { DATASET_NAMES, expandHome, loadDataset } from "../data/load.ts";
import { batches, epochPlan, type PipelineOptions } from "../data/pipeline.ts";
import { BatchTransform } from "../data/transforms.ts";
import { type BackendInfo, parseBackendName, selectBackend } from "../nets/backend/select.ts";
import { normaliseFeatures } from "../nets/heads/head.ts";
import {
  createTrainingSetup,
  type ResolvedSetup,
  type SetupOptions,
  validateSetupOptions,
} from "../nets/training/setup.ts";
import { tf, TFJS_VERSION } from "../nets/tf.ts";
import { type TrainingSetup, trainStep } from "../nets/training/train_step.ts";
import { InvalidArgumentError } from "../core/errors.ts";
import { loadModelCheckpoint, saveModelCheckpoint } from "./checkpoint.ts";
import type { TrainConfig } from "./config.ts";
import { Progress } from "./progress.ts";
import { RunDirectory } from "./run_dir.ts";
import { loadTrainingState, saveTrainingState } from "./state.ts";

/** The toolkit's version, recorded in run directories. */
export const TOOLKIT_VERSION = "0.1.0";

/**
 * How a run ended.
 *
 * @example
 * ```ts
 * const outcome = await train(config);
 * if (outcome.status === "interrupted") console.log(outcome.message);
 * ```
 */
export type TrainOutcome = {
  status: "completed" | "interrupted" | "diverged";
  runDir: string;
  /** The last epoch completed. */
  epoch: number;
  /** Accuracy of a clean (unaugmented) pass over the training samples at the last checkpoint. */
  trainAccuracy: number | null;
  /** What to do next (how to resume, which checkpoint is good). */
  message: string;
};

type Io = { log: (line: string) => void; signal?: AbortSignal };

/** The network set-up a configuration asks for (`extra`: what only the dataset tells). */
function setupOptions(
  config: TrainConfig,
  extra: { numClasses: number; inputShape?: number[]; numSamples?: number },
): SetupOptions {
  return {
    model: config.model,
    method: config.method,
    optimiser: config.optimiser === "" ? undefined : config.optimiser,
    lr: config.lr ?? undefined,
    gain: config.gain,
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

/** A clean pass (evaluation mode, no augmentation) over `split`: accuracy and μ_G. */
async function evaluate(
  setup: TrainingSetup,
  split: DatasetSplit,
  options: PipelineOptions,
  isUfm: boolean,
): Promise<{ accuracy: number; meanFeature: tf.Tensor1D }> {
  let correct = 0, count = 0;
  let sum: tf.Tensor1D | null = null;
  for (
    const batch of batches(split, { ...options, train: false, shuffle: false, stratified: false })
  ) {
    const step = tf.tidy(() => {
      const x = isUfm ? tf.tensor1d(batch.indices, "int32") : tf.tensor(batch.x, batch.shape);
      const h = normaliseFeatures(setup.backbone.features(x, false), setup.temperature);
      const { logits } = setup.head.forward(h, null, false);
      const hits = tf.sum(
        tf.cast(tf.equal(tf.argMax(logits, 1), tf.tensor1d(batch.labels, "int32")), "float32"),
      );
      return { hits, hsum: tf.sum(h, 0) as tf.Tensor1D };
    });
    correct += (await step.hits.data())[0];
    count += batch.labels.length;
    const next: tf.Tensor1D = sum === null ? step.hsum : tf.add(sum, step.hsum);
    if (sum !== null) tf.dispose([sum, step.hsum]);
    sum = next;
    step.hits.dispose();
  }
  const meanFeature = tf.div(sum as tf.Tensor1D, count) as tf.Tensor1D;
  (sum as tf.Tensor1D).dispose();
  return { accuracy: correct / count, meanFeature };
}

/**
 * Runs (or resumes) one training run.
 *
 * @example
 * ```ts
 * const outcome = await train(parseTrainArgs(["--preset", "quick"], "implicit") as TrainConfig);
 * ```
 */
export async function train(
  requested: TrainConfig,
  io: Io = { log: (l) => console.error(l) },
): Promise<TrainOutcome> {
  const runPath = join(expandHome(requested.storage), requested.uid);
  const resuming = requested.resume || requested.resumeCheckpoint !== null;
  // A fresh run's directory is created only once everything is validated and loaded, so bad
  // input leaves nothing behind.
  let run: RunDirectory | null = resuming ? await RunDirectory.open(runPath) : null;
  if (run === null) await RunDirectory.checkAvailable(runPath, { force: requested.force });
  const pending: string[] = [];
  let config = requested;
  if (run !== null) {
    // The stored run defines the run; only how it is carried on may change.
    const stored = (await run.readJson<{ config: TrainConfig }>("config.json")).config;
    config = {
      ...stored,
      epochs: requested.epochs,
      backend: requested.backend,
      threads: requested.threads,
      logInterval: requested.logInterval,
      resume: true,
      resumeCheckpoint: requested.resumeCheckpoint,
    };
  }
  const log = async (line: string) => {
    io.log(line);
    if (run === null) pending.push(line);
    else await run.log(line);
  };

  // Names and values first (no backend, data or model yet): bad input fails at once.
  validateSetupOptions(setupOptions(config, { numClasses: config.numClasses ?? 2 }));

  checkDatasetName(config.dataset);
  const backendName = parseBackendName(config.backend, "--backend");
  const backend: BackendInfo = await selectBackend(backendName, {
    ...(config.threads !== null ? { threads: config.threads } : {}),
    log: (line) => void log(line),
  });
  const data = await loadDataset(config.dataset, {
    dataDir: config.dataDir,
    log: (line: string) => void log(line),
    datasetSize: config.datasetSize,
    featureDim: config.featureDim,
    numClasses: config.numClasses ?? undefined,
    seed: config.seed,
    imageSize: config.imageSize,
  });
  const split = data.train;
  const K = split.numClasses;
  if (config.numClasses !== null && config.numClasses !== K) {
    throw new InvalidArgumentError(
      "--num_classes",
      `got ${config.numClasses}, but ${config.dataset} has ${K} classes`,
    );
  }
  const isUfm = config.model === "ufm";
  const transform = new BatchTransform(split, { train: true });
  const pipeline: PipelineOptions = {
    batchSize: isUfm
      ? (config.sampleSize ?? split.length) * (config.sampleSize ? K : 1)
      : config.batchSize,
    seed: config.seed,
    epoch: 0,
    train: true,
    stratified: config.stratifiedBatch,
    sampleSize: config.sampleSize,
    transform,
  };
  const { setup, resolved, dispose } = createTrainingSetup(
    setupOptions(config, {
      numClasses: K,
      inputShape: transform.sampleShape,
      numSamples: split.length,
    }),
  );

  try {
    if (config.stratifiedBatch && !isUfm && pipeline.batchSize < K) {
      throw new InvalidArgumentError(
        "--batch_size",
        `got ${pipeline.batchSize} < K = ${K}: stratified batches need every class in every batch`,
      );
    }
    epochPlan(split, pipeline); // validates the batching options before anything is written
  } catch (e) {
    dispose();
    throw e;
  }
  if (run === null) {
    try {
      run = await RunDirectory.create(runPath, { force: requested.force });
    } catch (e) {
      dispose();
      throw e;
    }
    for (const line of pending) await run.log(line);
  }
  const runDir: RunDirectory = run;
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  let interrupted = false;
  const onSignal = () => {
    interrupted = true;
  };
  try {
    for (const s of signals) Deno.addSignalListener(s, onSignal);
    return await loop();
  } finally {
    for (const s of signals) Deno.removeSignalListener(s, onSignal);
    dispose();
  }

  async function loop(): Promise<TrainOutcome> {
    let startEpoch = 0, globalStep = 0;
    const modelState = {
      parameters: [...setup.backbone.parameters, ...setup.head.parameters],
      buffers: setup.backbone.buffers,
    };
    if (!resuming) {
      await runDir.writeJson("config.json", {
        config,
        resolved: resolved satisfies ResolvedSetup,
        versions: {
          toolkit: TOOLKIT_VERSION,
          deno: Deno.version.deno,
          v8: Deno.version.v8,
          tfjs: TFJS_VERSION,
        },
        backend,
        dataset: {
          name: config.dataset,
          train: split.length,
          test: data.test.length,
          numClasses: K,
          sampleShape: split.sampleShape,
        },
        createdAt: new Date().toISOString(),
      });
    } else {
      const latest = config.resumeCheckpoint !== null
        ? {
          model: config.resumeCheckpoint,
          state: config.resumeCheckpoint.replace("model-epoch-", "state-epoch-"),
          epoch: -1,
        }
        : await runDir.latest();
      if (latest === null) {
        await log("resume: no checkpoint yet, starting from epoch 1");
      } else {
        const modelPath = latest.model.startsWith("/") ? latest.model : runDir.file(latest.model);
        const statePath = latest.state.startsWith("/") ? latest.state : runDir.file(latest.state);
        await loadModelCheckpoint(modelPath, modelState);
        ({ epoch: startEpoch, globalStep } = await loadTrainingState(
          statePath,
          setup.optimiser,
          setup.head,
        ));
        await runDir.truncateJsonLines("steps.jsonl", startEpoch);
        await runDir.truncateJsonLines("epochs.jsonl", startEpoch);
        await log(
          `resume: continuing after epoch ${startEpoch} (step ${globalStep}) from ${latest.model}`,
        );
      }
    }
    let lastCheckpoint = startEpoch > 0 ? `epoch ${startEpoch}` : "none";
    let trainAccuracy: number | null = null;
    const resumeHint =
      `deno task train:${config.method} --storage ${config.storage} --uid ${config.uid} --resume`;
    for (let epoch = startEpoch + 1; epoch <= config.epochs; epoch++) {
      const options = { ...pipeline, epoch: epoch - 1 };
      const total = epochPlan(split, options).batches.length;
      const progress = new Progress(total, `epoch ${epoch}/${config.epochs}`);
      const t0 = performance.now();
      const sums = { loss: 0, top1: 0, top5: 0, cosine: 0, n: 0 };
      for (const batch of batches(split, options)) {
        const x = isUfm ? tf.tensor1d(batch.indices, "int32") : tf.tensor(batch.x, batch.shape);
        const y = tf.tensor1d(batch.labels, "int32");
        const s0 = performance.now();
        const m = await trainStep(setup, x, y);
        tf.dispose([x, y]);
        globalStep++;
        if (!Number.isFinite(m.loss)) {
          const message = `non-finite loss (${m.loss}) at epoch ${epoch}, step ${globalStep}; ` +
            `the last good checkpoint is ${lastCheckpoint}`;
          progress.done();
          await log(`stopped: ${message}`);
          return {
            status: "diverged",
            runDir: runDir.path,
            epoch: epoch - 1,
            trainAccuracy,
            message,
          };
        }
        const n = batch.labels.length;
        sums.loss += m.loss * n;
        sums.top1 += m.top1 * n;
        sums.top5 += m.top5 * n;
        sums.cosine += m.cosine * n;
        sums.n += n;
        await runDir.appendJsonLine("steps.jsonl", {
          epoch,
          step: globalStep,
          batch: batch.batch + 1,
          loss: m.loss,
          top1: m.top1,
          top5: m.top5,
          cosine: m.cosine,
          ...(m.eta !== undefined ? { eta: m.eta } : {}),
          ...(m.solver
            ? {
              solverIterations: m.solver.iterations,
              solverGradientNorm: m.solver.gradientNorm,
              solverSeconds: m.solver.seconds,
            }
            : {}),
          seconds: (performance.now() - s0) / 1000,
        });
        if ((batch.batch + 1) % config.logInterval === 0 || batch.batch + 1 === total) {
          const status = `loss ${m.loss.toFixed(4)} top1 ${(100 * m.top1).toFixed(1)}%`;
          progress.update(batch.batch + 1, status);
          await runDir.log(`epoch ${epoch} batch ${batch.batch + 1}/${total} ${status}`);
        }
        if (interrupted || io.signal?.aborted) break;
      }
      progress.done();
      if (interrupted || io.signal?.aborted) {
        const message =
          `interrupted in epoch ${epoch}; the last complete checkpoint is ${lastCheckpoint}; ` +
          `resume with: ${resumeHint}`;
        await log(message);
        return {
          status: "interrupted",
          runDir: runDir.path,
          epoch: epoch - 1,
          trainAccuracy,
          message,
        };
      }
      const record: Record<string, unknown> = {
        epoch,
        loss: sums.loss / sums.n,
        top1: sums.top1 / sums.n,
        top5: sums.top5 / sums.n,
        cosine: sums.cosine / sums.n,
        seconds: (performance.now() - t0) / 1000,
      };
      if (epoch % config.checkpointEvery === 0 || epoch === config.epochs) {
        const clean = await evaluate(setup, split, options, isUfm);
        trainAccuracy = clean.accuracy;
        record.trainAccuracy = clean.accuracy;
        const names = RunDirectory.checkpointNames(epoch);
        await saveModelCheckpoint(runDir.file(names.model), modelState, {
          epoch: String(epoch),
          uid: config.uid,
        });
        let classifier: { W: tf.Tensor2D; b: tf.Tensor1D } | null = null;
        if (setup.head.method !== "standard") {
          classifier = tf.tidy(() => {
            const { W } = setup.head.forward(tf.zeros([1, resolved.featureDim]), null, false);
            const b = tf.neg(
              tf.squeeze(tf.matMul(W, tf.reshape(clean.meanFeature, [-1, 1])), [1]),
            ) as tf.Tensor1D;
            return { W, b };
          });
        }
        await saveTrainingState(runDir.file(names.state), setup.optimiser, setup.head, {
          epoch,
          globalStep,
        }, classifier);
        if (classifier) tf.dispose([classifier.W, classifier.b]);
        clean.meanFeature.dispose();
        await runDir.writeJson("latest.json", { epoch, ...names });
        lastCheckpoint = `epoch ${epoch} (${names.model})`;
      }
      await runDir.appendJsonLine("epochs.jsonl", record);
      await log(
        `epoch ${epoch}/${config.epochs}: loss ${(record.loss as number).toFixed(4)}, batch top-1 ${
          (100 * (record.top1 as number)).toFixed(2)
        }%${
          trainAccuracy !== null && record.trainAccuracy !== undefined
            ? `, clean train accuracy ${(100 * trainAccuracy).toFixed(2)}%`
            : ""
        }, ${(record.seconds as number).toFixed(1)} s`,
      );
    }
    return {
      status: "completed",
      runDir: runDir.path,
      epoch: config.epochs,
      trainAccuracy,
      message: `done: ${runDir.path} (last checkpoint ${lastCheckpoint})`,
    };
  }
}
