/**
 * `nearestEtf`: the nearest simplex-ETF geometry to a matrix of class means (docs/method.md
 * section 4), by Riemannian trust-regions (the paper's method) or by the exact closed form.
 *
 * @module
 */
import { InvalidArgumentError } from "../core/errors.ts";
import { EtfLocalModel, etfTrustRegionProblem } from "./etf_chart.ts";
import { EtfProblem } from "./etf_problem.ts";
import { eye, type Matrix, matrix } from "./matrix.ts";
import { orthonormalise } from "./orthonormalise.ts";
import { type PolarDecomposition, polarFactor } from "./polar.ts";
import { frobeniusNorm } from "./products.ts";
import { type IterationLog, type StoppingReason, trustRegions } from "./trust_regions.ts";
import { checkChoice, checkKeys, checkMatrix, checkNumber, checkOrthonormal } from "./validate.ts";

/** The forward solvers. */
export const ETF_SOLVERS = ["trust-regions", "closed-form"] as const;
/** A forward solver name. */
export type EtfSolver = typeof ETF_SOLVERS[number];

/**
 * Options of {@link nearestEtf}.
 *
 * @example
 * ```ts
 * import { randomNormal, Rng } from "../core/random.ts";
 * const Uprev = nearestEtf(randomNormal(new Rng(0), 16, 4)).U; // the previous solve
 * const opts: NearestEtfOptions = { prox: Uprev, start: Uprev, delta: 1e-3 };
 * ```
 */
export type NearestEtfOptions = {
  /** Initial U (d×K, orthonormal columns); default `prox`, else `I_{d×K}`. */
  start?: Matrix;
  /** Proximal anchor (orthonormal); omitted ⇒ the feasibility problem. */
  prox?: Matrix;
  /** Proximal weight δ ≥ 0, default 1e-3; only with `prox`. */
  delta?: number;
  /** Default "trust-regions". */
  solver?: EtfSolver;
  /** Trust-regions outer iterations, default 30; 0 returns the start, evaluated. */
  maxIterations?: number;
  /** Stop when the Riemannian gradient norm is below this, default 1e-6. */
  minGradientNorm?: number;
  /** Stop after this many seconds, default 1000 (pymanopt's default). */
  maxTime?: number;
  /** Called after every trust-region iteration (a diagnostic sink). */
  onIteration?: (entry: IterationLog) => void;
};

/**
 * The result of {@link nearestEtf}.
 *
 * @example
 * ```ts
 * import { randomNormal, Rng } from "../core/random.ts";
 * const Y = randomNormal(new Rng(0), 16, 4);
 * const { U, cost, gradientNorm, iterations, stoppingReason, seconds, log } = nearestEtf(Y);
 * ```
 */
export type NearestEtfResult = {
  /** The solution on St(d,K); the ETF itself is `U·M/sqrt(K−1)`. */
  U: Matrix;
  /** f(U) (the δ term only for the proximal problem). */
  cost: number;
  /** The Riemannian gradient norm at U. */
  gradientNorm: number;
  /** Trust-region outer iterations (0 for the closed form). */
  iterations: number;
  stoppingReason: StoppingReason;
  seconds: number;
  /** Per-iteration trust-region log (empty for the closed form). */
  log: IterationLog[];
};

const OPTION_KEYS = [
  "start",
  "prox",
  "delta",
  "solver",
  "maxIterations",
  "minGradientNorm",
  "maxTime",
  "onIteration",
] as const;

/** Relative size of ‖Y·M‖ below which Y counts as having no spread between classes. */
const SPREAD_TOLERANCE = 1e-12;

/**
 * Validates Y (d×K, finite, d ≥ K ≥ 2, with spread between classes).
 *
 * @example
 * ```ts
 * import { fromRows } from "./matrix.ts";
 * const Y = fromRows([[1, 2, 3]]); // 1×3: d < K
 * checkEtfTarget(Y); // throws InvalidArgumentError("Y: ...")
 * ```
 */
