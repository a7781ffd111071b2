/**
 * Dense matrix products and Frobenius quantities for small and tall matrices.
 *
 * Every product takes an optional `out` (shape-checked, overwritten) so hot loops can avoid
 * allocation. Loops are ordered for row-major storage: the innermost loop runs along a row.
 * Products of at least {@link BLAS_MIN_WORK} multiply-adds run in the system BLAS when it is
 * loaded (`solver/blas.ts`: `--allow-ffi` and OpenBLAS), the same product to rounding; the
 * TypeScript kernels are the fallback and the oracle in tests.
 *
 * @module
 */
import { type Blas, blas } from "./blas.ts";
import { type Matrix, matrix } from "./matrix.ts";

/**
 * Products of at least this many multiply-adds (64³) go to the system BLAS when it is loaded;
 * smaller ones stay in TypeScript (the solver at K = 10 runs exactly as without a library).
 *
 * @example
 * ```ts
 * const d = 512, K = 100;
 * const usesBlas = d * K * K >= BLAS_MIN_WORK; // true: UᵀV at K = 100 goes to dgemm
 * ```
 */
export const BLAS_MIN_WORK = 64 ** 3;

function fast(work: number): Blas | null {
  return work >= BLAS_MIN_WORK ? blas() : null;
}

function target(out: Matrix | undefined, rows: number, cols: number, name: string): Matrix {
  if (out === undefined) return matrix(rows, cols);
  if (out.rows !== rows || out.cols !== cols) {
    throw new RangeError(`${name}: out is ${out.rows}×${out.cols}, expected ${rows}×${cols}`);
  }
  return out;
}

/**
 * `c ← c + a·b` for row-major a (m×p), b (p×n), c (m×n): the shared kernel, register-blocked
 * over 4 rows of a and 4 of b (about 3× a plain triple loop in V8).
 */
function gemmAccumulate(
  a: Float64Array,
  b: Float64Array,
  c: Float64Array,
  m: number,
  p: number,
  n: number,
): void {
  let i = 0;
  for (; i + 3 < m; i += 4) {
    const c0 = i * n, c1 = c0 + n, c2 = c1 + n, c3 = c2 + n;
    const r0 = i * p, r1 = r0 + p, r2 = r1 + p, r3 = r2 + p;
    let k = 0;
    for (; k + 3 < p; k += 4) {
      const a00 = a[r0 + k], a01 = a[r0 + k + 1], a02 = a[r0 + k + 2], a03 = a[r0 + k + 3];
      const a10 = a[r1 + k], a11 = a[r1 + k + 1], a12 = a[r1 + k + 2], a13 = a[r1 + k + 3];
      const a20 = a[r2 + k], a21 = a[r2 + k + 1], a22 = a[r2 + k + 2], a23 = a[r2 + k + 3];
      const a30 = a[r3 + k], a31 = a[r3 + k + 1], a32 = a[r3 + k + 2], a33 = a[r3 + k + 3];
      const b0 = k * n, b1 = b0 + n, b2 = b1 + n, b3 = b2 + n;
      for (let j = 0; j < n; j++) {
        const x0 = b[b0 + j], x1 = b[b1 + j], x2 = b[b2 + j], x3 = b[b3 + j];
        c[c0 + j] += a00 * x0 + a01 * x1 + a02 * x2 + a03 * x3;
        c[c1 + j] += a10 * x0 + a11 * x1 + a12 * x2 + a13 * x3;
        c[c2 + j] += a20 * x0 + a21 * x1 + a22 * x2 + a23 * x3;
        c[c3 + j] += a30 * x0 + a31 * x1 + a32 * x2 + a33 * x3;
      }
    }
    for (; k < p; k++) {
      const b0 = k * n, a0 = a[r0 + k], a1 = a[r1 + k], a2 = a[r2 + k], a3 = a[r3 + k];
      for (let j = 0; j < n; j++) {
        const x = b[b0 + j];
        c[c0 + j] += a0 * x;
        c[c1 + j] += a1 * x;
        c[c2 + j] += a2 * x;
        c[c3 + j] += a3 * x;
      }
    }
  }
  for (; i < m; i++) {
    const ci = i * n, ai = i * p;
    for (let k = 0; k < p; k++) {
      const a0 = a[ai + k], b0 = k * n;
      for (let j = 0; j < n; j++) c[ci + j] += a0 * b[b0 + j];
    }
  }
}

function noAlias(name: string, C: Matrix, ...inputs: Matrix[]): void {
  if (inputs.some((X) => X.data.buffer === C.data.buffer)) {
    throw new RangeError(`${name}: out shares storage with an input`);
  }
}

