/**
 * One training step, shared by every method (standard, fixed, implicit), backbone, optimiser
 * and loss: forward, loss, gradients, optimiser update, head bookkeeping, and the step's
 * metrics (docs/method.md section 6) — loss, batch top-1/top-5, mean cosine similarity
 * `cos(h_i − mean_j h_j, w_{y_i} − mean_j w_{y_j})` (ε = 1e-6) and AGD's η — read back with a
 * single `await data()`, so a step blocks the GPU once (the implicit head on WebGPU also waits
 * for its target Y before the solve).
 *
 * Everything runs inside `tf.tidy`; only parameters, optimiser state and head state persist.
 * The implicit head on WebGPU (no synchronous reads) records the backbone's forward on the
 * gradient tape, reads its target Y asynchronously and solves the node, then runs the head and
 * back-propagates through the recorded tape ({@link TrainStepOptions}).
 *
 * @module
 */
import { InvalidArgumentError } from "../../core/errors.ts";
import type { Head } from "../heads/head.ts";
import { normaliseFeatures } from "../heads/head.ts";
import type { GeometryStats } from "../heads/closest_etf_geometry.ts";
import type { ImplicitHead } from "../heads/implicit.ts";
import { loss, type LossName } from "./losses.ts";
import { recordForward } from "./recorded_forward.ts";
import type { Backbone } from "../models/model.ts";
import type { Optimiser } from "../optim/optimiser.ts";
import { tf } from "../tf.ts";

/**
 * What a step trains.
 *
 * @example
 * ```ts
 * import { standardHead } from "../heads/standard.ts";
 * import { createBackbone } from "../models/backbones.ts";
 * import { sgd } from "../optim/sgd.ts";
 * const backbone = createBackbone("resnet18", { width: 8 });
 * const featureDim = backbone.featureDim;
 * const head = standardHead({ featureDim, numClasses: 10, bias: false, seed: 1 });
 * const optimiser = sgd([...backbone.parameters, ...head.parameters], { lr: 0.05 });
 * const setup: TrainingSetup = {
 *   backbone,
 *   head,
 *   optimiser,
 *   loss: "CrossEntropyLoss",
 *   temperature: 5,
 * };
 * ```
 */
export type TrainingSetup = {
  backbone: Backbone;
  /** The method's head. */
  head: Head;
  optimiser: Optimiser;
  loss: LossName;
  /** τ: features are normalised to this radius. */
  temperature: number;
  /**
   * `--warmup_epochs` (fixed and implicit methods): a learned classifier (a standard head, in
   * the optimiser from the start) that trains epochs 1…`epochs`; the method's head from then on.
   */
  warmup?: { head: Head; epochs: number };
};

/**
 * The head that trains epoch `epoch` (1-based) — the warmup classifier during the warmup
 * epochs, else the method's — and so the head a checkpoint written after that epoch holds.
 *
 * @example
 * ```ts
 * import { createTrainingSetup } from "./setup.ts";
 * const options = { model: "resnet18", method: "implicit", numClasses: 4, warmupEpochs: 2 };
 * const { setup } = createTrainingSetup(options);
 * headAt(setup, 2).method; // "standard"
 * headAt(setup, 3).method; // "implicit"
 * ```
 */
export function headAt(setup: TrainingSetup, epoch: number): Head {
  return setup.warmup !== undefined && epoch <= setup.warmup.epochs
    ? setup.warmup.head
    : setup.head;
}

/**
 * The metrics of one step (batch statistics, before the update's effect).
 *
 * @example
 * ```ts
 * import { tf } from "../tf.ts";
 * import { createTrainingSetup } from "./setup.ts";
 * const { setup } = createTrainingSetup({ model: "resnet18", method: "standard", numClasses: 4 });
 * const x = tf.randomNormal([8, 32, 32, 3]);
 * const y = tf.tensor1d([0, 1, 2, 3, 0, 1, 2, 3], "int32");
 * const m = await trainStep(setup, x, y); console.log(m.loss, m.top1);
 * ```
 */
export type StepMetrics = {
  loss: number;
  /** Fraction of the batch whose top logit is the label. */
  top1: number;
  /** Fraction whose label is among the top min(5, K) logits. */
  top5: number;
  /** Mean cosine similarity of centred features and centred label classifiers. */
  cosine: number;
  /** AGD's η (absent for other optimisers). */
  eta?: number;
  /** The implicit head's solver diagnostics. */
  solver?: GeometryStats;
};

