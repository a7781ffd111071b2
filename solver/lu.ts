/**
 * LU factorisation with partial (row) pivoting of square dense matrices, and solves with it.
 *
 * Elimination is done by row operations (row i −= l_ik · row k), which run along contiguous rows
 * of the row-major storage; only the pivot search reads a column.
 *
 * @module
 */
import { type Matrix, matrix } from "./matrix.ts";

/**
 * The result of {@linkcode lu}: `P·A = L·U` packed in one matrix.
 *
 * - `LU`: U on and above the diagonal, the multipliers of the unit lower-triangular L below it.
 * - `pivots`: the row permutation as a vector: row i of `P·A` is row `pivots[i]` of A.
 * - `singular`: true when some pivot |u_kk| ≤ n·ε·max|a_ij| (this includes an exact zero pivot
 *   and a zero matrix): U is then singular to working precision and {@linkcode luSolve} refuses.
 */
export type LUFactorization = { LU: Matrix; pivots: Int32Array; singular: boolean };

/**
 * LU factorisation with partial pivoting of a square A: `P·A = L·U`. A is not modified.
 * Throws a `RangeError` when A is not square or has a non-finite entry.
 *
 * @example
 * ```ts
 * import { fromRows } from "./matrix.ts";
 * const f = lu(fromRows([[1, 2], [3, 4]]));
 * // f.pivots = [1, 0]; f.LU = [[3, 4], [1/3, 2/3]]; f.singular = false
 * ```
 */
export function lu(A: Matrix): LUFactorization {
  const n = A.rows;
  if (A.cols !== n) throw new RangeError(`lu: A is ${A.rows}×${A.cols}, not square`);
  const a = A.data.slice();
  let amax = 0;
  for (let i = 0; i < a.length; i++) {
    const v = Math.abs(a[i]);
    if (!Number.isFinite(v)) throw new RangeError(`lu: entry ${i} of A is ${a[i]}, not finite`);
    if (v > amax) amax = v;
  }
  const tol = n * Number.EPSILON * amax;
  const pivots = new Int32Array(n);
  for (let i = 0; i < n; i++) pivots[i] = i;
  let singular = amax === 0 && n > 0;
  for (let k = 0; k < n; k++) {
    let p = k, best = Math.abs(a[k * n + k]);
    for (let i = k + 1; i < n; i++) {
      const v = Math.abs(a[i * n + k]);
      if (v > best) {
        best = v;
        p = i;
      }
    }
    if (p !== k) {
      const rk = k * n, rp = p * n;
      for (let j = 0; j < n; j++) {
        const t = a[rk + j];
        a[rk + j] = a[rp + j];
        a[rp + j] = t;
      }
      const t = pivots[k];
      pivots[k] = pivots[p];
      pivots[p] = t;
    }
    if (best <= tol) singular = true;
    if (best === 0) continue; // column already eliminated: nothing to do
    const rk = k * n, inv = 1 / a[rk + k];
    for (let i = k + 1; i < n; i++) {
      const ri = i * n;
      const c = a[ri + k] * inv;
      a[ri + k] = c;
      if (c === 0) continue;
      for (let j = k + 1; j < n; j++) a[ri + j] -= c * a[rk + j];
    }
  }
  return { LU: matrix(n, n, a), pivots, singular };
}

/**
 * Solves `A·X = B` (B n×m) with the factorisation of {@linkcode lu}. Returns a new matrix.
 * Throws an `Error` when the factorisation is flagged singular, and a `RangeError` on a shape
 * mismatch.
 *
 * @example
 * ```ts
 * import { fromRows } from "./matrix.ts";
 * const X = luSolve(lu(fromRows([[1, 2], [3, 4]])), fromRows([[5], [11]])); // [[1], [2]]
 * ```
 */
export function luSolve(f: LUFactorization, B: Matrix): Matrix {
  const { LU, pivots } = f;
  const n = LU.rows;
  if (B.rows !== n) throw new RangeError(`luSolve: LU is ${n}×${n} but B is ${B.rows}×${B.cols}`);
  if (f.singular) {
    throw new Error(`luSolve: the ${n}×${n} matrix is singular to working precision; cannot solve`);
  }
  const m = B.cols, b = B.data, u = LU.data;
  const X = matrix(n, m);
  const x = X.data;
  for (let i = 0; i < n; i++) x.set(b.subarray(pivots[i] * m, pivots[i] * m + m), i * m);
  // Forward with unit L: row i −= Σ_{k<i} l_ik · row k.
  for (let i = 1; i < n; i++) {
    const ri = i * m;
    for (let k = 0; k < i; k++) {
      const c = u[i * n + k];
      if (c === 0) continue;
      const rk = k * m;
      for (let j = 0; j < m; j++) x[ri + j] -= c * x[rk + j];
    }
  }
  // Backward with U: row i = (row i − Σ_{k>i} u_ik · row k) / u_ii, rows k > i already final.
  for (let i = n - 1; i >= 0; i--) {
    const ri = i * m;
    for (let k = i + 1; k < n; k++) {
      const c = u[i * n + k];
      if (c === 0) continue;
      const rk = k * m;
      for (let j = 0; j < m; j++) x[ri + j] -= c * x[rk + j];
    }
    const inv = 1 / u[i * n + i];
    for (let j = 0; j < m; j++) x[ri + j] *= inv;
  }
  return X;
}
