/**
 * The ClosestEtfGeometry node: U⋆ = nearestEtf(Y) as a tfjs op with the implicit backward.
 *
 * The solve runs in float64 on the CPU (`solveGeometry`, from Y's values), and so does the
 * preparation of the backward: `prepareEtfBackward` (solver/etf_backward.ts, the one
 * implementation the library's `nearestEtfVjp` uses too) computes its K×K factors once per
 * solve. This module only converts them to float32 tensors; `applyGeometry` then wraps the
 * solution in `tf.customGrad`, whose gradient applies
 * `∂L/∂Y = c·(U_b·(Q·X·QtM) + v·inverseM)`, `G = Qᵀ·(U_bᵀv)·Q`,
 * `X = (G − Gᵀ)∘pairWeights − G·diag(inverseValues)`, with tensor ops only (no reads: it must
 * run inside WebGPU gradient passes). The centring M is folded into `QtM = Qᵀ·M` and
 * `inverseM = Q·Λ⁻¹·Qᵀ·M` in float64, which keeps the float32 error near 3e-8 instead of
 * ε₃₂·λ_max/λ_min (see solver/etf_backward.ts). Backward methods:
 * - "ddn" (the paper's): factors from B's eigen-decomposition,
 *   `B = (2/(K−1))·M + δ·I − sym(Uᵀ∇f(U)) = Q·Λ·Qᵀ` at the returned U (U_b = U),
 *   `pairWeights_ij = 1/(λ_i + λ_j)`, `inverseValues = 1/λ`, `inverseM = B⁻¹·M` — the DDN
 *   Schur solve in B's eigenbasis, exact because UᵀU = I;
 * - "closed-form": the polar factor's derivative at `U_b = polar(A)`, `A = c·Y·M + δ·U_prox =
 *   P·Σ·Qᵀ`: the same expression with Λ = Σ;
 * - "none": no gradient through U⋆ (the paper's ablation).
 * A DDN Hessian B that is not positive definite does not stop training: the exact solve is used
 * while B is non-singular, the pseudo-inverse on numerically singular eigenvalue pairs, and the
 * step's `GeometryStats` say so (`hessianMinEigenvalue`, `hessianPositiveDefinite`,
 * `backwardFallback`, `backwardSingularPairs`).
 * The first solve (no previous U) is the feasibility problem from I_{d×K}; its solution is the
 * start and the proximal anchor of the first proximal solve (docs/method.md section 4).
 *
 * @module
 */
import { InvalidArgumentError } from "../../core/errors.ts";
import { prepareEtfBackward } from "../../solver/etf_backward.ts";
import { type Matrix, matrix } from "../../solver/matrix.ts";
import { type EtfSolver, nearestEtf } from "../../solver/nearest_etf.ts";
import type { StoppingReason } from "../../solver/trust_regions.ts";
import { tf } from "../tf.ts";

/**
 * The backward methods, as `--etf_backward` spells them.
 *
 * @example
 * ```ts
 * ETF_BACKWARDS.includes("none"); // true
 * ```
 */
export const ETF_BACKWARDS = ["ddn", "closed-form", "none"] as const;
/**
 * A backward method.
 *
 * @example
 * ```ts
 * const backward: EtfBackward = "closed-form";
 * ```
 */
export type EtfBackward = typeof ETF_BACKWARDS[number];

/**
 * Settings of the node (defaults are the paper's).
 *
 * @example
 * ```ts
 * const g: GeometryOptions = { solver: "trust-regions", backward: "ddn", delta: 1e-3, maxIterations: 30, minGradientNorm: 1e-6 };
 * ```
 */
export type GeometryOptions = {
  solver: EtfSolver;
  backward: EtfBackward;
  delta: number;
  maxIterations: number;
  minGradientNorm: number;
};

/**
 * Defaults: trust-regions, DDN, δ = 1e-3, 30 iterations, gradient norm 1e-6.
 *
 * @example
 * ```ts
 * const options: GeometryOptions = { ...DEFAULT_GEOMETRY, backward: "closed-form" };
 * ```
 */
export const DEFAULT_GEOMETRY: GeometryOptions = {
  solver: "trust-regions",
  backward: "ddn",
  delta: 1e-3,
  maxIterations: 30,
  minGradientNorm: 1e-6,
};

