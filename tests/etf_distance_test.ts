/**
 * `etfDistances` (analysis/etf_distance.ts): the nearest simplex ETFs E_W, E_H to
 * `Y_W = Wᵀ/‖W‖_F` and `Y_H = H̄/‖H̄‖_F`, and the distances between them, specified by:
 *
 * - an exact (rotated, scaled) simplex ETF: every distance is 0 and E_W = E_H = the ETF;
 * - an independent closed form, computed here with a Jacobi eigensolver: with A = Y·M and
 *   J = 11ᵀ/K, the nearest ETF is `A·(AᵀA + J)^{-1/2}/sqrt(K−1)` (A·1 = 0, so adding J only
 *   makes the Gram invertible on the null direction and leaves A·(·) unchanged), and the
 *   distance to it is `2 − 2·‖Y·M‖_nuc/sqrt(K−1)` (‖Y‖ = ‖E‖ = 1, ⟨Y, U·M⟩ = ⟨Y·M, U⟩ ≤ ‖Y·M‖_nuc);
 * - the variational property: no Stiefel point, random or a small perturbation of the solution,
 *   gives a larger ⟨Y, U·M⟩;
 * - invariance under a common rotation of W and H̄ (E turns with it) and under scaling;
 * - trust-regions against the closed form over chained epochs; the reference epoch; the seed;
 *   and the argument errors.
 *
 * Tolerances. The closed form and the Jacobi oracle are both backward stable on these
 * well-conditioned d ≤ 16, K ≤ 5 problems with O(1) entries, so matrices agree to 1e-12 and
 * distances to 1e-12. Trust-regions stops once the Riemannian gradient norm g is below 1e-6
 * (asserted). At the optimum the Riemannian Hessian of f(U) = 2 − (2/sqrt(K−1))·⟨Y·M, U⟩ is
 * ξ ↦ P_U(ξ·S) with S = Uᵀ·A', A' = (2/sqrt(K−1))·Y·M; off its kernel (moves that leave U·M
 * unchanged) its smallest eigenvalue is λ = σ_min(A')/2 = σ_min(Y·M)/sqrt(K−1), σ_min being
 * the smallest non-zero singular value. So the solution is within g/λ of the minimisers in U,
 * hence ‖ΔE‖_F ≤ g/σ_min(Y·M), and the cost excess is ≤ g²/(2λ). The bounds below take twice
 * these (higher-order terms) from the solver's reported g; a distance that is first order in E
 * (etfWH, wToRef) gets ‖a‖² − ‖b‖² ≤ ‖a − b‖·(‖a‖ + ‖b‖). With g ≤ 1e-6 that is E to ~1e-5
 * at worst; in practice g ends far below 1e-6 so the bounds are much tighter.
 */
import { assert, assertAtMost, assertEquals, assertThrows } from "./assert.ts";
import { InvalidArgumentError } from "../core/errors.ts";
import { randomNormal, Rng } from "../core/random.ts";
import { type Matrix, matrix } from "../solver/matrix.ts";
import { randomPoint } from "../solver/stiefel.ts";
import {
  type EtfDistanceInput,
  type EtfDistanceRecord,
  etfDistances,
} from "../analysis/etf_distance.ts";
import { denseCentring, naiveMatmul, naiveTranspose } from "./helpers.ts";

// ---------------------------------------------------------------------------------------------
// Independent reference computations (plain loops).

function frob2(A: Matrix): number {
  let s = 0;
  for (const v of A.data) s += v * v;
  return s;
}

function dist2(A: Matrix, B: Matrix): number {
  assertEquals([A.rows, A.cols], [B.rows, B.cols], "shapes");
  let s = 0;
  for (let i = 0; i < A.data.length; i++) s += (A.data[i] - B.data[i]) ** 2;
  return s;
}

function maxAbsDiff(A: Matrix, B: Matrix): number {
  assertEquals([A.rows, A.cols], [B.rows, B.cols], "shapes");
  let m = 0;
  for (let i = 0; i < A.data.length; i++) m = Math.max(m, Math.abs(A.data[i] - B.data[i]));
  return m;
}

function scaled(A: Matrix, c: number): Matrix {
  const out = matrix(A.rows, A.cols);
  for (let i = 0; i < A.data.length; i++) out.data[i] = c * A.data[i];
  return out;
}

function dot(A: Matrix, B: Matrix): number {
  let s = 0;
  for (let i = 0; i < A.data.length; i++) s += A.data[i] * B.data[i];
  return s;
}

/** `Xᵀ/‖X‖_F` of a K×d matrix. */
function normalisedT(X: Matrix): Matrix {
  return scaled(naiveTranspose(X), 1 / Math.sqrt(frob2(X)));
}

/** `U·M/sqrt(K−1)` by a dense product. */
function etfFrom(U: Matrix): Matrix {
  return scaled(naiveMatmul(U, denseCentring(U.cols)), 1 / Math.sqrt(U.cols - 1));
}

