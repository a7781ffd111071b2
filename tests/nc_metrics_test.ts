/**
 * Neural-collapse metrics (analysis/nc_metrics.ts, docs/method.md section 7), specified
 * independently of the implementation:
 *
 * - hand-worked values: a 4-sample d = 2, K = 2 problem, exact ties for the argmax and the
 *   nearest class centre, and perfectly collapsed features on an exact simplex ETF (axis-aligned
 *   with dyadic entries, and rotated by a random orthogonal matrix);
 * - a textbook numpy reference (tests/fixtures/nc_reference.py: dense d×d Σ_W, Σ_B,
 *   eigen-decomposition pseudo-inverses, np.linalg.svd nuclear norms, explicit loops) on Gaussian
 *   clusters with uneven classes, K = 10 (top-5 < 100 %), rank-deficient Σ_B, K = 2, a class
 *   of one sample, d = K = 3 and d < K − 1;
 * - Float32Array / number[] inputs give exactly what Float64Array / Int32Array give;
 * - bad input throws InvalidArgumentError naming the argument.
 *
 * Tolerances against the reference (float64 throughout):
 * - ratios and norms (nc1, nc1Trace, cdnv, numericalRank, nc4, wEquinorm, hEquinorm):
 *   |ours − ref| ≤ 1e-9·|ref| + 1e-13; whEquinormDiff: ≤ 1e-9·(wEquinorm + hEquinorm) + 1e-13;
 * - bounded quantities (vci, nc2, nc3, avgCosMargin, each of cosMargins):
 *   |ours − ref| ≤ 1e-9·max(1, |ref|);
 * - percentages (top1, top5, nccMismatch): |ours − ref| ≤ 1e-9 (they are counts).
 * Hand-known values: 1e-12 absolute/relative as stated per test (numericalRank of collapsed,
 * rank-1 class matrices: 1e-6, since the nuclear norm of a rank-1 matrix is ill-conditioned).
 */
import { assert, assertEquals } from "./assert.ts";
import { InvalidArgumentError } from "../core/errors.ts";
import { Rng } from "../core/random.ts";
import type { Matrix } from "../solver/matrix.ts";
import { type NcInput, type NcMetrics, ncMetrics } from "../analysis/nc_metrics.ts";

const PYTHON = "/usr/bin/python3";
const REFERENCE = new URL("./fixtures/nc_reference.py", import.meta.url).pathname;
const hasNumpy = await new Deno.Command(PYTHON, { args: ["-c", "import numpy"] }).output()
  .then((o) => o.success, () => false);
if (!hasNumpy) {
  console.warn("nc_metrics_test: /usr/bin/python3 lacks numpy; skipping the reference cases");
}

// ---------------------------------------------------------------------------------------------
// Problems

type Ref = Omit<NcMetrics, "cosMargins"> & { cosMargins: number[] };

const SCALAR_KEYS = [
  "top1",
  "top5",
  "nccMismatch",
  "nc1",
  "nc1Trace",
  "cdnv",
  "vci",
  "numericalRank",
  "nc2",
  "nc3",
  "nc4",
  "wEquinorm",
  "hEquinorm",
  "whEquinormDiff",
  "avgCosMargin",
] as const;
type ScalarKey = typeof SCALAR_KEYS[number];

const REL_KEYS: ScalarKey[] = [
  "nc1",
  "nc1Trace",
  "cdnv",
  "numericalRank",
  "nc4",
  "wEquinorm",
  "hEquinorm",
];
const BOUNDED_KEYS: ScalarKey[] = ["vci", "nc2", "nc3", "avgCosMargin"];
const PERCENT_KEYS: ScalarKey[] = ["top1", "top5", "nccMismatch"];

const mat = (rows: number, cols: number, data: number[] | Float64Array): Matrix => ({
  rows,
  cols,
  data: Float64Array.from(data),
});

/** Labels for the given class sizes, shuffled so the classes interleave. */
function shuffledLabels(rng: Rng, sizes: number[]): number[] {
  const labels: number[] = [];
  sizes.forEach((n, k) => {
    for (let i = 0; i < n; i++) labels.push(k);
  });
  for (let i = labels.length - 1; i > 0; i--) {
    const j = Math.floor(rng.uniform() * (i + 1));
    [labels[i], labels[j]] = [labels[j], labels[i]];
  }
  return labels;
}

/**
 * Gaussian clusters: centres meanScale·N(0, I) plus an offset shared by all samples (so μ_G ≠ 0),
 * samples centre + noise·N(0, I); W rows the centres plus 0.5·N(0, I); b 0.3·N(0, 1).
 */
