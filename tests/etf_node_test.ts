/**
 * The ClosestEtfGeometry node's gradient (tf.grad through `applyGeometry`, cpu backend, float32)
 * against float64 references computed by other algorithms than the node's:
 * - the paper's dense DDN route (`nearestEtfVjp(…, { schur: "dense" | "dense-lu" })`: an
 *   assembled K(K+1)/2 Schur matrix, Cholesky or LU, no eigen-decomposition);
 * - a Riemannian Newton solve by conjugate gradients written here from docs/method.md section 4
 *   (`Hess[ξ] = P_U(∇²f[ξ] − ξ·sym(Uᵀ∇f))`, `∂L/∂Y = c·Hess⁻¹[P_U v]·M`), for K = 100 where the
 *   dense route would need a 5050² matrix;
 * - the Moore–Penrose pseudo-inverse of the dK×dK ambient Riemannian Hessian (eigen-decomposed
 *   densely), for a numerically singular Hessian;
 * - central finite differences of a critical point's map Y ↦ P·E·Qᵀ (float64), for a saddle.
 *
 * Tolerances (relative Frobenius error of the whole d×K gradient). ε₃₂ = 2⁻²⁴ ≈ 6e-8. The node
 * rounds its float64 factors to float32 (one ε₃₂ each) and runs seven float32 products. The
 * centring M is already folded into the K×K factors, so the large 1/λ_min part of the backward
 * (B's smallest eigenvector is nearly 1/sqrt(K), which M annihilates) never meets rounding, and
 * no error is amplified by λ_max/λ_min. A float32 product of inner length n errs by about
 * sqrt(n)·ε₃₂ (relative, random rounding); the two that form the output have inner length K
 * (Uᵀv, of length d, feeds only the small U-part), so the estimate is sqrt(K)·ε₃₂ = 1.9e-7 at
 * K = 10 and 6e-7 at K = 100. {@link F32_TOLERANCE} = 1e-6 ≈ 16·ε₃₂ is above both; measured:
 * 5e-8 – 1.1e-7 on every case here, indefinite and singular ones included (and on other seeds).
 * Multiplying by M last in float32 instead costs ε₃₂·λ_max/λ_min ≈ 3e-6 at K = 10 and fails
 * this bound, as does any wrong factor (O(1)).
 * float64-to-float64 comparisons use 1e-9 (CG stopped at a residual of 1e-13·‖b‖, condition
 * number ≤ 250) and 1e-10 – 1e-11 between two direct methods; finite differences 1e-5
 * (h = 1e-6, as tests/vjp_test.ts).
 */
import { assert, assertAtMost, assertEquals, assertThrows } from "./assert.ts";
import { InvalidArgumentError } from "../core/errors.ts";
import { randomNormal, Rng } from "../core/random.ts";
import { tf } from "../nets/tf.ts";
import {
  applyGeometry,
  DEFAULT_GEOMETRY,
  type GeometryOptions,
  type GeometrySolution,
  solveGeometry,
} from "../nets/heads/closest_etf_geometry.ts";
import { prepareEtfBackward } from "../solver/etf_backward.ts";
import { symmetricEigen } from "../solver/eigen.ts";
import { type Matrix, matrix } from "../solver/matrix.ts";
import { nearestEtf } from "../solver/nearest_etf.ts";
import { nearestEtfVjp } from "../solver/nearest_etf_vjp.ts";
import { polarFactor } from "../solver/polar.ts";
import { randomPoint } from "../solver/stiefel.ts";
import { naiveMatmul, naiveTranspose, perturbTarget, randomTarget } from "./helpers.ts";

await tf.setBackend("cpu");

const F32_TOLERANCE = 1e-6;
const DELTA = 1e-3;
const d = 512;

// --- float64 helpers written from docs/method.md, independent of the solver's backward -------------

/** X·M: each row minus its mean. */
function centre(X: Matrix): Matrix {
  const out = matrix(X.rows, X.cols);
  for (let i = 0; i < X.rows; i++) {
    let m = 0;
    for (let j = 0; j < X.cols; j++) m += X.data[i * X.cols + j];
    m /= X.cols;
    for (let j = 0; j < X.cols; j++) out.data[i * X.cols + j] = X.data[i * X.cols + j] - m;
  }
  return out;
}

function combine(a: number, A: Matrix, b: number, B: Matrix): Matrix {
  const out = matrix(A.rows, A.cols);
  for (let i = 0; i < out.data.length; i++) out.data[i] = a * A.data[i] + b * B.data[i];
  return out;
}

