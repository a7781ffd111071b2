/**
 * Taylor checks of the nearest-ETF cost, gradient and Hessian on St(d,K), in the style of
 * pymanopt's check_gradient / check_hessian: along a random tangent direction η at a random
 * point, `|f(R(tη)) − f − t⟨grad, η⟩|` must fall with slope at least 2 in t, and with the Hessian
 * term subtracted (polar retraction, which is second order) with slope at least 3 (pymanopt's
 * criterion: a higher slope means the next Taylor coefficient is small, as it is where f is
 * nearly linear on the manifold). Slopes are least-squares fits over t ∈ [1e-3, 1e-1], where
 * the errors (≥ 1e-12) are far above float64 rounding of f (≈ 1e-16); 0.1 below the integer
 * admits the curvature of the fit. A wrong derivative gives a slope of 1 or 2 (see the control).
 */
import { assert, assertAlmostEquals } from "./assert.ts";
import { blas } from "../solver/blas.ts";
import { EtfLocalModel } from "../solver/etf_chart.ts";
import { EtfProblem } from "../solver/etf_problem.ts";
import type { Matrix } from "../solver/matrix.ts";
import { frobeniusDot } from "../solver/products.ts";
import { Rng } from "../core/random.ts";
import {
  egradToRgrad,
  ehessToRhess,
  project,
  randomPoint,
  randomTangent,
  retractPolar,
  retractQr,
} from "../solver/stiefel.ts";
import { logLogSlope, randomTarget } from "./helpers.ts";

const TS = Array.from({ length: 9 }, (_, i) => 10 ** (-3 + (2 * i) / 8));

type Case = { name: string; d: number; K: number; delta: number | null };
const CASES: Case[] = [
  { name: "feasibility (3,2)", d: 3, K: 2, delta: null },
  { name: "feasibility (40,6)", d: 40, K: 6, delta: null },
  { name: "proximal δ=1e-3 (40,6)", d: 40, K: 6, delta: 1e-3 },
  { name: "proximal δ=0.5 (64,10)", d: 64, K: 10, delta: 0.5 },
];

function setUp(c: Case, seed: number) {
  const rng = new Rng(seed);
  const Y = randomTarget(seed, c.d, c.K);
  const prox = c.delta === null ? null : randomPoint(rng, c.d, c.K);
  const problem = new EtfProblem(Y, prox, c.delta ?? 0);
  const X = randomPoint(rng, c.d, c.K);
  const eta = randomTangent(rng, X);
  return { problem, X, eta };
}

function riemannianHessian(problem: EtfProblem, X: Matrix, V: Matrix): Matrix {
  return ehessToRhess(X, problem.egrad(X), problem.ehess(X, V), V);
}

/**
 * K = 1000 on the fast path (the products, eigensolver and Cholesky QR in the system
 * BLAS/LAPACK, solver/blas.ts); ignored without the library (`.ci/run` installs it).
 */
const FAST_CASE: Case = {
  name: "proximal δ=1e-3 (1024,1000), BLAS",
  d: 1024,
  K: 1000,
  delta: 1e-3,
};
const noBlas = blas() === null;

/**
 * `f(U) − f(X)` from the cost's definition, term by term: `Σ (b − a)(2y − a − b)` with
 * `a = (U·M)_ij/sqrt(K−1)`, `b = (X·M)_ij/sqrt(K−1)`, plus `(δ/2)·Σ (u − x)(u + x − 2p)`. Its
 * rounding is ε times terms of size ‖U − X‖ (∝ t), where `f(U) − f(X)` from two costs carries
 * ε·f·sqrt(dK) ≈ 1e-13 at (1024, 1000): above the Taylor residuals there (second-order
 * coefficient ≈ 3e-8, as the Hessian's M-part is 2/(K−1)), so the K = 1000 case needs it.
 */
function costChange(problem: EtfProblem, X: Matrix, U: Matrix): number {
  const { d, K } = problem;
  const s = 1 / Math.sqrt(K - 1), y = problem.Y.data, u = U.data, x = X.data;
  let sum = 0;
  for (let i = 0; i < d; i++) {
    let mu = 0, mx = 0;
    for (let j = 0; j < K; j++) {
      mu += u[i * K + j];
      mx += x[i * K + j];
    }
    mu /= K;
    mx /= K;
    for (let j = 0; j < K; j++) {
      const a = (u[i * K + j] - mu) * s, b = (x[i * K + j] - mx) * s;
      sum += (b - a) * (2 * y[i * K + j] - a - b);
    }
  }
  if (problem.prox !== null) {
    const p = problem.prox.data;
    let reg = 0;
    for (let i = 0; i < u.length; i++) reg += (u[i] - x[i]) * (u[i] + x[i] - 2 * p[i]);
    sum += 0.5 * problem.delta * reg;
  }
  return sum;
}

