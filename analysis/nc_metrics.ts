/**
 * Neural-collapse metrics of features h (N×d) under a classifier (W, b), in float64
 * (docs/method.md section 7): NC1 (the paper's `tr(Σ_W·Σ_B⁺)/K`, the trace quotient of Tirer et
 * al. 2023 and the CDNV of Galanti et al. 2022), VCI, numerical rank, NC2, NC3, NC4, equinorms,
 * cosine margins, NCC mismatch, top-1 and top-5. No tensors: importable from `mod.ts` without
 * tfjs.
 *
 * How it is computed, for an N that does not fit d×d work per sample:
 * - one pass for the class means; a second, in blocks of rows, for the within-class scatter
 *   Σ_W·N (d×d, a Gram matrix of the centred rows), the per-class Gram matrices of the numerical
 *   rank (d×d, or n_k×n_k when a class has fewer samples than d) and the per-sample logits,
 *   NCC distances and cosines (blocks times K×d matrices);
 * - Σ_B = H̄·H̄ᵀ/K has rank ≤ K−1, so its pseudo-inverse comes from the K×K matrix H̄ᵀH̄; Σ_T⁺
 *   (VCI) from the d×d eigen-decomposition of Σ_T. Pseudo-inverses drop eigenvalues below
 *   max(d, K)·ε·λ_max (ε the float64 epsilon), numpy's `matrix_rank` rule.
 * Memory: O(d² + K·d + B·d) for B rows per block, besides the input and the N margins.
 *
 * @module
 */
import { InvalidArgumentError } from "../core/errors.ts";
import { symmetricEigen } from "../solver/eigen.ts";
import { type Matrix, matrix } from "../solver/matrix.ts";
import { gram, matmulNT } from "../solver/products.ts";

/**
 * Input of {@link ncMetrics}.
 *
 * @example
 * ```ts
 * import { matrix } from "../solver/matrix.ts";
 * const input: NcInput = {
 *   features: new Float64Array([1, 0, 0, 1]), labels: [0, 1], numClasses: 2,
 *   W: matrix(2, 2, new Float64Array([1, 0, 0, 1])),
 * };
 * ```
 */
export type NcInput = {
  /** h, N×d row-major (already normalised by the caller: the run's τ). */
  features: Float32Array | Float64Array;
  /** N labels in [0, K). */
  labels: Int32Array | number[];
  /** K ≥ 2; every class needs at least one sample. */
  numClasses: number;
  /** The classifier, K×d (one row per class). */
  W: Matrix;
  /** The bias, K (default zeros). */
  b?: Float64Array;
};

/**
 * The metrics (docs/method.md section 7); `top1`, `top5` and `nccMismatch` in percent.
 *
 * @example
 * ```ts
 * declare const m: NcMetrics;
 * console.log(m.nc1, m.nc2, m.top1);
 * ```
 */
export type NcMetrics = {
  top1: number;
  top5: number;
  nccMismatch: number;
  /** `tr(Σ_W·Σ_B⁺)/K` (the paper's NC1). */
  nc1: number;
  /** `tr(Σ_W)/tr(Σ_B)` (Tirer, Huang, Niles-Weed 2023). */
  nc1Trace: number;
  /** Mean over class pairs of `(σ_i² + σ_j²)/(2‖μ_i − μ_j‖²)` (Galanti et al. 2022). */
  cdnv: number;
  /** `1 − tr(Σ_T⁺·Σ_B)/min(d, K−1)`. */
  vci: number;
  /** Mean over classes of `(‖F_k‖_* / ‖F_k‖_F)²` (nuclear over Frobenius norm). */
  numericalRank: number;
  nc2: number;
  nc3: number;
  nc4: number;
  wEquinorm: number;
  hEquinorm: number;
  whEquinormDiff: number;
  avgCosMargin: number;
  /** Per-sample cosine margins, sorted ascending. */
  cosMargins: Float64Array;
};

/** Rows per block of the second pass. */
const BLOCK = 1024;