function dot(A: Matrix, B: Matrix): number {
  let s = 0;
  for (let i = 0; i < A.data.length; i++) s += A.data[i] * B.data[i];
  return s;
}

function sym(S: Matrix): Matrix {
  const K = S.rows, out = matrix(K, K);
  for (let i = 0; i < K; i++) {
    for (let j = 0; j < K; j++) out.data[i * K + j] = 0.5 * (S.data[i * K + j] + S.data[j * K + i]);
  }
  return out;
}

function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0, den = 0;
  for (let i = 0; i < b.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / den);
}

/**
 * The Riemannian Hessian of the proximal problem at U as an operator on tangent vectors,
 * `ξ ↦ P_U((2/(K−1))·ξ·M + δ·ξ − ξ·sym(Uᵀ∇f(U)))`, with
 * `∇f(U) = (2/(K−1))·U·M − c·Y·M + δ·(U − prox)` and `P_U(Z) = Z − U·sym(UᵀZ)`.
 */
function riemannianHessian(Y: Matrix, U: Matrix, prox: Matrix, delta: number) {
  const K = U.cols, a = 2 / (K - 1), c = 2 / Math.sqrt(K - 1);
  const Ut = naiveTranspose(U);
  const egrad = combine(1, combine(a, centre(U), -c, centre(Y)), delta, combine(1, U, -1, prox));
  const S = sym(naiveMatmul(Ut, egrad));
  const project = (Z: Matrix) => combine(1, Z, -1, naiveMatmul(U, sym(naiveMatmul(Ut, Z))));
  const hess = (xi: Matrix) =>
    project(combine(1, combine(a, centre(xi), delta, xi), -1, naiveMatmul(xi, S)));
  return { hess, project, c };
}

/** `c·Hess⁻¹[P_U v]·M` by conjugate gradients (Hess positive definite on the tangent space). */
function newtonVjpByCg(Y: Matrix, U: Matrix, prox: Matrix, v: Matrix, delta = DELTA): Matrix {
  const { hess, project, c } = riemannianHessian(Y, U, prox, delta);
  const b = project(v);
  let x = matrix(v.rows, v.cols), r = b, p = b, rr = dot(r, r);
  const stop = 1e-26 * rr;
  for (let it = 0; it < 5000 && rr > stop; it++) {
    const Hp = hess(p);
    const alpha = rr / dot(p, Hp);
    assert(alpha > 0, "CG: the Riemannian Hessian is not positive definite");
    x = combine(1, x, alpha, p);
    r = combine(1, r, -alpha, Hp);
    const next = dot(r, r);
    p = combine(1, r, next / rr, p);
    rr = next;
  }
  assert(rr <= stop, `CG did not converge: |r|² = ${rr}`);
  return combine(c, centre(x), 0, x);
}

/** `c·Hess⁺[P_U v]·M` from the dense dK×dK ambient operator `P_U·Hess·P_U` (small d·K only). */
function newtonVjpByPseudoInverse(Y: Matrix, U: Matrix, prox: Matrix, v: Matrix): Matrix {
  const { hess, project, c } = riemannianHessian(Y, U, prox, DELTA);
  const n = U.data.length, L = matrix(n, n);
  for (let k = 0; k < n; k++) {
    const E = matrix(U.rows, U.cols);
    E.data[k] = 1;
    const col = hess(project(E));
    for (let i = 0; i < n; i++) L.data[i * n + k] = col.data[i];
  }
  const { values, vectors } = symmetricEigen(L); // symmetrises L
  const scale = Math.max(...Array.from(values, Math.abs));
  const xi = matrix(U.rows, U.cols);
  for (let k = 0; k < n; k++) {
    if (!(Math.abs(values[k]) > 1e-9 * scale)) continue;
    let s = 0;
    for (let i = 0; i < n; i++) s += vectors.data[i * n + k] * v.data[i];
    s /= values[k];
    for (let i = 0; i < n; i++) xi.data[i] += s * vectors.data[i * n + k];
  }
  return combine(c, centre(xi), 0, xi);
}

// --- the node -----------------------------------------------------------------------------------

/** A d×K direction with float32-representable entries (the node and the reference see one v). */
function float32Direction(seed: number, rows: number, K: number): Matrix {
  const V = randomNormal(new Rng(seed), rows, K);
  for (let i = 0; i < V.data.length; i++) V.data[i] = Math.fround(V.data[i]);
  return V;
}

