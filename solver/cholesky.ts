/**
 * Cholesky factorisation `A = L·Lᵀ` of symmetric positive definite matrices, and solves with the
 * factor from the left (`A·X = B`) and from the right (`X·A = V`, the hot path of the solver).
 *
 * Only the lower triangle (diagonal included) of A is read. Every loop runs along contiguous
 * rows of the row-major storage: the factorisation forms dot products of rows of L, and both
 * triangular solves are written as row operations.
 *
 * @module
 */
import { type Matrix, matrix } from "./matrix.ts";

/**
 * Thrown by {@linkcode cholesky} when a pivot is not strictly positive and finite, i.e. A is not
 * (numerically) positive definite.
 *
 * @example
 * ```ts
 * import { fromRows } from "./matrix.ts";
 * try {
 *   cholesky(fromRows([[1, 2], [2, 1]]));
 * } catch (e) {
 *   if (e instanceof NotPositiveDefiniteError) console.log(e.index, e.pivot); // 1 -3
 * }
 * ```
 */
export class NotPositiveDefiniteError extends Error {
  /** The 0-based index of the failing pivot. */
  readonly index: number;
  /** The value of the failing pivot (`a_jj − Σ_k l_jk²`), ≤ 0 or non-finite. */
  readonly pivot: number;

  /** Builds the error for pivot `index` with value `pivot`. */
  constructor(index: number, pivot: number) {
    super(
      `cholesky: matrix is not positive definite: pivot ${index} is ${pivot} (must be > 0 and finite)`,
    );
    this.name = "NotPositiveDefiniteError";
    this.index = index;
    this.pivot = pivot;
  }
}

function squareSize(A: Matrix, name: string): number {
  if (A.rows !== A.cols) throw new RangeError(`${name}: A is ${A.rows}×${A.cols}, not square`);
  return A.rows;
}

/**
 * The lower-triangular Cholesky factor L of a symmetric positive definite A (`A = L·Lᵀ`, positive
 * diagonal, zeros above it). Reads only the lower triangle of A.
 *
 * Throws {@linkcode NotPositiveDefiniteError} when a pivot is ≤ 0 or not finite (this includes
 * NaN entries), and a `RangeError` when A is not square.
 *
 * @example
 * ```ts
 * import { fromRows } from "./matrix.ts";
 * const L = cholesky(fromRows([[4, 2], [2, 5]])); // [[2, 0], [1, 2]]
 * ```
 */
export function cholesky(A: Matrix): Matrix {
  const L = factor(A);
  if (L instanceof NotPositiveDefiniteError) throw L;
  return L;
}

/**
 * Like {@linkcode cholesky}, but returns `null` instead of throwing when A is not positive
 * definite (a `RangeError` for a non-square A is still thrown).
 *
 * @example
 * ```ts
 * import { fromRows } from "./matrix.ts";
 * tryCholesky(fromRows([[1, 2], [2, 1]])); // null
 * ```
 */
export function tryCholesky(A: Matrix): Matrix | null {
  const L = factor(A);
  return L instanceof NotPositiveDefiniteError ? null : L;
}

function factor(A: Matrix): Matrix | NotPositiveDefiniteError {
  const n = squareSize(A, "cholesky");
  const a = A.data;
  const L = matrix(n, n);
  const l = L.data;
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    for (let j = 0; j < i; j++) {
      const rj = j * n;
      let s0 = a[ri + j], s1 = 0, k = 0;
      for (; k + 1 < j; k += 2) {
        s0 -= l[ri + k] * l[rj + k];
        s1 -= l[ri + k + 1] * l[rj + k + 1];
      }
      if (k < j) s0 -= l[ri + k] * l[rj + k];
      l[ri + j] = (s0 + s1) / l[rj + j];
    }
    let d = a[ri + i];
    for (let k = 0; k < i; k++) d -= l[ri + k] * l[ri + k];
    if (!(d > 0) || d === Infinity) return new NotPositiveDefiniteError(i, d);
    l[ri + i] = Math.sqrt(d);
  }
  return L;
}

function checkFactor(L: Matrix, name: string): number {
  if (L.rows !== L.cols) throw new RangeError(`${name}: L is ${L.rows}×${L.cols}, not square`);
  return L.rows;
}

/**
 * Solves `A·X = B` for X (n×m) given the Cholesky factor L of A (n×n) and B (n×m). Returns a new
 * matrix; B is not modified.
 *
 * @example
 * ```ts
 * import { fromRows } from "./matrix.ts";
 * const A = fromRows([[4, 2], [2, 5]]);
 * const X = choleskySolve(cholesky(A), fromRows([[2], [7]])); // [[-0.25], [1.5]]
 * ```
 */