/**
 * Solver diagnostics of one step (the proximal solve; `feasibility` for the first step's), and
 * what the backward found (absent with backward "none").
 *
 * @example
 * ```ts
 * import { tf } from "../tf.ts";
 * const d = 16, K = 4;
 * const Y = tf.randomNormal<tf.Rank.R2>([d, K]); // the target from the class means
 * const solution = solveGeometry(await Y.data(), d, K, null, DEFAULT_GEOMETRY);
 * console.log(solution.stats.iterations, solution.stats.gradientNorm);
 * if (solution.stats.hessianPositiveDefinite === false) console.log(solution.stats.backwardFallback);
 * ```
 */
export type GeometryStats = {
  iterations: number;
  gradientNorm: number;
  seconds: number;
  stoppingReason: StoppingReason;
  /**
   * The smallest eigenvalue of the backward's Hessian: B's for "ddn" (≤ 0 when the solve did not
   * reach a minimiser), σ_min(A) for "closed-form".
   */
  hessianMinEigenvalue?: number;
  /** Whether that Hessian is numerically positive definite (always true for "closed-form"). */
  hessianPositiveDefinite?: boolean;
  /**
   * "none": the exact implicit backward (also for a non-singular indefinite B);
   * "pseudo-inverse": numerically singular eigenvalue pairs were given weight 0;
   * "ddn": the closed-form backward was asked for, but the solve did not reach polar(A) (or A
   * was rank-deficient), so the DDN backward at the returned U was used.
   */
  backwardFallback?: "none" | "pseudo-inverse" | "ddn";
  /** How many eigenvalue pairs (i ≤ j) were treated as singular (0 unless "pseudo-inverse"). */
  backwardSingularPairs?: number;
  feasibility?: {
    iterations: number;
    gradientNorm: number;
    seconds: number;
    stoppingReason: StoppingReason;
  };
};

/**
 * A solved node: U⋆ in float64 (the next step's proximal anchor) and as a tensor, the tensors
 * the backward needs, and the solver's diagnostics.
 *
 * @example
 * ```ts
 * import { tf } from "../tf.ts";
 * const d = 16, K = 4;
 * const Y = tf.randomNormal<tf.Rank.R2>([d, K]);
 * const Ydata = await Y.data();
 * const previousU = solveGeometry(Ydata, d, K, null, DEFAULT_GEOMETRY).U; // the last step's U⋆
 * const sol = solveGeometry(Ydata, d, K, previousU, DEFAULT_GEOMETRY);
 * const U = applyGeometry(Y, sol);
 * sol.dispose();
 * ```
 */
export type GeometrySolution = {
  U: Matrix;
  stats: GeometryStats;
  backward: EtfBackward;
  /**
   * float32 tensors: "U" and the backward's factors "Q", "QtM", "pairWeights", "inverseValues"
   * (1×K), "inverseM", plus "Ub" (polar(A)) for "closed-form" when it is not U itself.
   */
  tensors: Record<string, tf.Tensor>;
  /** c = 2/sqrt(K−1). */
  c: number;
  dispose(): void;
};

function toTensor(A: Matrix): tf.Tensor2D {
  return tf.tensor2d(Float32Array.from(A.data), [A.rows, A.cols]);
}

/**
 * Solves the node for Y (d×K, row-major float values) with previous solution `previous`
 * (null on the first step), and prepares its backward.
 *
 * @example
 * ```ts
 * import { tf } from "../tf.ts";
 * const d = 16, K = 4;
 * const Y = tf.randomNormal<tf.Rank.R2>([d, K]);
 * const sol = solveGeometry(await Y.data(), d, K, null, DEFAULT_GEOMETRY);
 * ```
 */