/** ∂⟨V, U⋆(Y)⟩/∂Y through the node on the tape (float32, cpu backend). */
function nodeGradient(Y: Matrix, sol: GeometrySolution, V: Matrix): Float64Array {
  const g = tf.tidy(() => {
    const y = tf.tensor2d(Float32Array.from(Y.data), [Y.rows, Y.cols]);
    const v = tf.tensor2d(Float32Array.from(V.data), [V.rows, V.cols]);
    return tf.grad((x: tf.Tensor) => tf.sum(tf.mul(applyGeometry(x as tf.Tensor2D, sol), v)))(y);
  });
  const out = Float64Array.from(g.dataSync());
  g.dispose();
  for (const x of out) assert(Number.isFinite(x), "the node's gradient is not finite");
  return out;
}

/** A training-like sequence (bench's): Y₀ random, then `Y_t = normalise(Y_{t−1} + 0.05·G_t/sqrt(dK))`. */
function trainingSequence(K: number, seed: number, options: GeometryOptions, steps = 3) {
  let Y = randomTarget(seed, d, K);
  let prox: Matrix | null = null;
  let sol = solveGeometry(Y.data, d, K, null, options);
  for (let t = 1; t <= steps; t++) {
    Y = perturbTarget(Y, seed + t);
    prox = sol.U;
    sol.dispose();
    sol = solveGeometry(Y.data, d, K, prox, options);
  }
  return { Y, prox: prox as Matrix, sol };
}

for (const K of [10, 100]) {
  for (const backward of ["ddn", "closed-form"] as const) {
    Deno.test(`etf node: float32 gradient matches the float64 solver (${d}×${K}, ${backward})`, () => {
      const { Y, prox, sol } = trainingSequence(K, 40 + K, { ...DEFAULT_GEOMETRY, backward });
      const V = float32Direction(7 + K, d, K);
      const g = nodeGradient(Y, sol, V);
      // The derivative is taken at the returned U (DDN) or at the exact minimiser polar(A).
      const at = backward === "ddn" ? sol.U : nearestEtf(Y, { prox, solver: "closed-form" }).U;
      const cg = newtonVjpByCg(Y, at, prox, V);
      if (K <= 16) {
        const dense = nearestEtfVjp(Y, at, V, { prox, schur: "dense" });
        assertAtMost(relativeError(cg.data, dense.data), 1e-9, "CG reference vs dense DDN");
        assertAtMost(relativeError(g, dense.data), F32_TOLERANCE, "node vs dense DDN");
      }
      assertAtMost(relativeError(g, cg.data), F32_TOLERANCE, "node vs CG Newton");
      const s = sol.stats;
      assertEquals(
        [s.hessianPositiveDefinite, s.backwardFallback, s.backwardSingularPairs],
        [true, "none", 0],
      );
      assert((s.hessianMinEigenvalue ?? 0) > 0, `λ_min = ${s.hessianMinEigenvalue}`);
      sol.dispose();
    });
  }
}

/**
 * A critical point of the proximal problem that is not the minimiser: `U = P·E·Qᵀ` for
 * `A = c·Y·M + δ·U = P·Σ·Qᵀ` with the sign of σ₁ flipped (E = diag(−1, 1, …)), as a fixed point
 * with prox = U. There B = sym(UᵀA) = Q·E·Σ·Qᵀ has the eigenvalue −σ₁ < 0: indefinite and
 * non-singular (σ₁ is simple).
 */
function saddle(Y: Matrix, delta: number): Matrix {
  const K = Y.cols, c = 2 / Math.sqrt(K - 1);
  let U = nearestEtf(Y, { solver: "closed-form" }).U;
  for (let it = 0; it < 200; it++) {
    const next = flippedCriticalPoint(combine(c, centre(Y), delta, U));
    let change = 0;
    for (let i = 0; i < U.data.length; i++) {
      change = Math.max(change, Math.abs(next.data[i] - U.data[i]));
    }
    U = next;
    if (change < 1e-15) break;
  }
  return U;
}

/** `P·E·Qᵀ = polar(A)·(I − 2·q₁q₁ᵀ)`: the critical point with σ₁'s sign flipped. */
function flippedCriticalPoint(A: Matrix): Matrix {
  const { U, Q } = polarFactor(A);
  const K = A.cols, F = matrix(K, K);
  for (let i = 0; i < K; i++) {
    for (let j = 0; j < K; j++) {
      F.data[i * K + j] = (i === j ? 1 : 0) - 2 * Q.data[i * K] * Q.data[j * K];
    }
  }
  return naiveMatmul(U, F);
}