/** Eigenvalues at most this × λ_max count as zero (with max(d, K)·ε: numpy's matrix_rank). */
function rankTolerance(values: Float64Array, d: number, K: number): number {
  let max = 0;
  for (const v of values) max = Math.max(max, Math.abs(v));
  return Math.max(d, K) * Number.EPSILON * max;
}

/** Validates the input; returns N and d. */
function checkInput(input: NcInput): { N: number; d: number; K: number; b: Float64Array } {
  const { features, labels, numClasses: K, W } = input;
  if (!Number.isInteger(K) || K < 2) {
    throw new InvalidArgumentError("numClasses", `got ${K}, allowed: an integer ≥ 2`);
  }
  const N = labels.length;
  if (N === 0) throw new InvalidArgumentError("labels", "got no samples, allowed: N ≥ 1");
  if (!(features instanceof Float32Array || features instanceof Float64Array)) {
    throw new InvalidArgumentError("features", "allowed: a Float32Array or Float64Array (N×d)");
  }
  const d = features.length / N;
  if (!Number.isInteger(d) || d < 1) {
    throw new InvalidArgumentError(
      "features",
      `${features.length} values for ${N} labels: not N×d for an integer d`,
    );
  }
  if (W === null || typeof W !== "object" || W.rows !== K || W.cols !== d) {
    throw new InvalidArgumentError(
      "W",
      `got ${W?.rows}×${W?.cols}, allowed: K×d = ${K}×${d} (one row per class)`,
    );
  }
  if (!(W.data instanceof Float64Array) || W.data.length !== K * d) {
    throw new InvalidArgumentError("W", `data must be a Float64Array of ${K * d} values`);
  }
  const b = input.b ?? new Float64Array(K);
  if (!(b instanceof Float64Array) || b.length !== K) {
    throw new InvalidArgumentError(
      "b",
      `got ${b?.length} values, allowed: a Float64Array of K = ${K}`,
    );
  }
  const counts = new Array(K).fill(0);
  for (let i = 0; i < N; i++) {
    const y = labels[i];
    if (!Number.isInteger(y) || y < 0 || y >= K) {
      throw new InvalidArgumentError("labels", `label ${y} at ${i} is outside [0, ${K})`);
    }
    counts[y]++;
  }
  const empty = counts.findIndex((c) => c === 0);
  if (empty >= 0) {
    throw new InvalidArgumentError(
      "labels",
      `class ${empty} has no sample; every class needs one (K = ${K})`,
    );
  }
  for (let i = 0; i < features.length; i++) {
    if (!Number.isFinite(features[i])) {
      throw new InvalidArgumentError(
        "features",
        `entry ${i} (sample ${Math.floor(i / d)}) is ${features[i]}`,
      );
    }
  }
  for (const [name, a] of [["W", W.data], ["b", b]] as const) {
    const bad = a.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) throw new InvalidArgumentError(name, `entry ${bad} is ${a[bad]}`);
  }
  return { N, d, K, b };
}

/** `‖A/‖A‖_F − M/sqrt(K−1)‖_F` for a K×K matrix A (row-major). */
function distanceToEtf(A: Float64Array, K: number): number {
  let norm = 0;
  for (const v of A) norm += v * v;
  norm = Math.sqrt(norm);
  const s = 1 / Math.sqrt(K - 1);
  let sum = 0;
  for (let i = 0; i < K; i++) {
    for (let j = 0; j < K; j++) {
      const m = ((i === j ? 1 : 0) - 1 / K) * s;
      sum += (A[i * K + j] / norm - m) ** 2;
    }
  }
  return Math.sqrt(sum);
}

/** The Euclidean norms of A's rows. */
function rowNorms(A: Matrix): Float64Array {
  const out = new Float64Array(A.rows);
  for (let r = 0; r < A.rows; r++) {
    let s = 0;
    for (let j = 0; j < A.cols; j++) s += A.data[r * A.cols + j] ** 2;
    out[r] = Math.sqrt(s);
  }
  return out;
}

