/**
 * The implicit backward of the proximal nearest-ETF node, prepared once per solve
 * (docs/method.md section 5): `prepareEtfBackward` computes the backward's K×K factors in float64,
 * and `apply(v)` turns `∂L/∂U = v` into `∂L/∂Y` with three O(dK²) products. This module is
 * the one place that decides how the DDN Schur (Lyapunov-type) system is solved, with which
 * tolerances, and what happens when the Hessian is not positive definite; `nearestEtfVjp` and
 * the tfjs node (`nets/heads/closest_etf_geometry.ts`) both use it. (The paper's dense Schur
 * route, `nearestEtfVjp(…, { schur: "dense" })`, is kept in `vjp_ddn.ts` as an independent
 * reference.)
 *
 * **One formula for both methods.** With UᵀU = I, the DDN backward (`B = (2/(K−1))·M + δ·I −
 * sym(Uᵀ∇f(U))`, `w = −v·B⁻¹`, Schur system `S·B⁻¹ + B⁻¹·S = R`, `u = w + U·S·B⁻¹`,
 * `∂L/∂Y = −c·u·M`) reduces in B's eigenbasis `B = Q·Λ·Qᵀ` to
 *
 *   `∂L/∂Y = c·(U·Q·Ω·Qᵀ + (I − UUᵀ)·v·Q·Λ⁻¹·Qᵀ)·M`,  `G = Qᵀ·Uᵀv·Q`,  `Ω_ij = (G_ij − G_ji)/(λ_i + λ_j)`,
 *
 * i.e. `c·Hess⁻¹[P_U(v)]·M` with the Riemannian Hessian `(Ω, N) ↦ (skew(Ω·B), N·B)`, which is
 * diagonal in this basis (eigenvalues `(λ_i + λ_j)/2` on the skew part, `λ_j` on the normal
 * part). The closed-form backward (the polar factor's derivative at `polar(A)`,
 * `A = c·Y·M + δ·U_prox = P·Σ·Qᵀ`) is the same expression with U = polar(A), Q and Λ = Σ from
 * A's SVD. So both methods prepare the same factors (U, Q, the pair weights `1/(λ_i + λ_j)`, the
 * values `1/λ_j`, and `Qᵀ·M`, `Q·Λ⁻¹·Qᵀ·M` with the centring folded in) and share one `apply`:
 *
 *   `∂L/∂Y = c·(U·(Q·X·(QᵀM)) + v·(Q·Λ⁻¹·QᵀM))`,  `X = (G − Gᵀ)∘pairWeights − G·diag(1/λ)`.
 *
 * M is folded into the K×K factors in float64 because B's smallest eigenvector is nearly
 * 1/sqrt(K) (σ_min(A) ≈ δ comes from `A·1 = δ·U_prox·1`): M removes the large 1/λ_min part, and
 * a float32 consumer that multiplied by M last would keep the rounding of that part,
 * ε₃₂·λ_max/λ_min relative (1.4e-6 measured at d = 512, K = 10), instead of ≈ 3e-8.
 *
 * **A Hessian that is not positive definite.** The formula needs only a non-singular Riemannian
 * Hessian: `λ_i + λ_j ≠ 0` (i ≠ j) and `λ_j ≠ 0`. For an indefinite but non-singular B (a
 * critical point that is not the minimiser, or a solve stopped early) it is the exact DDN
 * solution: at a critical point, the derivative of that critical point as a function of Y.
 * A pair (eigenvalue) is numerically singular when `|λ_i + λ_j|` (`|λ_j|`) is at most
 * {@link SINGULAR_PAIR_TOLERANCE}·max|λ|; its weight is set to 0, which is the Moore–Penrose
 * pseudo-inverse of the Riemannian Hessian (the minimum-norm least-squares Newton step), and the
 * diagnostics say so (`fallback: "pseudo-inverse"`). By default (`requirePositiveDefinite`, as
 * `nearestEtfVjp` always did) a B that is not numerically positive definite is an error instead.
 *
 * @module
 */