export function checkEtfTarget(Y: unknown, name = "Y"): Matrix {
  const M = checkMatrix(name, Y);
  if (M.cols < 2) {
    throw new InvalidArgumentError(name, `has K=${M.cols} column(s); need K ≥ 2 classes (columns)`);
  }
  if (M.rows < M.cols) {
    throw new InvalidArgumentError(
      name,
      `is ${M.rows}×${M.cols}: d=${M.rows} < K=${M.cols}; St(d,K) needs d ≥ K (rows ≥ columns)`,
    );
  }
  return M;
}

/**
 * Checks that the problem's Y has spread between classes: ‖Y·M‖_F > SPREAD_TOLERANCE·‖Y‖_F.
 *
 * @example
 * ```ts
 * import { EtfProblem } from "./etf_problem.ts";
 * import { fromRows } from "./matrix.ts";
 * const Y = fromRows([[1, 1], [2, 2]]); // both classes at the same point
 * checkSpread(new EtfProblem(Y, null, 0), "Y"); // throws InvalidArgumentError("Y: has no spread …")
 * ```
 */
export function checkSpread(problem: EtfProblem, name: string): void {
  const spread = problem.spread;
  const scale = frobeniusNorm(problem.Y);
  if (!(spread > SPREAD_TOLERANCE * scale) || scale === 0) {
    throw new InvalidArgumentError(
      name,
      `has no spread between classes (‖Y·M‖_F = ${spread.toExponential(3)}, ‖Y‖_F = ` +
        `${scale.toExponential(3)}): all columns are equal, so no ETF is nearest; ` +
        `need ‖Y·M‖_F > ${SPREAD_TOLERANCE}·‖Y‖_F`,
    );
  }
}

/**
 * Checks an orthonormal d×K argument and returns its polar factor: the argument itself when it
 * is orthonormal to rounding, else a re-orthonormalised copy.
 *
 * @example
 * ```ts
 * import { eye } from "./matrix.ts";
 * const d = 16, K = 4;
 * const p: unknown = eye(d, K); // e.g. a caller's options.prox
 * const prox = checkStiefelPoint("options.prox", p, d, K);
 * ```
 */
export function checkStiefelPoint(name: string, value: unknown, d: number, K: number): Matrix {
  const U = checkMatrix(name, value, d, K);
  return orthonormalise(U, 6, checkOrthonormal(name, U));
}

/** Validated problem, start and settings of a call. */
type Prepared = {
  problem: EtfProblem;
  start: Matrix;
  solver: EtfSolver;
  maxIterations: number;
  minGradientNorm: number;
  maxTime: number;
};

function prepare(Y: Matrix, options: NearestEtfOptions): Prepared {
  if (typeof options !== "object" || options === null) {
    throw new InvalidArgumentError("options", `expected an object, got ${options}`);
  }
  checkKeys("options", options, OPTION_KEYS);
  const target = checkEtfTarget(Y);
  const d = target.rows, K = target.cols;
  const prox = options.prox === undefined
    ? null
    : checkStiefelPoint("options.prox", options.prox, d, K);
  if (options.delta !== undefined && prox === null) {
    throw new InvalidArgumentError(
      "options.delta",
      "given without options.prox; δ weights the proximal term ‖U − U_prox‖², so it needs a proximal anchor",
    );
  }
  const delta = options.delta === undefined
    ? 1e-3
    : checkNumber("options.delta", options.delta, { min: 0 });
  const start = options.start === undefined
    ? (prox ?? eye(d, K))
    : options.start === options.prox && prox !== null
    ? prox
    : checkStiefelPoint("options.start", options.start, d, K);
  const solver = checkChoice("options.solver", options.solver ?? "trust-regions", ETF_SOLVERS);
  const maxIterations = checkNumber("options.maxIterations", options.maxIterations ?? 30, {
    min: 0,
    integer: true,
  });
  const minGradientNorm = checkNumber("options.minGradientNorm", options.minGradientNorm ?? 1e-6, {
    min: 0,
  });
  const maxTime = checkNumber("options.maxTime", options.maxTime ?? 1000, {
    min: 0,
    minExclusive: true,
  });
  if (options.onIteration !== undefined && typeof options.onIteration !== "function") {
    throw new InvalidArgumentError("options.onIteration", "must be a function");
  }
  const problem = new EtfProblem(target, prox, delta);
  checkSpread(problem, "Y");
  return { problem, start, solver, maxIterations, minGradientNorm, maxTime };
}

