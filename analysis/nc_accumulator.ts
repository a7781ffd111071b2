/**
 * The streaming form of the neural-collapse metrics (docs/method.md section 7): `add` batches of
 * features and labels as a forward pass yields them, then `compute(W, b)` once. Accumulates in
 * float64; {@link ncMetrics} is this over one batch.
 *
 * Why it keeps the rows: every per-sample metric (NCC mismatch, cosine margins, top-k) and
 * Σ_W itself are functions of the final class means, and the cosine margins of the final
 * classifier, so one forward pass cannot reduce a batch to statistics and drop it. The rows are
 * kept grouped by class ({@link ClassStore}) — in memory, or spilled to disk — and `compute`
 * reads them back one class at a time:
 * - the class scatter `S_k = Σ (h − μ_k)(h − μ_k)ᵀ` (d×d, from centred rows: no cancellation),
 *   summed into N·Σ_W;
 * - the class's numerical rank from `F_kᵀF_k = S_k + n_k·μ_kμ_kᵀ` (d×d), or `F_k·F_kᵀ`
 *   (n_k×n_k) when n_k ≤ d, whichever is smaller;
 * - per-sample logits, NCC distances and cosines, from one product with `[W; μ; w̄]`.
 * Σ_B = H̄·H̄ᵀ/K has rank ≤ K−1: its pseudo-inverse (NC1) comes from the K×K matrix H̄ᵀH̄; Σ_T⁺
 * (VCI) from the d×d eigen-decomposition of Σ_T. Pseudo-inverses drop eigenvalues below
 * max(d, K)·ε·λ_max (ε the float64 epsilon), numpy's `matrix_rank` rule.
 *
 * The Gram matrices, the per-block product and the class eigenvalues use the system's BLAS and
 * LAPACK through FFI when available ({@link blas}: OpenBLAS, with `--allow-ffi`), 10–20× faster
 * at K = 1000, d = 2048; the TypeScript kernels otherwise, with the same results to rounding.
 *
 * Memory, in bytes, for N samples (s = 4 for float32 rows, 8 for float64), B = 1024 rows per
 * block: rows in memory `s·N·d`, or spilled `min(s·N·d, 64 MiB)` (the rest on disk); plus
 * `8·(6·d² + (3K + 1)·d + 2K² + B·(2d + 2K + 1) + N)` for the work matrices and the N margins.
 *
 * @module
 */
import { InvalidArgumentError } from "../core/errors.ts";
import { symmetricEigen, symmetricEigenvalues } from "../solver/eigen.ts";
import { type Matrix, matrix, transpose } from "../solver/matrix.ts";
import { blas } from "../solver/blas.ts";
import { gram, matmulNT } from "../solver/products.ts";
import { ClassStore, type FeatureRows } from "./class_store.ts";
import type { NcMetrics } from "./nc_metrics.ts";

/** Rows per block of the second pass. */
const BLOCK = 1024;

/**
 * Options of {@link NcAccumulator}.
 *
 * @example
 * ```ts
 * const options: NcAccumulatorOptions = { numClasses: 10, dim: 512, spillDirectory: "/tmp/nc" };
 * ```
 */
export type NcAccumulatorOptions = {
  /** K ≥ 2. */
  numClasses: number;
  /** d ≥ 1: values per feature row. */
  dim: number;
  /**
   * Keep the rows on disk under this directory (created, and removed by `dispose`) instead of
   * in memory: for N·d beyond memory (ImageNet: 1.28 M × 2048 float32 = 10.5 GB).
   */
  spillDirectory?: string;
  /** Bytes of rows a spilling accumulator buffers before writing (default 64 MiB). */
  spillBufferBytes?: number;
};

/**
 * Class means, the global mean and the centred means H̄ of what was added.
 *
 * @example
 * ```ts
 * declare const m: ClassMeans;
 * m.centred.rows; // K: row k is μ_k − μ_G
 * ```
 */
