/**
 * Products with the centring matrix `M = I_K − (1/K)·1·1ᵀ` in O(dK), and the simplex ETF.
 *
 * @module
 */
import { type Matrix, matrix } from "./matrix.ts";

/**
 * `out = X·M`: each row of X minus that row's mean (O(dK), never forms M). `out` may be X.
 *
 * @example
 * ```ts
 * import { randomNormal, Rng } from "../core/random.ts";
 * const X = randomNormal(new Rng(0), 16, 4);
 * const XM = centreRows(X); // rows sum to zero
 * ```
 */
export function centreRows(X: Matrix, out: Matrix = matrix(X.rows, X.cols)): Matrix {
  const { rows, cols } = X;
  if (out.rows !== rows || out.cols !== cols) {
    throw new RangeError(`centreRows: out is ${out.rows}×${out.cols}, expected ${rows}×${cols}`);
  }
  const x = X.data, o = out.data;
  for (let i = 0; i < rows; i++) {
    const r = i * cols;
    let s = 0;
    for (let j = 0; j < cols; j++) s += x[r + j];
    const mean = s / cols;
    for (let j = 0; j < cols; j++) o[r + j] = x[r + j] - mean;
  }
  return out;
}

/**
 * The centring matrix `M = I_K − (1/K)·1·1ᵀ` as a dense K×K matrix (for tests and small K).
 *
 * @example
 * ```ts
 * centringMatrix(3); // symmetric, idempotent, rank 2
 * ```
 */
export function centringMatrix(K: number): Matrix {
  const M = matrix(K, K);
  for (let i = 0; i < K; i++) {
    for (let j = 0; j < K; j++) M.data[i * K + j] = (i === j ? 1 : 0) - 1 / K;
  }
  return M;
}

/**
 * The ETF a Stiefel point represents, `E = U·M/sqrt(K−1)` (d×K, unit Frobenius norm).
 *
 * @example
 * ```ts
 * import { randomNormal, Rng } from "../core/random.ts";
 * import { nearestEtf } from "./nearest_etf.ts";
 * const result = nearestEtf(randomNormal(new Rng(0), 16, 4));
 * const E = etfOf(result.U); // ‖E‖_F = 1, EᵀE = M/(K−1)
 * ```
 */
export function etfOf(U: Matrix): Matrix {
  const E = centreRows(U);
  const s = 1 / Math.sqrt(U.cols - 1);
  for (let i = 0; i < E.data.length; i++) E.data[i] *= s;
  return E;
}

/**
 * The standard simplex ETF `M̃ = sqrt(K/(K−1))·M` (K×K).
 *
 * @example
 * ```ts
 * const W = simplexEtf(10); // unit-norm rows, pairwise cosine −1/(K−1)
 * ```
 */
export function simplexEtf(K: number): Matrix {
  const M = centringMatrix(K);
  const s = Math.sqrt(K / (K - 1));
  for (let i = 0; i < M.data.length; i++) M.data[i] *= s;
  return M;
}
