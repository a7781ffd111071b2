/**
 * The nearest-ETF node's fast path (the system BLAS/LAPACK through FFI, solver/blas.ts, and
 * truncated CG on the reduced diagonal chart) against the plain path (the TypeScript kernels,
 * `useBlas(false)`; CG on all K² + dK chart coordinates), on random and ill-conditioned inputs:
 * clustered and exactly repeated eigenvalues of AᵀA, a rank-deficient Y·M, and the feasibility
 * problem (whose U is not unique: compared by cost and U·M). Then the solver's checks at K = 1000
 * on the fast path: trust-regions against the closed form with KKT residuals, both backward
 * methods against central differences, DDN at a trust-region solution against the closed form.
 *
 * Tolerances. Both paths compute the same quantities with different rounding (blocked products,
 * LAPACK's divide and conquer against tridiagonal QL). The polar factor is computed from the
 * Gram matrix AᵀA, whose rounding (ε·‖A‖²) moves U by up to about ε·κ(A)²; its derivative,
 * through `1/(σ_i + σ_j)`, by up to about ε·κ(A)³. With K-term sums (rounding growing as √K)
 * the stated bounds are `10·√K·ε·κ²` for max|ΔU| and `10·√K·ε·κ³` for ‖Δ∂L/∂Y‖/‖∂L/∂Y‖
 * (κ = σ_max/σ_min of A, computed here). Observed: ≈ 10·ε (1e-4–1e-3 of the bounds): the
 * Gram matrix's squaring is the worst case, not the typical one. Any kernel error (a wrong
 * transpose flag, a stale buffer, a lost triangle) is O(1) and fails every bound. The fast-path cases are ignored (with a
 * warning) where no library is installed; `.ci/run` installs OpenBLAS.
 */
import { assert, assertAtMost, assertEquals } from "./assert.ts";
import { randomNormal, Rng } from "../core/random.ts";
import { blas, useBlas } from "../solver/blas.ts";
import { centreRows, simplexEtf } from "../solver/centring.ts";
import { EtfLocalModel, etfTrustRegionProblem } from "../solver/etf_chart.ts";
import { EtfProblem } from "../solver/etf_problem.ts";
import { type Matrix, matrix, maxAbsDiff } from "../solver/matrix.ts";
import { nearestEtf, type NearestEtfOptions } from "../solver/nearest_etf.ts";
import { nearestEtfVjp } from "../solver/nearest_etf_vjp.ts";
import { polarFactor } from "../solver/polar.ts";
import { frobeniusDot, frobeniusNorm, matmul } from "../solver/products.ts";
import { randomPoint } from "../solver/stiefel.ts";
import { type LocalModel, trustRegions } from "../solver/trust_regions.ts";
import { axpy, naiveMatmul, naiveTranspose, orthonormalityGap, perturbTarget } from "./helpers.ts";

const EPS = 2 ** -52;
const ignore = blas() === null;
if (ignore) console.warn("etf_fast_path_test: no BLAS library: the fast-path cases are ignored");

function normalised(Y: Matrix): Matrix {
  const n = frobeniusNorm(Y);
  return matrix(Y.rows, Y.cols, Y.data.map((v) => v / n));
}

/** `P·diag(s)·Rᵀ` with Haar P (d×K) and R (K×K): a target with singular values s. */
function withSingularValues(seed: number, d: number, s: number[]): Matrix {
  const K = s.length, rng = new Rng(seed);
  const P = randomPoint(rng, d, K), R = randomPoint(rng, K, K);
  const S = matrix(K, K);
  for (let j = 0; j < K; j++) {
    for (let i = 0; i < K; i++) S.data[i * K + j] = s[j] * R.data[j * K + i];
  }
  return normalised(matmul(P, S));
}

type Case = { name: string; Y: Matrix; prox: Matrix | null; trustRegions: boolean };