/** std (ddof 1) / mean of positive values. */
function variation(values: Float64Array): number {
  const n = values.length;
  const mean = values.reduce((a, v) => a + v, 0) / n;
  const variance = values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1);
  return Math.sqrt(variance) / mean;
}

/**
 * Every metric of docs/method.md section 7 for features h under (W, b).
 *
 * @example
 * ```ts
 * import { fromRows } from "../solver/matrix.ts";
 * const h = new Float64Array([1, 0, 0.9, 0.1, 0, 1, 0.1, 0.9]); // 4 samples, d = 2
 * const m = ncMetrics({ features: h, labels: [0, 0, 1, 1], numClasses: 2, W: fromRows([[1, -1], [-1, 1]]) });
 * m.top1; // 100
 * ```
 */
export function ncMetrics(input: NcInput): NcMetrics {
  const { N, d, K, b } = checkInput(input);
  const { features: h, labels, W } = input;
  // Pass 1: class means and the global mean.
  const counts = new Float64Array(K);
  const mu = new Float64Array(K * d), muG = new Float64Array(d);
  for (let i = 0; i < N; i++) {
    const y = labels[i], row = i * d, out = y * d;
    counts[y]++;
    for (let j = 0; j < d; j++) mu[out + j] += h[row + j];
  }
  for (let k = 0; k < K; k++) {
    for (let j = 0; j < d; j++) {
      muG[j] += mu[k * d + j];
      mu[k * d + j] /= counts[k];
    }
  }
  for (let j = 0; j < d; j++) muG[j] /= N;
  // H̄ as K×d rows (μ_k − μ_G).
  const Hbar = matrix(K, d);
  for (let k = 0; k < K; k++) {
    for (let j = 0; j < d; j++) Hbar.data[k * d + j] = mu[k * d + j] - muG[j];
  }

  // Pass 2, in blocks: Σ_W·N, per-class scatter, per-sample logits, NCC and cosines.
  const scatter = matrix(d, d);
  const sigma2 = new Float64Array(K);
  const Wc = matrix(K, d); // W with its rows centred
  for (let k = 0; k < K; k++) {
    for (let j = 0; j < d; j++) {
      let m = 0;
      for (let l = 0; l < K; l++) m += W.data[l * d + j];
      Wc.data[k * d + j] = W.data[k * d + j] - m / K;
    }
  }
  const wcNorm = rowNorms(Wc);
  const muMatrix = matrix(K, d, mu);
  const muNorm2 = new Float64Array(K);
  for (let k = 0; k < K; k++) {
    for (let j = 0; j < d; j++) muNorm2[k] += mu[k * d + j] ** 2;
  }
  const muGWc = Float64Array.from({ length: K }, (_, k) => {
    let s = 0;
    for (let j = 0; j < d; j++) s += muG[j] * Wc.data[k * d + j];
    return s;
  });
  const margins = new Float64Array(N);
  let hits1 = 0, hits5 = 0, nccAgree = 0;
  for (let start = 0; start < N; start += BLOCK) {
    const B = Math.min(BLOCK, N - start);
    const X = matrix(B, d), C = matrix(B, d);
    for (let r = 0; r < B; r++) {
      const i = start + r, y = labels[i];
      let s = 0;
      for (let j = 0; j < d; j++) {
        const v = h[i * d + j];
        X.data[r * d + j] = v;
        const c = v - mu[y * d + j];
        C.data[r * d + j] = c;
        s += c * c;
      }
      sigma2[y] += s;
    }
    const G = gram(C);
    for (let q = 0; q < d * d; q++) scatter.data[q] += G.data[q];
    const Z = matmulNT(X, W), P = matmulNT(X, muMatrix), Q = matmulNT(X, Wc);
    for (let r = 0; r < B; r++) {
      const i = start + r, y = labels[i];
      let best = 0, nearest = 0, nearestDist = Infinity, rank = 0;
      const zy = Z.data[r * K + y] + b[y];
      let hn = 0;
      for (let j = 0; j < d; j++) hn += (X.data[r * d + j] - muG[j]) ** 2;
      hn = Math.sqrt(hn);
      let cosY = 0, cosOther = -Infinity;
      for (let k = 0; k < K; k++) {
        const z = Z.data[r * K + k] + b[k];
        if (z > Z.data[r * K + best] + b[best]) best = k;
        if (z > zy || (z === zy && k < y)) rank++;
        // ‖h − μ_k‖² up to the sample's own ‖h‖²
        const dist = muNorm2[k] - 2 * P.data[r * K + k];
        if (dist < nearestDist) {
          nearestDist = dist;
          nearest = k;
        }
        const cos = (Q.data[r * K + k] - muGWc[k]) / (hn * wcNorm[k]);
        if (k === y) cosY = cos;
        else if (cos > cosOther) cosOther = cos;
      }
      if (best === y) hits1++;
      if (rank < 5) hits5++;
      if (best === nearest) nccAgree++;
      margins[i] = cosY - cosOther;
    }
  }
  for (let q = 0; q < d * d; q++) scatter.data[q] /= N; // Σ_W

  // NC1 through the K×K Gram matrix of H̄ (Σ_B = H̄·H̄ᵀ/K, H̄ d×K, has rank ≤ K−1).
  const HH = matmulNT(Hbar, Hbar); // K×K: H̄ᵀH̄ (Hbar holds H̄'s columns as rows)
  const { values: lam, vectors: V } = symmetricEigen(HH);
  const tolB = rankTolerance(lam, d, K);
  let nc1 = 0;
  for (let e = 0; e < K; e++) {
    if (!(lam[e] > tolB)) continue;
    // p = H̄·v (d), an eigenvector of H̄H̄ᵀ with ‖p‖² = λ.
    const p = new Float64Array(d);
    for (let k = 0; k < K; k++) {
      const vk = V.data[k * K + e];
      for (let j = 0; j < d; j++) p[j] += Hbar.data[k * d + j] * vk;
    }
    let quad = 0;
    for (let a = 0; a < d; a++) {
      let s = 0;
      for (let c = 0; c < d; c++) s += scatter.data[a * d + c] * p[c];
      quad += p[a] * s;
    }
    // With u = p/sqrt(λ) the unit eigenvector of Σ_B (eigenvalue λ/K), tr(Σ_W·Σ_B⁺)/K sums
    // uᵀΣ_W u/λ = pᵀΣ_W p/λ².
    nc1 += quad / (lam[e] * lam[e]);
  }
  let traceW = 0, traceB = 0;
  for (let j = 0; j < d; j++) traceW += scatter.data[j * d + j];
  for (const v of Hbar.data) traceB += v * v;
  traceB /= K;

  // VCI: Σ_T = Σ_B + Σ_W (d×d), Σ_B = H̄·H̄ᵀ/K (the Gram matrix of Hbar's rows).
  const total = gram(Hbar);
  for (let q = 0; q < d * d; q++) total.data[q] = total.data[q] / K + scatter.data[q];
  const { values: tv, vectors: TV } = symmetricEigen(total);
  const tolT = rankTolerance(tv, d, K);
  let trTB = 0; // tr(Σ_T⁺Σ_B) = (1/K) Σ_e ‖H̄ v_e‖²/τ_e
  for (let e = 0; e < d; e++) {
    if (!(tv[e] > tolT)) continue;
    let s = 0;
    for (let k = 0; k < K; k++) {
      let dot = 0;
      for (let j = 0; j < d; j++) dot += Hbar.data[k * d + j] * TV.data[j * d + e];
      s += dot * dot;
    }
    trTB += s / (K * tv[e]);
  }

  // CDNV.
  for (let k = 0; k < K; k++) sigma2[k] /= counts[k];
  let cdnv = 0, pairs = 0;
  for (let a = 0; a < K; a++) {
    for (let c = a + 1; c < K; c++) {
      let dist = 0;
      for (let j = 0; j < d; j++) dist += (mu[a * d + j] - mu[c * d + j]) ** 2;
      cdnv += (sigma2[a] + sigma2[c]) / (2 * dist);
      pairs++;
    }
  }
  cdnv /= pairs;

  const numericalRank = meanNumericalRank(h, labels, counts, N, d, K);

  // NC2, NC3, NC4 and the equinorms.
  const WW = matmulNT(W, W);
  const WH = matmulNT(W, Hbar); // K×K: (W·H̄)_{kc} = ⟨w_k, μ_c − μ_G⟩
  let nc4 = 0;
  for (let k = 0; k < K; k++) {
    let s = b[k];
    for (let j = 0; j < d; j++) s += W.data[k * d + j] * muG[j];
    nc4 += s * s;
  }
  const wEquinorm = variation(rowNorms(W)), hEquinorm = variation(rowNorms(Hbar));
  let marginSum = 0;
  for (const m of margins) marginSum += m;
  margins.sort();
  return {
    top1: (100 * hits1) / N,
    top5: (100 * hits5) / N,
    nccMismatch: 100 - (100 * nccAgree) / N,
    nc1,
    nc1Trace: traceW / traceB,
    cdnv,
    vci: 1 - trTB / Math.min(d, K - 1),
    numericalRank,
    nc2: distanceToEtf(WW.data, K),
    nc3: distanceToEtf(WH.data, K),
    nc4: Math.sqrt(nc4),
    wEquinorm,
    hEquinorm,
    whEquinormDiff: Math.abs(wEquinorm - hEquinorm),
    avgCosMargin: marginSum / N,
    cosMargins: margins,
  };
}

