/**
 * nearestEtfVjp: both backward methods against central finite differences of the closed-form
 * forward in float64, and against each other at converged solutions.
 *
 * Finite differences: h = 1e-6 (≤ 1e-5 as required). The truncation error is about
 * h²·‖∂³U‖ with ‖∂³U‖ ~ 1/σ_min(A)² ~ 1/δ² = 1e6 relative, i.e. ≈ 1e-6, and rounding about
 * ε/h ≈ 1e-10, so a relative error of 1e-5 is the stated bound with a margin of 10.
 */
import { assert, assertAtMost, assertThrows } from "./assert.ts";
import { InvalidArgumentError } from "../core/errors.ts";
import { type Matrix, matrix } from "../solver/matrix.ts";
import { nearestEtf } from "../solver/nearest_etf.ts";
import { nearestEtfVjp } from "../solver/nearest_etf_vjp.ts";
import { frobeniusDot, frobeniusNorm } from "../solver/products.ts";
import { randomNormal, Rng } from "../core/random.ts";
import { axpy, perturbTarget, randomTarget, relativeMaxError } from "./helpers.ts";

const H = 1e-6;

function setUp(d: number, K: number, seed: number) {
  const Y0 = randomTarget(seed, d, K);
  const prox = nearestEtf(Y0, { solver: "closed-form" }).U;
  const Y = perturbTarget(Y0, seed + 1);
  const dU = randomNormal(new Rng(seed + 2), d, K);
  return { Y, prox, dU };
}

/** L(Y) = ⟨dU, U⋆(Y)⟩ through the closed-form forward. */
function loss(Y: Matrix, prox: Matrix, dU: Matrix): number {
  return frobeniusDot(dU, nearestEtf(Y, { prox, solver: "closed-form" }).U);
}

/** The full gradient of L by central differences, entry by entry. */
function finiteDifferenceGradient(Y: Matrix, prox: Matrix, dU: Matrix): Matrix {
  const g = matrix(Y.rows, Y.cols);
  const Yp = matrix(Y.rows, Y.cols, Y.data.slice());
  for (let i = 0; i < Y.data.length; i++) {
    const y = Y.data[i];
    Yp.data[i] = y + H;
    const up = loss(Yp, prox, dU);
    Yp.data[i] = y - H;
    const down = loss(Yp, prox, dU);
    Yp.data[i] = y;
    g.data[i] = (up - down) / (2 * H);
  }
  return g;
}

function relativeError(a: Matrix, b: Matrix): number {
  return frobeniusNorm(axpy(a, b, -1)) / frobeniusNorm(b);
}

for (const [d, K] of [[3, 2], [5, 3], [20, 4], [64, 10], [512, 10]] as const) {
  Deno.test(`vjp: DDN and closed form match central differences (${d},${K}), full gradient`, () => {
    const { Y, prox, dU } = setUp(d, K, 300 + d);
    const fd = finiteDifferenceGradient(Y, prox, dU);
    const cf = nearestEtf(Y, { prox, solver: "closed-form" }).U;
    const ddn = nearestEtfVjp(Y, cf, dU, { prox });
    const closed = nearestEtfVjp(Y, cf, dU, { prox, method: "closed-form" });
    assertAtMost(relativeError(ddn, fd), 1e-5, "DDN vs FD");
    assertAtMost(relativeError(closed, fd), 1e-5, "closed form vs FD");
  });
}

Deno.test("vjp: K = 50 (d = 60) against central differences along random directions", () => {
  // The full 3000-entry gradient would take 6000 solves; 6 random directions Ẏ test the same
  // linear map (a wrong gradient e ≠ 0 has ⟨e, Ẏ⟩ ≠ 0 almost surely).
  const d = 60, K = 50;
  const { Y, prox, dU } = setUp(d, K, 400);
  const cf = nearestEtf(Y, { prox, solver: "closed-form" }).U;
  const grads = [
    nearestEtfVjp(Y, cf, dU, { prox }),
    nearestEtfVjp(Y, cf, dU, { prox, method: "closed-form" }),
  ];
  const rng = new Rng(401);
  for (let k = 0; k < 6; k++) {
    const dir = randomNormal(rng, d, K);
    const fd = (loss(axpy(Y, dir, H), prox, dU) - loss(axpy(Y, dir, -H), prox, dU)) / (2 * H);
    for (const g of grads) {
      const analytic = frobeniusDot(g, dir);
      assertAtMost(Math.abs(analytic - fd) / Math.abs(fd), 1e-5, `direction ${k}`);
    }
  }
});