export type ClassMeans = {
  /** K×d, row k = μ_k. */
  means: Matrix;
  /** μ_G (d). */
  globalMean: Float64Array;
  /** K×d, row k = μ_k − μ_G (H̄ᵀ in the paper's d×K convention). */
  centred: Matrix;
  /** Samples per class. */
  counts: Float64Array;
};

/**
 * Neural-collapse metrics from features given batch by batch.
 *
 * @example
 * ```ts
 * import { fromRows } from "../solver/matrix.ts";
 * const acc = new NcAccumulator({ numClasses: 2, dim: 2 });
 * acc.add(new Float32Array([1, 0, 0, 1]), [0, 1]);
 * acc.add(new Float32Array([0.9, 0.1, 0.1, 0.9]), [0, 1]);
 * const m = acc.compute(fromRows([[1, -1], [-1, 1]]));
 * m.top1; // 100
 * acc.dispose();
 * ```
 */
export class NcAccumulator {
  /** K. */
  readonly numClasses: number;
  /** d: values per feature row. */
  readonly dim: number;
  #store: ClassStore;
  #sums: Float64Array;
  #counts: Float64Array;
  #count = 0;

  /** An empty accumulator (rows in memory, or under `options.spillDirectory`). */
  constructor(options: NcAccumulatorOptions) {
    const { numClasses: K, dim: d, spillDirectory } = options;
    if (!Number.isInteger(K) || K < 2) {
      throw new InvalidArgumentError("numClasses", `got ${K}, allowed: an integer ≥ 2`);
    }
    if (!Number.isInteger(d) || d < 1) {
      throw new InvalidArgumentError("dim", `got ${d}, allowed: an integer ≥ 1`);
    }
    this.numClasses = K;
    this.dim = d;
    this.#store = spillDirectory === undefined
      ? ClassStore.inMemory(K, d)
      : ClassStore.spilling(K, d, spillDirectory, options.spillBufferBytes);
    this.#sums = new Float64Array(K * d);
    this.#counts = new Float64Array(K);
  }

  /** Samples added so far. */
  get count(): number {
    return this.#count;
  }

  /**
   * Adds a batch: `features` n×d row-major (copied), `labels` n integers in [0, K).
   * Throws InvalidArgumentError naming `features` or `labels` (and adds nothing) on bad input.
   */
  add(features: FeatureRows, labels: Int32Array | number[]): void {
    const K = this.numClasses, d = this.dim, n = labels.length;
    if (!(features instanceof Float32Array || features instanceof Float64Array)) {
      throw new InvalidArgumentError("features", "allowed: a Float32Array or Float64Array (n×d)");
    }
    if (features.length !== n * d) {
      throw new InvalidArgumentError(
        "features",
        `${features.length} values for ${n} labels: not n×d with d = ${d}`,
      );
    }
    const perClass = new Int32Array(K);
    for (let i = 0; i < n; i++) {
      const y = labels[i];
      if (!Number.isInteger(y) || y < 0 || y >= K) {
        throw new InvalidArgumentError("labels", `label ${y} at ${i} is outside [0, ${K})`);
      }
      perClass[y]++;
    }
    for (let i = 0; i < features.length; i++) {
      if (!Number.isFinite(features[i])) {
        throw new InvalidArgumentError(
          "features",
          `entry ${i} (sample ${this.#count + Math.floor(i / d)}) is ${features[i]}`,
        );
      }
    }
    const Rows = features instanceof Float64Array ? Float64Array : Float32Array;
    const grouped = Array.from(
      { length: K },
      (_, k) => perClass[k] > 0 ? new Rows(perClass[k] * d) : null,
    );
    const filled = new Int32Array(K);
    for (let i = 0; i < n; i++) {
      const y = labels[i], row = features.subarray(i * d, (i + 1) * d);
      grouped[y]!.set(row, filled[y]++ * d);
      const out = y * d;
      for (let j = 0; j < d; j++) this.#sums[out + j] += row[j];
    }
    for (let k = 0; k < K; k++) {
      if (grouped[k] === null) continue;
      this.#store.append(k, grouped[k]!);
      this.#counts[k] += perClass[k];
    }
    this.#count += n;
  }

