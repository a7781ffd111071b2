/**
 * Thin Householder QR factorisation of tall (or square) dense matrices.
 *
 * The reflectors are applied row by row so that every inner loop walks along a contiguous row of
 * the row-major storage; only the Householder vector itself is read with a stride.
 *
 * @module
 */
import { type Matrix, matrix } from "./matrix.ts";

/**
 * Thin QR of an m×n matrix with m ≥ n: `A = Q·R` with Q m×n (orthonormal columns) and R n×n
 * upper triangular with a non-negative diagonal (column k of Q and row k of R are negated
 * together when needed, so the factorisation is unique for full-rank A). A is not modified.
 *
 * Throws a `RangeError` naming the shape when m < n.
 *
 * @example
 * ```ts
 * import { fromRows } from "./matrix.ts";
 * const { Q, R } = qr(fromRows([[3, 1], [4, 2], [0, 5]]));
 * // Q is 3×2 with QᵀQ = I, R is 2×2 upper triangular, R[0][0] = 5
 * ```
 */
export function qr(A: Matrix): { Q: Matrix; R: Matrix } {
  const m = A.rows, n = A.cols;
  if (m < n) {
    throw new RangeError(`qr: A is ${m}×${n}; thin QR needs rows ≥ cols (${m} < ${n})`);
  }
  const a = A.data.slice(); // working copy: R above the diagonal, reflectors below
  const vtop = new Float64Array(n); // first entry of each Householder vector
  const beta = new Float64Array(n); // H_k = I − beta_k v_k v_kᵀ
  const diag = new Float64Array(n); // diagonal of R
  const w = new Float64Array(n);

  for (let k = 0; k < n; k++) {
    // Scaled 2-norm of the column a[k:m, k].
    let scale = 0;
    for (let i = k; i < m; i++) {
      const v = Math.abs(a[i * n + k]);
      if (v > scale) scale = v;
    }
    const x0 = a[k * n + k];
    if (scale === 0) {
      beta[k] = 0;
      diag[k] = 0;
      continue;
    }
    let ss = 0;
    for (let i = k; i < m; i++) {
      const v = a[i * n + k] / scale;
      ss += v * v;
    }
    const sigma = scale * Math.sqrt(ss);
    const alpha = x0 > 0 ? -sigma : sigma; // H x = alpha e_1, sign chosen to avoid cancellation
    const v0 = x0 - alpha;
    diag[k] = alpha;
    vtop[k] = v0;
    const b = 1 / (sigma * Math.abs(v0)); // 2 / vᵀv, since vᵀv = 2σ(σ + |x0|) and |v0| = σ + |x0|
    beta[k] = b;
    if (k + 1 === n) continue;
    // w = vᵀ A[k:m, k+1:n]
    w.fill(0, k + 1, n);
    for (let j = k + 1; j < n; j++) w[j] = v0 * a[k * n + j];
    for (let i = k + 1; i < m; i++) {
      const vi = a[i * n + k], row = i * n;
      if (vi === 0) continue;
      for (let j = k + 1; j < n; j++) w[j] += vi * a[row + j];
    }
    for (let j = k + 1; j < n; j++) w[j] *= b;
    // A[k:m, k+1:n] −= v wᵀ
    for (let j = k + 1; j < n; j++) a[k * n + j] -= v0 * w[j];
    for (let i = k + 1; i < m; i++) {
      const vi = a[i * n + k], row = i * n;
      if (vi === 0) continue;
      for (let j = k + 1; j < n; j++) a[row + j] -= vi * w[j];
    }
  }

  // R from the upper triangle, with the computed diagonal.
  const R = matrix(n, n);
  const r = R.data;
  for (let i = 0; i < n; i++) {
    r[i * n + i] = diag[i];
    for (let j = i + 1; j < n; j++) r[i * n + j] = a[i * n + j];
  }

  // Q = H_0 H_1 … H_{n−1} [I_n; 0], accumulated backwards so that step k touches only Q[k:, k:].
  const Q = matrix(m, n);
  const q = Q.data;
  for (let i = 0; i < n; i++) q[i * n + i] = 1;
  for (let k = n - 1; k >= 0; k--) {
    const b = beta[k];
    if (b === 0) continue;
    const v0 = vtop[k];
    for (let j = k; j < n; j++) w[j] = v0 * q[k * n + j];
    for (let i = k + 1; i < m; i++) {
      const vi = a[i * n + k], row = i * n;
      if (vi === 0) continue;
      for (let j = k; j < n; j++) w[j] += vi * q[row + j];
    }
    for (let j = k; j < n; j++) w[j] *= b;
    for (let j = k; j < n; j++) q[k * n + j] -= v0 * w[j];
    for (let i = k + 1; i < m; i++) {
      const vi = a[i * n + k], row = i * n;
      if (vi === 0) continue;
      for (let j = k; j < n; j++) q[row + j] -= vi * w[j];
    }
  }

  // Sign normalisation: diag(R) ≥ 0.
  for (let k = 0; k < n; k++) {
    if (r[k * n + k] < 0) {
      for (let j = k; j < n; j++) r[k * n + j] = -r[k * n + j];
      for (let i = 0; i < m; i++) q[i * n + k] = -q[i * n + k];
    }
  }
  return { Q, R };
}
