/**
 * The implicit-ETF head, the paper's method (docs/method.md section 2.3): `W = M̃·U⋆ᵀ`,
 * `b = −W·μ_G` (not detached), where U⋆ is the nearest simplex-ETF geometry to the normalised
 * feature moving average `Y = Ȳᵀ/‖Ȳ‖_F` (d×K), solved by the ClosestEtfGeometry node. So
 * `z = (h − μ_G)·U⋆·M̃`, and gradients reach the features directly and through U⋆. With a second
 * batch (`--implicit_forward_bs`, the `average` argument of `forward`) its features feed the
 * average instead, and the gradient through U⋆ reaches the backbone through that batch.
 *
 * Its state (moving average, step count, seen classes, previous U⋆) is explicit: a training
 * forward computes the next state without committing it (`afterStep` commits), so a forward can
 * be evaluated twice from the same state, and `getState`/`setState` serve checkpoints.
 *
 * On backends with synchronous reads (cpu, wasm) the forward reads Y itself. On WebGPU call
 * `prepare(h, labels)` first (it reads Y asynchronously and solves); the next training forward
 * then uses that solution.
 *
 * @module
 */
import { InvalidArgumentError } from "../../core/errors.ts";
import { eye, type Matrix } from "../../solver/matrix.ts";
import { tf } from "../tf.ts";
import {
  applyGeometry,
  DEFAULT_GEOMETRY,
  type GeometryOptions,
  type GeometrySolution,
  type GeometryStats,
  solveGeometry,
} from "./closest_etf_geometry.ts";
import {
  type FeatureAverageKind,
  type FeatureAverageState,
  featureAverageStep,
  initialFeatureAverage,
} from "./feature_average.ts";
import { centringBias, classify, type Head, type HeadOutput, simplexEtfTensor } from "./head.ts";

/**
 * The implicit head's state.
 *
 * @example
 * ```ts
 * const head = implicitHead({ featureDim: 512, numClasses: 10 });
 * const saved = head.getState(); // for a checkpoint
 * ```
 */
export type ImplicitState = { average: FeatureAverageState; U: Matrix | null };

/**
 * The implicit head: a {@link Head} with explicit state and an asynchronous `prepare`.
 *
 * @example
 * ```ts
 * import { tf } from "../tf.ts";
 * import { normaliseFeatures } from "./head.ts";
 * const head = implicitHead({ featureDim: 512, numClasses: 4 });
 * const h = normaliseFeatures(tf.randomNormal<tf.Rank.R2>([8, 512]), 5);
 * const labels = tf.tensor1d([0, 1, 2, 3, 0, 1, 2, 3], "int32");
 * await head.prepare(h, labels); // WebGPU only
 * const out = head.forward(h, labels, true);
 * head.afterStep();
 * console.log(head.lastStats?.iterations);
 * ```
 */
export interface ImplicitHead extends Head {
  /** Solves the node for this batch ahead of the forward, reading Y asynchronously. */
  prepare(h: tf.Tensor2D, labels: tf.Tensor1D): Promise<void>;
  /** The committed state (tensors owned by the head). */
  getState(): ImplicitState;
  /** Replaces the state (the head takes ownership of the tensors). */
  setState(state: ImplicitState): void;
  /** Solver diagnostics of the last training forward. */
  readonly lastStats: GeometryStats | null;
}

/**
 * Creates the implicit head.
 *
 * @example
 * ```ts
 * const head = implicitHead({ featureDim: 512, numClasses: 10 }); // EMA, trust-regions, DDN
 * ```
 */
