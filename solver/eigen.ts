/**
 * Eigen-decomposition of dense real symmetric matrices: Householder tridiagonalisation followed by
 * the implicit QL algorithm with Wilkinson-type shifts (the EISPACK `tred2`/`tql2` pair, as in
 * JAMA), rewritten for row-major flat arrays.
 *
 * Layout choices, all so that inner loops run along contiguous rows:
 * - the reduction keeps only the upper triangle of the working matrix and forms the symmetric
 *   matrix–vector product and the rank-2 update row by row;
 * - the orthogonal factor is accumulated transposed (`Qᵀ`, so row j is the j-th column of Q), and
 *   during the QL sweeps every Givens rotation combines two contiguous rows of it;
 * - the result is transposed in place once at the end, so eigenvector j is column j.
 *
 * Work space: the returned n×n matrix, one more n×n array, and a few length-n vectors.
 *
 * @module
 */
import { type Matrix, matrix } from "./matrix.ts";

/** Iterations allowed per eigenvalue before the QL algorithm is declared not to converge. */
const MAX_QL_ITERATIONS = 60;

/**
 * Eigenvalues and eigenvectors of a symmetric n×n matrix: `A·V = V·diag(values)` with `values`
 * ascending and `vectors` (V) orthogonal, eigenvector j in column j.
 *
 * Symmetrisation: the decomposed matrix is `(A + Aᵀ)/2`, so both triangles of A are used and a
 * slightly asymmetric A (from rounding) is handled consistently. A is not modified.
 *
 * Throws a `RangeError` when A is not square or has a non-finite entry, and an `Error` if the QL
 * iteration fails to converge (60 iterations for one eigenvalue; not expected in practice).
 *
 * @example
 * ```ts
 * import { fromRows } from "./matrix.ts";
 * const { values, vectors } = symmetricEigen(fromRows([[2, 1], [1, 2]]));
 * // values = [1, 3]; column 0 of vectors ∝ [1, −1], column 1 ∝ [1, 1]
 * ```
 */
export function symmetricEigen(A: Matrix): { values: Float64Array; vectors: Matrix } {
  const n = A.rows;
  if (A.cols !== n) {
    throw new RangeError(`symmetricEigen: A is ${A.rows}×${A.cols}, not square`);
  }
  const src = A.data;
  for (let i = 0; i < src.length; i++) {
    if (!Number.isFinite(src[i])) {
      throw new RangeError(
        `symmetricEigen: entry (${Math.floor(i / n)}, ${i % n}) of A is ${src[i]}, not finite`,
      );
    }
  }
  // Working upper triangle of (A + Aᵀ)/2.
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    for (let j = i; j < n; j++) a[ri + j] = 0.5 * src[ri + j] + 0.5 * src[j * n + i];
  }
  const d = new Float64Array(n); // diagonal of T, then the eigenvalues
  const e = new Float64Array(n); // e[i] = T[i, i+1], e[n−1] = 0
  const beta = new Float64Array(n);
  const v = new Float64Array(n);
  const p = new Float64Array(n);
  tridiagonalize(a, n, d, e, beta, v, p);
  const V = matrix(n, n);
  const w = V.data;
  accumulateQt(a, n, beta, w);
  ql(d, e, w, n, v, p); // v and p are free now: they hold the rotations of one QL sweep
  // Sort ascending, moving rows of Vᵀ along (selection sort: n row swaps at most).
  for (let i = 0; i < n - 1; i++) {
    let k = i, best = d[i];
    for (let j = i + 1; j < n; j++) {
      if (d[j] < best) {
        best = d[j];
        k = j;
      }
    }
    if (k !== i) {
      d[k] = d[i];
      d[i] = best;
      const ri = i * n, rk = k * n;
      for (let j = 0; j < n; j++) {
        const t = w[ri + j];
        w[ri + j] = w[rk + j];
        w[rk + j] = t;
      }
    }
  }
  // In-place transpose: eigenvector j from row j to column j.
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const t = w[i * n + j];
      w[i * n + j] = w[j * n + i];
      w[j * n + i] = t;
    }
  }
  return { values: d, vectors: V };
}

/**
 * Householder reduction `T = Qᵀ·A·Q` (Golub & Van Loan, Alg. 8.3.1) on the upper triangle of the
 * n×n array `a`. Step k annihilates row k beyond the superdiagonal; its Householder vector
 * (indices k+1…n−1) is left in row k of `a`, with `beta[k]` (0 when no reflection is needed).
 */
