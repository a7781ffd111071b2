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
import { blas } from "./blas.ts";
import { type Matrix, matrix } from "./matrix.ts";

/**
 * Matrices of at least this order are decomposed by LAPACK's `dsyevd` (divide and conquer)
 * when the system library is loaded (`solver/blas.ts`); smaller ones, or without a library, by
 * the TypeScript tridiagonalisation and QL sweeps below. Same symmetrisation and errors.
 *
 * @example
 * ```ts
 * const K = 1000;
 * const usesLapack = K >= LAPACK_MIN_ORDER; // true
 * ```
 */
export const LAPACK_MIN_ORDER = 32;

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
  const { values, vectors } = decompose(A, true, "symmetricEigen");
  return { values, vectors: vectors! };
}

/**
 * The eigenvalues (ascending) of a symmetric n×n matrix, as {@link symmetricEigen} computes them
 * but without forming the eigenvectors: the same Householder reduction and QL sweeps with no
 * rotations accumulated, about a third of the work. Same symmetrisation and errors.
 *
 * @example
 * ```ts
 * import { fromRows } from "./matrix.ts";
 * symmetricEigenvalues(fromRows([[2, 1], [1, 2]])); // [1, 3]
 * ```
 */
export function symmetricEigenvalues(A: Matrix): Float64Array {
  return decompose(A, false, "symmetricEigenvalues").values;
}

function decompose(
  A: Matrix,
  withVectors: boolean,
  name: string,
): { values: Float64Array; vectors: Matrix | null } {
  const n = A.rows;
  if (A.cols !== n) {
    throw new RangeError(`${name}: A is ${A.rows}×${A.cols}, not square`);
  }
  const src = A.data;
  for (let i = 0; i < src.length; i++) {
    if (!Number.isFinite(src[i])) {
      throw new RangeError(
        `${name}: entry (${Math.floor(i / n)}, ${i % n}) of A is ${src[i]}, not finite`,
      );
    }
  }
  const fast = n >= LAPACK_MIN_ORDER ? blas() : null;
  if (fast !== null) {
    const s = new Float64Array(n * n); // (A + Aᵀ)/2, both triangles
    for (let i = 0; i < n; i++) {
      for (let j = i; j < n; j++) {
        s[i * n + j] = s[j * n + i] = 0.5 * src[i * n + j] + 0.5 * src[j * n + i];
      }
    }
    const values = fast.symmetricEigenInPlace(s, n, withVectors);
    return { values, vectors: withVectors ? matrix(n, n, s) : null };
  }
  // Working upper triangle of (A + Aᵀ)/2.
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    for (let j = i; j < n; j++) a[ri + j] = 0.5 * src[ri + j] + 0.5 * src[j * n + i];
  }
  const d = new Float64Array(n); // diagonal of T, then the eigenvalues
  // Length-n work vectors as views of one buffer: one allocation instead of six (a typed array
  // over 64 bytes gets its own off-heap store, a cost that shows at n = 10).
  const work = new Float64Array(6 * n);
  const e = work.subarray(0, n); // e[i] = T[i, i+1], e[n−1] = 0
  const beta = work.subarray(n, 2 * n);
  const v = work.subarray(2 * n, 3 * n), w = work.subarray(3 * n, 4 * n);
  const v2 = work.subarray(4 * n, 5 * n), p2 = work.subarray(5 * n, 6 * n);
  tridiagonalize(a, n, d, e, beta, v, w, v2, p2);
  if (!withVectors) {
    ql(d, e, new Float64Array(0), n, 0, v, w, name);
    d.sort();
    return { values: d, vectors: null };
  }
  const V = matrix(n, n);
  const q = V.data;
  accumulateQt(a, n, beta, q);
  transposeInPlace(q, n); // Q: eigenvector j will be column j
  ql(d, e, q, n, n, v, w, name); // v and w are free now: they hold the rotations of one QL sweep
  sortAscending(d, q, n, a, beta); // a and beta are free: scratch for the permutation
  return { values: d, vectors: V };
}

/**
 * Sorts the eigenvalues `d` ascending and permutes the columns of the n×n row-major `q` along
 * (row by row through the scratch array `tmp`; `perm` is scratch too); nothing is moved if `d` is
 * already sorted.
 */