/** Cyclic Jacobi: a symmetric n×n S = V·diag(values)·Vᵀ (eigenvectors are V's columns). */
function symmetricEigen(S: Matrix): { values: number[]; V: Matrix } {
  const n = S.rows;
  const a: number[][] = [];
  for (let i = 0; i < n; i++) a.push(Array.from(S.data.subarray(i * n, (i + 1) * n)));
  const v: number[][] = [];
  for (let i = 0; i < n; i++) v.push(Array.from({ length: n }, (_, j) => (i === j ? 1 : 0)));
  const scale = frob2(S);
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p][q] ** 2;
    if (off <= 1e-34 * scale) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        if (a[p][q] === 0) continue;
        const theta = (a[q][q] - a[p][p]) / (2 * a[p][q]);
        const t = (theta >= 0 ? 1 : -1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1), s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k][p], akq = a[k][q];
          a[k][p] = c * akp - s * akq;
          a[k][q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p][k], aqk = a[q][k];
          a[p][k] = c * apk - s * aqk;
          a[q][k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k][p], vkq = v[k][q];
          v[k][p] = c * vkp - s * vkq;
          v[k][q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const V = matrix(n, n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) V.data[i * n + j] = v[i][j];
  const values = a.map((row, i) => row[i]);
  // Self-check of the oracle: V·diag·Vᵀ reconstructs S and V is orthogonal.
  const D = matrix(n, n);
  for (let i = 0; i < n; i++) D.data[i * n + i] = values[i];
  const R = naiveMatmul(naiveMatmul(V, D), naiveTranspose(V));
  assertAtMost(maxAbsDiff(R, S), 1e-13 * Math.sqrt(scale) + 1e-300, "Jacobi reconstruction");
  const I = matrix(n, n);
  for (let i = 0; i < n; i++) I.data[i * n + i] = 1;
  assertAtMost(maxAbsDiff(naiveMatmul(naiveTranspose(V), V), I), 1e-13, "Jacobi orthogonality");
  return { values, V };
}

/**
 * The nearest ETF to Y (d×K) by the closed form of the module doc above, with the nuclear norm
 * and the smallest non-zero singular value of Y·M.
 */
function referenceEtf(Y: Matrix): { E: Matrix; distance: number; sigmaMin: number } {
  const K = Y.cols;
  const A = naiveMatmul(Y, denseCentring(K));
  const G = naiveMatmul(naiveTranspose(A), A);
  const sv = symmetricEigen(G).values.map((l) => Math.sqrt(Math.max(l, 0))).sort((x, y) => x - y);
  // One zero singular value (A·1 = 0), the rest positive.
  assertAtMost(sv[0], 1e-7, "σ of the null direction");
  const nuclear = sv.slice(1).reduce((s, x) => s + x, 0);
  const Gj = matrix(K, K);
  for (let i = 0; i < K * K; i++) Gj.data[i] = G.data[i] + 1 / K;
  const { values, V } = symmetricEigen(Gj);
  const Dinv = matrix(K, K);
  for (let i = 0; i < K; i++) Dinv.data[i * K + i] = 1 / Math.sqrt(values[i]);
  const invSqrt = naiveMatmul(naiveMatmul(V, Dinv), naiveTranspose(V));
  const E = scaled(naiveMatmul(A, invSqrt), 1 / Math.sqrt(K - 1));
  return { E, distance: 2 - (2 * nuclear) / Math.sqrt(K - 1), sigmaMin: sv[1] };
}

/** `‖W·H̄/‖W·H̄‖_F − M/sqrt(K−1)‖_F` with (W·H̄)_{kc} = ⟨w_k, hbar_c⟩ (W, Hbar both K×d). */
function referenceWhToM(W: Matrix, Hbar: Matrix): number {
  const K = W.rows, d = W.cols;
  const P = matrix(K, K);
  for (let k = 0; k < K; k++) {
    for (let c = 0; c < K; c++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += W.data[k * d + j] * Hbar.data[c * d + j];
      P.data[k * K + c] = s;
    }
  }
  const n = Math.sqrt(frob2(P));
  let sum = 0;
  for (let k = 0; k < K; k++) {
    for (let c = 0; c < K; c++) {
      sum += (P.data[k * K + c] / n - ((k === c ? 1 : 0) - 1 / K) / Math.sqrt(K - 1)) ** 2;
    }
  }
  return Math.sqrt(sum);
}

/** Modified Gram–Schmidt: the orthonormal Q of a full-column-rank d×K matrix. */
function orthonormalColumns(X: Matrix): Matrix {
  const d = X.rows, K = X.cols;
  const Q = scaled(X, 1);
  for (let j = 0; j < K; j++) {
    for (let i = 0; i < j; i++) {
      let r = 0;
      for (let t = 0; t < d; t++) r += Q.data[t * K + i] * Q.data[t * K + j];
      for (let t = 0; t < d; t++) Q.data[t * K + j] -= r * Q.data[t * K + i];
    }
    let n = 0;
    for (let t = 0; t < d; t++) n += Q.data[t * K + j] ** 2;
    n = Math.sqrt(n);
    for (let t = 0; t < d; t++) Q.data[t * K + j] /= n;
  }
  return Q;
}