function tridiagonalize(
  a: Float64Array,
  n: number,
  d: Float64Array,
  e: Float64Array,
  beta: Float64Array,
  v: Float64Array,
  p: Float64Array,
): void {
  for (let k = 0; k + 2 < n; k++) {
    const rk = k * n;
    d[k] = a[rk + k];
    const x0 = a[rk + k + 1];
    let tail = 0;
    for (let j = k + 2; j < n; j++) {
      const t = Math.abs(a[rk + j]);
      if (t > tail) tail = t;
    }
    if (tail === 0) {
      // Already tridiagonal in this row.
      e[k] = x0;
      beta[k] = 0;
      continue;
    }
    const scale = Math.max(tail, Math.abs(x0));
    let ss = 0;
    for (let j = k + 1; j < n; j++) {
      const t = a[rk + j] / scale;
      ss += t * t;
    }
    const sigma = scale * Math.sqrt(ss);
    const alpha = x0 > 0 ? -sigma : sigma;
    const v0 = x0 - alpha;
    const b = 1 / (sigma * Math.abs(v0)); // 2 / vᵀv
    e[k] = alpha;
    beta[k] = b;
    a[rk + k + 1] = v0;
    for (let j = k + 1; j < n; j++) v[j] = a[rk + j];
    // p = A22·v with A22 = a[k+1:, k+1:] stored by its upper triangle.
    symv(a, n, k + 1, v, p);
    // w = b·p − (b²/2)(pᵀv)·v, then A22 −= v·wᵀ + w·vᵀ (upper triangle only).
    let pv = 0;
    for (let i = k + 1; i < n; i++) {
      p[i] *= b;
      pv += p[i] * v[i];
    }
    const K = 0.5 * b * pv;
    for (let i = k + 1; i < n; i++) p[i] -= K * v[i];
    rank2(a, n, k + 1, v, p);
  }
  if (n >= 2) {
    d[n - 2] = a[(n - 2) * n + n - 2];
    e[n - 2] = a[(n - 2) * n + n - 1];
    d[n - 1] = a[(n - 1) * n + n - 1];
  } else if (n === 1) {
    d[0] = a[0];
  }
  if (n >= 1) e[n - 1] = 0;
}

/**
 * Writes `Qᵀ = H_{n−3}···H_1·H_0` into `w` (n×n), as `I·H_{n−3}·…·H_0`: applying H_k from the
 * right touches only rows and columns k+1… (the product so far is the identity elsewhere), and
 * each row update is a dot product and an axpy along contiguous memory.
 */
function accumulateQt(a: Float64Array, n: number, beta: Float64Array, w: Float64Array): void {
  for (let i = 0; i < n; i++) w[i * n + i] = 1;
  for (let k = n - 3; k >= 0; k--) {
    const b = beta[k];
    if (b !== 0) reflect(w, a, n, k, b);
  }
}

function hypot(x: number, y: number): number {
  x = Math.abs(x);
  y = Math.abs(y);
  if (x < y) {
    const t = x;
    x = y;
    y = t;
  }
  if (x === 0) return 0;
  const r = y / x;
  return x * Math.sqrt(1 + r * r);
}

/**
 * Implicit QL iteration (`tql2`) on the tridiagonal (d, e) with e[i] = T[i, i+1], rotating rows
 * of `w` (the transposed eigenvector matrix).
 */
function ql(
  d: Float64Array,
  e: Float64Array,
  w: Float64Array,
  n: number,
  cs: Float64Array,
  sn: Float64Array,
): void {
  const eps = Number.EPSILON;
  let f = 0, tst1 = 0;
  for (let l = 0; l < n; l++) {
    // Find a negligible subdiagonal element.
    tst1 = Math.max(tst1, Math.abs(d[l]) + Math.abs(e[l]));
    let m = l;
    while (m < n - 1 && Math.abs(e[m]) > eps * tst1) m++;
    if (m > l) {
      let iter = 0;
      do {
        if (++iter > MAX_QL_ITERATIONS) {
          throw new Error(
            `symmetricEigen: QL iteration did not converge for eigenvalue ${l} of ${n}`,
          );
        }
        // Implicit shift from the leading 2×2 block.
        let g = d[l];
        let pp = (d[l + 1] - g) / (2 * e[l]);
        let r = hypot(pp, 1);
        if (pp < 0) r = -r;
        d[l] = e[l] / (pp + r);
        d[l + 1] = e[l] * (pp + r);
        const dl1 = d[l + 1];
        let h = g - d[l];
        for (let i = l + 2; i < n; i++) d[i] -= h;
        f += h;
        // Implicit QL transformation.
        pp = d[m];
        let c = 1, c2 = 1, c3 = 1, s = 0, s2 = 0;
        const el1 = e[l + 1];
        for (let i = m - 1; i >= l; i--) {
          c3 = c2;
          c2 = c;
          s2 = s;
          g = c * e[i];
          h = c * pp;
          r = hypot(pp, e[i]);
          e[i + 1] = s * r;
          s = e[i] / r;
          c = pp / r;
          pp = c * d[i] - s * g;
          d[i + 1] = h + s * (c * g + s * d[i]);
          cs[i] = c;
          sn[i] = s;
        }
        rotateRows(w, n, cs, sn, l, m);
        pp = -s * s2 * c3 * el1 * e[l] / dl1;
        e[l] = s * pp;
        d[l] = c * pp;
      } while (Math.abs(e[l]) > eps * tst1);
    }
    d[l] = d[l] + f;
    e[l] = 0;
  }
}

