/**
 * The paper's dense route for the DDN backward of the proximal nearest-ETF node (docs/method.md
 * section 5), kept as an independent reference for the prepared backward of `etf_backward.ts`
 * (`nearestEtfVjp(…, { schur: "dense" | "dense-lu" })`): the equality-constrained
 * deep-declarative-node formula with an explicitly assembled K(K+1)/2 Schur matrix, and no
 * eigen-decomposition and no use of UᵀU = I in the numbers.
 *
 * With `B = (2/(K−1))·M + δ·I − Σ`, `Σ = sym(∇f(U)ᵀU)`, the Lagrangian Hessian is `H[V] = V·B`
 * (one K×K inverse serves all d rows), the constraint Jacobian is `A[V] = vech(UᵀV + VᵀU)` with
 * adjoint `Aᵀ[s] = U·(S + Sᵀ)` (S the lower-triangular matrix holding s), and
 * `∂²f/∂Y∂U = −c·(I_d ⊗ M)`. Then `w = −H⁻¹v`, `T = H⁻¹Aᵀ`, `s = (A·T)⁻¹(−A·w)`, `u = w + T·s`,
 * `∂L/∂Y = −c·u·M`. The Schur matrix `A·T` is built column by column in O(K⁴) from UᵀU and B⁻¹.
 * Linear solves as the paper: Cholesky, LU with partial pivoting when that fails ("dense"), or
 * LU throughout ("dense-lu", which also serves an indefinite B). Whether a B that is not
 * positive definite is accepted is decided by `analyseHessian` in `etf_backward.ts`.
 *
 * @module
 */
import { InvalidArgumentError } from "../core/errors.ts";
import { centreRows } from "./centring.ts";
import { choleskySolve, tryCholesky } from "./cholesky.ts";
import { analyseHessian } from "./etf_backward.ts";
import type { EtfProblem } from "./etf_problem.ts";
import { lu, luSolve } from "./lu.ts";
import { eye, type Matrix, matrix } from "./matrix.ts";
import { gram, matmul, matmulTN } from "./products.ts";

/**
 * How `nearestEtfVjp`'s DDN backward solves its Schur system: "auto" and "eigen" use the
 * prepared backward (`prepareEtfBackward`: closed form in B's eigenbasis, O(K³)); "dense" is the
 * paper's route (this module: Cholesky, LU fallback) and "dense-lu" the same with LU forced.
 *
 * @example
 * ```ts
 * import { randomNormal, Rng } from "../core/random.ts";
 * import { nearestEtf } from "./nearest_etf.ts";
 * import { nearestEtfVjp } from "./nearest_etf_vjp.ts";
 * const rng = new Rng(0);
 * const Y = randomNormal(rng, 16, 4), dU = randomNormal(rng, 16, 4);
 * const prox = nearestEtf(Y).U;
 * const { U } = nearestEtf(Y, { prox });
 * const schur: SchurMethod = "dense"; // the paper's dense route, as a reference
 * const dY = nearestEtfVjp(Y, U, dU, { prox, schur });
 * ```
 */
export type SchurMethod = "auto" | "dense" | "dense-lu" | "eigen";

/**
 * Every {@link SchurMethod}.
 *
 * @example
 * ```ts
 * SCHUR_METHODS.includes("dense"); // true
 * ```
 */
export const SCHUR_METHODS: readonly SchurMethod[] = ["auto", "dense", "dense-lu", "eigen"];

/**
 * `∂L/∂Y` for `∂L/∂U = v` by the paper's dense DDN route at the given U. With
 * `requirePositiveDefinite` (default true) a B that is not positive definite raises
 * `InvalidArgumentError`; otherwise it is inverted by LU, and a singular B or Schur matrix
 * raises (this route has no pseudo-inverse).
 *
 * @example
 * ```ts
 * import { randomNormal, Rng } from "../core/random.ts";
 * import { EtfProblem } from "./etf_problem.ts";
 * import { nearestEtf } from "./nearest_etf.ts";
 * const rng = new Rng(0);
 * const Y = randomNormal(rng, 16, 4), dU = randomNormal(rng, 16, 4); // dU = ∂L/∂U
 * const prox = nearestEtf(Y).U;
 * const { U } = nearestEtf(Y, { prox });
 * const problem = new EtfProblem(Y, prox, 1e-3);
 * const dY = denseDdnVjp(problem, U, dU, { forceLu: true, requirePositiveDefinite: false });
 * ```
 */