function gaussianClusters(
  seed: number,
  d: number,
  sizes: number[],
  meanScale: number,
  noise: number,
): NcInput {
  const rng = new Rng(seed);
  const K = sizes.length;
  const offset = Array.from({ length: d }, () => rng.normal());
  const centres = Array.from(
    { length: K },
    () => Array.from({ length: d }, (_, j) => offset[j] + meanScale * rng.normal()),
  );
  const labels = shuffledLabels(rng, sizes);
  const features = new Float64Array(labels.length * d);
  labels.forEach((y, i) => {
    for (let j = 0; j < d; j++) features[i * d + j] = centres[y][j] + noise * rng.normal();
  });
  const W = mat(K, d, centres.flatMap((c) => c.map((v, j) => v - offset[j] + 0.5 * rng.normal())));
  const b = Float64Array.from({ length: K }, () => 0.3 * rng.normal());
  return { features, labels: Int32Array.from(labels), numClasses: K, W, b };
}

/**
 * Class means exactly in span(e0, e1) (d = 8, K = 4): coordinates ≥ 2 carry noise in ±pairs of
 * dyadic values (multiples of 1/256, |v| < 4) inside each class, so every class sum there is
 * exactly 0 whatever the summation order; coordinates 0, 1 are Gaussian. Σ_B has rank 2 < K − 1.
 */
