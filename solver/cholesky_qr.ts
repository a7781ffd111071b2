/**
 * One-pass Cholesky QR for well-conditioned tall matrices: `Z = Q·R` with `R = chol(ZᵀZ)ᵀ`, so
 * diag(R) > 0 (the sign-normalised QR). Exact in exact arithmetic; in floating point the loss of
 * orthogonality is about ε·κ(Z)², negligible for the matrices it is used on here (retraction
 * steps, whose singular values lie in [1, sqrt(1 + ‖η‖²)], and nearly orthonormal factors).
 *
 * @module
 */
import { blas } from "./blas.ts";
import { tryCholesky } from "./cholesky.ts";
import type { Matrix } from "./matrix.ts";
import { BLAS_MIN_WORK, gram } from "./products.ts";

/**
 * In place: `Z ← Z·R⁻¹`, the Q factor of Z with diag(R) > 0. Returns false (Z unchanged) when
 * ZᵀZ is not numerically positive definite.
 *
 * @example
 * ```ts
 * import { randomNormal, Rng } from "../core/random.ts";
 * import { clone } from "./matrix.ts";
 * const X = randomNormal(new Rng(0), 16, 4);
 * const Z = clone(X); choleskyQrInPlace(Z); // Z now has orthonormal columns
 * ```
 */
export function choleskyQrInPlace(Z: Matrix): boolean {
  const n = Z.cols;
  if (n === 0) return true;
  // Above the product threshold: dsyrk, LAPACK's dpotrf and dtrsm (solver/blas.ts).
  const fast = Z.rows * n * n >= BLAS_MIN_WORK ? blas() : null;
  if (fast !== null) return fast.choleskyQrInPlace(Z);
  const L = tryCholesky(gram(Z));
  if (L === null) return false;
  const l = L.data, z = Z.data;
  const inv = new Float64Array(n);
  for (let j = 0; j < n; j++) inv[j] = 1 / l[j * n + j];
  for (let r = 0; r < Z.rows; r++) {
    const o = r * n;
    for (let j = 0; j < n; j++) {
      let s = z[o + j];
      const lj = j * n;
      for (let k = 0; k < j; k++) s -= z[o + k] * l[lj + k];
      z[o + j] = s * inv[j];
    }
  }
  return true;
}