/**
 * The Hessian check's steps t: [1e-3, 1e-1], and [1e-2, 1] for the K = 1000 case, whose
 * third-order residuals (≈ 6e-17·(t/1e-3)³) meet the rounding of U − X (≈ 3e-16) at the small
 * end of the usual range. (The gradient check keeps [1e-3, 1e-1]: its residuals are ≥ 1e-13.)
 */
function stepsOf(c: Case): number[] {
  return c === FAST_CASE ? TS.map((t) => 10 * t) : TS;
}

/** `f(U) − f(X)`: two costs, or {@link costChange} for the K = 1000 case. */
function change(c: Case, problem: EtfProblem, X: Matrix, U: Matrix, f0: number): number {
  return c === FAST_CASE ? costChange(problem, X, U) : problem.cost(U) - f0;
}

for (const c of [...CASES, FAST_CASE]) {
  const ignore = c === FAST_CASE && noBlas;
  Deno.test({ name: `derivatives: gradient Taylor slope 2, ${c.name}`, ignore }, () => {
    const { problem, X, eta } = setUp(c, 11);
    const f0 = problem.cost(X);
    const g = egradToRgrad(X, problem.egrad(X));
    const errs = TS.map((t) =>
      Math.abs(change(c, problem, X, retractQr(X, eta, t), f0) - t * frobeniusDot(g, eta))
    );
    const slope = logLogSlope(TS, errs);
    assert(slope > 1.9, `slope ${slope}`);
  });

  Deno.test(
    { name: `derivatives: Hessian Taylor slope 3 (polar retraction), ${c.name}`, ignore },
    () => {
      const { problem, X, eta } = setUp(c, 12);
      const f0 = problem.cost(X);
      const g = egradToRgrad(X, problem.egrad(X));
      const Heta = riemannianHessian(problem, X, eta);
      const q = frobeniusDot(Heta, eta);
      const ts = stepsOf(c);
      const errs = ts.map((t) =>
        Math.abs(
          change(c, problem, X, retractPolar(X, eta, t), f0) - t * frobeniusDot(g, eta) -
            0.5 * t * t * q,
        )
      );
      const slope = logLogSlope(ts, errs);
      assert(slope > 2.9, `slope ${slope}`);
    },
  );
}

Deno.test("derivatives: the check fails for a Hessian without the Weingarten term", () => {
  // A negative control: dropping −V·sym(Xᵀ∇f) leaves a wrong quadratic term, so the slope is 2.
  const { problem, X, eta } = setUp(CASES[1], 13);
  const f0 = problem.cost(X);
  const g = egradToRgrad(X, problem.egrad(X));
  const wrong = frobeniusDot(project(X, problem.ehess(X, eta)), eta);
  const errs = TS.map((t) =>
    Math.abs(
      problem.cost(retractPolar(X, eta, t)) - f0 - t * frobeniusDot(g, eta) - 0.5 * t * t * wrong,
    )
  );
  const slope = logLogSlope(TS, errs);
  assert(slope < 2.2, `slope ${slope}`);
});

Deno.test("derivatives: Hessian is symmetric on tangent vectors", () => {
  const { problem, X, eta } = setUp(CASES[2], 14);
  const xi = randomTangent(new Rng(99), X);
  const a = frobeniusDot(riemannianHessian(problem, X, eta), xi);
  const b = frobeniusDot(riemannianHessian(problem, X, xi), eta);
  assertAlmostEquals(a, b, 1e-13);
});

Deno.test("derivatives: the fast chart's gradient and Hessian equal the ambient ones", () => {
  // Invariants of the operator on the Krylov space of the gradient (basis-free, so they compare
  // the rotated diagonal chart with the textbook ambient construction).
  for (const c of noBlas ? CASES : [...CASES, FAST_CASE]) {
    const { problem, X } = setUp(c, 15);
    const model = new EtfLocalModel(problem, X);
    const g = model.gradient();
    const Hg = new Float64Array(g.length), HHg = new Float64Array(g.length);
    model.hessian(g, Hg);
    model.hessian(Hg, HHg);
    const G = egradToRgrad(X, problem.egrad(X));
    const HG = riemannianHessian(problem, X, G);
    const HHG = riemannianHessian(problem, X, HG);
    const dot = (a: Float64Array, b: Float64Array) => a.reduce((s, v, i) => s + v * b[i], 0);
    const scale = frobeniusDot(G, G) + 1e-300;
    assertAlmostEquals(model.gradientNorm ** 2 / scale, 1, 1e-12, c.name);
    assertAlmostEquals(dot(g, Hg) / scale, frobeniusDot(G, HG) / scale, 1e-12, c.name);
    assertAlmostEquals(dot(Hg, Hg) / scale, frobeniusDot(HG, HG) / scale, 1e-12, c.name);
    assertAlmostEquals(dot(g, HHg) / scale, frobeniusDot(G, HHG) / scale, 1e-12, c.name);
  }
});