function cases(): Case[] {
  const d = 256, K = 200;
  const rng = new Rng(7);
  const random = normalised(randomNormal(rng, d, K));
  // Two clusters of singular values, each spread by 1e-10 relative: AᵀA's eigenvalues clustered.
  const clustered = withSingularValues(
    8,
    d,
    Array.from({ length: K }, (_, i) => (i < K / 2 ? 1 : 3) + 1e-10 * i),
  );
  // An exact simplex ETF with its own U as prox: A = U₀·(c'·M + δ·I), eigenvalues of AᵀA
  // (c' + δ)² repeated K − 1 times and δ² once.
  const U0 = randomPoint(new Rng(9), d, K);
  const etf = normalised(matmul(U0, simplexEtf(K)));
  // Y·M of rank 20: 20 large singular values of A, 180 near δ.
  const lowRank = normalised(matmul(randomNormal(rng, d, 20), randomNormal(rng, 20, K)));
  const proxOf = (Y: Matrix) => nearestEtf(perturbTarget(Y, 10), { solver: "closed-form" }).U;
  return [
    { name: "random (256,200)", Y: random, prox: proxOf(random), trustRegions: true },
    { name: "clustered σ (256,200)", Y: clustered, prox: proxOf(clustered), trustRegions: true },
    { name: "exact ETF, repeated σ (256,200)", Y: etf, prox: U0, trustRegions: false },
    { name: "rank-20 Y·M (256,200)", Y: lowRank, prox: proxOf(lowRank), trustRegions: true },
    {
      name: "random (1024,1000)",
      Y: normalised(randomNormal(new Rng(11), 1024, 1000)),
      prox: null,
      trustRegions: false,
    },
  ];
}

/** κ(A) for the case's A = c·Y·M + δ·prox (σ_max/σ_min; for δ = 0 over the K − 1 nonzero σ). */
function conditionOf(Y: Matrix, prox: Matrix | null): number {
  const problem = new EtfProblem(Y, prox, 1e-3);
  const { sigma, rank } = polarFactor(problem.A, { minNullity: prox === null ? 1 : 0 });
  return sigma[0] / sigma[rank - 1];
}

/** Everything the node computes for one case, on the current path. */
function solveAll(c: Case, dU: Matrix) {
  const { Y } = c;
  const prox = c.prox ?? nearestEtf(perturbTarget(Y, 12), { solver: "closed-form" }).U;
  const feasibility = nearestEtf(Y, { solver: "closed-form" });
  const cf = nearestEtf(Y, { prox, solver: "closed-form" });
  const closed = nearestEtfVjp(Y, cf.U, dU, { prox, method: "closed-form" });
  const ddn = nearestEtfVjp(Y, cf.U, dU, { prox });
  const options: NearestEtfOptions = { prox, start: prox, maxIterations: 4 };
  const tr = c.trustRegions ? nearestEtf(Y, options) : null;
  return { prox, feasibility, cf, closed, ddn, tr };
}

for (const c of cases()) {
  Deno.test({
    name: `fast path: BLAS/LAPACK equals the TypeScript kernels, ${c.name}`,
    ignore,
    fn: () => {
      const { Y } = c, d = Y.rows, K = Y.cols;
      const dU = randomNormal(new Rng(13), d, K);
      const fast = solveAll(c, dU);
      useBlas(false);
      let plain;
      try {
        plain = solveAll({ ...c, prox: fast.prox }, dU);
      } finally {
        useBlas(true);
      }
      const kappa = conditionOf(Y, fast.prox);
      const root = Math.sqrt(K);
      const uBound = 10 * root * EPS * kappa ** 2, gradBound = 10 * root * EPS * kappa ** 3;
      // Proximal closed form: U, its cost, and both backward methods.
      assertAtMost(maxAbsDiff(fast.cf.U, plain.cf.U), uBound, `max|ΔU| (κ = ${kappa.toFixed(1)})`);
      assertAtMost(
        Math.abs(fast.cf.cost - plain.cf.cost),
        10 * root * EPS * Math.max(1, plain.cf.cost),
        "cost",
      );
      assertAtMost(orthonormalityGap(fast.cf.U), 1e-13, "max|UᵀU − I| (fast)");
      for (
        const [name, a, b] of [["closed form", fast.closed, plain.closed], [
          "DDN",
          fast.ddn,
          plain.ddn,
        ]] as const
      ) {
        assertAtMost(frobeniusNorm(axpy(a, b, -1)) / frobeniusNorm(b), gradBound, `∂L/∂Y ${name}`);
      }
      // Feasibility: U is not unique; the cost and U·M are.
      const fKappa = conditionOf(Y, null);
      assertAtMost(
        Math.abs(fast.feasibility.cost - plain.feasibility.cost),
        10 * root * EPS,
        "feasibility cost",
      );
      assertAtMost(
        maxAbsDiff(centreRows(fast.feasibility.U), centreRows(plain.feasibility.U)),
        10 * root * EPS * fKappa ** 2,
        "feasibility U·M",
      );
      // Trust-regions: the same iterations, tCG stops and costs; the same point.
      if (fast.tr !== null && plain.tr !== null) {
        assertEquals(fast.tr.iterations, plain.tr.iterations, "iterations");
        fast.tr.log.forEach((e, i) => {
          const p = plain.tr!.log[i];
          assertEquals([e.accepted, e.tcgStop, e.innerIterations], [
            p.accepted,
            p.tcgStop,
            p.innerIterations,
          ], `iteration ${i + 1}`);
          assertAtMost(
            Math.abs(e.cost - p.cost),
            10 * root * EPS * Math.max(1, p.cost),
            `cost at ${i + 1}`,
          );
        });
        assertAtMost(maxAbsDiff(fast.tr.U, plain.tr.U), uBound, "trust-regions max|ΔU|");
      }
    },
  });
}