/** `max |UᵀU − I|`. */
function orthonormalityGap(U: Matrix): number {
  const G = naiveMatmul(naiveTranspose(U), U);
  let m = 0;
  for (let i = 0; i < U.cols; i++) {
    for (let j = 0; j < U.cols; j++) {
      m = Math.max(m, Math.abs(G.data[i * U.cols + j] - (i === j ? 1 : 0)));
    }
  }
  return m;
}

/** Checks the ETF structure of a d×K E: E·1 = 0, EᵀE = M/(K−1), ‖E‖_F = 1. */
function assertEtfStructure(E: Matrix, tol: number, what: string): void {
  const K = E.cols;
  const G = naiveMatmul(naiveTranspose(E), E);
  const M = denseCentring(K);
  assertAtMost(maxAbsDiff(G, scaled(M, 1 / (K - 1))), tol, `${what}: EᵀE − M/(K−1)`);
  for (let i = 0; i < E.rows; i++) {
    let s = 0;
    for (let k = 0; k < K; k++) s += E.data[i * K + k];
    assertAtMost(Math.abs(s), tol, `${what}: row ${i} sum`);
  }
  assertAtMost(Math.abs(frob2(E) - 1), tol, `${what}: ‖E‖² − 1`);
}

/** Rows w_k ↦ Q·w_k of a K×d matrix (i.e. X·Qᵀ), Q d×d. */
function rotateRows(X: Matrix, Q: Matrix): Matrix {
  return naiveMatmul(X, naiveTranspose(Q));
}

/** An exact simplex ETF E0 = V·M/sqrt(K−1) (d×K) from a random orthonormal V. */
function exactEtf(seed: number, d: number, K: number): Matrix {
  return etfFrom(randomPoint(new Rng(seed), d, K));
}

function randomEpochs(seed: number, d: number, K: number, n: number): EtfDistanceInput[] {
  const rng = new Rng(seed);
  const out: EtfDistanceInput[] = [];
  // A training-like drift: each epoch is the previous plus noise, epochs 10, 20, ….
  let W = randomNormal(rng, K, d), H = randomNormal(rng, K, d);
  for (let i = 0; i < n; i++) {
    out.push({ epoch: 10 * (i + 1), W, Hbar: H });
    const dW = randomNormal(rng, K, d), dH = randomNormal(rng, K, d);
    const W2 = matrix(K, d), H2 = matrix(K, d);
    for (let j = 0; j < K * d; j++) {
      W2.data[j] = W.data[j] + 0.5 * dW.data[j];
      H2.data[j] = H.data[j] + 0.5 * dH.data[j];
    }
    W = W2;
    H = H2;
  }
  return out;
}

/** The trust-regions bound on ‖E − E⋆‖_F from the reported gradient norm (module doc). */
function eBound(g: number, sigmaMin: number): number {
  return (2 * g) / sigmaMin;
}

/** Bound on |‖a‖² − ‖b‖²| given ‖b‖ and ‖a − b‖ ≤ e. */
function squaredBound(normB: number, e: number): number {
  return e * (2 * normB + e);
}

function assertConverged(r: EtfDistanceRecord, what: string): void {
  for (const [name, s] of [["wSolve", r.wSolve], ["hSolve", r.hSolve]] as const) {
    assertEquals(s.stoppingReason, "min-gradient-norm", `${what} ${name} stopping reason`);
    assertAtMost(s.gradientNorm, 1e-6, `${what} ${name} gradient norm`);
    assert(s.iterations <= 500, `${what} ${name}: ${s.iterations} iterations`);
  }
}

const DISTANCE_KEYS = ["etfWH", "wToEtf", "hToEtf", "whToM", "wToRef", "hToRef"] as const;

// ---------------------------------------------------------------------------------------------