export function choleskySolve(L: Matrix, B: Matrix): Matrix {
  const n = checkFactor(L, "choleskySolve");
  if (B.rows !== n) {
    throw new RangeError(`choleskySolve: L is ${n}×${n} but B is ${B.rows}×${B.cols}`);
  }
  const m = B.cols;
  const X = matrix(n, m, B.data.slice());
  const x = X.data, l = L.data;
  // Forward: L·Y = B, row i of Y = (row i of B − Σ_{k<i} l_ik · row k of Y) / l_ii.
  for (let i = 0; i < n; i++) {
    const ri = i * m;
    for (let k = 0; k < i; k++) {
      const c = l[i * n + k];
      if (c === 0) continue;
      const rk = k * m;
      for (let j = 0; j < m; j++) x[ri + j] -= c * x[rk + j];
    }
    const inv = 1 / l[i * n + i];
    for (let j = 0; j < m; j++) x[ri + j] *= inv;
  }
  // Backward: Lᵀ·X = Y, column-oriented: once row i of X is final, remove it from rows k < i.
  for (let i = n - 1; i >= 0; i--) {
    const ri = i * m;
    const inv = 1 / l[i * n + i];
    for (let j = 0; j < m; j++) x[ri + j] *= inv;
    for (let k = 0; k < i; k++) {
      const c = l[i * n + k];
      if (c === 0) continue;
      const rk = k * m;
      for (let j = 0; j < m; j++) x[rk + j] -= c * x[ri + j];
    }
  }
  return X;
}

/**
 * `X = V·A⁻¹` for V of shape d×n, given the Cholesky factor L of A (n×n): each row x of X solves
 * `A·xᵀ = vᵀ` (A is symmetric), by a forward then a backward substitution along rows of L.
 * Allocation-free when `out` (d×n) is given; `out` may be V itself (solved in place). Rows are
 * processed two at a time so that each entry of L is loaded once per pair.
 *
 * @example
 * ```ts
 * import { fromRows } from "./matrix.ts";
 * const L = cholesky(fromRows([[4, 2], [2, 5]]));
 * const X = choleskySolveRight(L, fromRows([[2, 7], [4, 2]])); // X·A = V
 * ```
 */
export function choleskySolveRight(L: Matrix, V: Matrix, out?: Matrix): Matrix {
  const n = checkFactor(L, "choleskySolveRight");
  if (V.cols !== n) {
    throw new RangeError(`choleskySolveRight: L is ${n}×${n} but V is ${V.rows}×${V.cols}`);
  }
  const d = V.rows;
  let X: Matrix;
  if (out === undefined) {
    X = matrix(d, n, V.data.slice());
  } else {
    if (out.rows !== d || out.cols !== n) {
      throw new RangeError(
        `choleskySolveRight: out is ${out.rows}×${out.cols}, expected ${d}×${n}`,
      );
    }
    if (out.data !== V.data) out.data.set(V.data);
    X = out;
  }
  const x = X.data, l = L.data;
  let r = 0;
  for (; r + 1 < d; r += 2) {
    const p = r * n, q = p + n;
    // Forward: y_i = (v_i − Σ_{k<i} l_ik y_k) / l_ii.
    for (let i = 0; i < n; i++) {
      const li = i * n;
      let s = x[p + i], t = x[q + i];
      for (let k = 0; k < i; k++) {
        const c = l[li + k];
        s -= c * x[p + k];
        t -= c * x[q + k];
      }
      const dii = l[li + i];
      x[p + i] = s / dii;
      x[q + i] = t / dii;
    }
    // Backward (Lᵀ z = y), column-oriented along row i of L.
    for (let i = n - 1; i >= 0; i--) {
      const li = i * n, dii = l[li + i];
      const s = x[p + i] / dii, t = x[q + i] / dii;
      x[p + i] = s;
      x[q + i] = t;
      for (let k = 0; k < i; k++) {
        const c = l[li + k];
        x[p + k] -= c * s;
        x[q + k] -= c * t;
      }
    }
  }
  if (r < d) {
    const p = r * n;
    for (let i = 0; i < n; i++) {
      const li = i * n;
      let s = x[p + i];
      for (let k = 0; k < i; k++) s -= l[li + k] * x[p + k];
      x[p + i] = s / l[li + i];
    }
    for (let i = n - 1; i >= 0; i--) {
      const li = i * n;
      const s = x[p + i] / l[li + i];
      x[p + i] = s;
      for (let k = 0; k < i; k++) x[p + k] -= l[li + k] * s;
    }
  }
  return X;
}
