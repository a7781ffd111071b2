/**
 * Neural-collapse metrics of features h (N×d) under a classifier (W, b), in float64
 * (docs/method.md section 7): NC1 (the paper's `tr(Σ_W·Σ_B⁺)/K`, the trace quotient of Tirer et
 * al. 2023 and the CDNV of Galanti et al. 2022), VCI, numerical rank, NC2, NC3, NC4, equinorms,
 * cosine margins, NCC mismatch, top-1 and top-5. No tensors: importable from `mod.ts` without
 * tfjs. The computation is {@link NcAccumulator}'s (the streaming form) over one batch; its
 * module says how and with what memory.
 *
 * @module
 */
import { InvalidArgumentError } from "../core/errors.ts";
import type { Matrix } from "../solver/matrix.ts";
import { NcAccumulator } from "./nc_accumulator.ts";

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
  const { features, labels, numClasses: K, W, b } = input;
  if (!Number.isInteger(K) || K < 2) {
    throw new InvalidArgumentError("numClasses", `got ${K}, allowed: an integer ≥ 2`);
  }
  const N = labels?.length ?? 0;
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
  const acc = new NcAccumulator({ numClasses: K, dim: d });
  try {
    acc.add(features, labels);
    return acc.compute(W, b);
  } finally {
    acc.dispose();
  }
}