  /** The class means, the global mean and H̄ of the samples added (every class needs one). */
  means(): ClassMeans {
    const K = this.numClasses, d = this.dim, N = this.#count;
    if (N === 0) throw new InvalidArgumentError("labels", "got no samples, allowed: N ≥ 1");
    const empty = this.#counts.findIndex((c) => c === 0);
    if (empty >= 0) {
      throw new InvalidArgumentError(
        "labels",
        `class ${empty} has no sample; every class needs one (K = ${K})`,
      );
    }
    const means = matrix(K, d), globalMean = new Float64Array(d), centred = matrix(K, d);
    for (let k = 0; k < K; k++) {
      for (let j = 0; j < d; j++) {
        globalMean[j] += this.#sums[k * d + j];
        means.data[k * d + j] = this.#sums[k * d + j] / this.#counts[k];
      }
    }
    for (let j = 0; j < d; j++) globalMean[j] /= N;
    for (let k = 0; k < K; k++) {
      for (let j = 0; j < d; j++) centred.data[k * d + j] = means.data[k * d + j] - globalMean[j];
    }
    return { means, globalMean, centred, counts: this.#counts.slice() };
  }

  /**
   * Every metric of docs/method.md section 7 under the classifier (W K×d, b K, default zeros).
   * May be called again (with another classifier); the rows stay until `dispose`.
   */
  compute(W: Matrix, b?: Float64Array): NcMetrics {
    const K = this.numClasses, d = this.dim;
    const bias = checkClassifier(W, b, K, d);
    const { means: muMatrix, globalMean: muG, centred: Hbar, counts } = this.means();
    const N = this.#count, mu = muMatrix.data;
    return finish(
      this.#secondPass(W, bias, muMatrix, muG, counts),
      { W, b: bias, mu, muG, Hbar, counts, N, d, K },
    );
  }

  /** Frees the rows (a spilling accumulator removes its directory). */
  dispose(): void {
    this.#store.dispose();
  }

  /** Σ_W·N, σ_k², the per-sample metrics and the numerical rank, one class at a time. */
  #secondPass(
    W: Matrix,
    b: Float64Array,
    muMatrix: Matrix,
    muG: Float64Array,
    counts: Float64Array,
  ): SecondPass {
    const K = this.numClasses, d = this.dim, mu = muMatrix.data;
    // One product per block gives logits (X·Wᵀ), NCC terms (X·μᵀ) and X·w̄ (w̄ = mean row of W,
    // so X·(w_k − w̄) are the centred classifier's products).
    const stacked = matrix(2 * K + 1, d);
    stacked.data.set(W.data, 0);
    stacked.data.set(mu, K * d);
    for (let k = 0; k < K; k++) {
      for (let j = 0; j < d; j++) stacked.data[2 * K * d + j] += W.data[k * d + j] / K;
    }
    const wBar = stacked.data.subarray(2 * K * d);
    const wcNorm = new Float64Array(K), muNorm2 = new Float64Array(K), muGWc = new Float64Array(K);
    for (let k = 0; k < K; k++) {
      let n = 0, m = 0, g = 0;
      for (let j = 0; j < d; j++) {
        const wc = W.data[k * d + j] - wBar[j];
        n += wc * wc;
        m += mu[k * d + j] ** 2;
        g += muG[j] * wc;
      }
      wcNorm[k] = Math.sqrt(n);
      muNorm2[k] = m;
      muGWc[k] = g;
    }
    // The system's BLAS/LAPACK when available (solver/blas.ts), else the TypeScript kernels.
    const fast = blas();
    const scatter = matrix(d, d), classScatter = matrix(d, d);
    const blockGram = fast === null ? matrix(d, d) : null!;
    const sigma2 = new Float64Array(K);
    const margins = new Float64Array(this.#count);
    let sample = 0, hits1 = 0, hits5 = 0, nccAgree = 0, rankSum = 0;
    const w = 2 * K + 1;
    for (let k = 0; k < K; k++) {
      const n = counts[k], small = n <= d;
      const F = small ? matrix(n, d) : null;
      classScatter.data.fill(0);
      let frob2 = 0, filled = 0;
      for (const block of this.#store.read(k, BLOCK)) {
        const B = block.length / d;
        const X = matrix(B, d, Float64Array.from(block)), C = matrix(B, d);
        for (let q = 0; q < B * d; q++) {
          const v = X.data[q];
          frob2 += v * v;
          const c = v - mu[k * d + (q % d)];
          C.data[q] = c;
          sigma2[k] += c * c;
        }
        if (F !== null) F.data.set(X.data, filled * d);
        filled += B;
        if (fast !== null) {
          fast.gramInto(C, classScatter, 1);
        } else {
          gram(C, blockGram);
          for (let q = 0; q < d * d; q++) classScatter.data[q] += blockGram.data[q];
        }
        const Z = (fast !== null ? fast.matmulNT(X, stacked) : matmulNT(X, stacked)).data;
        for (let r = 0; r < B; r++) {
          const z = r * w;
          let best = 0, nearest = 0, nearestDist = Infinity, rank = 0;
          const zy = Z[z + k] + b[k];
          let hn = 0;
          for (let j = 0; j < d; j++) hn += (X.data[r * d + j] - muG[j]) ** 2;
          hn = Math.sqrt(hn);
          let cosY = 0, cosOther = -Infinity;
          const xw = Z[z + 2 * K];
          for (let c = 0; c < K; c++) {
            const logit = Z[z + c] + b[c];
            if (logit > Z[z + best] + b[best]) best = c;
            if (logit > zy || (logit === zy && c < k)) rank++;
            // ‖h − μ_c‖² up to the sample's own ‖h‖²
            const dist = muNorm2[c] - 2 * Z[z + K + c];
            if (dist < nearestDist) {
              nearestDist = dist;
              nearest = c;
            }
            const cos = (Z[z + c] - xw - muGWc[c]) / (hn * wcNorm[c]);
            if (c === k) cosY = cos;
            else if (cos > cosOther) cosOther = cos;
          }
          if (best === k) hits1++;
          if (rank < 5) hits5++;
          if (best === nearest) nccAgree++;
          margins[sample++] = cosY - cosOther;
        }
      }
      for (let q = 0; q < d * d; q++) scatter.data[q] += classScatter.data[q];
      rankSum += classNumericalRank(F, classScatter, mu.subarray(k * d, (k + 1) * d), n, frob2);
    }
    return { scatter, sigma2, margins, hits1, hits5, nccAgree, numericalRank: rankSum / K };
  }
}

/** What the second pass over the rows yields. */
type SecondPass = {
  /** N·Σ_W. */
  scatter: Matrix;
  /** n_k·σ_k² (sums of squared distances to μ_k). */
  sigma2: Float64Array;
  /** Per-sample cosine margins (unsorted). */
  margins: Float64Array;
  hits1: number;
  hits5: number;
  nccAgree: number;
  numericalRank: number;
};

/** Validates W (K×d) and b (K); returns b (default zeros). */
function checkClassifier(W: Matrix, b: Float64Array | undefined, K: number, d: number) {
  if (W === null || typeof W !== "object" || W.rows !== K || W.cols !== d) {
    throw new InvalidArgumentError(
      "W",
      `got ${W?.rows}×${W?.cols}, allowed: K×d = ${K}×${d} (one row per class)`,
    );
  }
  if (!(W.data instanceof Float64Array) || W.data.length !== K * d) {
    throw new InvalidArgumentError("W", `data must be a Float64Array of ${K * d} values`);
  }
  const bias = b ?? new Float64Array(K);
  if (!(bias instanceof Float64Array) || bias.length !== K) {
    throw new InvalidArgumentError(
      "b",
      `got ${bias?.length} values, allowed: a Float64Array of K = ${K}`,
    );
  }
  for (const [name, a] of [["W", W.data], ["b", bias]] as const) {
    const bad = a.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) throw new InvalidArgumentError(name, `entry ${bad} is ${a[bad]}`);
  }
  return bias;
}

