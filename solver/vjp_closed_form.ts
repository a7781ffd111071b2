/**
 * The closed-form backward of the proximal nearest-ETF node (METHOD.md section 5): the
 * derivative of the orthogonal polar factor `U = polar(A)`, `A = c·Y·M + δ·U_prox`. With the
 * thin SVD `A = P·Σ·Qᵀ`, `G = Pᵀ·v·Q`, `Ω_ij = (G_ij − G_ji)/(σ_i + σ_j)`:
 * `∂L/∂A = P·Ω·Qᵀ + (I − PPᵀ)·v·Q·Σ⁻¹·Qᵀ`, `∂L/∂Y = c·(∂L/∂A)·M`. O(dK²) time, O(dK) memory.
 *
 * @module
 */
import { centreRows } from "./centring.ts";
import type { EtfProblem } from "./etf_problem.ts";
import { type Matrix, matrix } from "./matrix.ts";
import type { PolarDecomposition } from "./polar.ts";
import { matmul, matmulNT, matmulSum, matmulTN } from "./products.ts";

/**
 * `∂L/∂Y` for `∂L/∂U = v` through `U = polar(A)`, given A's polar decomposition (full rank).
 *
 * @example
 * ```ts
 * const dY = closedFormVjp(problem, polarFactor(problem.A), dU);
 * ```
 */
export function closedFormVjp(problem: EtfProblem, polar: PolarDecomposition, v: Matrix): Matrix {
  const K = problem.K;
  const { U, Q, sigma } = polar;
  // With P = U·Q: G = Qᵀ·(Uᵀv)·Q and ∂L/∂A = U·[Q·(Ω − G·Σ⁻¹)·Qᵀ] + v·[Q·Σ⁻¹·Qᵀ].
  const G = matmulTN(Q, matmul(matmulTN(U, v), Q));
  const X = matrix(K, K);
  const QSinv = matrix(K, K);
  const g = G.data;
  for (let i = 0; i < K; i++) {
    for (let j = 0; j < K; j++) {
      X.data[i * K + j] = (g[i * K + j] - g[j * K + i]) / (sigma[i] + sigma[j]) -
        g[i * K + j] / sigma[j];
      QSinv.data[i * K + j] = Q.data[i * K + j] / sigma[j];
    }
  }
  const K1 = matmulNT(matmul(Q, X), Q);
  const K2 = matmulNT(QSinv, Q);
  const sum = matmulSum(U, K1, v, K2);
  const out = centreRows(sum, sum);
  const c = problem.c;
  for (let i = 0; i < out.data.length; i++) out.data[i] *= c;
  return out;
}
