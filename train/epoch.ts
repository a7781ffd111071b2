/**
 * One training epoch of an opened run: every batch through the shared `trainStep`, one line per
 * step in `steps.jsonl`, a progress bar (or plain lines off a terminal), and the epoch's means.
 * Stops early, after the step in progress, when asked to (Ctrl-C), and at a non-finite loss.
 *
 * @module
 */
import { type Batch, batches, epochPlan, forwardBatches } from "../data/pipeline.ts";
import { tf } from "../nets/tf.ts";
import { headAt, trainStep } from "../nets/training/train_step.ts";
import { learningRate } from "../nets/optim/schedule.ts";
import type { OpenRun } from "./open_run.ts";
import { Progress } from "./progress.ts";

/**
 * How an epoch ended: its means over the batches (weighted by batch size), or why it stopped.
 *
 * @example
 * ```ts
 * import { parseTrainArgs, type TrainRequest } from "./config.ts";
 * import { openRun } from "./open_run.ts";
 * const request = parseTrainArgs(["--preset", "quick"], "implicit") as TrainRequest;
 * const run = await openRun(request, { log: console.error });
 * const r = await trainEpoch(run, 1, 0, () => false);
 * if (r.status === "done") console.log(r.means.loss);
 * ```
 */
export type EpochResult =
  | {
    status: "done";
    means: { loss: number; top1: number; top5: number; cosine: number };
    seconds: number;
    /** Of `seconds`, the time spent making batches (reading, decoding, transforming). */
    inputSeconds: number;
    globalStep: number;
  }
  | { status: "interrupted"; globalStep: number }
  | { status: "diverged"; loss: number; globalStep: number };

/**
 * Trains epoch `epoch` (1-based) from step `globalStep`; `stop()` is polled after every step.
 *
 * @example
 * ```ts
 * import { parseTrainArgs, type TrainRequest } from "./config.ts";
 * import { openRun } from "./open_run.ts";
 * const request = parseTrainArgs(["--preset", "quick"], "implicit") as TrainRequest;
 * const run = await openRun(request, { log: console.error });
 * let interrupted = false;
 * Deno.addSignalListener("SIGINT", () => interrupted = true);
 * const epoch = run.start.epoch + 1, step = run.start.globalStep; // the next epoch (1-based)
 * const result = await trainEpoch(run, epoch, step, () => interrupted);
 * ```
 */
export async function trainEpoch(
  run: OpenRun,
  epoch: number,
  globalStep: number,
  stop: () => boolean,
): Promise<EpochResult> {
  const { config, runDir, setup } = run;
  // Each batch's tensors are disposed before the next batch is made: one buffer serves them all.
  const options = { ...run.pipeline, epoch: epoch - 1, reuseOutput: true };
  const total = epochPlan(run.data.train, options).batches.length;
  const progress = new Progress(total, `epoch ${epoch}/${config.epochs}`);
  const t0 = performance.now();
  const sums = { loss: 0, top1: 0, top5: 0, cosine: 0, n: 0 };
  const indices = run.evaluation.net.inputs === "indices";
  /** A batch's network input (sample indices for the UFM) and labels, as tensors. */
  const tensorsOf = (b: Batch) => ({
    x: indices ? tf.tensor1d(b.indices, "int32") : tf.tensor(b.x, b.shape),
    labels: tf.tensor1d(b.labels, "int32"),
  });
  let inputMs = 0;
  const stream = batches(run.data.train, options);
  const nextBatch = () => {
    const t = performance.now();
    const next = stream.next();
    inputMs += performance.now() - t;
    return next.done ? null : next.value;
  };
  // --warmup_epochs: the learned classifier trains the first epochs, then the method's head;
  // from then on the classifier gets no gradient and the optimiser leaves it alone.
  const head = headAt(setup, epoch);
  if (setup.warmup !== undefined && head !== setup.warmup.head) {
    setup.optimiser.freeze(setup.warmup.head.parameters);
  }
  const stepSetup = head === setup.head ? setup : { ...setup, head };
  // The second batches feed the implicit head's average: none while the warmup classifier trains.
  const B2 = head.method === "implicit" ? config.implicitForwardBs : null;
  const second = B2 === null ? null : forwardBatches(run.data.train, options, B2);
  /** The tensors of `--implicit_forward_bs`'s batch for training batch b. */
  const averageInputs = (b: number) => {
    if (second === null) return undefined;
    const t = performance.now();
    const fed = second(b);
    inputMs += performance.now() - t;
    return tensorsOf(fed);
  };
  try {
    for (let batch = nextBatch(); batch !== null; batch = nextBatch()) {
      const { x, labels: y } = tensorsOf(batch);
      const s0 = performance.now();
      const lr = run.lrSchedule === null
        ? undefined
        : learningRate(run.lrSchedule, epoch - 1, globalStep);
      if (lr !== undefined) setup.optimiser.setLearningRate!(lr);
      const average = averageInputs(batch.batch);
      const m = await trainStep(stepSetup, x, y, { average });
      tf.dispose([x, y, average?.x, average?.labels].filter((t) => t !== undefined));
      globalStep++;
      if (!Number.isFinite(m.loss)) return { status: "diverged", loss: m.loss, globalStep };
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
        ...(lr !== undefined ? { lr } : {}),
        ...(m.solver
          ? {
            solverIterations: m.solver.iterations,
            solverGradientNorm: m.solver.gradientNorm,
            solverSeconds: m.solver.seconds,
            ...(m.solver.hessianMinEigenvalue !== undefined
              ? {
                hessianMinEigenvalue: m.solver.hessianMinEigenvalue,
                hessianPositiveDefinite: m.solver.hessianPositiveDefinite,
                backwardFallback: m.solver.backwardFallback,
              }
              : {}),
          }
          : {}),
        seconds: (performance.now() - s0) / 1000,
      });
      if ((batch.batch + 1) % config.logInterval === 0 || batch.batch + 1 === total) {
        const status = `loss ${m.loss.toFixed(4)} top1 ${(100 * m.top1).toFixed(1)}%`;
        progress.update(batch.batch + 1, status);
        await runDir.log(`epoch ${epoch} batch ${batch.batch + 1}/${total} ${status}`);
      }
      if (stop()) return { status: "interrupted", globalStep };
    }
  } finally {
    progress.done();
  }
  return {
    status: "done",
    means: {
      loss: sums.loss / sums.n,
      top1: sums.top1 / sums.n,
      top5: sums.top5 / sums.n,
      cosine: sums.cosine / sums.n,
    },
    seconds: (performance.now() - t0) / 1000,
    inputSeconds: inputMs / 1000,
    globalStep,
  };
}