/**
 * `C = A·B` (A m×p, B p×n).
 *
 * @example
 * ```ts
 * import { randomNormal, Rng } from "../core/random.ts";
 * const rng = new Rng(0);
 * const A = randomNormal(rng, 3, 2), B = randomNormal(rng, 2, 4);
 * const C = matmul(A, B);
 * ```
 */
export function matmul(A: Matrix, B: Matrix, out?: Matrix): Matrix {
  const m = A.rows, p = A.cols, n = B.cols;
  if (B.rows !== p) throw new RangeError(`matmul: A is ${m}×${p} but B is ${B.rows}×${n}`);
  const C = target(out, m, n, "matmul");
  noAlias("matmul", C, A, B);
  const f = fast(m * p * n);
  if (f !== null) {
    f.gemm(false, false, m, n, p, 1, A.data, B.data, 0, C.data);
    return C;
  }
  C.data.fill(0);
  gemmAccumulate(A.data, B.data, C.data, m, p, n);
  return C;
}

/**
 * `C = A·B + D·E` in one pass over C (A m×p, B p×n, D m×q, E q×n).
 *
 * @example
 * ```ts
 * import { randomNormal, Rng } from "../core/random.ts";
 * const rng = new Rng(0);
 * const U = randomNormal(rng, 16, 4), V = randomNormal(rng, 16, 4);
 * const K1 = randomNormal(rng, 4, 4), K2 = randomNormal(rng, 4, 4);
 * const C = matmulSum(U, K1, V, K2); // U·K1 + V·K2
 * ```
 */
export function matmulSum(A: Matrix, B: Matrix, D: Matrix, E: Matrix, out?: Matrix): Matrix {
  const m = A.rows, n = B.cols;
  if (B.rows !== A.cols || E.rows !== D.cols || D.rows !== m || E.cols !== n) {
    throw new RangeError(
      `matmulSum: shapes ${m}×${A.cols}·${B.rows}×${n} + ${D.rows}×${D.cols}·${E.rows}×${E.cols} do not match`,
    );
  }
  const C = target(out, m, n, "matmulSum");
  noAlias("matmulSum", C, A, B, D, E);
  const f = fast(m * n * (A.cols + D.cols));
  if (f !== null) {
    f.gemm(false, false, m, n, A.cols, 1, A.data, B.data, 0, C.data);
    f.gemm(false, false, m, n, D.cols, 1, D.data, E.data, 1, C.data);
    return C;
  }
  C.data.fill(0);
  gemmAccumulate(A.data, B.data, C.data, m, A.cols, n);
  gemmAccumulate(D.data, E.data, C.data, m, D.cols, n);
  return C;
}

/**
 * In place: `C ← C − A·B` (A m×p, B p×n, C m×n), without allocating the product.
 *
 * @example
 * ```ts
 * import { randomNormal, Rng } from "../core/random.ts";
 * const rng = new Rng(0);
 * const X = randomNormal(rng, 16, 4), E = randomNormal(rng, 16, 4);
 * const XtE = matmulTN(X, E);
 * matmulSubtractInPlace(X, XtE, E); // E ← E − X·(XᵀE)
 * ```
 */
export function matmulSubtractInPlace(A: Matrix, B: Matrix, C: Matrix): Matrix {
  const m = A.rows, p = A.cols, n = B.cols;
  if (B.rows !== p || C.rows !== m || C.cols !== n) {
    throw new RangeError(
      `matmulSubtractInPlace: ${m}×${p}·${B.rows}×${n} does not fit ${C.rows}×${C.cols}`,
    );
  }
  noAlias("matmulSubtractInPlace", C, A, B);
  const f = fast(m * p * n);
  if (f !== null) {
    f.gemm(false, false, m, n, p, -1, A.data, B.data, 1, C.data);
    return C;
  }
  const negB = new Float64Array(B.data.length);
  for (let i = 0; i < negB.length; i++) negB[i] = -B.data[i];
  gemmAccumulate(A.data, negB, C.data, m, p, n);
  return C;
}

/**
 * `C = Aᵀ·B` (A m×p, B m×n, C p×n), without forming Aᵀ.
 *
 * @example
 * ```ts
 * import { randomNormal, Rng } from "../core/random.ts";
 * const rng = new Rng(0);
 * const U = randomNormal(rng, 16, 4), V = randomNormal(rng, 16, 4);
 * const G = matmulTN(U, V); // UᵀV
 * ```
 */