import { InvalidArgumentError } from "../core/errors.ts";
import { centreRows } from "./centring.ts";
import { symmetricEigen } from "./eigen.ts";
import { EtfProblem } from "./etf_problem.ts";
import { type Matrix, matrix, transpose } from "./matrix.ts";
import {
  checkEtfTarget,
  checkSpread,
  checkStiefelPoint,
  closedFormCache,
  type ClosedFormRecord,
} from "./nearest_etf.ts";
import { polarFactor } from "./polar.ts";
import { matmul, matmulNT, matmulSum, matmulTN } from "./products.ts";
import { checkChoice, checkKeys, checkMatrix, checkNumber, checkOrthonormal } from "./validate.ts";

/**
 * The backward methods.
 *
 * @example
 * ```ts
 * ETF_VJP_METHODS.includes("closed-form"); // true
 * ```
 */
export const ETF_VJP_METHODS = ["ddn", "closed-form"] as const;
/**
 * A backward method name.
 *
 * @example
 * ```ts
 * const method: EtfVjpMethod = "ddn";
 * ```
 */
export type EtfVjpMethod = typeof ETF_VJP_METHODS[number];

/**
 * Largest accepted `max |U − polar(A)|` for the closed-form backward.
 *
 * @example
 * ```ts
 * import { randomNormal, Rng } from "../core/random.ts";
 * import { EtfProblem } from "./etf_problem.ts";
 * import { maxAbsDiff } from "./matrix.ts";
 * import { nearestEtf } from "./nearest_etf.ts";
 * import { polarFactor } from "./polar.ts";
 * const Y = randomNormal(new Rng(0), 16, 4);
 * const prox = nearestEtf(Y).U;
 * const { U } = nearestEtf(Y, { prox });
 * const { A } = new EtfProblem(Y, prox, 1e-3); // A = c·Y·M + δ·prox
 * if (maxAbsDiff(U, polarFactor(A).U) > POLAR_MATCH_TOLERANCE) console.log("solve further");
 * ```
 */
export const POLAR_MATCH_TOLERANCE = 1e-4;

/**
 * Relative tolerance below which an eigenvalue pair of the Hessian counts as singular:
 * `|λ_i + λ_j| ≤ SINGULAR_PAIR_TOLERANCE·max_k|λ_k|` (and `|λ_j| ≤ …` for one eigenvalue).
 * B's eigenvalues are accurate to about K·ε·‖B‖ (≤ 2.2e-14·‖B‖ for K ≤ 100: B is formed from U
 * and ∇f with rounding ε·‖B‖, and the symmetric eigensolver is backward stable), so a pair sum
 * below 1e-12·‖B‖ has no reliable digit; above it the exact solve is well determined.
 *
 * @example
 * ```ts
 * import { randomNormal, Rng } from "../core/random.ts";
 * import { EtfProblem } from "./etf_problem.ts";
 * import { nearestEtf } from "./nearest_etf.ts";
 * import { matmulTN } from "./products.ts";
 * const Y = randomNormal(new Rng(0), 16, 4);
 * const prox = nearestEtf(Y).U;
 * const { U } = nearestEtf(Y, { prox });
 * const problem = new EtfProblem(Y, prox, 1e-3);
 * const B = problem.lagrangianMatrix(matmulTN(U, problem.egrad(U))); // K×K
 * const { values } = analyseHessian(B, false);
 * const [l1, l2] = values;
 * const scale = Math.max(...Array.from(values, Math.abs));
 * const singular = Math.abs(l1 + l2) <= SINGULAR_PAIR_TOLERANCE * scale;
 * ```
 */
export const SINGULAR_PAIR_TOLERANCE = 1e-12;

/**
 * Options of {@link prepareEtfBackward}.
 *
 * @example
 * ```ts
 * import { randomNormal, Rng } from "../core/random.ts";
 * import { nearestEtf } from "./nearest_etf.ts";
 * const Uprev = nearestEtf(randomNormal(new Rng(0), 16, 4)).U; // the previous solve
 * const opts: EtfBackwardOptions = {
 *   prox: Uprev,
 *   delta: 1e-3,
 *   method: "ddn",
 *   requirePositiveDefinite: false,
 * };
 * ```
 */