Deno.test("an exact rotated, scaled simplex ETF: every distance 0 and E_W = E_H = the ETF", () => {
  for (const [d, K] of [[12, 5], [5, 5], [9, 3]]) {
    const E0 = exactEtf(100 + d + K, d, K);
    assertEtfStructure(E0, 1e-14, "the constructed ETF");
    const W = scaled(naiveTranspose(E0), 2.5), Hbar = scaled(naiveTranspose(E0), 0.7);
    const s = Math.sqrt(K - 1);

    const cf = etfDistances([{ epoch: 1, W, Hbar }], { solver: "closed-form" });
    const c = cf.records[0];
    for (const key of ["etfWH", "wToEtf", "hToEtf", "whToM"] as const) {
      assertAtMost(c[key], 1e-12, `closed form d=${d} K=${K} ${key}`);
    }
    assertAtMost(maxAbsDiff(cf.EW[0], E0), 1e-12, `closed form d=${d} K=${K} E_W − E0`);
    assertAtMost(maxAbsDiff(cf.EH[0], E0), 1e-12, `closed form d=${d} K=${K} E_H − E0`);
    assertEquals([c.wSolve.iterations, c.wSolve.stoppingReason], [0, "closed-form"]);
    assertEquals([c.hSolve.iterations, c.hSolve.stoppingReason], [0, "closed-form"]);

    const tr = etfDistances([{ epoch: 1, W, Hbar }], { solver: "trust-regions" });
    const t = tr.records[0];
    assertConverged(t, `trust-regions d=${d} K=${K}`);
    // Y·M = E0 has K−1 singular values 1/sqrt(K−1): σ_min = 1/s.
    const bW = eBound(t.wSolve.gradientNorm, 1 / s), bH = eBound(t.hSolve.gradientNorm, 1 / s);
    assertAtMost(Math.sqrt(dist2(tr.EW[0], E0)), Math.min(bW, 1e-6), `TR d=${d} K=${K} E_W − E0`);
    assertAtMost(Math.sqrt(dist2(tr.EH[0], E0)), Math.min(bH, 1e-6), `TR d=${d} K=${K} E_H − E0`);
    // Cost excess ≤ 2·g²/(2λ), λ = σ_min/s = 1/(K−1).
    assertAtMost(t.wToEtf, t.wSolve.gradientNorm ** 2 * (K - 1) + 1e-15, `TR wToEtf`);
    assertAtMost(t.hToEtf, t.hSolve.gradientNorm ** 2 * (K - 1) + 1e-15, `TR hToEtf`);
    assertAtMost(t.etfWH, (bW + bH) ** 2 + 1e-15, `TR etfWH`);
    assertAtMost(Math.max(t.wToEtf, t.hToEtf, t.etfWH), 1e-9, "TR distances");
    assertAtMost(t.whToM, 1e-12, "TR whToM");
    assertEtfStructure(tr.EW[0], 1e-12, "TR E_W");
    assertEtfStructure(tr.EH[0], 1e-12, "TR E_H");
  }
});

Deno.test("closed form: E_W, E_H and every record against the independent closed form", () => {
  const d = 11, K = 4;
  const epochs = randomEpochs(3, d, K, 3);
  const { records, EW, EH } = etfDistances(epochs, { solver: "closed-form" });
  assertEquals(records.map((r) => r.epoch), [10, 20, 30]);
  const refW = referenceEtf(normalisedT(epochs[0].W)).E;
  const refH = referenceEtf(normalisedT(epochs[0].Hbar)).E;
  for (let i = 0; i < epochs.length; i++) {
    const YW = normalisedT(epochs[i].W), YH = normalisedT(epochs[i].Hbar);
    const w = referenceEtf(YW), h = referenceEtf(YH);
    assertAtMost(maxAbsDiff(EW[i], w.E), 1e-12, `epoch ${i}: E_W`);
    assertAtMost(maxAbsDiff(EH[i], h.E), 1e-12, `epoch ${i}: E_H`);
    assertEtfStructure(EW[i], 1e-12, `epoch ${i}: E_W`);
    assertEtfStructure(EH[i], 1e-12, `epoch ${i}: E_H`);
    const r = records[i];
    const expected = {
      etfWH: dist2(w.E, h.E),
      wToEtf: w.distance,
      hToEtf: h.distance,
      whToM: referenceWhToM(epochs[i].W, epochs[i].Hbar),
      wToRef: dist2(w.E, refW),
      hToRef: dist2(h.E, refH),
    };
    for (const key of DISTANCE_KEYS) {
      assertAtMost(Math.abs(r[key] - expected[key]), 1e-12, `epoch ${i}: ${key}`);
    }
    // The two expressions of the distance to the nearest ETF agree (oracle self-check).
    assertAtMost(Math.abs(dist2(w.E, YW) - w.distance), 1e-12, "oracle: ‖E − Y‖² vs nuclear");
    // Non-trivial data: the distances are well away from 0.
    assert(r.wToEtf > 0.05 && r.etfWH > 0.05 && r.whToM > 0.05, `epoch ${i}: non-trivial`);
    assertEquals(r.refEpoch, 10);
  }
  assertEquals(records[0].wToRef, 0);
  assertEquals(records[0].hToRef, 0);
});