/**
 * Applies the rotations of one QL sweep, i = m−1 down to l, to rows i and i+1 of `w`
 * (`row_{i+1} ← s·row_i + c·row_{i+1}`, `row_i ← c·row_i − s·row_{i+1}`). Two consecutive
 * rotations share a row, so they are fused: three rows are read and written once per pair.
 */
function rotateRows(
  w: Float64Array,
  n: number,
  cs: Float64Array,
  sn: Float64Array,
  l: number,
  m: number,
): void {
  let i = m - 1;
  for (; i - 1 >= l; i -= 2) rotatePair(w, (i - 1) * n, n, cs[i], sn[i], cs[i - 1], sn[i - 1]);
  if (i === l) rotateOne(w, i * n, n, cs[i], sn[i]);
}

// The kernels below are separate functions on purpose: each is entered O(n) times per
// decomposition, so V8 moves them to its optimising tier at a function entry early on, whereas a
// long loop nest inside one big function first compiled for small n can stay in the mid tier for
// the whole of a large call (measured: 2–3× slower at n = 1000).

/** p[i0:n] = A22·v[i0:n] for A22 = a[i0:, i0:] stored by its upper triangle, row by row. */
function symv(a: Float64Array, n: number, i0: number, v: Float64Array, p: Float64Array): void {
  p.fill(0, i0, n);
  for (let i = i0; i < n; i++) {
    const ri = i * n, vi = v[i];
    let s = a[ri + i] * vi;
    for (let j = i + 1; j < n; j++) {
      const aij = a[ri + j];
      s += aij * v[j];
      p[j] += aij * vi;
    }
    p[i] += s;
  }
}

/** The rank-2 update A22 −= v·wᵀ + w·vᵀ on the upper triangle of a[i0:, i0:]. */
function rank2(a: Float64Array, n: number, i0: number, v: Float64Array, w: Float64Array): void {
  for (let i = i0; i < n; i++) {
    const ri = i * n, vi = v[i], wi = w[i];
    for (let j = i; j < n; j++) a[ri + j] -= vi * w[j] + wi * v[j];
  }
}

/** Rows k+1… of w times H_k, i.e. x ← x − b·(x·u)·uᵀ on columns k+1…, u = row k of a. */
function reflect(w: Float64Array, a: Float64Array, n: number, k: number, b: number): void {
  const rk = k * n, j0 = k + 1;
  for (let i = j0; i < n; i++) {
    const ri = i * n;
    let s0 = 0, s1 = 0, j = j0;
    for (; j + 1 < n; j += 2) {
      s0 += w[ri + j] * a[rk + j];
      s1 += w[ri + j + 1] * a[rk + j + 1];
    }
    if (j < n) s0 += w[ri + j] * a[rk + j];
    const s = (s0 + s1) * b;
    if (s === 0) continue;
    for (let jj = j0; jj < n; jj++) w[ri + jj] -= s * a[rk + jj];
  }
}

/** Rotation i (rows r0+n, r0+2n) then rotation i−1 (rows r0, r0+n) in one pass. */
function rotatePair(
  w: Float64Array,
  r0: number,
  n: number,
  c1: number,
  s1: number,
  c2: number,
  s2: number,
): void {
  const r1 = r0 + n, r2 = r1 + n;
  for (let k = 0; k < n; k++) {
    const x1 = w[r1 + k], x2 = w[r2 + k], x0 = w[r0 + k];
    w[r2 + k] = s1 * x1 + c1 * x2;
    const t = c1 * x1 - s1 * x2;
    w[r1 + k] = s2 * x0 + c2 * t;
    w[r0 + k] = c2 * x0 - s2 * t;
  }
}

/** One rotation of rows r0 and r0+n. */
function rotateOne(w: Float64Array, r0: number, n: number, c: number, s: number): void {
  const r1 = r0 + n;
  for (let k = 0; k < n; k++) {
    const x = w[r0 + k], y = w[r1 + k];
    w[r1 + k] = s * x + c * y;
    w[r0 + k] = c * x - s * y;
  }
}