export type EtfBackwardOptions = {
  /** The proximal anchor the forward used (required: only the proximal problem has a backward). */
  prox: Matrix;
  /** The proximal weight the forward used, > 0, default 1e-3. */
  delta?: number;
  /** Default "ddn" (the paper's). */
  method?: EtfVjpMethod;
  /**
   * Default true: a DDN Hessian B that is not numerically positive definite
   * (λ_min ≤ {@link SINGULAR_PAIR_TOLERANCE}·max|λ|) raises an `InvalidArgumentError` (U is then
   * not a minimiser). False: the exact solve for a non-singular indefinite B and the
   * pseudo-inverse on singular pairs, reported in the diagnostics (what a training node wants).
   * The closed form's Hessian Σ is always positive definite.
   */
  requirePositiveDefinite?: boolean;
};

/**
 * What the backward found about its Hessian factor (B for DDN, `Q·Σ·Qᵀ` for the closed form).
 *
 * @example
 * ```ts
 * import { randomNormal, Rng } from "../core/random.ts";
 * import { nearestEtf } from "./nearest_etf.ts";
 * const Y = randomNormal(new Rng(0), 16, 4);
 * const prox = nearestEtf(Y).U;
 * const { U } = nearestEtf(Y, { prox });
 * const { hessianMinEigenvalue, hessianPositiveDefinite, singularPairs, fallback } =
 *   prepareEtfBackward(Y, U, { prox, requirePositiveDefinite: false }).diagnostics;
 * ```
 */
export type EtfBackwardDiagnostics = {
  /** The smallest eigenvalue of B (DDN) or σ_min(A) (closed form). */
  hessianMinEigenvalue: number;
  /** λ_min > {@link SINGULAR_PAIR_TOLERANCE}·max|λ|. */
  hessianPositiveDefinite: boolean;
  /**
   * Index pairs i ≤ j treated as singular: i < j with `|λ_i + λ_j| ≤ tol`, and i = j with
   * `|λ_i| ≤ tol` (tol = {@link SINGULAR_PAIR_TOLERANCE}·max|λ|).
   */
  singularPairs: number;
  /** "none": the exact solve; "pseudo-inverse": singular pairs were given weight 0. */
  fallback: "none" | "pseudo-inverse";
};

/**
 * The backward of one solve, in float64: `∂L/∂Y = c·(U·(Q·X·QtM) + v·inverseM)` with
 * `G = Qᵀ·(Uᵀv)·Q`, `X_ij = (G_ij − G_ji)·pairWeights_ij − G_ij·inverseValues_j`.
 *
 * @example
 * ```ts
 * import { randomNormal, Rng } from "../core/random.ts";
 * import { nearestEtf } from "./nearest_etf.ts";
 * const rng = new Rng(0);
 * const Y = randomNormal(rng, 16, 4), dU = randomNormal(rng, 16, 4); // dU = ∂L/∂U
 * const prox = nearestEtf(Y).U;
 * const { U } = nearestEtf(Y, { prox });
 * const back = prepareEtfBackward(Y, U, { prox });
 * const dY = back.apply(dU); // the same as nearestEtfVjp(Y, U, dU, { prox })
 * ```
 */
export type EtfBackwardFactors = {
  method: EtfVjpMethod;
  /** c = 2/sqrt(K−1). */
  c: number;
  /** Where the derivative is taken (d×K): the given U (DDN) or polar(A) (closed form). */
  U: Matrix;
  /** K×K orthogonal: B's eigenvectors (DDN) or A's right singular vectors (closed form). */
  Q: Matrix;
  /** The K eigenvalues λ (B's, ascending; or σ(A), descending), in Q's column order. */
  values: Float64Array;
  /** K×K: `1/(λ_i + λ_j)` for i ≠ j, 0 on the diagonal (unused) and on singular pairs. */
  pairWeights: Matrix;
  /** `1/λ_j` (0 where singular). */
  inverseValues: Float64Array;
  /** K×K: `Qᵀ·M`. */
  QtM: Matrix;
  /** K×K: `Q·diag(inverseValues)·Qᵀ·M` (B⁻¹·M, or its pseudo-inverse times M). */
  inverseM: Matrix;
  diagnostics: EtfBackwardDiagnostics;
  /** `∂L/∂Y` (d×K) for `∂L/∂U = v` (d×K). */
  apply(v: Matrix): Matrix;
};