for (const [d, K] of [[3, 2], [64, 10], [512, 10], [100, 50]] as const) {
  Deno.test(`vjp: DDN at a trust-region solution equals the closed form (${d},${K})`, () => {
    const { Y, prox, dU } = setUp(d, K, 500 + K);
    const tr = nearestEtf(Y, { prox, minGradientNorm: 1e-10, maxIterations: 200 });
    const cf = nearestEtf(Y, { prox, solver: "closed-form" });
    const ddn = nearestEtfVjp(Y, tr.U, dU, { prox });
    const closed = nearestEtfVjp(Y, cf.U, dU, { prox, method: "closed-form" });
    assertAtMost(relativeMaxError(ddn, closed), 1e-8, "max|Δ| / max|closed form|");
  });
}

Deno.test("vjp: dense (paper's) and eigenbasis Schur solves agree", () => {
  for (const [d, K] of [[3, 2], [30, 7], [64, 12], [60, 50]] as const) {
    const { Y, prox, dU } = setUp(d, K, 600 + K);
    const U = nearestEtf(Y, { prox, solver: "closed-form" }).U;
    const dense = nearestEtfVjp(Y, U, dU, { prox, schur: "dense" });
    const eigen = nearestEtfVjp(Y, U, dU, { prox, schur: "eigen" });
    assertAtMost(relativeMaxError(dense, eigen), 1e-11, `(${d},${K})`);
    if (K <= 12) {
      // The LU fallback of the dense path (forced) solves the same system.
      const viaLu = nearestEtfVjp(Y, U, dU, { prox, schur: "dense-lu" });
      assertAtMost(relativeMaxError(viaLu, eigen), 1e-11, `LU (${d},${K})`);
    }
  }
});

Deno.test("vjp: non-default δ is honoured by both methods", () => {
  const d = 20, K = 4, delta = 0.3;
  const { Y, prox, dU } = setUp(d, K, 700);
  const U = nearestEtf(Y, { prox, delta, solver: "closed-form" }).U;
  const fd = matrix(d, K);
  const Yp = matrix(d, K, Y.data.slice());
  const L = (Z: Matrix) =>
    frobeniusDot(dU, nearestEtf(Z, { prox, delta, solver: "closed-form" }).U);
  for (let i = 0; i < Y.data.length; i++) {
    const y = Y.data[i];
    Yp.data[i] = y + H;
    const up = L(Yp);
    Yp.data[i] = y - H;
    fd.data[i] = (up - L(Yp)) / (2 * H);
    Yp.data[i] = y;
  }
  for (const method of ["ddn", "closed-form"] as const) {
    assertAtMost(relativeError(nearestEtfVjp(Y, U, dU, { prox, delta, method }), fd), 1e-5, method);
  }
});

Deno.test("vjp: the closed form checks that U is the polar factor of A", () => {
  const d = 30, K = 5;
  const { Y, prox, dU } = setUp(d, K, 800);
  // A trust-region solution at the default tolerance is within 1e-4 of the exact one: accepted.
  const tr = nearestEtf(Y, { prox });
  const g = nearestEtfVjp(Y, tr.U, dU, { prox, method: "closed-form" });
  assert(frobeniusNorm(g) > 0);
  // Another point is not.
  const other = nearestEtf(perturbTarget(Y, 801, 0.5), { prox, solver: "closed-form" }).U;
  assertThrows(
    () => nearestEtfVjp(Y, other, dU, { prox, method: "closed-form" }),
    InvalidArgumentError,
    "U: is not the solution",
    "allowed ≤ 0.0001",
  );
});
