/**
 * Thin singular value decomposition of tall (or square) dense matrices, accurate for
 * ill-conditioned input.
 *
 * Algorithm: Householder QR `A = Q·R` (our own copy of the unpivoted Householder QR of qr.ts,
 * with its row loops blocked four rows at a time, and without the sign normalisation, which the
 * SVD does not need), then one-sided Jacobi (Hestenes) on R: plane rotations
 * applied from the right orthogonalise the columns of R, `R·V = U_R·Σ`, so `A = (Q·U_R)·Σ·Vᵀ`.
 * Householder QR is column-wise backward stable and one-sided Jacobi computes the singular values
 * of a column-scaled matrix `B·D` to relative accuracy ≈ ε·κ(B) (Demmel & Veselić, 1992), so
 * matrices whose ill-conditioning comes from column scaling (graded columns) get small singular
 * values with high *relative* accuracy, which Golub–Kahan bidiagonalisation does not guarantee.
 * For a general A every singular value is accurate to ≈ ε·‖A‖₂ (backward stability).
 *
 * Layout: the columns of R are kept as the rows of `Rᵀ` and the columns of V as the rows of `Vᵀ`,
 * side by side in one array (row j = [column j of R | column j of V]), so every rotation and every
 * dot product runs along contiguous memory and one loop rotates both.
 *
 * @module
 */
import { type Matrix, matrix } from "./matrix.ts";
import { matmulNT } from "./products.ts";
import { householderQr } from "./qr.ts";

/** Sweeps of the cyclic Jacobi method allowed before giving up (≈ 10 are typical). */
const MAX_SWEEPS = 80;

/**
 * Thin SVD of an m×n matrix with m ≥ n: `A = U·diag(S)·Vᵀ` with `S` descending and ≥ 0, U m×n
 * with orthonormal columns and V n×n orthogonal. For a rank-deficient A, the columns of U that
 * belong to zero singular values complete an orthonormal basis (so UᵀU = I always holds).
 * A is not modified.
 *
 * Throws a `RangeError` when m < n or A has a non-finite entry, and an `Error` if Jacobi does not
 * converge within 80 sweeps (not expected in practice).
 *
 * @example
 * ```ts
 * import { fromRows } from "./matrix.ts";
 * const { U, S, V } = svdThin(fromRows([[3, 0], [0, -2], [0, 0]]));
 * // S = [3, 2]; U = [[1, 0], [0, -1], [0, 0]] (up to signs); V = I (up to the same signs)
 * ```
 */
export function svdThin(A: Matrix): { U: Matrix; S: Float64Array; V: Matrix } {
  const m = A.rows, n = A.cols;
  if (m < n) {
    throw new RangeError(`svdThin: A is ${m}×${n}; the thin SVD needs rows ≥ cols (${m} < ${n})`);
  }
  for (let i = 0; i < A.data.length; i++) {
    if (!Number.isFinite(A.data[i])) {
      throw new RangeError(
        `svdThin: entry (${Math.floor(i / n)}, ${i % n}) of A is ${A.data[i]}, not finite`,
      );
    }
  }
  const { Q, R } = householderQr(A);
  // gv: n rows of length 2n, row j = [column j of R | row j of Vᵀ] (Vᵀ starts as I), so that one
  // rotation updates both halves in a single pass along contiguous memory.
  const n2 = 2 * n;
  const gv = new Float64Array(n * n2);
  const r = R.data;
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) gv[j * n2 + i] = r[i * n + j];
    gv[i * n2 + n + i] = 1;
  }

  jacobi(gv, n);

  // Singular values = norms of the R halves; sort descending (permuting whole rows).
  const S = new Float64Array(n);
  for (let j = 0; j < n; j++) S[j] = rowNorm(gv, j * n2, n);
  for (let i = 0; i < n - 1; i++) {
    let k = i;
    for (let j = i + 1; j < n; j++) if (S[j] > S[k]) k = j;
    if (k !== i) {
      const t = S[i];
      S[i] = S[k];
      S[k] = t;
      swapRows(gv, i, k, n2);
    }
  }
  // R halves / σ_j are the left singular vectors of R (U_Rᵀ); complete the basis where σ_j is
  // zero or so small that normalising it would lose precision.
  const g = new Float64Array(n * n);
  for (let j = 0; j < n; j++) g.set(gv.subarray(j * n2, j * n2 + n), j * n);
  const tiny = 2.2250738585072014e-308 / Number.EPSILON;
  let rank = 0;
  while (rank < n && S[rank] > tiny) rank++;
  for (let j = 0; j < rank; j++) {
    const inv = 1 / S[j], rj = j * n;
    for (let k = 0; k < n; k++) g[rj + k] *= inv;
  }
  for (let j = rank; j < n; j++) S[j] = S[j] > tiny ? S[j] : 0;
  if (rank < n) completeBasis(g, n, rank);

  const U = matmulNT(Q, matrix(n, n, g)); // U = Q·U_R with U_R = gᵀ
  const V = matrix(n, n);
  const vd = V.data;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) vd[j * n + i] = gv[i * n2 + n + j];
  }
  return { U, S, V };
}

