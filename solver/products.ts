/**
 * Dense matrix products and Frobenius quantities for small and tall matrices.
 *
 * Every product takes an optional `out` (shape-checked, overwritten) so hot loops can avoid
 * allocation. Loops are ordered for row-major storage: the innermost loop runs along a row.
 *
 * @module
 */
import { type Matrix, matrix } from "./matrix.ts";

function target(out: Matrix | undefined, rows: number, cols: number, name: string): Matrix {
  if (out === undefined) return matrix(rows, cols);
  if (out.rows !== rows || out.cols !== cols) {
    throw new RangeError(`${name}: out is ${out.rows}×${out.cols}, expected ${rows}×${cols}`);
  }
  return out;
}

/**
 * `C = A·B` (A m×p, B p×n).
 *
 * @example
 * ```ts
 * const C = matmul(A, B);
 * ```
 */
export function matmul(A: Matrix, B: Matrix, out?: Matrix): Matrix {
  const m = A.rows, p = A.cols, n = B.cols;
  if (B.rows !== p) throw new RangeError(`matmul: A is ${m}×${p} but B is ${B.rows}×${n}`);
  const C = target(out, m, n, "matmul");
  if (C.data === A.data || C.data === B.data) throw new RangeError("matmul: out aliases an input");
  const a = A.data, b = B.data, c = C.data;
  c.fill(0);
  for (let i = 0; i < m; i++) {
    const ci = i * n, ai = i * p;
    let k = 0;
    for (; k + 1 < p; k += 2) {
      const a0 = a[ai + k], a1 = a[ai + k + 1];
      const b0 = k * n, b1 = b0 + n;
      for (let j = 0; j < n; j++) c[ci + j] += a0 * b[b0 + j] + a1 * b[b1 + j];
    }
    if (k < p) {
      const a0 = a[ai + k], b0 = k * n;
      for (let j = 0; j < n; j++) c[ci + j] += a0 * b[b0 + j];
    }
  }
  return C;
}

/**
 * `C = Aᵀ·B` (A m×p, B m×n, C p×n), without forming Aᵀ.
 *
 * @example
 * ```ts
 * const G = matmulTN(U, V); // UᵀV
 * ```
 */
export function matmulTN(A: Matrix, B: Matrix, out?: Matrix): Matrix {
  const m = A.rows, p = A.cols, n = B.cols;
  if (B.rows !== m) throw new RangeError(`matmulTN: A is ${m}×${p} but B is ${B.rows}×${n}`);
  const C = target(out, p, n, "matmulTN");
  if (C.data === A.data || C.data === B.data) {
    throw new RangeError("matmulTN: out aliases an input");
  }
  const a = A.data, b = B.data, c = C.data;
  c.fill(0);
  let r = 0;
  for (; r + 1 < m; r += 2) {
    const ar0 = r * p, ar1 = ar0 + p, br0 = r * n, br1 = br0 + n;
    for (let i = 0; i < p; i++) {
      const x0 = a[ar0 + i], x1 = a[ar1 + i], ci = i * n;
      for (let j = 0; j < n; j++) c[ci + j] += x0 * b[br0 + j] + x1 * b[br1 + j];
    }
  }
  if (r < m) {
    const ar = r * p, br = r * n;
    for (let i = 0; i < p; i++) {
      const x = a[ar + i], ci = i * n;
      for (let j = 0; j < n; j++) c[ci + j] += x * b[br + j];
    }
  }
  return C;
}

/**
 * `C = A·Bᵀ` (A m×p, B n×p, C m×n), without forming Bᵀ.
 *
 * @example
 * ```ts
 * const P = matmulNT(U, U); // UUᵀ
 * ```
 */
export function matmulNT(A: Matrix, B: Matrix, out?: Matrix): Matrix {
  const m = A.rows, p = A.cols, n = B.rows;
  if (B.cols !== p) throw new RangeError(`matmulNT: A is ${m}×${p} but B is ${n}×${B.cols}`);
  const C = target(out, m, n, "matmulNT");
  if (C.data === A.data || C.data === B.data) {
    throw new RangeError("matmulNT: out aliases an input");
  }
  const a = A.data, b = B.data, c = C.data;
  for (let i = 0; i < m; i++) {
    const ai = i * p, ci = i * n;
    for (let j = 0; j < n; j++) {
      const bj = j * p;
      let s0 = 0, s1 = 0, k = 0;
      for (; k + 1 < p; k += 2) {
        s0 += a[ai + k] * b[bj + k];
        s1 += a[ai + k + 1] * b[bj + k + 1];
      }
      if (k < p) s0 += a[ai + k] * b[bj + k];
      c[ci + j] = s0 + s1;
    }
  }
  return C;
}

/**
 * The Gram matrix `AᵀA` (symmetric, computed once per pair and mirrored).
 *
 * @example
 * ```ts
 * const G = gram(U); // ≈ I for orthonormal columns
 * ```
 */
export function gram(A: Matrix, out?: Matrix): Matrix {
  const m = A.rows, p = A.cols;
  const C = target(out, p, p, "gram");
  if (C.data === A.data) throw new RangeError("gram: out aliases the input");
  const a = A.data, c = C.data;
  c.fill(0);
  let r = 0;
  for (; r + 1 < m; r += 2) {
    const r0 = r * p, r1 = r0 + p;
    for (let i = 0; i < p; i++) {
      const x0 = a[r0 + i], x1 = a[r1 + i], ci = i * p;
      for (let j = i; j < p; j++) c[ci + j] += x0 * a[r0 + j] + x1 * a[r1 + j];
    }
  }
  if (r < m) {
    const r0 = r * p;
    for (let i = 0; i < p; i++) {
      const x = a[r0 + i], ci = i * p;
      for (let j = i; j < p; j++) c[ci + j] += x * a[r0 + j];
    }
  }
  for (let i = 0; i < p; i++) for (let j = 0; j < i; j++) c[i * p + j] = c[j * p + i];
  return C;
}

/**
 * The Frobenius inner product `⟨A, B⟩ = Σ a_ij b_ij` of two matrices (or raw arrays) of one size.
 *
 * @example
 * ```ts
 * frobeniusDot(A, A) === frobeniusNorm(A) ** 2;
 * ```
 */
export function frobeniusDot(A: Matrix | Float64Array, B: Matrix | Float64Array): number {
  const a = A instanceof Float64Array ? A : A.data, b = B instanceof Float64Array ? B : B.data;
  if (a.length !== b.length) {
    throw new RangeError(`frobeniusDot: sizes ${a.length} and ${b.length} differ`);
  }
  let s0 = 0, s1 = 0, i = 0;
  for (; i + 1 < a.length; i += 2) {
    s0 += a[i] * b[i];
    s1 += a[i + 1] * b[i + 1];
  }
  if (i < a.length) s0 += a[i] * b[i];
  return s0 + s1;
}

/**
 * The Frobenius norm `‖A‖_F`, scaled to avoid overflow and underflow.
 *
 * @example
 * ```ts
 * frobeniusNorm(eye(3)); // √3
 * ```
 */
export function frobeniusNorm(A: Matrix | Float64Array): number {
  const a = A instanceof Float64Array ? A : A.data;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    const v = Math.abs(a[i]);
    if (v > scale || v !== v) scale = v;
  }
  if (scale === 0 || !Number.isFinite(scale)) return scale;
  let s = 0;
  const inv = 1 / scale;
  for (let i = 0; i < a.length; i++) {
    const v = a[i] * inv;
    s += v * v;
  }
  return scale * Math.sqrt(s);
}