/**
 * A validated backward request (see {@link validateBackwardInput}).
 *
 * @example
 * ```ts
 * import { randomNormal, Rng } from "../core/random.ts";
 * import { nearestEtf } from "./nearest_etf.ts";
 * const Y = randomNormal(new Rng(0), 16, 4);
 * const prox = nearestEtf(Y).U;
 * const { U } = nearestEtf(Y, { prox });
 * const { problem, method } = validateBackwardInput(Y, U, { prox }, ["prox"]);
 * ```
 */
export type BackwardInput = {
  problem: EtfProblem;
  U: Matrix;
  method: EtfVjpMethod;
  requirePositiveDefinite: boolean;
  /** The closed-form forward's record for these inputs, if U came from it. */
  record: ClosedFormRecord | null;
};

const OPTION_KEYS = ["prox", "delta", "method", "requirePositiveDefinite"] as const;

/**
 * The backward of the proximal nearest-ETF node at U for target Y (d×K), prepared once:
 * "ddn" (the paper's) from `B = (2/(K−1))·M + δ·I − sym(Uᵀ∇f(U))` at the given U;
 * "closed-form" from the polar factor of `A = c·Y·M + δ·prox` (reusing the closed-form forward's
 * when U came from it with the same inputs), after checking that U is within
 * {@link POLAR_MATCH_TOLERANCE} of it. Bad input raises `InvalidArgumentError`.
 *
 * @example
 * ```ts
 * import { randomNormal, Rng } from "../core/random.ts";
 * import { nearestEtf } from "./nearest_etf.ts";
 * const rng = new Rng(0);
 * const Y = randomNormal(rng, 16, 4), dU = randomNormal(rng, 16, 4); // dU = ∂L/∂U
 * const prox = nearestEtf(Y).U; // the previous step's solution
 * const r = nearestEtf(Y, { prox });
 * const back = prepareEtfBackward(Y, r.U, { prox, requirePositiveDefinite: false });
 * console.log(back.diagnostics.hessianMinEigenvalue);
 * const dY = back.apply(dU);
 * ```
 */
export function prepareEtfBackward(
  Y: Matrix,
  U: Matrix,
  options: EtfBackwardOptions,
): EtfBackwardFactors {
  return backwardFactors(validateBackwardInput(Y, U, options, OPTION_KEYS));
}

/**
 * Validates a backward request (shared by {@link prepareEtfBackward} and `nearestEtfVjp`):
 * shapes, finiteness, the proximal anchor, δ > 0, the method, orthonormality of U and the spread
 * of Y. `dU` is checked too when given.
 *
 * @example
 * ```ts
 * import { randomNormal, Rng } from "../core/random.ts";
 * import { nearestEtf } from "./nearest_etf.ts";
 * const Y = randomNormal(new Rng(0), 16, 4);
 * const prox = nearestEtf(Y).U;
 * const { U } = nearestEtf(Y, { prox });
 * const input = validateBackwardInput(Y, U, { prox }, ["prox", "delta", "method"]);
 * ```
 */
export function validateBackwardInput(
  Y: Matrix,
  U: Matrix,
  options: EtfBackwardOptions,
  allowedKeys: readonly string[],
  dU?: Matrix,
): BackwardInput {
  if (typeof options !== "object" || options === null) {
    throw new InvalidArgumentError(
      "options",
      `expected an object with a proximal anchor { prox }, got ${options}`,
    );
  }
  checkKeys("options", options, allowedKeys);
  const target = checkEtfTarget(Y);
  const d = target.rows, K = target.cols;
  checkMatrix("U", U, d, K);
  if (dU !== undefined) checkMatrix("dU", dU, d, K);
  if (options.prox === undefined) {
    throw new InvalidArgumentError(
      "options.prox",
      "is required: the backward exists only for the proximal problem (δ > 0); the feasibility " +
        "problem's solution set is not a differentiable function of Y (docs/method.md section 5)",
    );
  }
  checkMatrix("options.prox", options.prox, d, K);
  const delta = checkNumber("options.delta", options.delta ?? 1e-3, { min: 0, minExclusive: true });
  const method = checkChoice("options.method", options.method ?? "ddn", ETF_VJP_METHODS);
  const requirePositiveDefinite = options.requirePositiveDefinite ?? true;
  if (typeof requirePositiveDefinite !== "boolean") {
    throw new InvalidArgumentError(
      "options.requirePositiveDefinite",
      `got ${String(requirePositiveDefinite)}, allowed: true, false`,
    );
  }
  // The closed-form forward validated these very inputs (same entries) and kept its factors.
  const record = method === "closed-form" ? cachedRecord(target, U, options.prox, delta) : null;
  if (record === null) checkOrthonormal("U", U);
  const problem = record?.problem ??
    new EtfProblem(target, checkStiefelPoint("options.prox", options.prox, d, K), delta);
  if (record === null) checkSpread(problem, "Y");
  return { problem, U, method, requirePositiveDefinite, record };
}

