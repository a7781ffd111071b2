/**
 * The dense matrix type shared by every solver module: row-major `Float64Array` storage.
 *
 * @module
 */

/**
 * A dense row-major matrix: entry (i, j) is `data[i * cols + j]`.
 *
 * @example
 * ```ts
 * const A: Matrix = { rows: 2, cols: 2, data: new Float64Array([1, 2, 3, 4]) };
 * ```
 */
export type Matrix = { rows: number; cols: number; data: Float64Array };

/**
 * A matrix of zeros, or one wrapping `data` (not copied) when given.
 *
 * @example
 * ```ts
 * const Z = matrix(3, 2); // 3×2 zeros
 * ```
 */
export function matrix(rows: number, cols: number, data?: Float64Array): Matrix {
  if (data === undefined) return { rows, cols, data: new Float64Array(rows * cols) };
  if (data.length !== rows * cols) {
    throw new RangeError(`matrix: data has ${data.length} entries, expected ${rows}×${cols}`);
  }
  return { rows, cols, data };
}

/**
 * The d×K matrix with ones on the leading diagonal, `I_{d×K}` (orthonormal columns when d ≥ K).
 *
 * @example
 * ```ts
 * const E = eye(4, 2); // [[1,0],[0,1],[0,0],[0,0]]
 * ```
 */
export function eye(rows: number, cols = rows): Matrix {
  const out = matrix(rows, cols);
  for (let i = 0; i < Math.min(rows, cols); i++) out.data[i * cols + i] = 1;
  return out;
}

/**
 * A matrix from nested arrays (rows of equal length).
 *
 * @example
 * ```ts
 * const A = fromRows([[1, 2], [3, 4]]);
 * ```
 */
export function fromRows(rows: readonly (readonly number[])[]): Matrix {
  const m = rows.length;
  const n = m === 0 ? 0 : rows[0].length;
  const out = matrix(m, n);
  rows.forEach((row, i) => {
    if (row.length !== n) {
      throw new RangeError(`fromRows: row ${i} has ${row.length} entries, expected ${n}`);
    }
    out.data.set(row, i * n);
  });
  return out;
}

/**
 * Nested arrays from a matrix (for printing and JSON).
 *
 * @example
 * ```ts
 * toRows(eye(2)); // [[1, 0], [0, 1]]
 * ```
 */
export function toRows(A: Matrix): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < A.rows; i++) {
    out.push(Array.from(A.data.subarray(i * A.cols, (i + 1) * A.cols)));
  }
  return out;
}

/**
 * A deep copy.
 *
 * @example
 * ```ts
 * const A = eye(2);
 * const B = clone(A); B.data[0] = 9; // A unchanged
 * ```
 */
export function clone(A: Matrix): Matrix {
  return { rows: A.rows, cols: A.cols, data: A.data.slice() };
}

/**
 * The transpose, as a new matrix.
 *
 * @example
 * ```ts
 * transpose(fromRows([[1, 2, 3]])); // 3×1
 * ```
 */
export function transpose(A: Matrix): Matrix {
  const { rows: m, cols: n, data: a } = A;
  const out = matrix(n, m);
  const t = out.data;
  for (let i = 0; i < m; i++) {
    const row = i * n;
    for (let j = 0; j < n; j++) t[j * m + i] = a[row + j];
  }
  return out;
}

/**
 * The largest absolute entry, `max |a_ij|` (0 for an empty matrix).
 *
 * @example
 * ```ts
 * maxAbs(fromRows([[1, -3]])); // 3
 * ```
 */
export function maxAbs(A: Matrix): number {
  let m = 0;
  const a = A.data;
  for (let i = 0; i < a.length; i++) {
    const v = Math.abs(a[i]);
    if (v > m || v !== v) m = v;
  }
  return m;
}

/**
 * `max |a_ij − b_ij|` over two matrices of the same shape.
 *
 * @example
 * ```ts
 * maxAbsDiff(eye(2), eye(2)); // 0
 * ```
 */
export function maxAbsDiff(A: Matrix, B: Matrix): number {
  if (A.rows !== B.rows || A.cols !== B.cols) {
    throw new RangeError(`maxAbsDiff: shapes ${A.rows}×${A.cols} and ${B.rows}×${B.cols} differ`);
  }
  let m = 0;
  for (let i = 0; i < A.data.length; i++) {
    const v = Math.abs(A.data[i] - B.data[i]);
    if (v > m || v !== v) m = v;
  }
  return m;
}