Deno.test("etf node: at a saddle (B indefinite) the exact DDN solve, equal to dense LU and to finite differences", () => {
  const K = 10;
  const Y = randomTarget(91, d, K);
  const Us = saddle(Y, DELTA);
  // The node's forward: trust-regions started at the critical point returns it at once.
  const sol = solveGeometry(Y.data, d, K, Us, { ...DEFAULT_GEOMETRY, backward: "ddn" });
  assertEquals(sol.stats.iterations, 0);
  assertAtMost(sol.stats.gradientNorm, 1e-12, "Riemannian gradient norm at the saddle");
  const s = sol.stats;
  assertEquals([s.hessianPositiveDefinite, s.backwardFallback, s.backwardSingularPairs], [
    false,
    "none",
    0,
  ]);
  const c = 2 / Math.sqrt(K - 1);
  const sigma1 = polarFactor(combine(c, centre(Y), DELTA, Us)).sigma[0];
  assertAtMost(Math.abs((s.hessianMinEigenvalue ?? 0) + sigma1), 1e-10 * sigma1, "λ_min = −σ₁");
  // The library refuses by default; the node does not.
  assertThrows(
    () => nearestEtfVjp(Y, sol.U, sol.U, { prox: Us }),
    InvalidArgumentError,
    "U: is not a minimiser",
  );
  const V = float32Direction(92, d, K);
  const lu = nearestEtfVjp(Y, sol.U, V, {
    prox: Us,
    schur: "dense-lu",
    requirePositiveDefinite: false,
  });
  const g = nodeGradient(Y, sol, V);
  assertAtMost(relativeError(g, lu.data), F32_TOLERANCE, "node vs dense LU");
  // The exact solve is the derivative of the critical point Y ↦ P·E·Qᵀ (prox fixed, detached).
  const rng = new Rng(93), h = 1e-6;
  const L = (Z: Matrix) => dot(V, flippedCriticalPoint(combine(c, centre(Z), DELTA, Us)));
  for (let k = 0; k < 4; k++) {
    const dir = randomNormal(rng, d, K);
    const fd = (L(combine(1, Y, h, dir)) - L(combine(1, Y, -h, dir))) / (2 * h);
    assertAtMost(Math.abs(dot(lu, dir) - fd) / Math.abs(fd), 1e-5, `direction ${k}`);
  }
  sol.dispose();
});

Deno.test("etf node: a solve stopped early after a jump of Y (B indefinite) still has a gradient", () => {
  const K = 10;
  const prox = nearestEtf(randomTarget(101, d, K), { solver: "closed-form" }).U;
  const Y = randomTarget(102, d, K); // unrelated to prox's target: a large jump
  const sol = solveGeometry(Y.data, d, K, prox, {
    ...DEFAULT_GEOMETRY,
    backward: "ddn",
    maxIterations: 0,
  });
  const s = sol.stats;
  assertEquals([s.hessianPositiveDefinite, s.backwardFallback], [false, "none"]);
  assert((s.hessianMinEigenvalue ?? 0) < 0, `λ_min = ${s.hessianMinEigenvalue}`);
  const V = float32Direction(103, d, K);
  const lu = nearestEtfVjp(Y, sol.U, V, {
    prox,
    schur: "dense-lu",
    requirePositiveDefinite: false,
  });
  const g = nodeGradient(Y, sol, V);
  assertAtMost(relativeError(g, lu.data), F32_TOLERANCE, "node vs dense LU");
  // The prepared backward in float64 and the dense route agree.
  const f64 = prepareEtfBackward(Y, sol.U, { prox, requirePositiveDefinite: false }).apply(V);
  assertAtMost(relativeError(f64.data, lu.data), 1e-10, "float64 prepared backward vs dense LU");
  sol.dispose();
});

/** B = δ·I + c·sym(proxᵀ·Y·M), the DDN Hessian at U = prox (formula, for the bisection). */
function hessianAtProx(Y: Matrix, prox: Matrix): Matrix {
  const K = Y.cols, c = 2 / Math.sqrt(K - 1);
  const B = sym(naiveMatmul(naiveTranspose(prox), centre(Y)));
  for (let i = 0; i < B.data.length; i++) B.data[i] *= c;
  for (let i = 0; i < K; i++) B.data[i * K + i] += DELTA;
  return B;
}

