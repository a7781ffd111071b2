/**
 * The ClosestEtfGeometry node: U⋆ = nearestEtf(Y) as a tfjs op with the implicit backward.
 *
 * The solve runs in float64 on the CPU (`solveGeometry`, from Y's values), and prepares every
 * matrix the backward needs as float32 tensors; `applyGeometry` then wraps the solution in
 * `tf.customGrad`, whose gradient applies the vector–Jacobian product with tensor ops only (no
 * reads: it must run inside WebGPU gradient passes). Backward methods:
 * - "ddn" (the paper's): with `B = (2/(K−1))·M + δ·I − sym(Uᵀ∇f(U))` at the returned U,
 *   `w = −v·B⁻¹`, `R = −(Uᵀw + wᵀU)`, the Schur solve in B's eigenbasis
 *   (`S̃·B⁻¹ = Q·((QᵀRQ)∘Ψ)·Qᵀ`, `Ψ_ij = λ_i/(λ_i + λ_j)`, exact because UᵀU = I),
 *   `u = w + U·S̃·B⁻¹`, `∂L/∂Y = −c·u·M`;
 * - "closed-form": the polar factor's derivative at `polar(A)`, `A = c·Y·M + δ·U_prox`:
 *   `G = Qᵀ(Uᵀv)Q`, `X = (G − Gᵀ)∘[1/(σ_i+σ_j)] − G·Σ⁻¹`,
 *   `∂L/∂Y = c·(U·QXQᵀ + v·QΣ⁻¹Qᵀ)·M`;
 * - "none": no gradient through U⋆ (the paper's ablation).
 * The first solve (no previous U) is the feasibility problem from I_{d×K}; its solution is the
 * start and the proximal anchor of the first proximal solve (METHOD.md section 4).
 *
 * @module
 */
import { symmetricEigen } from "../../solver/eigen.ts";
import { EtfProblem } from "../../solver/etf_problem.ts";
import { type Matrix, matrix } from "../../solver/matrix.ts";
import { type EtfSolver, nearestEtf } from "../../solver/nearest_etf.ts";
import { polarFactor } from "../../solver/polar.ts";
import { matmulTN } from "../../solver/products.ts";
import type { StoppingReason } from "../../solver/trust_regions.ts";
import { tf } from "../tf.ts";

/** The backward methods, as `--etf_backward` spells them. */
export const ETF_BACKWARDS = ["ddn", "closed-form", "none"] as const;
/** A backward method. */
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

/** Defaults: trust-regions, DDN, δ = 1e-3, 30 iterations, gradient norm 1e-6. */
export const DEFAULT_GEOMETRY: GeometryOptions = {
  solver: "trust-regions",
  backward: "ddn",
  delta: 1e-3,
  maxIterations: 30,
  minGradientNorm: 1e-6,
};

/**
 * Solver diagnostics of one step (the proximal solve; `feasibility` for the first step's).
 *
 * @example
 * ```ts
 * console.log(solution.stats.iterations, solution.stats.gradientNorm);
 * ```
 */
