/**
 * The orthogonal polar factor of a tall matrix, `polar(A) = A·(AᵀA)^{-1/2} = P·Qᵀ` for the thin
 * SVD `A = P·Σ·Qᵀ`, computed from the K×K Gram matrix and a symmetric eigensolver (O(dK²+K³),
 * no d×K SVD): `U = A·(Q·Σ⁻¹·Qᵀ)`, then Newton–Schulz steps to remove the rounding left in
 * UᵀU − I (about ε·κ(A)²). For full rank the left singular vectors are `P = U·Q`. Rank-deficient A is handled: the polar factor is then not unique, and the free
 * directions are chosen closest (in Frobenius norm) to a given `start` point.
 *
 * @module
 */
import { choleskyQrInPlace } from "./cholesky_qr.ts";
import { symmetricEigen } from "./eigen.ts";
import { type Matrix, matrix } from "./matrix.ts";
import { orthonormalise } from "./orthonormalise.ts";
import { gram, matmul, matmulNT, matmulTN } from "./products.ts";

/**
 * The polar factor with the SVD pieces it was built from.
 *
 * @example
 * ```ts
 * import { randomNormal, Rng } from "../core/random.ts";
 * const A = randomNormal(new Rng(0), 16, 4);
 * const { U, sigma, Q, rank } = polarFactor(A);
 * ```
 */
export type PolarDecomposition = {
  /** The orthonormal polar factor (d×K). */
  U: Matrix;
  /** All K singular values, descending (those past `rank` are treated as zero). */
  sigma: Float64Array;
  /** Right singular vectors (K×K), column j belongs to sigma[j]. */
  Q: Matrix;
  /** The numerical rank used. */
  rank: number;
};

/**
 * Eigenvalues of AᵀA at or below `λ_max · K · RANK_TOLERANCE` count as zero singular values
 * (σ ≲ 3e-7·σ_max for K = 10: the Gram matrix cannot resolve smaller ones reliably).
 */
export const RANK_TOLERANCE = 1e-14;

/**
 * The orthogonal polar factor of A (d×K, d ≥ K). With `minNullity` n, at least the n smallest
 * singular values are treated as zero (use 1 for `A = c·Y·M`, which has `A·1 = 0`). Null
 * directions are filled with the orthonormal completion closest to `start` (default `I_{d×K}`).
 *
 * @example
 * ```ts
 * import { randomNormal, Rng } from "../core/random.ts";
 * const A = randomNormal(new Rng(0), 16, 4);
 * const U = polarFactor(A).U; // UᵀU = I, maximises tr(UᵀA)
 * ```
 */
export function polarFactor(
  A: Matrix,
  options: { start?: Matrix; minNullity?: number } = {},
): PolarDecomposition {
  const d = A.rows, K = A.cols;
  if (d < K) throw new RangeError(`polarFactor: A is ${d}×${K}, need rows ≥ cols`);
  const { values, vectors } = symmetricEigen(gram(A));
  // Reverse to descending order.
  const sigma = new Float64Array(K);
  const Q = matrix(K, K);
  for (let j = 0; j < K; j++) {
    const src = K - 1 - j;
    sigma[j] = Math.sqrt(Math.max(values[src], 0));
    for (let i = 0; i < K; i++) Q.data[i * K + j] = vectors.data[i * K + src];
  }
  const lambdaMax = Math.max(values[K - 1], 0);
  let rank = 0;
  while (
    rank < K - (options.minNullity ?? 0) && sigma[rank] ** 2 > lambdaMax * K * RANK_TOLERANCE
  ) {
    rank++;
  }
  if (rank === K) {
    const S = matrix(K, K); // Q·Σ⁻¹·Qᵀ
    const QS = matrix(K, K);
    for (let i = 0; i < K; i++) {
      for (let j = 0; j < K; j++) QS.data[i * K + j] = Q.data[i * K + j] / sigma[j];
    }
    matmulNT(QS, Q, S);
    return { U: orthonormalise(matmul(A, S)), sigma, Q, rank };
  }
  const Qr = columns(Q, 0, rank);
  const P = matmul(A, Qr);
  for (let i = 0; i < d; i++) for (let j = 0; j < rank; j++) P.data[i * rank + j] /= sigma[j];
  // One Cholesky-QR pass restores orthonormality lost to rounding in the small-σ columns
  // (a no-op in exact arithmetic; columns are in descending σ, so those come last).
  choleskyQrInPlace(P);
  const W = columns(Q, rank, K);
  const F = closestCompletion(P, matmul(options.start ?? identityColumns(d, K), W));
  const U = matmulNT(P, Qr);
  const FW = matmulNT(F, W);
  for (let i = 0; i < U.data.length; i++) U.data[i] += FW.data[i];
  return { U, sigma, Q, rank };
}