function rowNorm(a: Float64Array, off: number, n: number): number {
  let scale = 0;
  for (let k = 0; k < n; k++) {
    const t = Math.abs(a[off + k]);
    if (t > scale) scale = t;
  }
  if (scale === 0) return 0;
  const inv = 1 / scale;
  let s = 0;
  for (let k = 0; k < n; k++) {
    const t = a[off + k] * inv;
    s += t * t;
  }
  return scale * Math.sqrt(s);
}

function swapRows(a: Float64Array, i: number, k: number, n: number): void {
  const ri = i * n, rk = k * n;
  for (let j = 0; j < n; j++) {
    const t = a[ri + j];
    a[ri + j] = a[rk + j];
    a[rk + j] = t;
  }
}

/**
 * Cyclic one-sided Jacobi on the rows of gv (n rows of length 2n, the first n entries being the
 * rows of g): rotate pairs of rows until every pair of g-rows is orthogonal to working precision,
 * `|g_p·g_q| ≤ tol·‖g_p‖·‖g_q‖`; the rotations act on the whole rows, so the second halves (Vᵀ)
 * follow. The squared norms ‖g_p‖² are kept in `nrm` and recomputed, from the new entries, each
 * time row p is rotated: they are exactly the values a fresh computation would give (same entries,
 * same summation order), at no cost for the pairs that need no rotation.
 */
function jacobi(gv: Float64Array, n: number): void {
  const tol = Math.max(1, Math.sqrt(n)) * Number.EPSILON;
  const n2 = 2 * n;
  const nrm = new Float64Array(n);
  for (let p = 0; p < n; p++) nrm[p] = squaredNorm(gv, p * n2, n);
  for (let sweep = 0; sweep < MAX_SWEEPS; sweep++) {
    let rotated = false;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        if (rotatePair(gv, n, p, q, nrm, tol)) rotated = true;
      }
    }
    if (!rotated) return;
  }
  throw new Error(`svdThin: one-sided Jacobi did not converge in ${MAX_SWEEPS} sweeps (n = ${n})`);
}

/** Σ x_k² over a[off : off+n], with two accumulators (even and odd k). */
function squaredNorm(a: Float64Array, off: number, n: number): number {
  let s0 = 0, s1 = 0, k = 0;
  for (; k + 1 < n; k += 2) {
    const x0 = a[off + k], x1 = a[off + k + 1];
    s0 += x0 * x0;
    s1 += x1 * x1;
  }
  if (k < n) s0 += a[off + k] * a[off + k];
  return s0 + s1;
}

/**
 * One Jacobi rotation of rows p and q of gv (length 2n), if their first halves are not yet
 * orthogonal; nrm holds the squared norms of the first halves. Returns whether a rotation was
 * applied.
 */