Deno.test("closed form is the nearest ETF: no Stiefel point, random or nearby, does better", () => {
  const d = 9, K = 4, s = Math.sqrt(K - 1);
  const rng = new Rng(21);
  const W = randomNormal(rng, K, d), Hbar = randomNormal(rng, K, d);
  const Y = normalisedT(W);
  const { records, EW } = etfDistances([{ epoch: 0, W, Hbar }], { solver: "closed-form" });
  const E = EW[0];
  const best = dot(Y, E);
  // wToEtf = ‖E − Y‖² = 2 − 2⟨Y, E⟩ for unit-norm E and Y.
  assertAtMost(Math.abs(records[0].wToEtf - (2 - 2 * best)), 1e-13, "wToEtf vs ⟨Y, E⟩");

  // A Stiefel point representing E: U = s·E + u0·1ᵀ/sqrt(K), u0 a unit vector ⊥ range(E).
  // range(E) is spanned by any K−1 of its columns (they sum to 0); project u0 off it twice.
  const Ek = matrix(d, K - 1);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j < K - 1; j++) Ek.data[i * (K - 1) + j] = E.data[i * K + j];
  }
  const Qr = orthonormalColumns(Ek);
  let u0 = randomNormal(rng, d, 1);
  for (let pass = 0; pass < 2; pass++) {
    const c = naiveMatmul(naiveTranspose(Qr), u0);
    u0 = matrix(
      d,
      1,
      u0.data.map((v, i) => {
        let p = 0;
        for (let j = 0; j < K - 1; j++) p += Qr.data[i * (K - 1) + j] * c.data[j];
        return v - p;
      }),
    );
  }
  u0 = scaled(u0, 1 / Math.sqrt(frob2(u0)));
  const U = matrix(d, K);
  for (let i = 0; i < d; i++) {
    for (let k = 0; k < K; k++) {
      U.data[i * K + k] = s * E.data[i * K + k] + u0.data[i] / Math.sqrt(K);
    }
  }
  assertAtMost(orthonormalityGap(U), 1e-12, "U built from E is on St(d,K)");
  assertAtMost(maxAbsDiff(etfFrom(U), E), 1e-14, "U·M/s = E");

  const value = (V: Matrix) => dot(Y, etfFrom(V));
  // Small perturbations along the manifold: the value can only drop (by ~λt²‖Z‖², ≫ 1e-15).
  const perturbations = (V: Matrix, t: number) =>
    Array.from({ length: 200 }, () => {
      const Z = randomNormal(rng, d, K);
      const P = matrix(d, K);
      for (let i = 0; i < d * K; i++) P.data[i] = V.data[i] + t * Z.data[i];
      return orthonormalColumns(P);
    });
  for (const t of [1e-1, 1e-2, 1e-3]) {
    let worst = -Infinity;
    for (const V of perturbations(U, t)) worst = Math.max(worst, value(V) - best);
    assertAtMost(worst, 1e-15, `perturbations of size ${t}: best increase`);
    assert(worst < 0, `perturbations of size ${t} all decrease strictly`);
  }
  // Haar-random points are all worse.
  for (let n = 0; n < 500; n++) {
    assertAtMost(value(randomPoint(rng, d, K)) - best, 0, `random point ${n}`);
  }
  // Power check: at a non-optimal point the same perturbation test finds an improvement.
  const U0 = randomPoint(rng, d, K);
  const gain = Math.max(...perturbations(U0, 1e-3).map((V) => value(V) - value(U0)));
  assert(gain > 1e-6, `the perturbation test detects a non-optimal point (gain ${gain})`);
});

Deno.test("a common rotation of W and H̄ leaves every distance unchanged and turns E_W", () => {
  const d = 10, K = 4;
  const epochs = randomEpochs(5, d, K, 2);
  const Q = randomPoint(new Rng(55), d, d);
  assertAtMost(orthonormalityGap(Q), 1e-14, "Q orthogonal");
  const rotated = epochs.map((e) => ({
    epoch: e.epoch,
    W: rotateRows(e.W, Q),
    Hbar: rotateRows(e.Hbar, Q),
  }));
  // Closed form: rounding only.
  const a = etfDistances(epochs, { solver: "closed-form" });
  const b = etfDistances(rotated, { solver: "closed-form" });
  for (let i = 0; i < epochs.length; i++) {
    for (const key of DISTANCE_KEYS) {
      assertAtMost(Math.abs(a.records[i][key] - b.records[i][key]), 1e-12, `CF ${i} ${key}`);
    }
    assertAtMost(maxAbsDiff(b.EW[i], naiveMatmul(Q, a.EW[i])), 1e-12, `CF ${i}: E_W' = Q·E_W`);
    assertAtMost(maxAbsDiff(b.EH[i], naiveMatmul(Q, a.EH[i])), 1e-12, `CF ${i}: E_H' = Q·E_H`);
  }
  // Trust-regions: both runs are within the gradient bound of the (rotated) unique E.
  const c = etfDistances(epochs), r = etfDistances(rotated);
  for (let i = 0; i < epochs.length; i++) {
    assertConverged(c.records[i], `TR ${i}`);
    assertConverged(r.records[i], `TR rotated ${i}`);
    const sw = referenceEtf(normalisedT(epochs[i].W)).sigmaMin;
    const sh = referenceEtf(normalisedT(epochs[i].Hbar)).sigmaMin;
    const bW = eBound(c.records[i].wSolve.gradientNorm, sw) +
      eBound(r.records[i].wSolve.gradientNorm, sw);
    const bH = eBound(c.records[i].hSolve.gradientNorm, sh) +
      eBound(r.records[i].hSolve.gradientNorm, sh);
    assertAtMost(Math.sqrt(dist2(r.EW[i], naiveMatmul(Q, c.EW[i]))), bW + 1e-12, `TR ${i} E_W`);
    assertAtMost(Math.sqrt(dist2(r.EH[i], naiveMatmul(Q, c.EH[i]))), bH + 1e-12, `TR ${i} E_H`);
    const x = c.records[i], y = r.records[i];
    assertAtMost(
      Math.abs(x.etfWH - y.etfWH),
      squaredBound(Math.sqrt(x.etfWH), bW + bH) + 1e-12,
      `TR ${i} etfWH`,
    );
    assertAtMost(Math.abs(x.whToM - y.whToM), 1e-12, `TR ${i} whToM`);
    // wToEtf/hToEtf: both within the cost-excess bound of the same minimum.
    for (const [key, s, k] of [["wToEtf", sw, "wSolve"], ["hToEtf", sh, "hSolve"]] as const) {
      const excess = (Math.max(x[k].gradientNorm, y[k].gradientNorm) ** 2 * Math.sqrt(K - 1)) / s;
      assertAtMost(Math.abs(x[key] - y[key]), excess + 1e-12, `TR ${i} ${key}`);
    }
  }
});