/**
 * Polar decompositions computed by the closed-form forward of the proximal problem, keyed by the
 * returned U's storage, with the inputs they were computed from, so that `nearestEtfVjp` can
 * reuse them (the feasibility problem has no backward, so its solves are not kept).
 */
export const closedFormCache = new WeakMap<Float64Array, ClosedFormRecord>();

/** What the closed-form forward keeps for its backward: inputs as given, problem, polar factor. */
export type ClosedFormRecord = {
  /** Copy of Y's entries. */
  Y: Float64Array;
  /** Copy of the caller's prox entries (before re-orthonormalisation), or null. */
  proxInput: Float64Array | null;
  delta: number;
  problem: EtfProblem;
  polar: PolarDecomposition;
};

/**
 * Records a proximal closed-form solve for its backward. The record holds copies of Y and the
 * anchor, never the caller's matrices: in a training sequence the anchor is the previous solve's
 * U, a key of this cache, and a record holding it would keep every earlier record alive (90 MB a
 * step at d = 2048, K = 1000).
 */
function rememberClosedForm(problem: EtfProblem, proxInput: Matrix, polar: PolarDecomposition) {
  const { d, K } = problem, n = d * K;
  const snapshot = new Float64Array(2 * n); // one allocation: Y, then the caller's prox
  snapshot.set(problem.Y.data);
  snapshot.set(proxInput.data, n);
  const Y = snapshot.subarray(0, n), prox = snapshot.subarray(n);
  // The problem's anchor is the caller's prox when that was orthonormal, else our own copy.
  const keptProx = problem.prox === proxInput ? matrix(d, K, prox) : problem.prox;
  closedFormCache.set(polar.U.data, {
    Y,
    proxInput: prox,
    delta: problem.delta,
    problem: problem.over(matrix(d, K, Y), keptProx),
    polar,
  });
}

/**
 * The nearest simplex-ETF geometry to Y: `U⋆ = argmin_{U ∈ St(d,K)} f(U)`,
 * `f(U) = ‖Y − U·M/sqrt(K−1)‖_F² + (δ/2)·‖U − U_prox‖_F²` (the δ term only with `prox`).
 * Y is used as given (not normalised).
 *
 * @example
 * ```ts
 * import { randomNormal, Rng } from "../core/random.ts";
 * const rng = new Rng(0);
 * const Y = randomNormal(rng, 16, 4), Y2 = randomNormal(rng, 16, 4); // two steps' targets
 * const first = nearestEtf(Y); // feasibility problem from I_{d×K}
 * const next = nearestEtf(Y2, { prox: first.U }); // proximal problem, started at prox
 * ```
 */
export function nearestEtf(Y: Matrix, options: NearestEtfOptions = {}): NearestEtfResult {
  const t0 = performance.now();
  const { problem, start, solver, maxIterations, minGradientNorm, maxTime } = prepare(Y, options);
  if (solver === "trust-regions" || maxIterations === 0) {
    const r = trustRegions(etfTrustRegionProblem(problem), start, {
      maxIterations,
      minGradientNorm,
      maxTime,
      onIteration: options.onIteration,
    });
    return {
      U: r.point,
      cost: r.cost,
      gradientNorm: r.gradientNorm,
      iterations: r.iterations,
      stoppingReason: r.stoppingReason,
      seconds: (performance.now() - t0) / 1000,
      log: r.log,
    };
  }
  const polar = polarFactor(problem.A, { start, minNullity: problem.prox === null ? 1 : 0 });
  const U = polar.U;
  // Only the proximal problem has a backward, so only its solves are cached for one.
  if (options.prox !== undefined) rememberClosedForm(problem, options.prox, polar);
  return {
    U,
    cost: problem.cost(U),
    gradientNorm: new EtfLocalModel(problem, U).gradientNorm,
    iterations: 0,
    stoppingReason: "closed-form",
    seconds: (performance.now() - t0) / 1000,
    log: [],
  };
}