/** The same local model without its reduction: truncated CG on all K² + dK coordinates. */
function unreduced(model: EtfLocalModel): LocalModel<Matrix> {
  return {
    size: model.size,
    gradientNorm: model.gradientNorm,
    gradient: () => model.gradient(),
    hessian: (v, out) => model.hessian(v, out),
    toTangent: (v) => model.toTangent(v),
    retract: (v) => model.retract(v),
  };
}

Deno.test("fast path: truncated CG on the reduced chart takes the steps of CG on all coordinates", () => {
  for (const [d, K, seed] of [[60, 40, 1], [300, 100, 2]] as const) {
    const Y0 = normalised(randomNormal(new Rng(seed), d, K));
    const prox = nearestEtf(Y0, { solver: "closed-form" }).U;
    const Y = perturbTarget(Y0, seed + 10, 0.3);
    const problem = new EtfProblem(Y, prox, 1e-3);
    const reduced = etfTrustRegionProblem(problem);
    const full = { ...reduced, model: (U: Matrix) => unreduced(new EtfLocalModel(problem, U)) };
    const opts = { maxIterations: 30, minGradientNorm: 1e-10 };
    const a = trustRegions(reduced, prox, opts), b = trustRegions(full, prox, opts);
    assertEquals(a.iterations, b.iterations, `iterations (${d},${K})`);
    assert(a.iterations >= 2, `a solve of several iterations (${a.iterations})`);
    let previous = problem.cost(prox);
    a.log.forEach((e, i) => {
      const f = b.log[i];
      assertEquals(
        [e.accepted, e.tcgStop, e.innerIterations],
        [f.accepted, f.tcgStop, f.innerIterations],
        `iteration ${i + 1}`,
      );
      assertAtMost(Math.abs(e.cost - f.cost), 1e-13 * Math.max(1, f.cost), `cost at ${i + 1}`);
      // ρ divides a cost difference by a model decrease: its rounding is ≈ ε·|f|/|Δf|, so it is
      // compared with that bound (×1e3), which is large once the solve is at rounding level.
      const decrease = Math.abs(previous - f.cost);
      const rhoBound = 1e-9 + 1e3 * EPS * Math.max(1, f.cost) / Math.max(decrease, 1e-300);
      assertAtMost(Math.abs(e.rho - f.rho), rhoBound, `ρ at ${i + 1}`);
      previous = f.cost;
    });
    assertAtMost(maxAbsDiff(a.point, b.point), 1e-10, "final point");
  }
});

// ---- The solver's checks at K = 1000 on the fast path (one seed; sized for CI). ----

const D = 1024, K1000 = 1000;

function bigSetUp(seed: number) {
  const Y0 = normalised(randomNormal(new Rng(seed), D, K1000));
  const prox = nearestEtf(Y0, { solver: "closed-form" }).U;
  const Y = perturbTarget(Y0, seed + 1);
  return { Y, prox, dU: randomNormal(new Rng(seed + 2), D, K1000) };
}