/**
 * The factors of a validated request: B's eigen-decomposition (DDN) or A's polar factor
 * (closed form), then the pair weights under this module's singularity policy.
 *
 * @example
 * ```ts
 * import { randomNormal, Rng } from "../core/random.ts";
 * import { nearestEtf } from "./nearest_etf.ts";
 * const Y = randomNormal(new Rng(0), 16, 4);
 * const prox = nearestEtf(Y).U;
 * const { U } = nearestEtf(Y, { prox });
 * const back = backwardFactors(validateBackwardInput(Y, U, { prox }, ["prox"]));
 * ```
 */
export function backwardFactors(input: BackwardInput): EtfBackwardFactors {
  const { problem, U, method, requirePositiveDefinite, record } = input;
  const K = problem.K;
  if (method === "ddn") {
    const B = problem.lagrangianMatrix(matmulTN(U, problem.egrad(U)));
    const { values, vectors, diagnostics } = analyseHessian(B, requirePositiveDefinite);
    return factorsFrom("ddn", problem, U, vectors, values, diagnostics);
  }
  const polar = record?.polar ?? polarFactor(problem.A);
  if (polar.rank < K) {
    throw new InvalidArgumentError(
      "Y",
      `A = c·Y·M + δ·prox is rank-deficient (rank ${polar.rank} < K=${K}): the polar factor ` +
        "is not differentiable there",
    );
  }
  let gap = 0;
  for (let i = 0; i < U.data.length; i++) {
    gap = Math.max(gap, Math.abs(U.data[i] - polar.U.data[i]));
  }
  if (!(gap <= POLAR_MATCH_TOLERANCE)) {
    throw new InvalidArgumentError(
      "U",
      `is not the solution polar(c·Y·M + δ·prox): max|U − polar(A)| = ${gap.toExponential(3)}, ` +
        `allowed ≤ ${POLAR_MATCH_TOLERANCE} (solve to a smaller minGradientNorm or with more ` +
        "iterations, or pass the matching prox and delta)",
    );
  }
  return factorsFrom(
    "closed-form",
    problem,
    polar.U,
    polar.Q,
    polar.sigma,
    classifySpectrum(polar.sigma),
  );
}

/**
 * B's eigen-decomposition (ascending) and what it means for the backward; throws the
 * "not a minimiser" `InvalidArgumentError` when `requirePositiveDefinite` and B is not
 * numerically positive definite. The one decision on B, also used by the dense reference.
 *
 * @example
 * ```ts
 * import { randomNormal, Rng } from "../core/random.ts";
 * import { nearestEtf } from "./nearest_etf.ts";
 * import { EtfProblem } from "./etf_problem.ts";
 * import { matmulTN } from "./products.ts";
 * const Y = randomNormal(new Rng(0), 16, 4);
 * const prox = nearestEtf(Y).U;
 * const { U } = nearestEtf(Y, { prox });
 * const problem = new EtfProblem(Y, prox, 1e-3);
 * const B = problem.lagrangianMatrix(matmulTN(U, problem.egrad(U))); // K×K
 * const { values, vectors, diagnostics } = analyseHessian(B, false);
 * ```
 */
