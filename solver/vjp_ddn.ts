/**
 * The paper's implicit backward of the proximal nearest-ETF node (METHOD.md section 5): the
 * equality-constrained deep-declarative-node formula, without materialising any K²×K² or
 * K(K+1)/2 × dK matrix.
 *
 * With `B = (2/(K−1))·M + δ·I − Σ`, `Σ = sym(∇f(U)ᵀU)`, the Lagrangian Hessian is `H[V] = V·B`
 * (one K×K Cholesky factor serves all d rows), the constraint Jacobian is
 * `A[V] = vech(UᵀV + VᵀU)` with adjoint `Aᵀ[s] = U·(S + Sᵀ)` (S the lower-triangular matrix
 * holding s), and `∂²f/∂Y∂U = −c·(I_d ⊗ M)`. Then `w = −H⁻¹v`, `T = H⁻¹Aᵀ`,
 * `s = (A·T)⁻¹(−A·w)`, `u = w + T·s`, `∂L/∂Y = −c·u·M`.
 *
 * The K(K+1)/2 Schur system `A·T` is solved either densely ("dense": built column by column in
 * O(K⁴) from UᵀU and B⁻¹, Cholesky with an LU fallback, as the paper) or, using UᵀU = I, in
 * closed form ("eigen": `A·T[S] = vech(S·B⁻¹ + B⁻¹·S)` is diagonal in B's eigenbasis,
 * `S′_ij = R′_ij·λ_iλ_j/(λ_i + λ_j)`), O(K³).
 *
 * @module
 */
import { InvalidArgumentError } from "../core/errors.ts";
import { centreRows } from "./centring.ts";
import { choleskySolve, choleskySolveRight, tryCholesky } from "./cholesky.ts";
import { symmetricEigen } from "./eigen.ts";
import type { EtfProblem } from "./etf_problem.ts";
import { lu, luSolve } from "./lu.ts";
import { eye, type Matrix, matrix } from "./matrix.ts";
import { gram, matmul, matmulNT, matmulTN } from "./products.ts";

/**
 * How the K(K+1)/2 Schur system is solved: "auto" is dense for K ≤ 16, eigen above; "dense-lu"
 * is the dense path with its LU fallback forced (to test that path).
 */
export type SchurMethod = "auto" | "dense" | "dense-lu" | "eigen";

/** Every {@link SchurMethod}. */
export const SCHUR_METHODS: readonly SchurMethod[] = ["auto", "dense", "dense-lu", "eigen"];

/** Largest K for which "auto" uses the dense (paper's) Schur solve. */
export const DENSE_SCHUR_MAX_K = 16;

/**
 * `∂L/∂Y` for `∂L/∂U⋆ = v` by the paper's DDN formula at the given U (assumed a minimiser of
 * the proximal problem). Throws when the Lagrangian Hessian is not positive definite there.
 *
 * @example
 * ```ts
 * const dY = ddnVjp(problem, U, dU);
 * ```
 */
export function ddnVjp(
  problem: EtfProblem,
  U: Matrix,
  v: Matrix,
  schur: SchurMethod = "auto",
): Matrix {
  const K = problem.K;
  const B = problem.lagrangianMatrix(matmulTN(U, problem.egrad(U)));
  const L = tryCholesky(B);
  if (L === null) {
    throw new InvalidArgumentError(
      "U",
      "is not a minimiser of the proximal problem: the Hessian of the Lagrangian " +
        "(2/(K−1))·M + δ·I − sym(∇f(U)ᵀU) is not positive definite there",
    );
  }
  // w = −v·B⁻¹
  const w = choleskySolveRight(L, v);
  for (let i = 0; i < w.data.length; i++) w.data[i] = -w.data[i];
  // R = −(Uᵀw + wᵀU): the right-hand side −A[w], as a symmetric matrix.
  const Utw = matmulTN(U, w);
  const R = matrix(K, K);
  for (let i = 0; i < K; i++) {
    for (let j = 0; j < K; j++) R.data[i * K + j] = -(Utw.data[i * K + j] + Utw.data[j * K + i]);
  }
  const useDense = schur === "dense" || schur === "dense-lu" ||
    (schur === "auto" && K <= DENSE_SCHUR_MAX_K);
  // SBinv = S̃·B⁻¹ with S̃ the symmetric multiplier, so that T·s = U·S̃·B⁻¹.
  const SBinv = useDense ? denseSchur(U, L, R, schur === "dense-lu") : eigenSchur(B, R);
  const u = matmul(U, SBinv);
  for (let i = 0; i < u.data.length; i++) u.data[i] += w.data[i];
  const out = centreRows(u);
  const c = problem.c;
  for (let i = 0; i < out.data.length; i++) out.data[i] *= -c;
  return out;
}

/** The vech index of (i, j), i ≥ j: columns of the lower triangle stacked. */
function vechIndex(i: number, j: number, K: number): number {
  return j * K - (j * (j - 1)) / 2 + (i - j);
}

/** Dense K(K+1)/2 Schur solve as the paper (Cholesky, LU fallback); returns S̃·B⁻¹. */
function denseSchur(U: Matrix, L: Matrix, R: Matrix, forceLu: boolean): Matrix {
  const K = U.cols, n = (K * (K + 1)) / 2;
  const Binv = choleskySolve(L, eye(K));
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
  const Ls = forceLu ? null : tryCholesky(S);
  let s: Matrix;
  if (Ls !== null) {
    s = choleskySolve(Ls, rhs);
  } else {
    const f = lu(S);
    if (f.singular) {
      throw new InvalidArgumentError(
        "U",
        "the DDN Schur system is singular (U is not a regular point)",
      );
    }
    s = luSolve(f, rhs);
  }
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

/** Closed-form Schur solve in B's eigenbasis (uses UᵀU = I); returns S̃·B⁻¹. */
function eigenSchur(B: Matrix, R: Matrix): Matrix {
  const K = B.rows;
  const { values: lam, vectors: Q } = symmetricEigen(B);
  const Rp = matmulTN(Q, matmul(R, Q));
  for (let i = 0; i < K; i++) {
    for (let j = 0; j < K; j++) {
      Rp.data[i * K + j] *= (lam[i] * lam[j]) / (lam[i] + lam[j]) / lam[j];
    }
  }
  // S̃·B⁻¹ = Q·S′·Qᵀ·Q·Λ⁻¹·Qᵀ = Q·(S′·Λ⁻¹)·Qᵀ
  return matmulNT(matmul(Q, Rp), Q);
}