/**
 * Mean over classes of `(‖F_k‖_* / ‖F_k‖_F)²` (nuclear over Frobenius norm), from each class's
 * Gram matrix: F_kᵀF_k (d×d) or F_k·F_kᵀ (n_k×n_k), whichever is smaller; singular values are the square roots of its
 * eigenvalues, those at rounding level (≤ size·ε·λ_max) taken as 0 — so singular values below
 * about 1e-7·σ_max (float32 features' own precision) do not count. A class of zero vectors
 * counts 0.
 */
function meanNumericalRank(
  h: Float32Array | Float64Array,
  labels: Int32Array | number[],
  counts: Float64Array,
  N: number,
  d: number,
  K: number,
): number {
  const members: number[][] = Array.from({ length: K }, () => []);
  for (let i = 0; i < N; i++) members[labels[i]].push(i);
  let sum = 0;
  for (let k = 0; k < K; k++) {
    const n = counts[k], rows = members[k];
    // F·Fᵀ (n×n) for a small class, else FᵀF (d×d) summed over blocks of rows.
    const small = n <= d, G = small ? matrix(n, n) : matrix(d, d);
    let frob2 = 0;
    for (let start = 0; start < n; start += small ? n : BLOCK) {
      const B = small ? n : Math.min(BLOCK, n - start);
      const F = matrix(B, d);
      for (let r = 0; r < B; r++) {
        const i = rows[start + r];
        for (let j = 0; j < d; j++) {
          const v = h[i * d + j];
          F.data[r * d + j] = v;
          frob2 += v * v;
        }
      }
      const g = small ? matmulNT(F, F) : gram(F);
      for (let q = 0; q < g.data.length; q++) G.data[q] += g.data[q];
    }
    if (frob2 === 0) continue;
    const { values } = symmetricEigen(G);
    // Eigenvalues of the Gram matrix at rounding level (≤ size·ε·λ_max) are zero singular values:
    // their square roots (≈ sqrt(ε)·σ_max) would add 1e-8 to a rank-deficient class's norm.
    const tol = rankTolerance(values, G.rows, G.rows);
    let nuclear = 0;
    for (const v of values) if (v > tol) nuclear += Math.sqrt(v);
    sum += (nuclear * nuclear) / frob2;
  }
  return sum / K;
}