/**
 * `(‖F‖_* / ‖F‖_F)²` of one class (nuclear over Frobenius norm) from its Gram matrix: F·Fᵀ
 * (n×n) when n ≤ d, else FᵀF = S + n·μμᵀ (d×d). Singular values are the square roots of its
 * eigenvalues, those at rounding level (≤ size·ε·λ_max) taken as 0 — so singular values below
 * about 1e-7·σ_max (float32 features' own precision) do not count. A class of zero vectors
 * counts 0.
 */
function classNumericalRank(
  F: Matrix | null,
  scatter: Matrix,
  mu: Float64Array,
  n: number,
  frob2: number,
): number {
  if (frob2 === 0) return 0;
  const fast = blas();
  let G: Matrix;
  if (F !== null) {
    G = fast !== null ? fast.outerGram(F) : matmulNT(F, F);
  } else {
    const d = mu.length;
    G = matrix(d, d, scatter.data.slice());
    for (let a = 0; a < d; a++) {
      for (let c = 0; c < d; c++) G.data[a * d + c] += n * mu[a] * mu[c];
    }
  }
  const values = fast !== null ? fast.eigenvalues(G) : symmetricEigenvalues(G);
  // Eigenvalues of the Gram matrix at rounding level are zero singular values: their square
  // roots (≈ sqrt(ε)·σ_max) would add 1e-8 to a rank-deficient class's norm.
  const tol = rankTolerance(values, G.rows, G.rows);
  let nuclear = 0;
  for (const v of values) if (v > tol) nuclear += Math.sqrt(v);
  return (nuclear * nuclear) / frob2;
}

