/**
 * Trust-regions: the fast nearest-ETF chart against the textbook ambient construction (same
 * iterates), a second problem with a known answer (Brockett cost), and the stopping semantics.
 */
import { assert, assertAlmostEquals, assertAtMost, assertEquals } from "./assert.ts";
import { etfTrustRegionProblem } from "../solver/etf_chart.ts";
import { EtfProblem } from "../solver/etf_problem.ts";
import { eye, type Matrix, matrix } from "../solver/matrix.ts";
import { frobeniusNorm, matmul, matmulTN } from "../solver/products.ts";
import { randomNormal, Rng } from "../core/random.ts";
import { randomPoint } from "../solver/stiefel.ts";
import { stiefelProblem } from "../solver/stiefel_problem.ts";
import { type IterationLog, trustRegions } from "../solver/trust_regions.ts";
import { symmetricEigen } from "../solver/eigen.ts";
import { nearestEtf } from "../solver/nearest_etf.ts";
import { perturbTarget, randomTarget } from "./helpers.ts";

Deno.test("trust-regions: fast chart and ambient construction take the same steps", () => {
  for (const [d, K, proximal] of [[12, 3, false], [40, 6, false], [64, 10, true]] as const) {
    const Y = randomTarget(21, d, K);
    const prox = proximal ? nearestEtf(Y, { solver: "closed-form" }).U : null;
    const Y1 = proximal ? perturbTarget(Y, 22) : Y;
    const problem = new EtfProblem(Y1, prox, 1e-3);
    const start = prox ?? randomPoint(new Rng(23), d, K);
    const opts = { maxIterations: 100, minGradientNorm: 1e-9 };
    const fast = trustRegions(etfTrustRegionProblem(problem), start, opts);
    const slow = trustRegions(stiefelProblem(problem, d, K, "qr"), start, opts);
    assertEquals(fast.iterations, slow.iterations, `iterations (${d},${K})`);
    assertEquals(fast.stoppingReason, slow.stoppingReason);
    fast.log.forEach((e, i) => {
      const s = slow.log[i];
      // "model-increased" means the model stopped decreasing at rounding level (here from a
      // gradient norm of 1e-9, a model decrease of ≈ 1e-18): there the two constructions
      // (different rounding; the fast chart's CG runs on the reduced groups) may stop one inner
      // step earlier or later, on the model test or on the residual test.
      const atRounding = e.tcgStop === "model-increased" || s.tcgStop === "model-increased";
      assertEquals(e.accepted, s.accepted, `iteration ${i + 1}`);
      if (!atRounding) assertEquals(e.tcgStop, s.tcgStop, `iteration ${i + 1}`);
      else {
        assert(
          [e.tcgStop, s.tcgStop].every((r) => r === "model-increased" || r.startsWith("reached")),
          `iteration ${i + 1}: ${e.tcgStop} vs ${s.tcgStop}`,
        );
      }
      const slack = atRounding ? 1 : 0;
      assertAtMost(
        Math.abs(e.innerIterations - s.innerIterations),
        slack,
        `inner iterations at ${i + 1}`,
      );
      assertAlmostEquals(e.cost, s.cost, 1e-12 * Math.max(1, Math.abs(s.cost)), `cost at ${i + 1}`);
      assertAlmostEquals(e.radius, s.radius, 1e-14 * s.radius);
    });
    assert(
      frobeniusNorm(matrix(d, K, fast.point.data.map((v, i) => v - slow.point.data[i]))) < 1e-8,
    );
  }
});

/** Brockett cost tr(XᵀAXN), N = diag(1..K): minimisers hold A's K smallest eigenvectors. */
function brockett(A: Matrix, K: number) {
  const n = new Float64Array(K).map((_, i) => i + 1);
  const scaleCols = (Z: Matrix) => {
    const out = matrix(Z.rows, K);
    for (let i = 0; i < Z.rows; i++) {
      for (let j = 0; j < K; j++) out.data[i * K + j] = Z.data[i * K + j] * n[j];
    }
    return out;
  };
  return {
    cost(X: Matrix) {
      const AXN = scaleCols(matmul(A, X));
      let s = 0;
      for (let i = 0; i < X.data.length; i++) s += X.data[i] * AXN.data[i];
      return s;
    },
    egrad: (X: Matrix) => {
      const G = scaleCols(matmul(A, X));
      for (let i = 0; i < G.data.length; i++) G.data[i] *= 2;
      return G;
    },
    ehess: (_X: Matrix, V: Matrix) => {
      const H = scaleCols(matmul(A, V));
      for (let i = 0; i < H.data.length; i++) H.data[i] *= 2;
      return H;
    },
  };
}