Deno.test("scaling W by 3 and H̄ by 0.5 leaves every record value unchanged", () => {
  const d = 8, K = 5;
  const epochs = randomEpochs(8, d, K, 2);
  const scaledEpochs = epochs.map((e) => ({
    epoch: e.epoch,
    W: scaled(e.W, 3),
    Hbar: scaled(e.Hbar, 0.5),
  }));
  const a = etfDistances(epochs, { solver: "closed-form" });
  const b = etfDistances(scaledEpochs, { solver: "closed-form" });
  for (let i = 0; i < epochs.length; i++) {
    for (const key of DISTANCE_KEYS) {
      assertAtMost(Math.abs(a.records[i][key] - b.records[i][key]), 1e-12, `CF ${i} ${key}`);
    }
    assertAtMost(maxAbsDiff(a.EW[i], b.EW[i]), 1e-12, `CF ${i} E_W`);
    assertAtMost(maxAbsDiff(a.EH[i], b.EH[i]), 1e-12, `CF ${i} E_H`);
  }
  const c = etfDistances(epochs), r = etfDistances(scaledEpochs);
  for (let i = 0; i < epochs.length; i++) {
    assertConverged(c.records[i], `TR ${i}`);
    assertConverged(r.records[i], `TR scaled ${i}`);
    const sw = referenceEtf(normalisedT(epochs[i].W)).sigmaMin;
    const sh = referenceEtf(normalisedT(epochs[i].Hbar)).sigmaMin;
    const bW = eBound(c.records[i].wSolve.gradientNorm, sw) +
      eBound(r.records[i].wSolve.gradientNorm, sw);
    const bH = eBound(c.records[i].hSolve.gradientNorm, sh) +
      eBound(r.records[i].hSolve.gradientNorm, sh);
    assertAtMost(Math.sqrt(dist2(c.EW[i], r.EW[i])), bW + 1e-12, `TR ${i} E_W`);
    assertAtMost(Math.sqrt(dist2(c.EH[i], r.EH[i])), bH + 1e-12, `TR ${i} E_H`);
    const x = c.records[i], y = r.records[i];
    assertAtMost(
      Math.abs(x.etfWH - y.etfWH),
      squaredBound(Math.sqrt(x.etfWH), bW + bH) + 1e-12,
      `TR ${i} etfWH`,
    );
    assertAtMost(Math.abs(x.whToM - y.whToM), 1e-12, `TR ${i} whToM`);
  }
});