/** `‖∇f − U·sym(Uᵀ∇f)‖_F` by naive products (the first-order residual, independent of the solver). */
function kktResidual(Y: Matrix, U: Matrix, prox: Matrix, delta: number): number {
  const K = U.cols, c = 2 / Math.sqrt(K - 1);
  const UM = centreRows(U), YM = centreRows(Y);
  const G = matrix(U.rows, K);
  for (let i = 0; i < G.data.length; i++) {
    G.data[i] = (2 / (K - 1)) * UM.data[i] - c * YM.data[i] + delta * (U.data[i] - prox.data[i]);
  }
  const S = naiveMatmul(naiveTranspose(U), G);
  for (let i = 0; i < K; i++) {
    for (let j = i + 1; j < K; j++) {
      const v = 0.5 * (S.data[i * K + j] + S.data[j * K + i]);
      S.data[i * K + j] = S.data[j * K + i] = v;
    }
  }
  return frobeniusNorm(axpy(G, naiveMatmul(U, S), -1));
}

Deno.test({
  name: "fast path (1024,1000): trust-regions and the closed form agree; KKT residuals; UᵀU = I",
  ignore,
  fn: () => {
    const { Y, prox } = bigSetUp(100);
    const tr = nearestEtf(Y, { prox, minGradientNorm: 1e-10, maxIterations: 50 });
    const cf = nearestEtf(Y, { prox, solver: "closed-form" });
    assertEquals(tr.stoppingReason, "min-gradient-norm");
    assertAtMost(maxAbsDiff(tr.U, cf.U), 1e-8, "max|ΔU|");
    assertAtMost(Math.abs(tr.cost - cf.cost), 1e-12, "cost");
    assertAtMost(kktResidual(Y, tr.U, prox, 1e-3), 1.01e-10, "KKT residual (trust-regions)");
    assertAtMost(kktResidual(Y, cf.U, prox, 1e-3), 1e-12, "KKT residual (closed form)");
    assertAtMost(orthonormalityGap(cf.U), 1e-13, "max|UᵀU − I| (closed form)");
    assertAtMost(orthonormalityGap(tr.U), 1e-13, "max|UᵀU − I| (trust-regions)");
  },
});

Deno.test({
  name:
    "fast path (1024,1000): both backward methods match central differences; DDN at a trust-region solution equals the closed form",
  ignore,
  fn: () => {
    // Directional central differences of the closed-form forward, h = 1e-6, as vjp_test.ts at
    // K = 50 (truncation ≈ h²/δ² = 1e-6 relative): three random directions test the linear map.
    const H = 1e-6;
    const { Y, prox, dU } = bigSetUp(200);
    const loss = (Z: Matrix) => frobeniusDot(dU, nearestEtf(Z, { prox, solver: "closed-form" }).U);
    const cf = nearestEtf(Y, { prox, solver: "closed-form" });
    const closed = nearestEtfVjp(Y, cf.U, dU, { prox, method: "closed-form" });
    const ddn = nearestEtfVjp(Y, cf.U, dU, { prox });
    const rng = new Rng(201);
    for (let k = 0; k < 3; k++) {
      const dir = randomNormal(rng, D, K1000);
      const fd = (loss(axpy(Y, dir, H)) - loss(axpy(Y, dir, -H))) / (2 * H);
      for (const [name, g] of [["closed form", closed], ["DDN", ddn]] as const) {
        assertAtMost(
          Math.abs(frobeniusDot(g, dir) - fd) / Math.abs(fd),
          1e-5,
          `${name}, direction ${k}`,
        );
      }
    }
    const tr = nearestEtf(Y, { prox, minGradientNorm: 1e-10, maxIterations: 50 });
    const atTr = nearestEtfVjp(Y, tr.U, dU, { prox });
    let num = 0, den = 0;
    for (let i = 0; i < closed.data.length; i++) {
      num = Math.max(num, Math.abs(atTr.data[i] - closed.data[i]));
      den = Math.max(den, Math.abs(closed.data[i]));
    }
    assertAtMost(num / den, 1e-8, "DDN at the trust-region solution vs closed form, max|Δ|/max|·|");
  },
});