function rankDeficientProblem(seed: number): NcInput {
  const rng = new Rng(seed);
  const d = 8, K = 4, sizes = [6, 10, 4, 8]; // even sizes: the ± pairs
  const centres = Array.from({ length: K }, () => [3 * rng.normal(), 3 * rng.normal()]);
  const labels: number[] = [];
  const rows: number[][] = [];
  sizes.forEach((n, k) => {
    for (let p = 0; p < n / 2; p++) {
      const pair = Array.from({ length: d - 2 }, () => Math.round(rng.normal() * 256) / 256);
      for (const sign of [1, -1]) {
        rows.push([
          centres[k][0] + rng.normal(),
          centres[k][1] + rng.normal(),
          ...pair.map((v) => sign * v),
        ]);
        labels.push(k);
      }
    }
  });
  // Interleave the samples (the same permutation for rows and labels).
  const order = rows.map((_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(rng.uniform() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  const features = Float64Array.from(order.flatMap((i) => rows[i]));
  const W = mat(K, d, Array.from({ length: K * d }, () => rng.normal()));
  const b = Float64Array.from({ length: K }, () => 0.3 * rng.normal());
  return { features, labels: Int32Array.from(order.map((i) => labels[i])), numClasses: K, W, b };
}

/** The hand-worked problem (see the test "hand-computed d = 2, K = 2"). */
function tinyProblem(): NcInput {
  return {
    // (−2, 1) y=1, (3, 1) y=0, (−2, −1) y=1, (1, −1) y=0
    features: new Float64Array([-2, 1, 3, 1, -2, -1, 1, -1]),
    labels: new Int32Array([1, 0, 1, 0]),
    numClasses: 2,
    W: mat(2, 2, [1, 0.5, -1, 0]),
    b: new Float64Array([0, 1.6]),
  };
}

// ---------------------------------------------------------------------------------------------
// Reference and comparison

function toJson(input: NcInput): string {
  return JSON.stringify({
    features: Array.from(input.features),
    labels: Array.from(input.labels),
    numClasses: input.numClasses,
    W: { rows: input.W.rows, cols: input.W.cols, data: Array.from(input.W.data) },
    b: input.b === undefined ? null : Array.from(input.b),
  });
}

function fromJsonNumber(v: number | string): number {
  return typeof v === "number" ? v : Number(v); // "NaN", "Infinity", "-Infinity"
}

async function reference(input: NcInput): Promise<Ref> {
  const path = await Deno.makeTempFile({ prefix: "nc_problem_", suffix: ".json" });
  try {
    await Deno.writeTextFile(path, toJson(input));
    const out = await new Deno.Command(PYTHON, { args: [REFERENCE, path], stderr: "piped" })
      .output();
    if (!out.success) {
      throw new Error(`nc_reference.py failed: ${new TextDecoder().decode(out.stderr)}`);
    }
    const raw = JSON.parse(new TextDecoder().decode(out.stdout));
    const ref: Record<string, unknown> = {};
    for (const k of SCALAR_KEYS) ref[k] = fromJsonNumber(raw[k]);
    ref.cosMargins = (raw.cosMargins as (number | string)[]).map(fromJsonNumber);
    return ref as Ref;
  } finally {
    await Deno.remove(path);
  }
}

type Tol = (key: ScalarKey, expected: number, ref: Ref) => number;

/** The stated tolerances against the numpy reference. */
const referenceTol: Tol = (key, e, ref) => {
  if (REL_KEYS.includes(key)) return 1e-9 * Math.abs(e) + 1e-13;
  if (key === "whEquinormDiff") {
    return 1e-9 * (Math.abs(ref.wEquinorm) + Math.abs(ref.hEquinorm)) + 1e-13;
  }
  if (BOUNDED_KEYS.includes(key)) return 1e-9 * Math.max(1, Math.abs(e));
  if (PERCENT_KEYS.includes(key)) return 1e-9;
  throw new Error(`no tolerance for ${key}`);
};
const marginTol = (e: number) => 1e-9 * Math.max(1, Math.abs(e));

/** Every disagreement of `got` with `expected` (only the keys `expected` has), one per line. */
function mismatches(
  caseName: string,
  got: NcMetrics,
  expected: Partial<Ref>,
  tol: Tol,
  mTol: (e: number) => number,
): string[] {
  const out: string[] = [];
  for (const k of SCALAR_KEYS) {
    const e = expected[k];
    if (e === undefined) continue;
    const a = got[k];
    const t = tol(k, e, expected as Ref);
    const ok = Number.isNaN(e) ? Number.isNaN(a) : (a === e || Math.abs(a - e) <= t);
    if (!ok) {
      out.push(
        `${caseName}: ${k} = ${a}, expected ${e} (|diff| = ${Math.abs(a - e)}, tol = ${t})`,
      );
    }
  }
  if (expected.cosMargins !== undefined) {
    const em = expected.cosMargins;
    if (!(got.cosMargins instanceof Float64Array)) {
      out.push(`${caseName}: cosMargins is not a Float64Array`);
    }
    if (got.cosMargins.length !== em.length) {
      out.push(
        `${caseName}: cosMargins has ${got.cosMargins.length} entries, expected ${em.length}`,
      );
    } else {
      let worst = -1, worstDiff = 0;
      for (let i = 0; i < em.length; i++) {
        const diff = Math.abs(got.cosMargins[i] - em[i]);
        if (!(diff <= mTol(em[i])) && (worst < 0 || diff > worstDiff)) {
          worst = i;
          worstDiff = diff;
        }
      }
      if (worst >= 0) {
        out.push(
          `${caseName}: cosMargins[${worst}] = ${got.cosMargins[worst]}, expected ${
            em[worst]
          } (|diff| = ${worstDiff}, worst of ${em.length})`,
        );
      }
    }
    for (let i = 1; i < got.cosMargins.length; i++) {
      if (!(got.cosMargins[i - 1] <= got.cosMargins[i])) {
        out.push(`${caseName}: cosMargins not sorted ascending at ${i}`);
        break;
      }
    }
  }
  return out;
}

function assertNoMismatches(lines: string[]): void {
  assert(lines.length === 0, "\n" + lines.join("\n"));
}

async function checkAgainstReference(caseName: string, input: NcInput): Promise<Ref> {
  const ref = await reference(input);
  const got = ncMetrics(input);
  assertNoMismatches(mismatches(caseName, got, ref, referenceTol, marginTol));
  return ref;
}

// ---------------------------------------------------------------------------------------------
// Hand-worked cases (no Python)

Deno.test("ncMetrics: hand-computed d = 2, K = 2, 4 samples", () => {
  // Samples: class 0: x_a = (3, 1), x_b = (1, −1); class 1: x_c = (−2, 1), x_d = (−2, −1).
  // μ_0 = (2, 0), μ_1 = (−2, 0), μ_G = (0, 0), H̄ = [[2, −2], [0, 0]].
  // Deviations: class 0 ±(1, 1); class 1 ±(0, 1).
  // Σ_W = (1/4)·(2·[[1,1],[1,1]] + 2·[[0,0],[0,1]]) = [[0.5, 0.5], [0.5, 1]].
  // Σ_B = (1/2)·(μ_0μ_0ᵀ + μ_1μ_1ᵀ) = [[4, 0], [0, 0]], Σ_B⁺ = [[1/4, 0], [0, 0]].
  // nc1 = tr(Σ_W Σ_B⁺)/K = (0.5/4)/2 = 1/16.   nc1Trace = 1.5/4 = 3/8.
  // Σ_T = [[4.5, 0.5], [0.5, 1]], det 17/4, Σ_T⁻¹ = (4/17)·[[1, −0.5], [−0.5, 4.5]];
  //   tr(Σ_T⁻¹ Σ_B) = (4/17)·4 = 16/17; vci = 1 − (16/17)/min(2, 1) = 1/17.
  // σ_0² = ‖(1,1)‖² = 2, σ_1² = 1, ‖μ_0 − μ_1‖² = 16: cdnv = (2 + 1)/(2·16) = 3/32.
  // numericalRank: F_0 = [[3,1],[1,−1]], F_0ᵀF_0 = [[10,2],[2,2]], σ = √5 ± 1, ‖F_0‖_* = 2√5,
  //   ‖F_0‖_F² = 12 → 20/12 = 5/3; F_1 = [[−2,1],[−2,−1]], F_1F_1ᵀ = [[5,3],[3,5]], σ = 2√2, √2,
  //   ‖F_1‖_*² = 18, ‖F_1‖_F² = 10 → 9/5; mean (5/3 + 9/5)/2 = 26/15.
  // Logits z = W h + b, W = [[1, 0.5], [−1, 0]], b = (0, 1.6):
  //   x_a: (3.5, −1.4) → 0 ✓; x_b: (0.5, 0.6) → 1 ✗; x_c: (−1.5, 3.6) → 1 ✓; x_d: (−2.5, 3.6) → 1 ✓.
  //   top1 = 75, top5 = 100 (K < 5).
  // NCC: x_b is √2 from μ_0 and √10 from μ_1 → 0 ≠ argmax 1; the others agree: nccMismatch = 25.
  // nc2: WWᵀ = [[1.25, −1], [−1, 1]], ‖WWᵀ‖_F = √73/4; M/√(K−1) = [[.5, −.5], [−.5, .5]].
  // nc3: W H̄ = [[2, −2], [−2, 2]], ‖·‖_F = 4 → exactly M: nc3 = 0.   nc4 = ‖0 + b‖ = 1.6.
  // Equinorm: ‖w_0‖ = √5/2, ‖w_1‖ = 1: std/mean = √2·(√5/2 − 1)/(√5/2 + 1) = √2(√5 − 2)/(√5 + 2);
  //   ‖μ_k − μ_G‖ = 2, 2: hEquinorm = 0.
  // Margins: row mean of W = (0, 0.25): w̃_0 = (1, 0.25) = −w̃_1, ‖w̃_k‖ = √17/4; K = 2 so
  //   margin = 2·cos_y. x_a: ⟨x_a, w̃_0⟩ = 3.25, ‖x_a‖ = √10 → 26/√170;
  //   x_b: 0.75, √2 → 6/√34 (positive although the bias misclassifies it);
  //   x_c: ⟨x_c, w̃_1⟩ = 1.75, √5 → 14/√85; x_d: 2.25, √5 → 18/√85.
  const s = 4 / Math.sqrt(73);
  const nc2 = Math.hypot(s * 1.25 - 0.5, -s + 0.5, -s + 0.5, s - 0.5);
  const wEq = Math.SQRT2 * (Math.sqrt(5) - 2) / (Math.sqrt(5) + 2);
  const margins = [6 / Math.sqrt(34), 14 / Math.sqrt(85), 18 / Math.sqrt(85), 26 / Math.sqrt(170)];
  const expected: Partial<Ref> = {
    top1: 75,
    top5: 100,
    nccMismatch: 25,
    nc1: 1 / 16,
    nc1Trace: 3 / 8,
    cdnv: 3 / 32,
    vci: 1 / 17,
    numericalRank: 26 / 15,
    nc2,
    nc3: 0,
    nc4: 1.6,
    wEquinorm: wEq,
    hEquinorm: 0,
    whEquinormDiff: wEq,
    avgCosMargin: margins.reduce((a, v) => a + v, 0) / 4,
    cosMargins: margins,
  };
  const tol: Tol = (_k, e) => 1e-12 * Math.max(1, Math.abs(e));
  assertNoMismatches(
    mismatches("hand d=2 K=2", ncMetrics(tinyProblem()), expected, tol, () => 1e-12),
  );
});

Deno.test("ncMetrics: exact ties take the first index (argmax of logits, argmin of distances)", () => {
  // Class 0: (0, 1), (4, −1) → μ_0 = (2, 0); class 1: (−2, ±1) → μ_1 = (−2, 0); μ_G = 0.
  // (0, 1) is exactly √5 from both means: NCC picks class 0.
  // W = [[1, 0], [−1, 0]]. With b = (0, 0) the logits of (0, 1) are (0, 0): argmax 0 = label
  //   → top1 = 100, and NCC 0 agrees → nccMismatch = 0.
  // With b = (0, 0.5) they are (0, 0.5): argmax 1 → top1 = 75, and NCC (first index, 0)
  //   disagrees → nccMismatch = 25 (a last-index NCC would give 0).
  const base = {
    features: new Float64Array([0, 1, -2, 1, 4, -1, -2, -1]),
    labels: new Int32Array([0, 1, 0, 1]),
    numClasses: 2,
    W: mat(2, 2, [1, 0, -1, 0]),
  };
  const tied = ncMetrics({ ...base, b: new Float64Array([0, 0]) });
  const shifted = ncMetrics({ ...base, b: new Float64Array([0, 0.5]) });
  const tol: Tol = () => 1e-12;
  assertNoMismatches([
    ...mismatches("ties b=(0,0)", tied, { top1: 100, top5: 100, nccMismatch: 0 }, tol, () => 0),
    ...mismatches(
      "ties b=(0,0.5)",
      shifted,
      { top1: 75, top5: 100, nccMismatch: 25 },
      tol,
      () => 0,
    ),
  ]);
});

/** Columns c_k = e_k − (1/4)·(1,1,1,1,0,0,0,0): a simplex ETF in R^8 with Gram exactly M. */
function etfColumns(): number[][] {
  const K = 4, d = 8;
  return Array.from(
    { length: K },
    (_, k) => Array.from({ length: d }, (_, j) => (j < K ? (j === k ? 0.75 : -0.25) : 0)),
  );
}

/** Hand-known metrics of collapsed features on a simplex ETF with W ∝ the ETF (K = 4). */
const COLLAPSED: Partial<Ref> = {
  top1: 100,
  top5: 100,
  nccMismatch: 0,
  nc1: 0,
  nc1Trace: 0,
  cdnv: 0,
  vci: 0, // Σ_W = 0: tr(Σ_B⁺Σ_B) = rank Σ_B = K − 1 = min(d, K − 1)
  numericalRank: 1, // every F_k has K identical rows: rank 1
  nc2: 0,
  nc3: 0,
  nc4: 0,
  wEquinorm: 0,
  hEquinorm: 0,
  whEquinormDiff: 0,
  // cos_y = 1, cos_{k≠y} = M_yk/M_kk = −1/(K−1): margin K/(K−1) = 4/3 for every sample
  avgCosMargin: 4 / 3,
};
const collapsedTol: Tol = (k) => (k === "numericalRank" ? 1e-6 : 1e-12);

Deno.test("ncMetrics: collapsed features on an exact simplex ETF (d = 8, K = 4)", () => {
  // h_i = τ·c_{y_i} + o (τ = 2, o a dyadic offset so μ_G = o ≠ 0), 4 samples per class (N = 16,
  // so every mean is exact); W rows = c_k; b = −W·μ_G = −W·o. Then μ_k − μ_G = τ c_k,
  // Σ_W = 0, WWᵀ = M, W·H̄ = τM, W·μ_G + b = 0, z = τ·M[:, y] (argmax y), h = μ_y (NCC y),
  // ‖w_k‖ = √0.75 and ‖μ_k − μ_G‖ = τ√0.75 for every k, and mean_k c_k = 0 so w̃_k = c_k.
  const C = etfColumns();
  const K = 4, d = 8, tau = 2;
  const o = [0.5, -1, 0.25, 0, 2, -0.75, 1.5, 0.125];
  const labels = [0, 1, 2, 3, 3, 2, 1, 0, 1, 3, 0, 2, 2, 0, 3, 1];
  const features = Float64Array.from(labels.flatMap((y) => C[y].map((v, j) => tau * v + o[j])));
  const W = mat(K, d, C.flat());
  const b = Float64Array.from(C, (c) => -c.reduce((a, v, j) => a + v * o[j], 0));
  const got = ncMetrics({ features, labels: Int32Array.from(labels), numClasses: K, W, b });
  assertNoMismatches(
    mismatches(
      "collapsed ETF",
      got,
      { ...COLLAPSED, cosMargins: labels.map(() => 4 / 3) },
      collapsedTol,
      () => 1e-12,
    ),
  );
});

/** A random orthogonal n×n matrix (modified Gram–Schmidt on Gaussian columns), row-major. */
function randomOrthogonal(rng: Rng, n: number): number[][] {
  const cols: number[][] = [];
  for (let c = 0; c < n; c++) {
    let v = Array.from({ length: n }, () => rng.normal());
    for (let pass = 0; pass < 2; pass++) {
      for (const q of cols) {
        const dot = q.reduce((a, x, i) => a + x * v[i], 0);
        v = v.map((x, i) => x - dot * q[i]);
      }
    }
    const norm = Math.hypot(...v);
    cols.push(v.map((x) => x / norm));
  }
  return Array.from({ length: n }, (_, i) => cols.map((q) => q[i])); // Q[i][c] = cols[c][i]
}

Deno.test("ncMetrics: collapsed features on a rotated, scaled simplex ETF (uneven scales)", () => {
  // The same collapse in a generic orientation: u_k = Q c_k (Q random orthogonal), h_i =
  // τ u_{y_i} + o with τ = 1.5 and a Gaussian offset o, W rows = 3·u_kᵀ, b = −W·μ_G with μ_G
  // computed here as the mean of the samples. Every value is as in the axis-aligned case up to
  // rounding (1e-12; numericalRank 1e-6).
  const rng = new Rng(7);
  const K = 4, d = 8, tau = 1.5, scale = 3;
  const Q = randomOrthogonal(rng, d);
  const U = etfColumns().map((c) => Q.map((row) => row.reduce((a, q, j) => a + q * c[j], 0)));
  const o = Array.from({ length: d }, () => rng.normal());
  const labels = shuffledLabels(rng, [5, 5, 5, 5]);
  const features = Float64Array.from(labels.flatMap((y) => U[y].map((v, j) => tau * v + o[j])));
  const N = labels.length;
  const muG = Array.from({ length: d }, (_, j) => {
    let s = 0;
    for (let i = 0; i < N; i++) s += features[i * d + j];
    return s / N;
  });
  const W = mat(K, d, U.flatMap((u) => u.map((v) => scale * v)));
  const b = Float64Array.from(
    { length: K },
    (_, k) => -muG.reduce((a, m, j) => a + W.data[k * d + j] * m, 0),
  );
  const got = ncMetrics({ features, labels, numClasses: K, W, b });
  assertNoMismatches(
    mismatches(
      "rotated collapsed ETF",
      got,
      { ...COLLAPSED, cosMargins: labels.map(() => 4 / 3) },
      collapsedTol,
      () => 1e-12,
    ),
  );
});

// ---------------------------------------------------------------------------------------------
// Against the numpy reference

Deno.test({
  name: "ncMetrics: the hand-computed problem agrees with the numpy reference",
  ignore: !hasNumpy,
  fn: async () => {
    await checkAgainstReference("hand d=2 K=2 vs numpy", tinyProblem());
  },
});

Deno.test({
  name: "ncMetrics: (a) Gaussian clusters, d = 16, K = 5, uneven classes",
  ignore: !hasNumpy,
  fn: async () => {
    const input = gaussianClusters(1, 16, [3, 11, 7, 20, 5], 2, 1);
    const before = Float64Array.from(input.features);
    await checkAgainstReference("(a) d=16 K=5", input);
    assertEquals(Array.from(input.features), Array.from(before), "features were modified");

    // b omitted means b = 0, exactly.
    const zeroB = ncMetrics({ ...input, b: new Float64Array(5) });
    const noB = ncMetrics({ ...input, b: undefined });
    for (const k of SCALAR_KEYS) assertEquals(noB[k], zeroB[k], `(a) b omitted vs zeros: ${k}`);
    assertEquals(Array.from(noB.cosMargins), Array.from(zeroB.cosMargins));
    await checkAgainstReference("(a) d=16 K=5, b omitted", { ...input, b: undefined });

    // The order of the samples does not matter (1e-12 relative, margins sorted).
    const N = input.labels.length, d = 16;
    const perm = Array.from({ length: N }, (_, i) => N - 1 - i);
    const permuted: NcInput = {
      ...input,
      features: Float64Array.from(
        perm.flatMap((i) => Array.from(input.features.subarray(i * d, (i + 1) * d))),
      ),
      labels: Int32Array.from(perm.map((i) => input.labels[i])),
    };
    const a = ncMetrics(input), p = ncMetrics(permuted);
    const ref: Ref = { ...a, cosMargins: Array.from(a.cosMargins) };
    assertNoMismatches(
      mismatches(
        "(a) reversed order",
        p,
        ref,
        (_k, e) => 1e-12 * Math.max(1, Math.abs(e)),
        (e) => 1e-12 * Math.max(1, Math.abs(e)),
      ),
    );
  },
});

Deno.test({
  name: "ncMetrics: (a') Gaussian clusters, d = 12, K = 10: top-5 below 100 %",
  ignore: !hasNumpy,
  fn: async () => {
    const sizes = [6, 9, 4, 12, 7, 5, 10, 8, 3, 11];
    const ref = await checkAgainstReference(
      "(a') d=12 K=10",
      gaussianClusters(2, 12, sizes, 1, 1.2),
    );
    assert(
      ref.top5 < 100 && ref.top1 < ref.top5,
      `test design: top1 ${ref.top1}, top5 ${ref.top5}`,
    );
  },
});

Deno.test({
  name: "ncMetrics: (b) rank-deficient Σ_B (class means in a 2-D subspace, d = 8, K = 4)",
  ignore: !hasNumpy,
  fn: async () => {
    await checkAgainstReference("(b) rank-2 Σ_B", rankDeficientProblem(3));
  },
});

Deno.test({
  name: "ncMetrics: (c) K = 2",
  ignore: !hasNumpy,
  fn: async () => {
    await checkAgainstReference("(c) d=5 K=2", gaussianClusters(4, 5, [7, 12], 1.5, 1));
  },
});

Deno.test({
  name: "ncMetrics: (d) a class with exactly one sample",
  ignore: !hasNumpy,
  fn: async () => {
    await checkAgainstReference("(d) one-sample class", gaussianClusters(5, 6, [7, 1, 5, 9], 2, 1));
  },
});

Deno.test({
  name: "ncMetrics: (e) d = K = 3 (min(d, K − 1) = K − 1 = 2)",
  ignore: !hasNumpy,
  fn: async () => {
    await checkAgainstReference("(e) d=K=3", gaussianClusters(6, 3, [5, 8, 6], 2, 1));
  },
});

Deno.test({
  name: "ncMetrics: (e') d = 2 < K − 1 = 4 (min(d, K − 1) = d)",
  ignore: !hasNumpy,
  fn: async () => {
    await checkAgainstReference("(e') d=2 K=5", gaussianClusters(8, 2, [4, 6, 5, 3, 7], 2, 0.7));
  },
});

Deno.test({
  name: "ncMetrics: (f) the collapsed ETF problems also agree with the numpy reference",
  ignore: !hasNumpy,
  fn: async () => {
    // A check of the reference as much as of ncMetrics: numpy gives the hand-known values too.
    const C = etfColumns();
    const o = [0.5, -1, 0.25, 0, 2, -0.75, 1.5, 0.125];
    const labels = [0, 1, 2, 3, 3, 2, 1, 0, 1, 3, 0, 2, 2, 0, 3, 1];
    const input: NcInput = {
      features: Float64Array.from(labels.flatMap((y) => C[y].map((v, j) => 2 * v + o[j]))),
      labels,
      numClasses: 4,
      W: mat(4, 8, C.flat()),
      b: Float64Array.from(C, (c) => -c.reduce((a, v, j) => a + v * o[j], 0)),
    };
    const ref = await reference(input);
    const refAsMetrics = { ...ref, cosMargins: Float64Array.from(ref.cosMargins) };
    assertNoMismatches([
      // numpy itself reproduces the hand-known values (tolerances as in the hand test) …
      ...mismatches("(f) numpy vs hand values", refAsMetrics, COLLAPSED, collapsedTol, () => 0),
      // … and ncMetrics agrees with numpy at the reference tolerances.
      ...mismatches("(f) ncMetrics vs numpy", ncMetrics(input), ref, referenceTol, marginTol),
    ]);
  },
});

Deno.test({
  name: "ncMetrics: (g) Float32Array features and number[] labels give the same results",
  ignore: !hasNumpy,
  fn: async () => {
    const base = gaussianClusters(9, 7, [5, 9, 6], 2, 1);
    const f32 = Float32Array.from(base.features);
    const f64 = Float64Array.from(f32); // the same values
    const i32 = Int32Array.from(base.labels);
    const arr = Array.from(base.labels);
    const reference64 = ncMetrics({ ...base, features: f64, labels: i32 });
    for (
      const [name, features, labels] of [
        ["Float32Array + Int32Array", f32, i32],
        ["Float64Array + number[]", f64, arr],
        ["Float32Array + number[]", f32, arr],
      ] as const
    ) {
      const got = ncMetrics({ ...base, features, labels });
      for (const k of SCALAR_KEYS) assertEquals(got[k], reference64[k], `(g) ${name}: ${k}`);
      assertEquals(Array.from(got.cosMargins), Array.from(reference64.cosMargins), `(g) ${name}`);
    }
    await checkAgainstReference("(g) float32 values", { ...base, features: f32, labels: arr });
  },
});

// ---------------------------------------------------------------------------------------------
// Bad input

function expectArgumentError(what: string, fn: () => unknown, ...allowed: string[]): string | null {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof InvalidArgumentError)) {
      return `${what}: expected InvalidArgumentError, got ${e instanceof Error ? e.name : ""} ${e}`;
    }
    if (!allowed.includes(e.argument)) {
      return `${what}: argument "${e.argument}", expected ${
        allowed.map((a) => `"${a}"`).join(" or ")
      } (message: ${e.message})`;
    }
    return null;
  }
  return `${what}: nothing thrown`;
}