export function implicitHead(options: {
  featureDim: number;
  numClasses: number;
  average?: FeatureAverageKind;
  geometry?: Partial<GeometryOptions>;
}): ImplicitHead {
  const { featureDim: d, numClasses: K } = options;
  if (!(d >= K)) {
    throw new InvalidArgumentError(
      "featureDim",
      `implicit head: feature dimension d=${d} < K=${K}; the simplex ETF needs d ≥ K`,
    );
  }
  const kind = options.average ?? "ema";
  const geometry: GeometryOptions = { ...DEFAULT_GEOMETRY, ...options.geometry };
  const Mt = simplexEtfTensor(K);
  let state: ImplicitState = { average: initialFeatureAverage(K, d), U: null };
  let prepared: GeometrySolution | null = null;
  let pending: { state: ImplicitState; solution: GeometrySolution; muG: tf.Tensor1D } | null = null;
  /** μ_G of the last committed training batch (for the evaluation classifier). */
  let committedMean: tf.Tensor1D | null = null;
  let lastStats: GeometryStats | null = null;

  const disposeAverage = (a: FeatureAverageState) => {
    a.running.dispose();
    a.seen.dispose();
  };
  const dropPending = () => {
    if (pending !== null) {
      disposeAverage(pending.state.average);
      pending.solution.dispose();
      pending.muG.dispose();
      pending = null;
    }
  };
  /** W = M̃·Uᵀ (K×d) of the committed U⋆ (I_{d×K} before the first step). */
  const currentW = () =>
    tf.tidy(() => {
      const U = tf.tensor2d(Float32Array.from((state.U ?? eye(d, K)).data), [d, K]);
      return tf.matMul(Mt, U, false, true) as tf.Tensor2D;
    });
  const classifier = () => {
    const W = currentW();
    return { W, b: centringBias(W, committedMean) };
  };
  /** Y = Ȳᵀ/‖Ȳ‖_F (d×K) from the K×d average. */
  const normalisedTarget = (average: tf.Tensor2D) =>
    tf.div(tf.transpose(average), tf.norm(average)) as tf.Tensor2D;
  const logitsFrom = (h: tf.Tensor2D, U: tf.Tensor2D): HeadOutput => {
    const muG = tf.mean(h, 0, true); // 1×d, with gradient
    const logits = tf.matMul(tf.matMul(tf.sub(h, muG), U), Mt) as tf.Tensor2D;
    const W = tf.matMul(Mt, U, false, true) as tf.Tensor2D; // M̃·Uᵀ (M̃ symmetric)
    const b = tf.neg(tf.squeeze(tf.matMul(W, muG, false, true), [1])) as tf.Tensor1D;
    return { logits, W, b };
  };

  return {
    method: "implicit",
    numClasses: K,
    parameters: [],
    get lastStats() {
      return lastStats;
    },
    async prepare(h, labels) {
      const Y = tf.tidy(() => {
        const { average, next } = featureAverageStep(kind, state.average, h, labels);
        disposeAverage(next);
        return normalisedTarget(average);
      });
      const values = await Y.data();
      Y.dispose();
      prepared?.dispose();
      prepared = solveGeometry(values, d, K, state.U, geometry);
      for (const t of Object.values(prepared.tensors)) tf.keep(t);
    },
    forward(h, labels, training, averageOn) {
      if (!training) {
        const c = classifier();
        return { logits: classify(h, c), ...c };
      }
      if (labels === null) {
        throw new InvalidArgumentError(
          "labels",
          "implicit head: a training forward needs the labels",
        );
      }
      dropPending();
      const fed = averageOn ?? { h, labels };
      const { average, next } = featureAverageStep(kind, state.average, fed.h, fed.labels);
      tf.keep(next.running);
      tf.keep(next.seen);
      const Y = normalisedTarget(average);
      let solution = prepared;
      prepared = null;
      if (solution === null) {
        solution = solveGeometry(Y.dataSync(), d, K, state.U, geometry);
        for (const t of Object.values(solution.tensors)) tf.keep(t);
      }
      lastStats = solution.stats;
      const muG = tf.keep(tf.mean(h, 0)) as tf.Tensor1D;
      pending = { state: { average: next, U: solution.U }, solution, muG };
      return logitsFrom(h, applyGeometry(Y, solution));
    },
    afterStep() {
      if (pending === null) return;
      disposeAverage(state.average);
      state = pending.state;
      pending.solution.dispose();
      committedMean?.dispose();
      committedMean = pending.muG;
      pending = null;
    },
    classifier,
    getState: () => state,
    setState(next) {
      dropPending();
      disposeAverage(state.average);
      state = next;
    },
    dispose() {
      dropPending();
      prepared?.dispose();
      disposeAverage(state.average);
      committedMean?.dispose();
      Mt.dispose();
    },
  };
}