function rotatePair(
  gv: Float64Array,
  n: number,
  pi: number,
  qi: number,
  nrm: Float64Array,
  tol: number,
): boolean {
  const n2 = 2 * n, p = pi * n2, q = qi * n2;
  const alpha = nrm[pi], beta = nrm[qi];
  if (alpha === 0 || beta === 0) return false;
  let c0 = 0, c1 = 0, k = 0;
  for (; k + 1 < n; k += 2) {
    c0 += gv[p + k] * gv[q + k];
    c1 += gv[p + k + 1] * gv[q + k + 1];
  }
  if (k < n) c0 += gv[p + k] * gv[q + k];
  const gamma = c0 + c1;
  if (!(Math.abs(gamma) > tol * Math.sqrt(alpha) * Math.sqrt(beta))) return false;
  // Rotation [c s; −s c] making the rows orthogonal: t is the smaller root of
  // t² + 2ζt − 1 = 0, ζ = (β − α) / (2γ) (Rutishauser's formulas).
  const zeta = (beta - alpha) / (2 * gamma);
  const t = Math.abs(zeta) > 1e150
    ? 0.5 / zeta
    : (zeta >= 0 ? 1 : -1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
  const c = 1 / Math.sqrt(1 + t * t), s = c * t;
  // First halves, with the new squared norms (same even/odd order as squaredNorm).
  let a0 = 0, a1 = 0, b0 = 0, b1 = 0;
  k = 0;
  for (; k + 1 < n; k += 2) {
    const x0 = gv[p + k], y0 = gv[q + k], x1 = gv[p + k + 1], y1 = gv[q + k + 1];
    const u0 = c * x0 - s * y0, w0 = s * x0 + c * y0;
    const u1 = c * x1 - s * y1, w1 = s * x1 + c * y1;
    gv[p + k] = u0;
    gv[q + k] = w0;
    gv[p + k + 1] = u1;
    gv[q + k + 1] = w1;
    a0 += u0 * u0;
    a1 += u1 * u1;
    b0 += w0 * w0;
    b1 += w1 * w1;
  }
  if (k < n) {
    const x = gv[p + k], y = gv[q + k];
    const u = c * x - s * y, w = s * x + c * y;
    gv[p + k] = u;
    gv[q + k] = w;
    a0 += u * u;
    b0 += w * w;
  }
  nrm[pi] = a0 + a1;
  nrm[qi] = b0 + b1;
  // Second halves (rows of Vᵀ).
  for (let j = n; j < n2; j++) {
    const x = gv[p + j], y = gv[q + j];
    gv[p + j] = c * x - s * y;
    gv[q + j] = s * x + c * y;
  }
  return true;
}

/**
 * Replaces rows rank…n−1 of the n×n array u (rows 0…rank−1 orthonormal) by an orthonormal
 * completion: for each new row, the standard basis vector least represented in the current span,
 * orthogonalised twice by modified Gram–Schmidt and normalised.
 */
function completeBasis(u: Float64Array, n: number, rank: number): void {
  const used = new Uint8Array(n);
  for (let j = rank; j < n; j++) {
    // Pick e_c with the smallest squared projection onto rows 0…j−1.
    let best = -1, bestProj = Infinity;
    for (let c = 0; c < n; c++) {
      if (used[c]) continue;
      let proj = 0;
      for (let i = 0; i < j; i++) proj += u[i * n + c] * u[i * n + c];
      if (proj < bestProj) {
        bestProj = proj;
        best = c;
      }
    }
    used[best] = 1;
    const rj = j * n;
    u.fill(0, rj, rj + n);
    u[rj + best] = 1;
    for (let pass = 0; pass < 2; pass++) {
      for (let i = 0; i < j; i++) {
        const ri = i * n;
        let dot = 0;
        for (let k = 0; k < n; k++) dot += u[ri + k] * u[rj + k];
        for (let k = 0; k < n; k++) u[rj + k] -= dot * u[ri + k];
      }
    }
    const norm = rowNorm(u, rj, n);
    for (let k = 0; k < n; k++) u[rj + k] /= norm;
  }
}