/** Eigenvalues at most this × λ_max count as zero (with max(d, K)·ε: numpy's matrix_rank). */
function rankTolerance(values: Float64Array, d: number, K: number): number {
  let max = 0;
  for (const v of values) max = Math.max(max, Math.abs(v));
  return Math.max(d, K) * Number.EPSILON * max;
}

/** The metrics from the second pass and the means. */
function finish(
  pass: SecondPass,
  s: {
    W: Matrix;
    b: Float64Array;
    mu: Float64Array;
    muG: Float64Array;
    Hbar: Matrix;
    counts: Float64Array;
    N: number;
    d: number;
    K: number;
  },
): NcMetrics {
  const { W, b, mu, muG, Hbar, counts, N, d, K } = s;
  const { scatter, sigma2, margins } = pass;
  for (let q = 0; q < d * d; q++) scatter.data[q] /= N; // Σ_W

  // BLAS and LAPACK through FFI when available; the TypeScript kernels otherwise.
  const fast = blas();
  const mm = (A: Matrix, B: Matrix) => (fast !== null ? fast.matmulNT(A, B) : matmulNT(A, B));
  const eig = (A: Matrix) => (fast !== null ? fast.eigen(A) : symmetricEigen(A));

  // NC1 through the K×K Gram matrix of H̄ (Σ_B = H̄·H̄ᵀ/K, H̄ d×K, has rank ≤ K−1).
  const HH = mm(Hbar, Hbar); // K×K: H̄ᵀH̄ (Hbar holds H̄'s columns as rows)
  const { values: lam, vectors: V } = eig(HH);
  const tolB = rankTolerance(lam, d, K);
  // Row e of P = Vᵀ·Hbar is p_e = H̄·v_e (d), an eigenvector of H̄H̄ᵀ with ‖p_e‖² = λ_e; with
  // u = p/sqrt(λ) the unit eigenvector of Σ_B (eigenvalue λ/K), tr(Σ_W·Σ_B⁺)/K sums
  // uᵀΣ_W u/λ = pᵀΣ_W p/λ².
  const P = mm(transpose(V), transpose(Hbar));
  const Q = mm(P, scatter); // P·Σ_W (Σ_W symmetric)
  let nc1 = 0;
  for (let e = 0; e < K; e++) {
    if (!(lam[e] > tolB)) continue;
    let quad = 0;
    for (let j = 0; j < d; j++) quad += P.data[e * d + j] * Q.data[e * d + j];
    nc1 += quad / (lam[e] * lam[e]);
  }
  let traceW = 0, traceB = 0;
  for (let j = 0; j < d; j++) traceW += scatter.data[j * d + j];
  for (const v of Hbar.data) traceB += v * v;
  traceB /= K;

  // VCI: Σ_T = Σ_B + Σ_W (d×d), Σ_B = H̄·H̄ᵀ/K (the Gram matrix of Hbar's rows).
  const total = gram(Hbar);
  for (let q = 0; q < d * d; q++) total.data[q] = total.data[q] / K + scatter.data[q];
  const { values: tv, vectors: TV } = eig(total);
  const tolT = rankTolerance(tv, d, K);
  // tr(Σ_T⁺Σ_B) = (1/K) Σ_e ‖H̄ᵀ v_e‖²/τ_e, with (Hbar·TV)[k, e] = ⟨μ_k − μ_G, v_e⟩.
  const HV = mm(Hbar, transpose(TV));
  let trTB = 0;
  for (let e = 0; e < d; e++) {
    if (!(tv[e] > tolT)) continue;
    let t = 0;
    for (let k = 0; k < K; k++) t += HV.data[k * d + e] ** 2;
    trTB += t / (K * tv[e]);
  }

  // CDNV.
  let cdnv = 0, pairs = 0;
  for (let a = 0; a < K; a++) {
    for (let c = a + 1; c < K; c++) {
      let dist = 0;
      for (let j = 0; j < d; j++) dist += (mu[a * d + j] - mu[c * d + j]) ** 2;
      cdnv += (sigma2[a] / counts[a] + sigma2[c] / counts[c]) / (2 * dist);
      pairs++;
    }
  }
  cdnv /= pairs;

  // NC2, NC3, NC4 and the equinorms.
  const WW = matmulNT(W, W);
  const WH = matmulNT(W, Hbar); // K×K: (W·H̄)_{kc} = ⟨w_k, μ_c − μ_G⟩
  let nc4 = 0;
  for (let k = 0; k < K; k++) {
    let t = b[k];
    for (let j = 0; j < d; j++) t += W.data[k * d + j] * muG[j];
    nc4 += t * t;
  }
  const wEquinorm = variation(rowNorms(W)), hEquinorm = variation(rowNorms(Hbar));
  let marginSum = 0;
  for (const m of margins) marginSum += m;
  margins.sort();
  return {
    top1: (100 * pass.hits1) / N,
    top5: (100 * pass.hits5) / N,
    nccMismatch: 100 - (100 * pass.nccAgree) / N,
    nc1,
    nc1Trace: traceW / traceB,
    cdnv,
    vci: 1 - trTB / Math.min(d, K - 1),
    numericalRank: pass.numericalRank,
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
 * `‖A/‖A‖_F − M/sqrt(K−1)‖_F` for a K×K matrix A (row-major): NC2 for A = W·Wᵀ, NC3 for
 * A = W·H̄.
 *
 * @example
 * ```ts
 * distanceToEtf(new Float64Array([1, -1, -1, 1]), 2); // 0: M/sqrt(K−1) up to scale
 * ```
 */
export function distanceToEtf(A: Float64Array, K: number): number {
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