export function matmulTN(A: Matrix, B: Matrix, out?: Matrix): Matrix {
  const m = A.rows, p = A.cols, n = B.cols;
  if (B.rows !== m) throw new RangeError(`matmulTN: A is ${m}×${p} but B is ${B.rows}×${n}`);
  const C = target(out, p, n, "matmulTN");
  noAlias("matmulTN", C, A, B);
  const f = fast(m * p * n);
  if (f !== null) {
    f.gemm(true, false, p, n, m, 1, A.data, B.data, 0, C.data);
    return C;
  }
  const a = A.data, b = B.data, c = C.data;
  c.fill(0);
  // Four rows of A and B at a time, two output rows per pass (they share B's loads).
  let r = 0;
  for (; r + 3 < m; r += 4) {
    const a0 = r * p, a1 = a0 + p, a2 = a1 + p, a3 = a2 + p;
    const b0 = r * n, b1 = b0 + n, b2 = b1 + n, b3 = b2 + n;
    let i = 0;
    for (; i + 1 < p; i += 2) {
      const x0 = a[a0 + i], x1 = a[a1 + i], x2 = a[a2 + i], x3 = a[a3 + i];
      const y0 = a[a0 + i + 1], y1 = a[a1 + i + 1], y2 = a[a2 + i + 1], y3 = a[a3 + i + 1];
      const ci = i * n, cj = ci + n;
      for (let j = 0; j < n; j++) {
        const q0 = b[b0 + j], q1 = b[b1 + j], q2 = b[b2 + j], q3 = b[b3 + j];
        c[ci + j] += x0 * q0 + x1 * q1 + x2 * q2 + x3 * q3;
        c[cj + j] += y0 * q0 + y1 * q1 + y2 * q2 + y3 * q3;
      }
    }
    if (i < p) {
      const x0 = a[a0 + i], x1 = a[a1 + i], x2 = a[a2 + i], x3 = a[a3 + i], ci = i * n;
      for (let j = 0; j < n; j++) {
        c[ci + j] += x0 * b[b0 + j] + x1 * b[b1 + j] + x2 * b[b2 + j] + x3 * b[b3 + j];
      }
    }
  }
  for (; r < m; r++) {
    const ar = r * p, br = r * n;
    for (let i = 0; i < p; i++) {
      const x = a[ar + i], ci = i * n;
      for (let j = 0; j < n; j++) c[ci + j] += x * b[br + j];
    }
  }
  return C;
}

/**
 * `C = A·Bᵀ` (A m×p, B n×p, C m×n).
 *
 * @example
 * ```ts
 * import { eye } from "./matrix.ts";
 * const U = eye(16, 4);
 * const P = matmulNT(U, U); // UUᵀ
 * ```
 */
export function matmulNT(A: Matrix, B: Matrix, out?: Matrix): Matrix {
  const m = A.rows, p = A.cols, n = B.rows;
  if (B.cols !== p) throw new RangeError(`matmulNT: A is ${m}×${p} but B is ${n}×${B.cols}`);
  const C = target(out, m, n, "matmulNT");
  noAlias("matmulNT", C, A, B);
  const f = fast(m * p * n);
  if (f !== null) {
    f.gemm(false, true, m, n, p, 1, A.data, B.data, 0, C.data);
    return C;
  }
  const bt = new Float64Array(p * n), b = B.data;
  for (let i = 0; i < n; i++) for (let k = 0; k < p; k++) bt[k * n + i] = b[i * p + k];
  C.data.fill(0);
  gemmAccumulate(A.data, bt, C.data, m, p, n);
  return C;
}

/**
 * The Gram matrix `AᵀA` (symmetric, computed once per pair and mirrored).
 *
 * @example
 * ```ts
 * import { eye } from "./matrix.ts";
 * const U = eye(16, 4);
 * const G = gram(U); // ≈ I for orthonormal columns
 * ```
 */
export function gram(A: Matrix, out?: Matrix): Matrix {
  const m = A.rows, p = A.cols;
  const C = target(out, p, p, "gram");
  noAlias("gram", C, A);
  const f = fast(m * p * p);
  if (f !== null) {
    f.gramInto(A, C, 0);
    return C;
  }
  const a = A.data, c = C.data;
  c.fill(0);
  let r = 0;
  for (; r + 3 < m; r += 4) {
    const r0 = r * p, r1 = r0 + p, r2 = r1 + p, r3 = r2 + p;
    for (let i = 0; i < p; i++) {
      const x0 = a[r0 + i], x1 = a[r1 + i], x2 = a[r2 + i], x3 = a[r3 + i], ci = i * p;
      for (let j = i; j < p; j++) {
        c[ci + j] += x0 * a[r0 + j] + x1 * a[r1 + j] + x2 * a[r2 + j] + x3 * a[r3 + j];
      }
    }
  }
  for (; r < m; r++) {
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
 * import { fromRows } from "./matrix.ts";
 * const A = fromRows([[1, 2], [3, 4]]);
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
 * import { eye } from "./matrix.ts";
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
