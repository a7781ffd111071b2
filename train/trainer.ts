/**
 * The training loop behind `deno task train:standard|fixed|implicit`, from its units: open or
 * resume the run ({@link openRun}), train an epoch ({@link trainEpoch}), evaluate
 * ({@link evaluateAccuracy}: clean inputs, one classifier per checkpoint) and checkpoint
 * ({@link writeCheckpoint}) every `checkpointEvery` epochs and at the last. Stops cleanly on
 * Ctrl-C or SIGTERM (the last checkpoint stays intact) and on a non-finite loss.
 *
 * @module
 */
import { InputError } from "../core/errors.ts";
import { peakRssMiB } from "../core/memory.ts";
import { tf } from "../nets/tf.ts";
import { headAt } from "../nets/training/train_step.ts";
import type { TrainRequest } from "./config.ts";
import { trainEpoch } from "./epoch.ts";
import { evaluateAccuracy } from "./evaluate.ts";
import { type OpenRun, openRun, type RunIo } from "./open_run.ts";
import { writeCheckpoint } from "./save_checkpoint.ts";

export { TOOLKIT_VERSION } from "./open_run.ts";

/**
 * How a run ended.
 *
 * @example
 * ```ts
 * import { parseTrainArgs, type TrainRequest } from "./config.ts";
 * const request = parseTrainArgs(["--preset", "quick"], "implicit") as TrainRequest;
 * const outcome = await train(request);
 * if (outcome.status === "interrupted") console.log(outcome.message, outcome.signal);
 * ```
 */
export type TrainOutcome = {
  status: "completed" | "interrupted" | "diverged";
  runDir: string;
  /** The last epoch completed. */
  epoch: number;
  /** Clean top-1 accuracy over the training split at the last checkpoint (null before one). */
  trainAccuracy: number | null;
  /** Clean top-1 accuracy over the test split at the last checkpoint (null: none, or no split). */
  testAccuracy: number | null;
  /** The signal that interrupted the run, if one did. */
  signal?: "SIGINT" | "SIGTERM";
  /** What to do next (how to resume, which checkpoint is good). */
  message: string;
};

/**
 * Clean train and test accuracy of the run's network under the classifier of the head that
 * trained epoch `epoch` (the warmup classifier during `--warmup_epochs`, default the method's).
 *
 * @example
 * ```ts
 * import { parseTrainArgs, type TrainRequest } from "./config.ts";
 * import { openRun } from "./open_run.ts";
 * const request = parseTrainArgs(["--preset", "quick"], "implicit") as TrainRequest;
 * const run = await openRun(request, { log: console.error });
 * const { train, test } = await evaluateRun(run, run.start.epoch);
 * ```
 */
export async function evaluateRun(
  run: OpenRun,
  epoch = Infinity,
): Promise<{ train: { top1: number; top5: number }; test: { top1: number; top5: number } | null }> {
  const classifier = headAt(run.setup, epoch).classifier();
  try {
    const { net, options, splits, trainSampleSize } = run.evaluation;
    const train = await evaluateAccuracy(net, splits.train, classifier, {
      ...options,
      sampleSize: trainSampleSize,
    });
    const test = splits.test === null
      ? null
      : await evaluateAccuracy(net, splits.test, classifier, options);
    return { train, test };
  } finally {
    tf.dispose([classifier.W, classifier.b]);
  }
}

const percent = (v: number) => `${(100 * v).toFixed(2)}%`;

/**
 * Runs (or resumes) one training run.
 *
 * @example
 * ```ts
 * import { parseTrainArgs, type TrainRequest } from "./config.ts";
 * const outcome = await train(parseTrainArgs(["--preset", "quick"], "implicit") as TrainRequest);
 * ```
 */
export async function train(
  request: TrainRequest,
  io: RunIo = { log: (l) => console.error(l) },
): Promise<TrainOutcome> {
  const run = await openRun(request, io);
  let signal: "SIGINT" | "SIGTERM" | undefined;
  const listeners = (["SIGINT", "SIGTERM"] as const).map((s) => {
    const listener = () => signal ??= s;
    Deno.addSignalListener(s, listener);
    return () => Deno.removeSignalListener(s, listener);
  });
  try {
    return await epochs(
      run,
      () => signal !== undefined || io.signal?.aborted === true,
      () => signal,
    );
  } finally {
    for (const remove of listeners) remove();
    run.dispose();
  }
}