Deno.test("etf node: a singular Hessian gets the pseudo-inverse, equal to the dense ambient one", () => {
  const dd = 12, K = 4;
  const prox = randomPoint(new Rng(111), dd, K);
  const Ya = combine(1 / Math.sqrt(K - 1), centre(prox), 0, prox); // B = δI + (2/(K−1))M ≻ 0
  const Z = randomNormal(new Rng(112), dd, K);
  const lambdaMin = (t: number) =>
    symmetricEigen(hessianAtProx(combine(1, Ya, t, Z), prox)).values[0];
  let lo = 0, hi = 1;
  while (lambdaMin(hi) > 0) hi *= 2;
  for (let it = 0; it < 200 && lo < hi; it++) {
    const mid = 0.5 * (lo + hi);
    if (mid === lo || mid === hi) break;
    if (lambdaMin(mid) > 0) lo = mid;
    else hi = mid;
  }
  const Y = combine(1, Ya, hi, Z);
  const sol = solveGeometry(Y.data, dd, K, prox, {
    ...DEFAULT_GEOMETRY,
    backward: "ddn",
    maxIterations: 0,
  });
  const s = sol.stats;
  assertEquals([s.hessianPositiveDefinite, s.backwardFallback, s.backwardSingularPairs], [
    false,
    "pseudo-inverse",
    1,
  ]);
  const V = float32Direction(113, dd, K);
  const g = nodeGradient(Y, sol, V);
  const ref = newtonVjpByPseudoInverse(Y, sol.U, prox, V);
  assertAtMost(relativeError(g, ref.data), F32_TOLERANCE, "node vs dense pseudo-inverse");
  assertAtMost(Math.abs(s.hessianMinEigenvalue ?? 1), 1e-14, "λ_min ≈ 0");
  // The library's default refuses this point (B is not numerically positive definite).
  assertThrows(
    () => prepareEtfBackward(Y, sol.U, { prox }),
    InvalidArgumentError,
    "U: is not a minimiser",
  );
  sol.dispose();
});

Deno.test("prepareEtfBackward: one preparation, many applications, and its errors", () => {
  const dd = 40, K = 6;
  const Y0 = randomTarget(121, dd, K);
  const prox = nearestEtf(Y0, { solver: "closed-form" }).U;
  const Y = perturbTarget(Y0, 122);
  const U = nearestEtf(Y, { prox }).U;
  const back = prepareEtfBackward(Y, U, { prox });
  for (let k = 0; k < 3; k++) {
    const v = randomNormal(new Rng(123 + k), dd, K);
    const dense = nearestEtfVjp(Y, U, v, { prox, schur: "dense" });
    assertAtMost(relativeError(back.apply(v).data, dense.data), 1e-11, `application ${k}`);
  }
  assertEquals(back.diagnostics.fallback, "none");
  assertThrows(
    () => prepareEtfBackward(Y, U, { prox, requirePositiveDefinite: "no" as unknown as boolean }),
    InvalidArgumentError,
    "options.requirePositiveDefinite",
  );
  assertThrows(
    () => prepareEtfBackward(Y, U, { prox, schur: "dense" } as unknown as { prox: Matrix }),
    InvalidArgumentError,
    "options.schur: unknown option",
  );
  assertThrows(() => back.apply(matrix(K, dd)), InvalidArgumentError, "v:");
  const neg = combine(-1, U, 0, U);
  assertThrows(
    () => prepareEtfBackward(Y, neg, { prox }),
    InvalidArgumentError,
    "U: is not a minimiser",
  );
  // The closed form at a point that is not polar(A) is refused (both ways of asking).
  const far = nearestEtf(perturbTarget(Y, 124, 0.5), { prox, solver: "closed-form" }).U;
  assertThrows(
    () => prepareEtfBackward(Y, far, { prox, method: "closed-form" }),
    InvalidArgumentError,
    "U: is not the solution",
  );
});

Deno.test("etf node: the closed-form backward after a solve short of polar(A) falls back to DDN", () => {
  const K = 10;
  const prox = nearestEtf(randomTarget(111, d, K), { solver: "closed-form" }).U;
  const Y = randomTarget(112, d, K); // a large jump: no iteration leaves U far from polar(A)
  const options = { ...DEFAULT_GEOMETRY, maxIterations: 0 };
  // The library refuses the closed form there (it differentiates polar(A), not this U) …
  const asked = solveGeometry(Y.data, d, K, prox, { ...options, backward: "closed-form" });
  const ddn = solveGeometry(Y.data, d, K, prox, { ...options, backward: "ddn" });
  try {
    // … the node differentiates the returned U by DDN instead, and says so.
    assertEquals(asked.stats.backwardFallback, "ddn");
    assertEquals(ddn.stats.backwardFallback, "none");
    const V = float32Direction(113, d, K);
    const lu = nearestEtfVjp(Y, asked.U, V, {
      prox,
      schur: "dense-lu",
      requirePositiveDefinite: false,
    });
    assertAtMost(
      relativeError(nodeGradient(Y, asked, V), lu.data),
      F32_TOLERANCE,
      "fallback node vs dense LU",
    );
  } finally {
    asked.dispose();
    ddn.dispose();
  }
});