export function analyseHessian(
  B: Matrix,
  requirePositiveDefinite: boolean,
): { values: Float64Array; vectors: Matrix; diagnostics: EtfBackwardDiagnostics } {
  const { values, vectors } = symmetricEigen(B);
  const diagnostics = classifySpectrum(values);
  if (requirePositiveDefinite && !diagnostics.hessianPositiveDefinite) {
    throw new InvalidArgumentError(
      "U",
      "is not a minimiser of the proximal problem: the Hessian of the Lagrangian " +
        "(2/(K−1))·M + δ·I − sym(∇f(U)ᵀU) is not positive definite there (λ_min = " +
        `${diagnostics.hessianMinEigenvalue.toExponential(3)}); pass requirePositiveDefinite: ` +
        "false for the derivative at a critical point that is not a minimiser",
    );
  }
  return { values, vectors, diagnostics };
}

/** The singularity threshold for eigenvalues `values`: tolerance·max|λ|. */
function singularThreshold(values: Float64Array): number {
  let scale = 0;
  for (const v of values) scale = Math.max(scale, Math.abs(v));
  return SINGULAR_PAIR_TOLERANCE * scale;
}

function classifySpectrum(values: Float64Array): EtfBackwardDiagnostics {
  const K = values.length, tol = singularThreshold(values);
  let min = Infinity, singularPairs = 0;
  for (let i = 0; i < K; i++) {
    min = Math.min(min, values[i]);
    if (!(Math.abs(values[i]) > tol)) singularPairs++;
    for (let j = i + 1; j < K; j++) if (!(Math.abs(values[i] + values[j]) > tol)) singularPairs++;
  }
  return {
    hessianMinEigenvalue: min,
    hessianPositiveDefinite: min > tol,
    singularPairs,
    fallback: singularPairs > 0 ? "pseudo-inverse" : "none",
  };
}

function factorsFrom(
  method: EtfVjpMethod,
  problem: EtfProblem,
  U: Matrix,
  Q: Matrix,
  values: Float64Array,
  diagnostics: EtfBackwardDiagnostics,
): EtfBackwardFactors {
  const { d, K, c } = problem;
  const tol = singularThreshold(values);
  const inverseValues = new Float64Array(K);
  for (let j = 0; j < K; j++) inverseValues[j] = Math.abs(values[j]) > tol ? 1 / values[j] : 0;
  const pairWeights = matrix(K, K);
  for (let i = 0; i < K; i++) {
    for (let j = 0; j < K; j++) {
      const s = values[i] + values[j];
      pairWeights.data[i * K + j] = i !== j && Math.abs(s) > tol ? 1 / s : 0;
    }
  }
  const QS = matrix(K, K);
  for (let i = 0; i < K; i++) {
    for (let j = 0; j < K; j++) QS.data[i * K + j] = Q.data[i * K + j] * inverseValues[j];
  }
  const inverseM = centreRows(matmulNT(QS, Q)); // (Q·Λ⁻¹·Qᵀ)·M: each row minus its mean
  const QtM = centreRows(transpose(Q)); // Qᵀ·M
  const w = pairWeights.data, iv = inverseValues;
  return {
    method,
    c,
    U,
    Q,
    values,
    pairWeights,
    inverseValues,
    QtM,
    inverseM,
    diagnostics,
    apply(v: Matrix): Matrix {
      checkMatrix("v", v, d, K);
      const G = matmulTN(Q, matmul(matmulTN(U, v), Q)), g = G.data;
      const X = matrix(K, K);
      for (let i = 0; i < K; i++) {
        for (let j = 0; j < K; j++) {
          X.data[i * K + j] = (g[i * K + j] - g[j * K + i]) * w[i * K + j] - g[i * K + j] * iv[j];
        }
      }
      const out = matmulSum(U, matmul(matmul(Q, X), QtM), v, inverseM);
      for (let i = 0; i < out.data.length; i++) out.data[i] *= c;
      return out;
    },
  };
}

function sameData(a: Float64Array, b: Float64Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function cachedRecord(Y: Matrix, U: Matrix, prox: Matrix, delta: number): ClosedFormRecord | null {
  const hit = closedFormCache.get(U.data);
  if (hit === undefined || hit.proxInput === null || hit.delta !== delta) return null;
  if (!sameData(hit.Y, Y.data) || !sameData(hit.proxInput, prox.data)) return null;
  return hit;
}