function goodInput(): NcInput {
  return gaussianClusters(10, 4, [3, 4, 5], 2, 1);
}

Deno.test("ncMetrics: (h) bad input throws InvalidArgumentError naming the argument", () => {
  const failures: (string | null)[] = [];
  const g = goodInput();
  const d = g.W.cols;
  const K = g.numClasses;
  {
    const labels = Array.from(g.labels);
    labels[2] = K;
    failures.push(expectArgumentError("label = K", () => ncMetrics({ ...g, labels }), "labels"));
  }
  {
    const labels = Int32Array.from(g.labels);
    labels[0] = -1;
    failures.push(expectArgumentError("label = −1", () => ncMetrics({ ...g, labels }), "labels"));
  }
  {
    // Class K − 1 empty: relabel its samples as class 0.
    const labels = Array.from(g.labels, (y) => (y === K - 1 ? 0 : y));
    failures.push(
      expectArgumentError("empty class", () => ncMetrics({ ...g, labels }), "labels", "numClasses"),
    );
  }
  {
    const W = mat(K - 1, d, g.W.data.slice(0, (K - 1) * d));
    failures.push(expectArgumentError("W with K − 1 rows", () => ncMetrics({ ...g, W }), "W"));
  }
  {
    const W = { rows: K, cols: d, data: g.W.data.slice(0, K * d - 1) };
    failures.push(
      expectArgumentError("W.data shorter than rows·cols", () => ncMetrics({ ...g, W }), "W"),
    );
  }
  {
    const features = g.features.slice(0, g.features.length - 1);
    failures.push(
      expectArgumentError(
        "features.length = N·d − 1",
        () => ncMetrics({ ...g, features }),
        "features",
      ),
    );
  }
  {
    const features = Float64Array.from(g.features, (v, i) => (i === 5 ? NaN : v));
    failures.push(
      expectArgumentError("NaN feature", () => ncMetrics({ ...g, features }), "features"),
    );
  }
  {
    const features = Float32Array.from(g.features, (v, i) => (i === 3 ? Infinity : v));
    failures.push(
      expectArgumentError(
        "Infinity feature (Float32Array)",
        () => ncMetrics({ ...g, features }),
        "features",
      ),
    );
  }
  assertNoMismatches(failures.filter((f): f is string => f !== null));
});

Deno.test("ncMetrics: (h') further bad input: numClasses < 2 or fractional, b of the wrong length, a fractional label", () => {
  const failures: (string | null)[] = [];
  const g = goodInput();
  const d = g.W.cols;
  const one = {
    ...g,
    numClasses: 1,
    W: mat(1, d, g.W.data.slice(0, d)),
    labels: Array.from(g.labels, () => 0),
    b: undefined,
  };
  failures.push(expectArgumentError("numClasses = 1", () => ncMetrics(one), "numClasses"));
  failures.push(
    expectArgumentError(
      "numClasses = 2.5",
      () => ncMetrics({ ...g, numClasses: 2.5 }),
      "numClasses",
    ),
  );
  failures.push(
    expectArgumentError(
      "b of length K − 1",
      () => ncMetrics({ ...g, b: new Float64Array(g.numClasses - 1) }),
      "b",
    ),
  );
  {
    const labels = Array.from(g.labels);
    labels[1] = 0.5;
    failures.push(expectArgumentError("label 0.5", () => ncMetrics({ ...g, labels }), "labels"));
  }
  assertNoMismatches(failures.filter((f): f is string => f !== null));
});