/** Backends whose tensors cannot be read synchronously. */
function asyncOnly(): boolean {
  return tf.getBackend() === "webgpu";
}

function isImplicit(head: Head): head is ImplicitHead {
  return head.method === "implicit";
}

/**
 * Batch metrics as a tensor [top1, top5, cosine] for logits (N×K), labels, features h (N×d)
 * and classifier W (K×d).
 *
 * @example
 * ```ts
 * import { tf } from "../tf.ts";
 * const h = tf.randomNormal<tf.Rank.R2>([8, 16]), W = tf.randomNormal<tf.Rank.R2>([4, 16]);
 * const logits = tf.matMul(h, W, false, true) as tf.Tensor2D; // N×K
 * const labels = tf.tensor1d([0, 1, 2, 3, 0, 1, 2, 3], "int32");
 * const [top1, top5, cos] = batchMetrics(logits, labels, h, W).dataSync();
 * ```
 */
export function batchMetrics(
  logits: tf.Tensor2D,
  labels: tf.Tensor1D,
  h: tf.Tensor2D,
  W: tf.Tensor2D,
): tf.Tensor1D {
  return tf.tidy(() => {
    const K = logits.shape[1];
    const y = tf.cast(labels, "int32");
    const hits = (k: number) => {
      const idx = tf.topk(logits, Math.min(k, K)).indices; // N×k
      return tf.mean(tf.cast(tf.any(tf.equal(idx, tf.reshape(y, [-1, 1])), 1), "float32"));
    };
    const hc = tf.sub(h, tf.mean(h, 0, true));
    const wy = tf.gather(W, y);
    const wc = tf.sub(wy, tf.mean(wy, 0, true));
    const eps = 1e-6;
    const norms = tf.mul(
      tf.maximum(tf.norm(hc, "euclidean", 1), eps),
      tf.maximum(tf.norm(wc, "euclidean", 1), eps),
    );
    const cos = tf.mean(tf.div(tf.sum(tf.mul(hc, wc), 1), norms));
    return tf.stack([hits(1), hits(5), cos]) as tf.Tensor1D;
  });
}

/**
 * How the implicit head gets its target Y each step: `"inside"` reads it synchronously inside
 * the training forward (cpu, wasm); `"ahead"` records the backbone's forward on the gradient
 * tape, reads Y asynchronously, solves, then runs the head and back-propagates through the
 * recorded tape (WebGPU, which has no synchronous reads; no second forward). Both give the
 * same update. `"auto"` (default) takes `"ahead"` on WebGPU only.
 *
 * @example
 * ```ts
 * import { tf } from "../tf.ts";
 * import { createTrainingSetup } from "./setup.ts";
 * const { setup } = createTrainingSetup({ model: "resnet18", method: "implicit", numClasses: 4 });
 * const x = tf.randomNormal([8, 32, 32, 3]);
 * const labels = tf.tensor1d([0, 1, 2, 3, 0, 1, 2, 3], "int32");
 * await trainStep(setup, x, labels, { implicitTarget: "ahead" });
 * ```
 */
export type TrainStepOptions = {
  implicitTarget?: "auto" | "inside" | "ahead";
  /**
   * `--implicit_forward_bs` (implicit head only): a second batch, run through the backbone in
   * training mode after the first, whose features and labels feed the feature average (and so
   * U⋆) instead of the training batch's; the loss is the training batch's.
   */
  average?: { x: tf.Tensor; labels: tf.Tensor1D };
};

/**
 * One training step on the batch (x, labels): updates the parameters, the BatchNorm running
 * statistics and the head's state, and returns the step's metrics.
 *
 * @example
 * ```ts
 * import { tf } from "../tf.ts";
 * import { createTrainingSetup } from "./setup.ts";
 * const { setup } = createTrainingSetup({ model: "resnet18", method: "implicit", numClasses: 4 });
 * const batches: [tf.Tensor, tf.Tensor1D][] = [
 *   [tf.randomNormal([8, 32, 32, 3]), tf.tensor1d([0, 1, 2, 3, 0, 1, 2, 3], "int32")],
 * ];
 * for (const [x, y] of batches) console.log(await trainStep(setup, x, y));
 * ```
 */