Deno.test("trust-regions agrees with the closed form over chained epochs", () => {
  const d = 12, K = 5;
  const epochs = randomEpochs(13, d, K, 4);
  const cf = etfDistances(epochs, { solver: "closed-form" });
  const tr = etfDistances(epochs); // the default solver is trust-regions
  const refIndex = 0;
  const bounds = epochs.map((e, i) => {
    const sw = referenceEtf(normalisedT(e.W)).sigmaMin;
    const sh = referenceEtf(normalisedT(e.Hbar)).sigmaMin;
    const t = tr.records[i];
    return {
      sw,
      sh,
      bW: eBound(t.wSolve.gradientNorm, sw),
      bH: eBound(t.hSolve.gradientNorm, sh),
    };
  });
  for (let i = 0; i < epochs.length; i++) {
    const x = cf.records[i], y = tr.records[i], { sw, sh, bW, bH } = bounds[i];
    assertConverged(y, `epoch ${i}`);
    assert(y.wSolve.iterations > 0 || i > 0, "a Haar start needs iterations");
    assertAtMost(Math.max(bW, bH), 1e-5, `epoch ${i}: E bound`);
    assertAtMost(Math.sqrt(dist2(cf.EW[i], tr.EW[i])), bW + 1e-12, `epoch ${i}: E_W`);
    assertAtMost(Math.sqrt(dist2(cf.EH[i], tr.EH[i])), bH + 1e-12, `epoch ${i}: E_H`);
    assertEtfStructure(tr.EW[i], 1e-12, `epoch ${i}: TR E_W`);
    // The closed form is the global minimum: trust-regions is never below it, and at most the
    // cost-excess bound above.
    const excessW = (y.wSolve.gradientNorm ** 2 * Math.sqrt(K - 1)) / sw;
    const excessH = (y.hSolve.gradientNorm ** 2 * Math.sqrt(K - 1)) / sh;
    assert(y.wToEtf >= x.wToEtf - 1e-13, `epoch ${i}: TR wToEtf below the minimum`);
    assert(y.hToEtf >= x.hToEtf - 1e-13, `epoch ${i}: TR hToEtf below the minimum`);
    assertAtMost(y.wToEtf - x.wToEtf, excessW + 1e-13, `epoch ${i}: wToEtf excess`);
    assertAtMost(y.hToEtf - x.hToEtf, excessH + 1e-13, `epoch ${i}: hToEtf excess`);
    assertAtMost(
      Math.abs(x.etfWH - y.etfWH),
      squaredBound(Math.sqrt(x.etfWH), bW + bH) + 1e-13,
      `epoch ${i}: etfWH`,
    );
    const r = bounds[refIndex];
    assertAtMost(
      Math.abs(x.wToRef - y.wToRef),
      squaredBound(Math.sqrt(x.wToRef), bW + r.bW) + 1e-13,
      `epoch ${i}: wToRef`,
    );
    assertAtMost(
      Math.abs(x.hToRef - y.hToRef),
      squaredBound(Math.sqrt(x.hToRef), bH + r.bH) + 1e-13,
      `epoch ${i}: hToRef`,
    );
    assertEquals(x.whToM, y.whToM, `epoch ${i}: whToM does not depend on the solver`);
  }
});

Deno.test("trust-regions chains its starts: each epoch starts at the previous solution", () => {
  const d = 8, K = 4;
  const [first] = randomEpochs(17, d, K, 1);
  const repeated = [first, { ...first, epoch: 20 }, { ...first, epoch: 30 }];
  const { records, EW, EH } = etfDistances(repeated);
  assertConverged(records[0], "epoch 10");
  assert(records[0].wSolve.iterations > 0, "the Haar start is not already optimal");
  // The same data again: the start is the previous optimum, so no iteration is needed.
  for (const i of [1, 2]) {
    assertEquals(records[i].wSolve.iterations, 0, `epoch ${i}: W iterations`);
    assertEquals(records[i].hSolve.iterations, 0, `epoch ${i}: H iterations`);
    assertEquals(EW[i].data, EW[0].data, `epoch ${i}: E_W is carried over`);
    assertEquals(EH[i].data, EH[0].data, `epoch ${i}: E_H is carried over`);
    assertEquals([records[i].wToRef, records[i].hToRef], [0, 0]);
  }
  // maxIterations 0: every epoch returns its start, i.e. the first epoch's Haar start.
  const frozen = etfDistances(randomEpochs(19, d, K, 3), { maxIterations: 0 });
  for (let i = 0; i < 3; i++) {
    const r = frozen.records[i];
    assertEquals([r.wSolve.iterations, r.wSolve.stoppingReason], [0, "max-iterations"]);
    assertEquals(frozen.EW[i].data, frozen.EW[0].data, `frozen epoch ${i}: E_W`);
    assertEquals(frozen.EH[i].data, frozen.EH[0].data, `frozen epoch ${i}: E_H`);
    assertEtfStructure(frozen.EW[i], 1e-12, `frozen epoch ${i}: a Stiefel start's ETF`);
  }
  // A cap on the iterations is honoured.
  const capped = etfDistances(randomEpochs(19, d, K, 2), { maxIterations: 1 });
  for (const r of capped.records) {
    assertAtMost(r.wSolve.iterations, 1, "capped W iterations");
    assertAtMost(r.hSolve.iterations, 1, "capped H iterations");
  }
});