export type GeometryStats = {
  iterations: number;
  gradientNorm: number;
  seconds: number;
  stoppingReason: StoppingReason;
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
 * const sol = solveGeometry(Ydata, d, K, previousU, DEFAULT_GEOMETRY);
 * const U = applyGeometry(Y, sol);
 * sol.dispose();
 * ```
 */
export type GeometrySolution = {
  U: Matrix;
  stats: GeometryStats;
  backward: EtfBackward;
  /** float32 tensors: "U" and the backward's ("Binv", "Q", "Psi" | "Up", "Q", "invSum", "sigInv", "K2"). */
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
  const problem = new EtfProblem(Y, prox, options.delta);
  const tensors: Record<string, tf.Tensor> = { U: toTensor(r.U) };
  if (options.backward === "ddn") {
    const B = problem.lagrangianMatrix(matmulTN(r.U, problem.egrad(r.U)));
    const { values: lam, vectors: Q } = symmetricEigen(B);
    if (!(lam[0] > 0)) {
      throw new Error(
        `ClosestEtfGeometry: the DDN Hessian is not positive definite at the solution (λ_min = ${
          lam[0]
        }); ` +
          "the solve did not reach a minimiser",
      );
    }
    const Binv = matrix(K, K), Psi = matrix(K, K);
    for (let i = 0; i < K; i++) {
      for (let j = 0; j < K; j++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += Q.data[i * K + k] * Q.data[j * K + k] / lam[k];
        Binv.data[i * K + j] = s;
        Psi.data[i * K + j] = lam[i] / (lam[i] + lam[j]);
      }
    }
    Object.assign(tensors, { Binv: toTensor(Binv), Q: toTensor(Q), Psi: toTensor(Psi) });
  } else if (options.backward === "closed-form") {
    const polar = polarFactor(problem.A);
    let gap = 0;
    for (let i = 0; i < r.U.data.length; i++) {
      gap = Math.max(gap, Math.abs(r.U.data[i] - polar.U.data[i]));
    }
    if (polar.rank < K || !(gap <= 1e-4)) {
      throw new Error(
        `ClosestEtfGeometry: the closed-form backward needs the solve to reach polar(A) within 1e-4 ` +
          `(max|U − polar(A)| = ${
            gap.toExponential(3)
          }, rank ${polar.rank}/${K}); use more iterations`,
      );
    }
    const { Q, sigma } = polar;
    const invSum = matrix(K, K), sigInv = matrix(1, K), K2 = matrix(K, K);
    for (let i = 0; i < K; i++) {
      sigInv.data[i] = 1 / sigma[i];
      for (let j = 0; j < K; j++) {
        invSum.data[i * K + j] = 1 / (sigma[i] + sigma[j]);
        let s = 0;
        for (let k = 0; k < K; k++) s += Q.data[i * K + k] * Q.data[j * K + k] / sigma[k];
        K2.data[i * K + j] = s;
      }
    }
    Object.assign(tensors, {
      Up: toTensor(polar.U),
      Q: toTensor(Q),
      invSum: toTensor(invSum),
      sigInv: toTensor(sigInv),
      K2: toTensor(K2),
    });
  }
  return {
    U: r.U,
    stats: {
      iterations: r.iterations,
      gradientNorm: r.gradientNorm,
      seconds: r.seconds,
      stoppingReason: r.stoppingReason,
      ...(feasibility ? { feasibility } : {}),
    },
    backward: options.backward,
    tensors,
    c: problem.c,
    dispose() {
      for (const t of Object.values(tensors)) t.dispose();
    },
  };
}

/** `X·M`: each row minus its mean. */
function centreRows(X: tf.Tensor): tf.Tensor2D {
  return tf.sub(X, tf.mean(X, 1, true)) as tf.Tensor2D;
}

/** The vector–Jacobian product `∂L/∂Y` for `∂L/∂U = v`, tensor ops only. */
function vjp(sol: GeometrySolution, v: tf.Tensor2D): tf.Tensor2D {
  const t = sol.tensors as Record<string, tf.Tensor2D>;
  if (sol.backward === "none") return tf.zerosLike(v);
  if (sol.backward === "ddn") {
    const { U, Binv, Q, Psi } = t;
    const w = tf.neg(tf.matMul(v, Binv));
    const Utw = tf.matMul(U, w, true, false);
    const R = tf.neg(tf.add(Utw, tf.transpose(Utw)));
    const Rp = tf.matMul(tf.matMul(Q, R, true, false), Q);
    const SBinv = tf.matMul(tf.matMul(Q, tf.mul(Rp, Psi)), Q, false, true);
    const u = tf.add(w, tf.matMul(U, SBinv));
    return tf.mul(-sol.c, centreRows(u));
  }
  const { Up, Q, invSum, sigInv, K2 } = t;
  const G = tf.matMul(tf.matMul(Q, tf.matMul(Up, v, true, false), true, false), Q);
  const X = tf.sub(tf.mul(tf.sub(G, tf.transpose(G)), invSum), tf.mul(G, sigInv));
  const K1 = tf.matMul(tf.matMul(Q, X), Q, false, true);
  const dA = tf.add(tf.matMul(Up, K1), tf.matMul(v, K2));
  return tf.mul(sol.c, centreRows(dA));
}

/**
 * U⋆ as a function of the tensor Y (d×K) for the gradient tape: the value is the solution's U,
 * the gradient the implicit VJP. Y must hold the values the solution was computed from.
 *
 * @example
 * ```ts
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