export async function trainStep(
  setup: TrainingSetup,
  x: tf.Tensor,
  labels: tf.Tensor1D,
  options: TrainStepOptions = {},
): Promise<StepMetrics> {
  const { backbone, head, optimiser, temperature } = setup;
  const target = options.implicitTarget ?? "auto";
  if (!["auto", "inside", "ahead"].includes(target)) {
    throw new InvalidArgumentError(
      "options.implicitTarget",
      `got ${JSON.stringify(target)}, allowed: auto, inside, ahead`,
    );
  }
  const ahead = isImplicit(head) && (target === "ahead" || (target === "auto" && asyncOnly()));
  const second = options.average;
  if (second !== undefined && !isImplicit(head)) {
    throw new InvalidArgumentError(
      "options.average",
      `a second batch feeds the implicit head's feature average; this head is ${head.method}`,
    );
  }
  const N = labels.shape[0];
  /** The training batch's rows and the second batch's (when there is one) of the features. */
  const parts = (all: tf.Tensor2D): [tf.Tensor2D, tf.Tensor2D | null] =>
    second === undefined ? [all, null] : [
      tf.slice(all, [0, 0], [N, -1]) as tf.Tensor2D,
      tf.slice(all, [N, 0], [-1, -1]) as tf.Tensor2D,
    ];
  /** The head's loss for features h; keeps the batch metrics in `metrics`. */
  let metrics: tf.Tensor1D | null = null;
  const headLoss = (all: tf.Tensor2D): tf.Scalar => {
    const [h, h2] = parts(all);
    const out = head.forward(
      h,
      labels,
      true,
      h2 === null ? undefined : { h: h2, labels: second!.labels },
    );
    metrics = tf.keep(batchMetrics(out.logits, labels, h, out.W));
    return loss(setup.loss, out.logits, labels);
  };
  /** Both passes in training mode, one after the other (each its own BatchNorm statistics). */
  const features = () => {
    const h = normaliseFeatures(backbone.features(x, true), temperature);
    if (second === undefined) return h;
    const h2 = normaliseFeatures(backbone.features(second.x, true), temperature);
    return tf.concat([h, h2]) as tf.Tensor2D;
  };
  /** Optimiser step, then [loss, top1, top5, cosine, η] as one tensor. */
  const update = (value: tf.Scalar, grads: tf.NamedTensorMap): tf.Tensor1D => {
    const { eta } = optimiser.step(grads);
    const m = metrics as unknown as tf.Tensor1D;
    const all = tf.concat([tf.reshape(value, [1]), m, tf.reshape(eta ?? tf.scalar(NaN), [1])]);
    m.dispose();
    return all as tf.Tensor1D;
  };
  let summary: tf.Tensor1D;
  if (ahead) {
    const recorded = recordForward(features);
    try {
      const fed = second === undefined ? null : tf.tidy(() => parts(recorded.value)[1]!);
      try {
        await (head as ImplicitHead).prepare(fed ?? recorded.value, second?.labels ?? labels);
      } finally {
        fed?.dispose();
      }
      summary = tf.tidy(() => {
        // The implicit head has no parameters: every gradient comes through h.
        const { value, grad } = tf.valueAndGrad(headLoss)(recorded.value);
        const variables = backbone.parameters.map((p) => p.variable);
        const grads = recorded.backward(grad, variables);
        return update(value, Object.fromEntries(variables.map((v, i) => [v.name, grads[i]])));
      });
    } finally {
      recorded.dispose();
    }
  } else {
    const variables = [...backbone.parameters, ...head.parameters].map((p) => p.variable);
    summary = tf.tidy(() => {
      const { value, grads } = tf.variableGrads(() => headLoss(features()), variables);
      return update(value, grads);
    });
  }
  head.afterStep();
  const v = await summary.data();
  summary.dispose();
  const result: StepMetrics = { loss: v[0], top1: v[1], top5: v[2], cosine: v[3] };
  if (optimiser.name === "AGD") result.eta = v[4];
  if (isImplicit(head) && head.lastStats !== null) result.solver = head.lastStats;
  return result;
}