function sortAscending(
  d: Float64Array,
  q: Float64Array,
  n: number,
  tmp: Float64Array,
  perm: Float64Array,
): void {
  let sorted = true;
  for (let i = 1; i < n; i++) {
    if (d[i] < d[i - 1]) {
      sorted = false;
      break;
    }
  }
  if (sorted) return;
  // Selection sort of the values, recording where each one came from, then one pass per row.
  for (let i = 0; i < n; i++) perm[i] = i;
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
      const t = perm[i];
      perm[i] = perm[k];
      perm[k] = t;
    }
  }
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    for (let j = 0; j < n; j++) tmp[j] = q[ri + j];
    for (let j = 0; j < n; j++) q[ri + j] = tmp[perm[j]];
  }
}

function transposeInPlace(w: Float64Array, n: number): void {
  // 8×8 tiles keep both the rows and the columns being swapped in cache at n = 1000.
  for (let i0 = 0; i0 < n; i0 += 8) {
    const i1 = Math.min(i0 + 8, n);
    for (let j0 = i0; j0 < n; j0 += 8) {
      const j1 = Math.min(j0 + 8, n);
      for (let i = i0; i < i1; i++) {
        for (let j = Math.max(j0, i + 1); j < j1; j++) {
          const t = w[i * n + j];
          w[i * n + j] = w[j * n + i];
          w[j * n + i] = t;
        }
      }
    }
  }
}

/**
 * Householder reduction `T = Qᵀ·A·Q` (Golub & Van Loan, Alg. 8.3.1) on the upper triangle of the
 * n×n array `a`. Step k annihilates row k beyond the superdiagonal; its Householder vector
 * (indices k+1…n−1) is left in row k of `a`, with `beta[k]` (0 when no reflection is needed).
 *
 * The rank-2 update of step k, `A22 −= v·wᵀ + w·vᵀ`, is not done on its own: it is applied to row
 * k+1 first (which holds the next Householder vector) and then fused with the next step's
 * symmetric matrix–vector product, so each step makes one pass over the trailing triangle instead
 * of two. (v, w) hold the pending update, (v2, p2) the new vector and its product; they swap.
 */