Deno.test("trust-regions: Brockett cost reaches Σ_j j·λ_j (an independent known optimum)", () => {
  const n = 15, K = 4;
  const B = randomNormal(new Rng(31), n, n);
  const A = matmulTN(B, B); // symmetric positive semidefinite
  const f = brockett(A, K);
  const r = trustRegions(stiefelProblem(f, n, K), randomPoint(new Rng(32), n, K), {
    minGradientNorm: 1e-10,
  });
  const lambda = symmetricEigen(A).values; // ascending
  let expected = 0;
  for (let j = 0; j < K; j++) expected += (K - j) * lambda[j];
  assertEquals(r.stoppingReason, "min-gradient-norm");
  assertAlmostEquals(r.cost, expected, 1e-9 * Math.abs(expected));
});

Deno.test("trust-regions: an optimal start returns at once with 0 iterations", () => {
  const Y = randomTarget(41, 20, 4);
  const exact = nearestEtf(Y, { solver: "closed-form" });
  const problem = new EtfProblem(Y, null, 0);
  const r = trustRegions(etfTrustRegionProblem(problem), exact.U, { minGradientNorm: 1e-6 });
  assertEquals(r.iterations, 0);
  assertEquals(r.stoppingReason, "min-gradient-norm");
  assertEquals(r.point, exact.U);
  assertEquals(r.log, []);
});

Deno.test("trust-regions: maxIterations 0 returns the start with its cost; 1 takes one step", () => {
  const Y = randomTarget(42, 20, 4);
  const problem = new EtfProblem(Y, null, 0);
  const start = eye(20, 4);
  const zero = trustRegions(etfTrustRegionProblem(problem), start, { maxIterations: 0 });
  assertEquals(zero.point, start);
  assertEquals(zero.iterations, 0);
  assertEquals(zero.stoppingReason, "max-iterations");
  assertEquals(zero.cost, problem.cost(start));
  const seen: IterationLog[] = [];
  const one = trustRegions(etfTrustRegionProblem(problem), start, {
    maxIterations: 1,
    onIteration: (e) => seen.push(e),
  });
  assertEquals(one.iterations, 1);
  assertEquals(one.stoppingReason, "max-iterations");
  assertEquals(seen, one.log);
  const e = one.log[0];
  assertEquals(e.iteration, 1);
  assertAlmostEquals(e.radius, Math.sqrt(4) / 8, 1e-15); // Δ₀ = Δ̄/8, Δ̄ = sqrt(K)
  assert(e.innerIterations >= 1 && Number.isFinite(e.rho) && e.seconds >= 0);
  assert(e.accepted ? e.cost < zero.cost : e.cost === zero.cost);
});

Deno.test("trust-regions: the log follows the radius rules", () => {
  const Y = randomTarget(43, 50, 8);
  const r = nearestEtf(Y, {
    maxIterations: 200,
    minGradientNorm: 1e-10,
    start: randomPoint(new Rng(44), 50, 8),
  });
  const maxRadius = Math.sqrt(8);
  for (let i = 0; i + 1 < r.log.length; i++) {
    const e = r.log[i], next = r.log[i + 1].radius;
    const expected = e.radiusChange === "decreased"
      ? e.radius / 4
      : e.radiusChange === "increased"
      ? Math.min(2 * e.radius, maxRadius)
      : e.radius;
    assertAlmostEquals(next, expected, 1e-15);
    if (e.radiusChange === "increased") {
      assert(
        e.rho > 0.75 &&
          (e.tcgStop === "negative-curvature" || e.tcgStop === "exceeded-trust-region"),
      );
    }
    if (e.rho < 0.25) assertEquals(e.radiusChange, "decreased");
    assertEquals(e.accepted, e.rho > 0.1);
  }
  // Costs never increase (only accepted steps move).
  for (let i = 1; i < r.log.length; i++) assertAtMost(r.log[i].cost, r.log[i - 1].cost, "cost");
});

Deno.test("trust-regions: maxTime stops the solve", () => {
  const Y = randomTarget(45, 200, 20);
  const r = nearestEtf(Y, { maxTime: 1e-9, maxIterations: 1000, minGradientNorm: 0 });
  assertEquals(r.stoppingReason, "max-time");
  assertEquals(r.iterations, 1);
});