export function solveGeometry(
  values: ArrayLike<number>,
  d: number,
  K: number,
  previous: Matrix | null,
  options: GeometryOptions,
): GeometrySolution {
  const Y = matrix(d, K, Float64Array.from(values));
  let prox = previous;
  let feasibility: GeometryStats["feasibility"];
  if (prox === null) {
    const f = nearestEtf(Y, { solver: options.solver, maxIterations: options.maxIterations });
    prox = f.U;
    feasibility = {
      iterations: f.iterations,
      gradientNorm: f.gradientNorm,
      seconds: f.seconds,
      stoppingReason: f.stoppingReason,
    };
  }
  const r = nearestEtf(Y, {
    prox,
    start: prox,
    delta: options.delta,
    solver: options.solver,
    maxIterations: options.maxIterations,
    minGradientNorm: options.minGradientNorm,
  });
  const tensors: Record<string, tf.Tensor> = { U: toTensor(r.U) };
  let c = 2 / Math.sqrt(K - 1);
  let backward: Partial<GeometryStats> = {};
  if (options.backward !== "none") {
    const prepare = (method: "ddn" | "closed-form") =>
      prepareEtfBackward(Y, r.U, {
        prox,
        delta: options.delta,
        method,
        requirePositiveDefinite: false,
      });
    // The closed form differentiates polar(A); a trust-region solve stopped short of it (30
    // iterations) is differentiated as the critical point it is, by DDN, rather than ending the
    // run: the step's diagnostics say so.
    let f: ReturnType<typeof prepare>, fellBack = false;
    try {
      f = prepare(options.backward);
    } catch (e) {
      if (!(options.backward === "closed-form" && e instanceof InvalidArgumentError)) throw e;
      f = prepare("ddn");
      fellBack = true;
    }
    c = f.c;
    if (f.U.data !== r.U.data) tensors.Ub = toTensor(f.U);
    tensors.Q = toTensor(f.Q);
    tensors.QtM = toTensor(f.QtM);
    tensors.pairWeights = toTensor(f.pairWeights);
    tensors.inverseValues = toTensor(matrix(1, K, f.inverseValues));
    tensors.inverseM = toTensor(f.inverseM);
    const dg = f.diagnostics;
    backward = {
      hessianMinEigenvalue: dg.hessianMinEigenvalue,
      hessianPositiveDefinite: dg.hessianPositiveDefinite,
      backwardFallback: fellBack ? "ddn" : dg.fallback,
      backwardSingularPairs: dg.singularPairs,
    };
  }
  return {
    U: r.U,
    stats: {
      iterations: r.iterations,
      gradientNorm: r.gradientNorm,
      seconds: r.seconds,
      stoppingReason: r.stoppingReason,
      ...backward,
      ...(feasibility ? { feasibility } : {}),
    },
    backward: options.backward,
    tensors,
    c,
    dispose() {
      for (const t of Object.values(tensors)) t.dispose();
    },
  };
}

/** The vector–Jacobian product `∂L/∂Y` for `∂L/∂U = v`, tensor ops only (no reads). */
function vjp(sol: GeometrySolution, v: tf.Tensor2D): tf.Tensor2D {
  if (sol.backward === "none") return tf.zerosLike(v);
  const t = sol.tensors as Record<string, tf.Tensor2D>;
  const { Q, QtM, pairWeights, inverseValues, inverseM } = t;
  const Ub = t.Ub ?? t.U;
  const G = tf.matMul(tf.matMul(Q, tf.matMul(Ub, v, true, false), true, false), Q);
  const X = tf.sub(tf.mul(tf.sub(G, tf.transpose(G)), pairWeights), tf.mul(G, inverseValues));
  const KM = tf.matMul(tf.matMul(Q, X), QtM); // Q·X·Qᵀ·M
  return tf.mul(sol.c, tf.add(tf.matMul(Ub, KM), tf.matMul(v, inverseM)));
}

/**
 * U⋆ as a function of the tensor Y (d×K) for the gradient tape: the value is the solution's U,
 * the gradient the implicit VJP. Y must hold the values the solution was computed from.
 *
 * @example
 * ```ts
 * import { tf } from "../tf.ts";
 * const d = 16, K = 4;
 * const Y = tf.randomNormal<tf.Rank.R2>([d, K]);
 * const prev = null; // the previous step's solution U (null on the first step)
 * const U = applyGeometry(Y, solveGeometry(Y.dataSync(), d, K, prev, DEFAULT_GEOMETRY));
 * ```
 */
export function applyGeometry(Y: tf.Tensor2D, sol: GeometrySolution): tf.Tensor2D {
  const op = tf.customGrad(
    ((_y: tf.Tensor) => ({
      value: tf.clone(sol.tensors.U),
      gradFunc: (dy: tf.Tensor) => vjp(sol, dy as tf.Tensor2D),
    })) as unknown as Parameters<typeof tf.customGrad>[0],
  );
  return op(Y) as tf.Tensor2D;
}
