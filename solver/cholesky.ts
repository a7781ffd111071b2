/**
 * Cholesky factorisation `A = L·Lᵀ` of symmetric positive definite matrices, and solves with the
 * factor from the left (`A·X = B`) and from the right (`X·A = V`, the hot path of the solver).
 *
 * Only the lower triangle (diagonal included) of A is read. Every loop runs along contiguous
 * rows of the row-major storage: the factorisation forms dot products of rows of L (four at a
 * time, sharing the loads of one row), and both triangular solves are written as row operations.
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
    // Row i of L, four entries at a time: l_ij = (a_ij − Σ_{k<j} l_ik·l_jk) / l_jj. The four dot
    // products share the loads of row i (register blocking, ≈ 1.5× a plain dot product at n =
    // 100); the terms with k inside the block of four are added once their l_ik are known.
    let j = 0;
    for (; j + 3 < i; j += 4) {
      const r0 = j * n, r1 = r0 + n, r2 = r1 + n, r3 = r2 + n;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (let k = 0; k < j; k++) {
        const x = l[ri + k];
        s0 += x * l[r0 + k];
        s1 += x * l[r1 + k];
        s2 += x * l[r2 + k];
        s3 += x * l[r3 + k];
      }
      const y0 = (a[ri + j] - s0) / l[r0 + j];
      const y1 = (a[ri + j + 1] - (s1 + y0 * l[r1 + j])) / l[r1 + j + 1];
      const y2 = (a[ri + j + 2] - (s2 + y0 * l[r2 + j] + y1 * l[r2 + j + 1])) / l[r2 + j + 2];
      const y3 = (a[ri + j + 3] -
        (s3 + y0 * l[r3 + j] + y1 * l[r3 + j + 1] + y2 * l[r3 + j + 2])) / l[r3 + j + 3];
      l[ri + j] = y0;
      l[ri + j + 1] = y1;
      l[ri + j + 2] = y2;
      l[ri + j + 3] = y3;
    }
    for (; j < i; j++) {
      const rj = j * n;
      let s0 = 0, s1 = 0, k = 0;
      for (; k + 1 < j; k += 2) {
        s0 += l[ri + k] * l[rj + k];
        s1 += l[ri + k + 1] * l[rj + k + 1];
      }
      if (k < j) s0 += l[ri + k] * l[rj + k];
      l[ri + j] = (a[ri + j] - (s0 + s1)) / l[rj + j];
    }
    // Pivot a_ii − Σ_{k<i} l_ik², four accumulators.
    let s0 = 0, s1 = 0, s2 = 0, s3 = 0, k = 0;
    for (; k + 3 < i; k += 4) {
      const x0 = l[ri + k], x1 = l[ri + k + 1], x2 = l[ri + k + 2], x3 = l[ri + k + 3];
      s0 += x0 * x0;
      s1 += x1 * x1;
      s2 += x2 * x2;
      s3 += x3 * x3;
    }
    for (; k < i; k++) s0 += l[ri + k] * l[ri + k];
    const d = a[ri + i] - ((s0 + s1) + (s2 + s3));
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