function tridiagonalize(
  a: Float64Array,
  n: number,
  d: Float64Array,
  e: Float64Array,
  beta: Float64Array,
  v: Float64Array,
  w: Float64Array,
  v2: Float64Array,
  p2: Float64Array,
): void {
  let pending = false; // whether rows ≥ k still owe the rank-2 update with (v, w)
  for (let k = 0; k + 2 < n; k++) {
    const rk = k * n;
    if (pending) updateRow(a, n, k, v, w);
    d[k] = a[rk + k];
    const x0 = a[rk + k + 1];
    let tail = 0;
    for (let j = k + 2; j < n; j++) {
      const t = Math.abs(a[rk + j]);
      if (t > tail) tail = t;
    }
    if (tail === 0) {
      // Already tridiagonal in this row: no reflection, but the pending update is still owed.
      e[k] = x0;
      beta[k] = 0;
      if (pending) rank2(a, n, k + 1, v, w);
      pending = false;
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
    for (let j = k + 1; j < n; j++) v2[j] = a[rk + j];
    // p2 = A22·v2 with A22 = a[k+1:, k+1:] (its upper triangle), after the pending update.
    p2.fill(0, k + 1, n);
    if (pending) rank2Symv(a, n, k + 1, v, w, v2, p2);
    else symv(a, n, k + 1, v2, p2);
    // w2 = b·p2 − (b²/2)(p2ᵀv2)·v2: the next update is A22 −= v2·w2ᵀ + w2·v2ᵀ.
    let pv = 0;
    for (let i = k + 1; i < n; i++) {
      p2[i] *= b;
      pv += p2[i] * v2[i];
    }
    const K = 0.5 * b * pv;
    for (let i = k + 1; i < n; i++) p2[i] -= K * v2[i];
    // Swap: (v2, p2) becomes the pending update.
    let t = v;
    v = v2;
    v2 = t;
    t = w;
    w = p2;
    p2 = t;
    pending = true;
  }
  if (pending) rank2(a, n, Math.max(n - 2, 0), v, w);
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
 * Writes `Qᵀ = H_{n−3}···H_1·H_0` into `w` (n×n). Row i of Qᵀ is `e_iᵀ·H_{i−1}···H_0` (the
 * reflectors H_k with k ≥ i leave e_i alone, as they act on indices k+1…), so the rows are
 * independent: they are formed four at a time, each reflector (a row of `a`) being read once per
 * block of four rows, and the update by H_k is fused with the dot products for H_{k−1}. Applying
 * all reflectors k ≤ i0+2 to every row of a block is exact for the rows that some of them leave
 * alone: their dot products are exactly 0.
 */
function accumulateQt(a: Float64Array, n: number, beta: Float64Array, w: Float64Array): void {
  for (let i = 0; i < n; i++) w[i * n + i] = 1;
  let i0 = 1; // row 0 is e_0
  for (; i0 + 3 < n; i0 += 4) reflectRows4(w, a, n, i0, Math.min(i0 + 2, n - 3), beta);
  for (; i0 < n; i0++) reflectRow(w, a, n, i0, Math.min(i0 - 1, n - 3), beta);
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
 * Implicit QL iteration (`tql2`) on the tridiagonal (d, e) with e[i] = T[i, i+1], rotating
 * columns of the row-major n×n eigenvector matrix `w` (`rows` = n), or none (`rows` = 0: `tql1`,
 * eigenvalues only).
 */
function ql(
  d: Float64Array,
  e: Float64Array,
  w: Float64Array,
  n: number,
  rows: number,
  cs: Float64Array,
  sn: Float64Array,
  name: string,
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
            `${name}: QL iteration did not converge for eigenvalue ${l} of ${n}`,
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
        if (rows > 0) rotateColumns(w, n, cs, sn, l, m);
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
 * Applies the rotations of one QL sweep, i = m−1 down to l, to columns i and i+1 of `w`
 * (`col_{i+1} ← s·col_i + c·col_{i+1}`, `col_i ← c·col_i − s·col_{i+1}`). Within a row the sweep
 * is a chain: the new column i+1 only needs the old column i and the carried value of column i+1,
 * so each entry of w[·, l…m] is read and written once per sweep, along contiguous memory. Four
 * rows are done together so that the four carried chains overlap.
 */
function rotateColumns(
  w: Float64Array,
  n: number,
  cs: Float64Array,
  sn: Float64Array,
  l: number,
  m: number,
): void {
  let r = 0;
  for (; r + 3 < n; r += 4) chain4(w, r * n, n, cs, sn, l, m);
  if (r + 1 < n) {
    chain2(w, r * n, n, cs, sn, l, m);
    r += 2;
  }
  if (r < n) chain1(w, r * n, cs, sn, l, m);
}

// The kernels below are separate functions on purpose: each is entered O(n) times per
// decomposition, so V8 moves them to its optimising tier at a function entry early on, whereas a
// long loop nest inside one big function first compiled for small n can stay in the mid tier for
// the whole of a large call (measured: 2–3× slower at n = 1000).

/** The QL sweep's rotations on one row (offset r0) of w. */
function chain1(
  w: Float64Array,
  r0: number,
  cs: Float64Array,
  sn: Float64Array,
  l: number,
  m: number,
): void {
  let y = w[r0 + m];
  for (let i = m - 1; i >= l; i--) {
    const c = cs[i], s = sn[i], x = w[r0 + i];
    w[r0 + i + 1] = s * x + c * y;
    y = c * x - s * y;
  }
  w[r0 + l] = y;
}

/** The QL sweep's rotations on two consecutive rows (offset r0) of w. */
function chain2(
  w: Float64Array,
  r0: number,
  n: number,
  cs: Float64Array,
  sn: Float64Array,
  l: number,
  m: number,
): void {
  const r1 = r0 + n;
  let y0 = w[r0 + m], y1 = w[r1 + m];
  for (let i = m - 1; i >= l; i--) {
    const c = cs[i], s = sn[i], x0 = w[r0 + i], x1 = w[r1 + i];
    w[r0 + i + 1] = s * x0 + c * y0;
    w[r1 + i + 1] = s * x1 + c * y1;
    y0 = c * x0 - s * y0;
    y1 = c * x1 - s * y1;
  }
  w[r0 + l] = y0;
  w[r1 + l] = y1;
}

/** The QL sweep's rotations on four consecutive rows (offset r0) of w. */
function chain4(
  w: Float64Array,
  r0: number,
  n: number,
  cs: Float64Array,
  sn: Float64Array,
  l: number,
  m: number,
): void {
  const r1 = r0 + n, r2 = r1 + n, r3 = r2 + n;
  let y0 = w[r0 + m], y1 = w[r1 + m], y2 = w[r2 + m], y3 = w[r3 + m];
  for (let i = m - 1; i >= l; i--) {
    const c = cs[i], s = sn[i];
    const x0 = w[r0 + i], x1 = w[r1 + i], x2 = w[r2 + i], x3 = w[r3 + i];
    w[r0 + i + 1] = s * x0 + c * y0;
    w[r1 + i + 1] = s * x1 + c * y1;
    w[r2 + i + 1] = s * x2 + c * y2;
    w[r3 + i + 1] = s * x3 + c * y3;
    y0 = c * x0 - s * y0;
    y1 = c * x1 - s * y1;
    y2 = c * x2 - s * y2;
    y3 = c * x3 - s * y3;
  }
  w[r0 + l] = y0;
  w[r1 + l] = y1;
  w[r2 + l] = y2;
  w[r3 + l] = y3;
}

/** p[i0:n] += A22·y[i0:n] for A22 = a[i0:, i0:] stored by its upper triangle, two rows at a time. */
function symv(a: Float64Array, n: number, i0: number, y: Float64Array, p: Float64Array): void {
  let i = i0;
  for (; i + 1 < n; i += 2) {
    const r0 = i * n, r1 = r0 + n, y0 = y[i], y1 = y[i + 1];
    const a01 = a[r0 + i + 1];
    let s0 = a[r0 + i] * y0 + a01 * y1, s1 = a[r1 + i + 1] * y1;
    p[i + 1] += a01 * y0;
    for (let j = i + 2; j < n; j++) {
      const x0 = a[r0 + j], x1 = a[r1 + j], yj = y[j];
      s0 += x0 * yj;
      s1 += x1 * yj;
      p[j] += x0 * y0 + x1 * y1;
    }
    p[i] += s0;
    p[i + 1] += s1;
  }
  if (i < n) p[i] += a[i * n + i] * y[i];
}

/**
 * The pending rank-2 update `A22 −= v·wᵀ + w·vᵀ` on the upper triangle of a[i0:, i0:], fused with
 * `p[i0:n] += A22·y[i0:n]` on the updated entries (two rows at a time, as in {@linkcode symv}).
 */
function rank2Symv(
  a: Float64Array,
  n: number,
  i0: number,
  v: Float64Array,
  w: Float64Array,
  y: Float64Array,
  p: Float64Array,
): void {
  let i = i0;
  for (; i + 1 < n; i += 2) {
    const r0 = i * n, r1 = r0 + n, y0 = y[i], y1 = y[i + 1];
    const v0 = v[i], w0 = w[i], v1 = v[i + 1], w1 = w[i + 1];
    const a00 = a[r0 + i] - (v0 * w0 + w0 * v0);
    const a01 = a[r0 + i + 1] - (v0 * w1 + w0 * v1);
    const a11 = a[r1 + i + 1] - (v1 * w1 + w1 * v1);
    a[r0 + i] = a00;
    a[r0 + i + 1] = a01;
    a[r1 + i + 1] = a11;
    let s0 = a00 * y0 + a01 * y1, s1 = a11 * y1;
    p[i + 1] += a01 * y0;
    for (let j = i + 2; j < n; j++) {
      const vj = v[j], wj = w[j], yj = y[j];
      const x0 = a[r0 + j] - (v0 * wj + w0 * vj);
      const x1 = a[r1 + j] - (v1 * wj + w1 * vj);
      a[r0 + j] = x0;
      a[r1 + j] = x1;
      s0 += x0 * yj;
      s1 += x1 * yj;
      p[j] += x0 * y0 + x1 * y1;
    }
    p[i] += s0;
    p[i + 1] += s1;
  }
  if (i < n) {
    const ri = i * n, vi = v[i], wi = w[i];
    const aii = a[ri + i] - (vi * wi + wi * vi);
    a[ri + i] = aii;
    p[i] += aii * y[i];
  }
}

/** The rank-2 update A22 −= v·wᵀ + w·vᵀ on the upper triangle of a[i0:, i0:]. */
function rank2(a: Float64Array, n: number, i0: number, v: Float64Array, w: Float64Array): void {
  for (let i = i0; i < n; i++) updateRow(a, n, i, v, w);
}

/** Row i of the rank-2 update (entries j ≥ i). */
function updateRow(a: Float64Array, n: number, i: number, v: Float64Array, w: Float64Array): void {
  const ri = i * n, vi = v[i], wi = w[i];
  for (let j = i; j < n; j++) a[ri + j] -= vi * w[j] + wi * v[j];
}

/**
 * Rows i0…i0+3 of Qᵀ: x ← x·H_k for k = kTop down to 0, where x·H_k = x − b_k·(x·u_k)·u_kᵀ on
 * columns k+1… and u_k is row k of `a`. The update by H_k and the dot products x·u_{k−1} (columns
 * k…) share one pass.
 */
function reflectRows4(
  w: Float64Array,
  a: Float64Array,
  n: number,
  i0: number,
  kTop: number,
  beta: Float64Array,
): void {
  if (kTop < 0) return;
  const r0 = i0 * n, r1 = r0 + n, r2 = r1 + n, r3 = r2 + n;
  let rk = kTop * n;
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  for (let j = kTop + 1; j < n; j++) {
    const u = a[rk + j];
    s0 += w[r0 + j] * u;
    s1 += w[r1 + j] * u;
    s2 += w[r2 + j] * u;
    s3 += w[r3 + j] * u;
  }
  for (let k = kTop; k > 0; k--) {
    const b = beta[k], rn = rk - n; // rn: row k−1 of a, the next reflector (columns k…)
    const c0 = b * s0, c1 = b * s1, c2 = b * s2, c3 = b * s3, un = a[rn + k];
    s0 = w[r0 + k] * un;
    s1 = w[r1 + k] * un;
    s2 = w[r2 + k] * un;
    s3 = w[r3 + k] * un;
    for (let j = k + 1; j < n; j++) {
      const u = a[rk + j], uj = a[rn + j];
      const x0 = w[r0 + j] - c0 * u, x1 = w[r1 + j] - c1 * u;
      const x2 = w[r2 + j] - c2 * u, x3 = w[r3 + j] - c3 * u;
      w[r0 + j] = x0;
      w[r1 + j] = x1;
      w[r2 + j] = x2;
      w[r3 + j] = x3;
      s0 += x0 * uj;
      s1 += x1 * uj;
      s2 += x2 * uj;
      s3 += x3 * uj;
    }
    rk = rn;
  }
  // k = 0: the last update, nothing after it.
  const b = beta[0], c0 = b * s0, c1 = b * s1, c2 = b * s2, c3 = b * s3;
  for (let j = 1; j < n; j++) {
    const u = a[j];
    w[r0 + j] -= c0 * u;
    w[r1 + j] -= c1 * u;
    w[r2 + j] -= c2 * u;
    w[r3 + j] -= c3 * u;
  }
}

/** Row i of Qᵀ alone: x ← x·H_k for k = kTop down to 0 (as {@linkcode reflectRows4}). */
function reflectRow(
  w: Float64Array,
  a: Float64Array,
  n: number,
  i: number,
  kTop: number,
  beta: Float64Array,
): void {
  const ri = i * n;
  for (let k = kTop; k >= 0; k--) {
    const b = beta[k], rk = k * n;
    if (b === 0) continue;
    let s0 = 0, s1 = 0, j = k + 1;
    for (; j + 1 < n; j += 2) {
      s0 += w[ri + j] * a[rk + j];
      s1 += w[ri + j + 1] * a[rk + j + 1];
    }
    if (j < n) s0 += w[ri + j] * a[rk + j];
    const s = (s0 + s1) * b;
    if (s === 0) continue;
    for (let jj = k + 1; jj < n; jj++) w[ri + jj] -= s * a[rk + jj];
  }
}