Deno.test("the reference epoch: default the first, any measured epoch by refEpoch", () => {
  const d = 7, K = 3;
  const epochs = randomEpochs(23, d, K, 4);
  for (const solver of ["closed-form", "trust-regions"] as const) {
    const byDefault = etfDistances(epochs, { solver });
    for (const r of byDefault.records) assertEquals(r.refEpoch, 10, `${solver}: default ref`);
    assertEquals([byDefault.records[0].wToRef, byDefault.records[0].hToRef], [0, 0]);

    const third = etfDistances(epochs, { solver, refEpoch: 30 });
    // The solves do not depend on the reference.
    for (let i = 0; i < epochs.length; i++) {
      assertEquals(third.EW[i].data, byDefault.EW[i].data, `${solver}: E_W ${i}`);
      assertEquals(third.EH[i].data, byDefault.EH[i].data, `${solver}: E_H ${i}`);
    }
    for (let i = 0; i < epochs.length; i++) {
      const r = third.records[i];
      assertEquals(r.refEpoch, 30);
      const w = dist2(third.EW[i], third.EW[2]), h = dist2(third.EH[i], third.EH[2]);
      assertAtMost(Math.abs(r.wToRef - w), 1e-14, `${solver}: wToRef ${i}`);
      assertAtMost(Math.abs(r.hToRef - h), 1e-14, `${solver}: hToRef ${i}`);
      if (i !== 2) assert(r.wToRef > 1e-3 && r.hToRef > 1e-3, `${solver}: ${i} is not the ref`);
      for (const key of ["etfWH", "wToEtf", "hToEtf", "whToM"] as const) {
        assertEquals(r[key], byDefault.records[i][key], `${solver}: ${key} ${i}`);
      }
    }
    assertEquals([third.records[2].wToRef, third.records[2].hToRef], [0, 0]);
  }
});

Deno.test("onEpoch reports each epoch in order with the count done and the total", () => {
  const epochs = randomEpochs(29, 6, 3, 3);
  const calls: number[][] = [];
  const { records } = etfDistances(epochs, {
    solver: "closed-form",
    onEpoch: (epoch, done, total) => calls.push([epoch, done, total]),
  });
  assertEquals(calls, [[10, 1, 3], [20, 2, 3], [30, 3, 3]]);
  assertEquals(records.length, 3);
});

Deno.test("argument errors name the argument", () => {
  const d = 6, K = 3;
  const epochs = randomEpochs(31, d, K, 2);
  const check = (fn: () => unknown, argument: string) => {
    const e = assertThrows(fn, InvalidArgumentError, argument);
    assertEquals(e.argument, argument);
  };
  check(() => etfDistances([]), "epochs");
  check(() => etfDistances([], { solver: "closed-form" }), "epochs");
  check(() => etfDistances(epochs, { refEpoch: 15 }), "refEpoch");
  check(() => etfDistances(epochs, { solver: "closed-form", refEpoch: 0 }), "refEpoch");
  const wider = [epochs[0], {
    ...epochs[1],
    W: matrix(K, d + 1, new Float64Array(K * (d + 1)).fill(1)),
  }];
  check(() => etfDistances(wider), "W");
  const moreClasses = [epochs[0], { ...epochs[1], W: randomNormal(new Rng(1), K + 1, d) }];
  check(() => etfDistances(moreClasses, { solver: "closed-form" }), "W");
  const badH = [{ ...epochs[0], Hbar: randomNormal(new Rng(2), K + 1, d) }];
  check(() => etfDistances(badH, { solver: "closed-form" }), "Hbar");
  for (const solver of ["closed-form", "trust-regions"] as const) {
    check(() => etfDistances([{ ...epochs[0], W: matrix(K, d) }], { solver }), "W");
    check(
      () => etfDistances([epochs[0], { ...epochs[1], Hbar: matrix(K, d) }], { solver }),
      "Hbar",
    );
    const nan = scaled(epochs[0].W, 1);
    nan.data[3] = NaN;
    check(() => etfDistances([{ ...epochs[0], W: nan }], { solver }), "W");
  }
});

Deno.test("the same seed gives bit-identical trust-region results; the seed sets the start", () => {
  const epochs = randomEpochs(37, 10, 4, 3);
  const strip = (rs: EtfDistanceRecord[]) =>
    rs.map((r) => ({
      ...r,
      wSolve: { ...r.wSolve, seconds: 0 },
      hSolve: { ...r.hSolve, seconds: 0 },
    }));
  const a = etfDistances(epochs, { seed: 3 }), b = etfDistances(epochs, { seed: 3 });
  assertEquals(strip(a.records), strip(b.records));
  for (let i = 0; i < epochs.length; i++) {
    assertEquals(a.EW[i].data, b.EW[i].data);
    assertEquals(a.EH[i].data, b.EH[i].data);
  }
  // The default seed is 0.
  assertEquals(
    strip(etfDistances(epochs).records),
    strip(etfDistances(epochs, { seed: 0 }).records),
  );
  // Another seed starts elsewhere (maxIterations 0 returns the start itself).
  const s0 = etfDistances(epochs, { seed: 0, maxIterations: 0 });
  const s1 = etfDistances(epochs, { seed: 1, maxIterations: 0 });
  assert(maxAbsDiff(s0.EW[0], s1.EW[0]) > 1e-3, "different seeds give different starts");
  // The closed form has no random start.
  const c0 = etfDistances(epochs, { solver: "closed-form", seed: 0 });
  const c1 = etfDistances(epochs, { solver: "closed-form", seed: 99 });
  assertEquals(c0.EW[2].data, c1.EW[2].data);
});