async function epochs(
  run: OpenRun,
  stop: () => boolean,
  signal: () => "SIGINT" | "SIGTERM" | undefined,
): Promise<TrainOutcome> {
  const { config, runDir } = run;
  let { epoch: done, globalStep } = run.start;
  let lastCheckpoint = run.lastCheckpoint;
  let trainAccuracy: number | null = null, testAccuracy: number | null = null;
  const outcome = (status: TrainOutcome["status"], message: string): TrainOutcome => ({
    status,
    runDir: runDir.path,
    epoch: done,
    trainAccuracy,
    testAccuracy,
    ...(signal() ? { signal: signal() } : {}),
    message,
  });
  const resumeHint =
    `deno task train:${config.method} --storage ${config.storage} --uid ${config.uid} --resume`;
  /** An input error mid-run (say, an image that does not decode): logged, then raised. */
  const stopOn = async (e: unknown, where: string): Promise<never> => {
    if (e instanceof InputError) {
      await run.log(
        `stopped: ${e.message} (${where}); the last complete checkpoint is ${lastCheckpoint}; ` +
          `after fixing it, resume with: ${resumeHint}`,
      );
    }
    throw e;
  };
  for (let epoch = done + 1; epoch <= config.epochs; epoch++) {
    let result;
    try {
      result = await trainEpoch(run, epoch, globalStep, stop);
    } catch (e) {
      return await stopOn(e, `training epoch ${epoch}`);
    }
    globalStep = result.globalStep;
    if (result.status === "diverged") {
      const message = `non-finite loss (${result.loss}) at epoch ${epoch}, step ${globalStep}; ` +
        `the last good checkpoint is ${lastCheckpoint}`;
      await run.log(`stopped: ${message}`);
      return outcome("diverged", message);
    }
    if (result.status === "interrupted") {
      const message = lastCheckpoint === "none"
        ? `interrupted in epoch ${epoch}, before the first checkpoint; ${resumeHint} starts ` +
          "the run again from epoch 1"
        : `interrupted in epoch ${epoch}; the last complete checkpoint is ${lastCheckpoint}; ` +
          `resume with: ${resumeHint}`;
      await run.log(message);
      return outcome("interrupted", message);
    }
    const record: Record<string, unknown> = {
      epoch,
      ...result.means,
      seconds: result.seconds,
      inputSeconds: result.inputSeconds,
    };
    let accuracies = "";
    if (epoch % config.checkpointEvery === 0 || epoch === config.epochs) {
      // The checkpoint first: an evaluation that fails (a test image that does not decode)
      // loses no training.
      const names = await writeCheckpoint(runDir, run.setup, {
        epoch,
        globalStep,
        uid: config.uid,
      });
      lastCheckpoint = `epoch ${epoch} (${names.model})`;
      const e0 = performance.now();
      let clean;
      try {
        clean = await evaluateRun(run, epoch);
      } catch (e) {
        await runDir.appendJsonLine("epochs.jsonl", record); // the epoch trained; no accuracies
        return await stopOn(e, `evaluating epoch ${epoch}`);
      }
      trainAccuracy = clean.train.top1;
      testAccuracy = clean.test?.top1 ?? null;
      Object.assign(record, {
        trainAccuracy: clean.train.top1,
        trainTop5: clean.train.top5,
        ...(clean.test ? { testAccuracy: clean.test.top1, testTop5: clean.test.top5 } : {}),
        evaluationSeconds: (performance.now() - e0) / 1000,
      });
      accuracies = `, clean train accuracy ${percent(clean.train.top1)}` +
        (clean.test ? `, test accuracy ${percent(clean.test.top1)}` : "");
    }
    const peak = peakRssMiB(); // after the evaluation and the checkpoint
    if (peak !== null) record.peakRssMiB = peak;
    await runDir.appendJsonLine("epochs.jsonl", record);
    done = epoch;
    await run.log(
      `epoch ${epoch}/${config.epochs}: loss ${result.means.loss.toFixed(4)}, batch top-1 ${
        percent(result.means.top1)
      }${accuracies}, ${result.seconds.toFixed(1)} s`,
    );
  }
  return outcome("completed", `done: ${runDir.path} (last checkpoint ${lastCheckpoint})`);
}