function columns(A: Matrix, from: number, to: number): Matrix {
  const n = to - from, out = matrix(A.rows, n);
  for (let i = 0; i < A.rows; i++) {
    for (let j = 0; j < n; j++) out.data[i * n + j] = A.data[i * A.cols + from + j];
  }
  return out;
}

function identityColumns(d: number, K: number): Matrix {
  const I = matrix(d, K);
  for (let i = 0; i < K; i++) I.data[i * K + i] = 1;
  return I;
}

/**
 * The d×m matrix F with orthonormal columns, orthogonal to the orthonormal columns of P, closest
 * to B in Frobenius norm: the polar factor of `(I − PPᵀ)·B`, completed deterministically (by
 * Gram–Schmidt over the standard basis) where that projection is rank-deficient.
 */
function closestCompletion(P: Matrix, B: Matrix): Matrix {
  const d = B.rows, m = B.cols;
  const Bp = matrix(d, m, B.data.slice());
  projectOut(P, Bp);
  const { values, vectors } = symmetricEigen(gram(Bp));
  const lambdaMax = Math.max(values[m - 1] ?? 0, 0);
  const F = matrix(d, m);
  // Directions with a well-defined projection: F = Bp·V_r·Λ_r^{-1/2}·V_rᵀ; the rest by completion.
  const kept: number[] = [];
  for (let j = 0; j < m; j++) if (values[j] > lambdaMax * m * 1e-12 && values[j] > 0) kept.push(j);
  const basis = matrix(d, m); // columns: orthonormal vectors spanning the image, then completions
  const BV = matmul(Bp, vectors);
  kept.forEach((j, c) => {
    const s = 1 / Math.sqrt(values[j]);
    for (let i = 0; i < d; i++) basis.data[i * m + c] = BV.data[i * m + j] * s;
  });
  let filled = kept.length;
  for (let e = 0; filled < m && e < d; e++) {
    const v = new Float64Array(d);
    v[e] = 1;
    orthogonaliseAgainst(v, P);
    for (let c = 0; c < filled; c++) orthogonaliseColumn(v, basis, c);
    orthogonaliseAgainst(v, P);
    for (let c = 0; c < filled; c++) orthogonaliseColumn(v, basis, c);
    let n2 = 0;
    for (let i = 0; i < d; i++) n2 += v[i] * v[i];
    if (n2 < 0.25) continue;
    const inv = 1 / Math.sqrt(n2);
    for (let i = 0; i < d; i++) basis.data[i * m + filled] = v[i] * inv;
    filled++;
  }
  // Map back: eigen-direction kept[c] ↦ basis column c; null eigen-directions ↦ completions.
  const Vt = matrix(m, m); // rows: eigenvectors in the order the basis columns were filled
  const order = [
    ...kept,
    ...Array.from({ length: m }, (_, j) => j).filter((j) => !kept.includes(j)),
  ];
  order.forEach((j, c) => {
    for (let i = 0; i < m; i++) Vt.data[c * m + i] = vectors.data[i * m + j];
  });
  matmul(basis, Vt, F);
  return F;
}

function projectOut(P: Matrix, B: Matrix): void {
  if (P.cols === 0) return;
  const C = matmulTN(P, B);
  const PC = matmul(P, C);
  for (let i = 0; i < B.data.length; i++) B.data[i] -= PC.data[i];
}

function orthogonaliseAgainst(v: Float64Array, P: Matrix): void {
  for (let c = 0; c < P.cols; c++) orthogonaliseColumn(v, P, c);
}

function orthogonaliseColumn(v: Float64Array, P: Matrix, c: number): void {
  const n = P.cols;
  let s = 0;
  for (let i = 0; i < v.length; i++) s += P.data[i * n + c] * v[i];
  for (let i = 0; i < v.length; i++) v[i] -= s * P.data[i * n + c];
}
