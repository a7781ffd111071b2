import { assert, assertAlmostEquals, assertEquals } from "./assert.ts";
import { eye, type Matrix, matrix } from "../solver/matrix.ts";
import { frobeniusNorm } from "../solver/products.ts";
import { randomNormal, Rng } from "../core/random.ts";
import {
  inner,
  project,
  randomPoint,
  randomTangent,
  retractPolar,
  retractQr,
  stiefelDimension,
  transport,
} from "../solver/stiefel.ts";
import { EtfLocalModel } from "../solver/etf_chart.ts";
import { EtfProblem } from "../solver/etf_problem.ts";
import { axpy, naiveMatmul, naiveTranspose, orthonormalityGap, randomTarget } from "./helpers.ts";

function skewGap(X: Matrix, V: Matrix): number {
  const S = naiveMatmul(naiveTranspose(X), V);
  const K = S.rows;
  let m = 0;
  for (let i = 0; i < K; i++) {
    for (let j = 0; j < K; j++) m = Math.max(m, Math.abs(S.data[i * K + j] + S.data[j * K + i]));
  }
  return m;
}

Deno.test("stiefel: dimension dK − K(K+1)/2", () => {
  assertEquals(stiefelDimension(512, 10), 5065);
  assertEquals(stiefelDimension(3, 3), 3); // SO(3)∪… has dimension 3
});

Deno.test("stiefel: Haar points are orthonormal and reproducible from the seed", () => {
  const X = randomPoint(new Rng(7), 40, 6);
  assert(orthonormalityGap(X) < 1e-14);
  assertEquals(X.data, randomPoint(new Rng(7), 40, 6).data);
  assert(frobeniusNorm(axpy(X, randomPoint(new Rng(8), 40, 6), -1)) > 0.1);
});

Deno.test("stiefel: projection is idempotent, tangent (XᵀV skew) and orthogonal", () => {
  const rng = new Rng(1);
  const X = randomPoint(rng, 30, 5);
  const Z = randomNormal(rng, 30, 5);
  const V = project(X, Z);
  assert(skewGap(X, V) < 1e-13);
  assert(frobeniusNorm(axpy(project(X, V), V, -1)) < 1e-13);
  // Z − P(Z) is normal: orthogonal to every tangent vector.
  const W = randomTangent(rng, X);
  assert(Math.abs(inner(X, axpy(Z, V, -1), W)) < 1e-12);
  assertAlmostEquals(frobeniusNorm(W), 1, 1e-14);
  assert(skewGap(X, W) < 1e-13);
});

Deno.test("stiefel: retractions land on the manifold and agree to first order", () => {
  const rng = new Rng(2);
  const X = randomPoint(rng, 25, 4);
  const V = randomTangent(rng, X);
  for (const t of [1e-3, 0.1, 1, 3]) {
    const A = retractQr(X, V, t), B = retractPolar(X, V, t);
    assert(orthonormalityGap(A) < 1e-13 && orthonormalityGap(B) < 1e-13);
  }
  // ‖R_qr(tV) − R_polar(tV)‖ = O(t²): halving t quarters the gap.
  const gap = (t: number) => frobeniusNorm(axpy(retractQr(X, V, t), retractPolar(X, V, t), -1));
  const ratio = gap(1e-2) / gap(5e-3);
  assert(ratio > 3.6 && ratio < 4.4, `ratio ${ratio}`);
  // Both are retractions: R(tV) = X + tV + O(t²).
  const first = frobeniusNorm(axpy(axpy(retractQr(X, V, 1e-4), X, -1), V, -1e-4));
  assert(first < 1e-7, `first-order error ${first}`);
  // The QR retraction is the sign-normalised Q: QᵀX-like check, R = Qᵀ(X+V) upper triangular with positive diagonal.
  const Q = retractQr(X, V);
  const R = naiveMatmul(naiveTranspose(Q), axpy(X, V, 1));
  for (let i = 0; i < 4; i++) {
    assert(R.data[i * 4 + i] > 0);
    for (let j = 0; j < i; j++) assert(Math.abs(R.data[i * 4 + j]) < 1e-13);
  }
});

Deno.test("stiefel: transport by projection gives tangent vectors at the target", () => {
  const rng = new Rng(3);
  const X = randomPoint(rng, 12, 3), Y = randomPoint(rng, 12, 3);
  const V = randomTangent(rng, X);
  assert(skewGap(Y, transport(X, Y, V)) < 1e-13);
});

Deno.test("etf chart: its retraction equals the Householder QR retraction", () => {
  // The fast chart retracts by Cholesky-QR in rotated coordinates; compare against retractQr of
  // the same ambient tangent vector, reconstructed as V = X·Ω + N from the coordinates.
  const d = 20, K = 5;
  const Y = randomTarget(4, d, K);
  const X = randomPoint(new Rng(5), d, K);
  const problem = new EtfProblem(Y, null, 0);
  const model = new EtfLocalModel(problem, X);
  const g = model.gradient(); // coordinates of grad f(X) in the chart
  const coords = g.map((v) => -0.3 * v);
  const viaChart = model.retract(coords);
  // The same step in ambient form: −0.3·grad f(X) = −0.3·P_X(∇f(X)).
  const V = project(X, problem.egrad(X));
  const viaQr = retractQr(X, V, -0.3);
  assert(frobeniusNorm(axpy(viaChart, viaQr, -1)) < 1e-12);
  // And the chart is an isometry: ‖coords‖ = ‖P_X(∇f)‖.
  assertAlmostEquals(Math.hypot(...g), frobeniusNorm(V), 1e-13);
  assertAlmostEquals(model.gradientNorm, frobeniusNorm(V), 1e-13);
});

Deno.test("stiefel: I_{d×K} is a point", () => {
  assertEquals(orthonormalityGap(eye(6, 3)), 0);
  assertEquals(orthonormalityGap(matrix(3, 3, new Float64Array([1, 0, 0, 0, 1, 0, 0, 0, 1]))), 0);
});