export function denseDdnVjp(
  problem: EtfProblem,
  U: Matrix,
  v: Matrix,
  options: { forceLu?: boolean; requirePositiveDefinite?: boolean } = {},
): Matrix {
  const K = problem.K, forceLu = options.forceLu ?? false;
  const B = problem.lagrangianMatrix(matmulTN(U, problem.egrad(U)));
  if (options.requirePositiveDefinite ?? true) analyseHessian(B, true);
  const Binv = denseInverse(B, forceLu, "the Lagrangian Hessian B");
  // w = −v·B⁻¹
  const w = matmul(v, Binv);
  for (let i = 0; i < w.data.length; i++) w.data[i] = -w.data[i];
  // R = −(Uᵀw + wᵀU): the right-hand side −A[w], as a symmetric matrix.
  const Utw = matmulTN(U, w);
  const R = matrix(K, K);
  for (let i = 0; i < K; i++) {
    for (let j = 0; j < K; j++) R.data[i * K + j] = -(Utw.data[i * K + j] + Utw.data[j * K + i]);
  }
  // SBinv = S̃·B⁻¹ with S̃ the symmetric multiplier, so that T·s = U·S̃·B⁻¹.
  const SBinv = denseSchur(U, Binv, R, forceLu);
  const u = matmul(U, SBinv);
  for (let i = 0; i < u.data.length; i++) u.data[i] += w.data[i];
  const out = centreRows(u);
  const c = problem.c;
  for (let i = 0; i < out.data.length; i++) out.data[i] *= -c;
  return out;
}

/** `X` with `S·X = Rhs`: Cholesky unless forced or not positive definite, else LU. */
function denseSolve(S: Matrix, rhs: Matrix, forceLu: boolean, what: string): Matrix {
  const L = forceLu ? null : tryCholesky(S);
  if (L !== null) return choleskySolve(L, rhs);
  const f = lu(S);
  if (f.singular) {
    throw new InvalidArgumentError(
      "U",
      `${what} is singular there (U is not a regular point); the dense route has no ` +
        'pseudo-inverse (schur "eigen" has)',
    );
  }
  return luSolve(f, rhs);
}

function denseInverse(B: Matrix, forceLu: boolean, what: string): Matrix {
  return denseSolve(B, eye(B.rows), forceLu, what);
}

/** The vech index of (i, j), i ≥ j: columns of the lower triangle stacked. */
function vechIndex(i: number, j: number, K: number): number {
  return j * K - (j * (j - 1)) / 2 + (i - j);
}

/** Dense K(K+1)/2 Schur solve as the paper (Cholesky, LU fallback); returns S̃·B⁻¹. */
function denseSchur(U: Matrix, Binv: Matrix, R: Matrix, forceLu: boolean): Matrix {
  const K = U.cols, n = (K * (K + 1)) / 2;
  const G = gram(U); // UᵀU (≈ I; the dense path does not assume it)
  const g = G.data, bi = Binv.data;
  const S = matrix(n, n);
  const X = new Float64Array(K * K);
  for (let b = 0; b < K; b++) {
    for (let a = b; a < K; a++) {
      // S̃ = E_ab + E_ba (2·E_aa on the diagonal); X = UᵀU·S̃·B⁻¹; column = vech(X + Xᵀ).
      X.fill(0);
      for (let i = 0; i < K; i++) {
        const ga = g[i * K + a], gb = g[i * K + b];
        for (let j = 0; j < K; j++) X[i * K + j] = ga * bi[b * K + j] + gb * bi[a * K + j];
      }
      const q = vechIndex(a, b, K);
      for (let jj = 0; jj < K; jj++) {
        for (let ii = jj; ii < K; ii++) {
          S.data[vechIndex(ii, jj, K) * n + q] = X[ii * K + jj] + X[jj * K + ii];
        }
      }
    }
  }
  const rhs = matrix(n, 1);
  for (let jj = 0; jj < K; jj++) {
    for (let ii = jj; ii < K; ii++) rhs.data[vechIndex(ii, jj, K)] = R.data[ii * K + jj];
  }
  const s = denseSolve(S, rhs, forceLu, "the DDN Schur system");
  // S̃ = S_s + S_sᵀ
  const St = matrix(K, K);
  for (let jj = 0; jj < K; jj++) {
    for (let ii = jj; ii < K; ii++) {
      const v = s.data[vechIndex(ii, jj, K)];
      St.data[ii * K + jj] += v;
      St.data[jj * K + ii] += v;
    }
  }
  return matmul(St, Binv);
}
