/**
 * The Stiefel manifold St(d,K) = {U ∈ R^{d×K} : UᵀU = I_K} with the Euclidean metric
 * (docs/method.md section 4): projection, retractions, transport, inner product, random points and
 * the Euclidean-to-Riemannian gradient and Hessian conversions. Tangent vectors are ambient
 * d×K matrices V with XᵀV skew-symmetric.
 *
 * @module
 */
import { type Matrix, matrix } from "./matrix.ts";
import { frobeniusDot, frobeniusNorm, matmul, matmulTN } from "./products.ts";
import { qr } from "./qr.ts";
import { polarFactor } from "./polar.ts";
import { randomNormal, type Rng } from "../core/random.ts";

/** In place: `S ← (S + Sᵀ)/2` for a square matrix. */
export function symmetrise(S: Matrix): Matrix {
  const n = S.rows, s = S.data;
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const v = 0.5 * (s[i * n + j] + s[j * n + i]);
      s[i * n + j] = v;
      s[j * n + i] = v;
    }
  }
  return S;
}

/**
 * The manifold dimension `dK − K(K+1)/2`.
 *
 * @example
 * ```ts
 * stiefelDimension(512, 10); // 5065
 * ```
 */
export function stiefelDimension(d: number, K: number): number {
  return d * K - (K * (K + 1)) / 2;
}

/**
 * The orthogonal projection onto the tangent space at X: `P_X(Z) = Z − X·sym(XᵀZ)`.
 *
 * @example
 * ```ts
 * import { randomNormal, Rng } from "../core/random.ts";
 * const rng = new Rng(0);
 * const X = randomPoint(rng, 16, 4), Z = randomNormal(rng, 16, 4);
 * const V = project(X, Z); // XᵀV is skew-symmetric
 * ```
 */
export function project(X: Matrix, Z: Matrix): Matrix {
  const S = symmetrise(matmulTN(X, Z));
  const XS = matmul(X, S);
  const out = matrix(Z.rows, Z.cols);
  for (let i = 0; i < out.data.length; i++) out.data[i] = Z.data[i] - XS.data[i];
  return out;
}

/**
 * The Riemannian (Euclidean-metric) inner product `⟨U, V⟩ = tr(UᵀV)` of tangent vectors at X.
 *
 * @example
 * ```ts
 * import { Rng } from "../core/random.ts";
 * const rng = new Rng(0);
 * const X = randomPoint(rng, 16, 4), V = randomTangent(rng, X);
 * inner(X, V, V) === norm(X, V) ** 2;
 * ```
 */
export function inner(_X: Matrix, U: Matrix, V: Matrix): number {
  return frobeniusDot(U, V);
}

/**
 * The norm of a tangent vector, `‖V‖_F`.
 *
 * @example
 * ```ts
 * import { Rng } from "../core/random.ts";
 * const rng = new Rng(0);
 * const X = randomPoint(rng, 16, 4);
 * norm(X, randomTangent(rng, X)); // 1
 * ```
 */
export function norm(_X: Matrix, V: Matrix): number {
  return frobeniusNorm(V);
}

function addScaled(X: Matrix, V: Matrix, t: number): Matrix {
  const out = matrix(X.rows, X.cols);
  for (let i = 0; i < out.data.length; i++) out.data[i] = X.data[i] + t * V.data[i];
  return out;
}

/**
 * The QR retraction `R_X(V) = qf(X + V)`, Q of the thin QR with diag(R) > 0.
 *
 * @example
 * ```ts
 * import { Rng } from "../core/random.ts";
 * const rng = new Rng(0);
 * const X = randomPoint(rng, 16, 4), V = randomTangent(rng, X);
 * const Y = retractQr(X, V); // on St(d,K)
 * ```
 */
export function retractQr(X: Matrix, V: Matrix, t = 1): Matrix {
  return qr(addScaled(X, V, t)).Q;
}

/**
 * The polar retraction `R_X(V) = (X + V)·(I + VᵀV)^{-1/2}`, the orthogonal polar factor of X + V
 * (second order, so the right one for Taylor checks of the Hessian).
 *
 * @example
 * ```ts
 * import { Rng } from "../core/random.ts";
 * const rng = new Rng(0);
 * const X = randomPoint(rng, 16, 4), V = randomTangent(rng, X);
 * const Y = retractPolar(X, V);
 * ```
 */
export function retractPolar(X: Matrix, V: Matrix, t = 1): Matrix {
  return polarFactor(addScaled(X, V, t)).U;
}

/**
 * Vector transport by projection: `T_{X→Y}(V) = P_Y(V)`.
 *
 * @example
 * ```ts
 * import { Rng } from "../core/random.ts";
 * const rng = new Rng(0);
 * const X = randomPoint(rng, 16, 4), V = randomTangent(rng, X);
 * const Y = retractQr(X, V);
 * const W = transport(X, Y, V);
 * ```
 */
export function transport(_X: Matrix, Y: Matrix, V: Matrix): Matrix {
  return project(Y, V);
}

/**
 * A Haar-distributed random point: the Q factor (diag(R) > 0) of a Gaussian d×K matrix.
 *
 * @example
 * ```ts
 * import { Rng } from "../core/random.ts";
 * const X = randomPoint(new Rng(0), 512, 10);
 * ```
 */
export function randomPoint(rng: Rng, d: number, K: number): Matrix {
  if (!(d >= K && K >= 1)) throw new RangeError(`randomPoint: need d ≥ K ≥ 1, got d=${d}, K=${K}`);
  return qr(randomNormal(rng, d, K)).Q;
}

/**
 * A random unit-norm tangent vector at X (a projected Gaussian, normalised).
 *
 * @example
 * ```ts
 * import { Rng } from "../core/random.ts";
 * const rng = new Rng(0);
 * const X = randomPoint(rng, 16, 4);
 * const V = randomTangent(rng, X);
 * ```
 */
export function randomTangent(rng: Rng, X: Matrix): Matrix {
  const V = project(X, randomNormal(rng, X.rows, X.cols));
  const n = frobeniusNorm(V);
  for (let i = 0; i < V.data.length; i++) V.data[i] /= n;
  return V;
}

/**
 * The Riemannian gradient from the Euclidean one: `grad f(X) = P_X(∇f(X))`.
 *
 * @example
 * ```ts
 * import { randomNormal, Rng } from "../core/random.ts";
 * import { EtfProblem } from "./etf_problem.ts";
 * const rng = new Rng(0);
 * const problem = new EtfProblem(randomNormal(rng, 16, 4), null, 0);
 * const X = randomPoint(rng, 16, 4);
 * const g = egradToRgrad(X, problem.egrad(X));
 * ```
 */
export function egradToRgrad(X: Matrix, egrad: Matrix): Matrix {
  return project(X, egrad);
}

/**
 * The Riemannian Hessian from Euclidean derivatives (Weingarten term included):
 * `Hess f(X)[V] = P_X(∇²f(X)[V] − V·sym(Xᵀ∇f(X)))`.
 *
 * @example
 * ```ts
 * import { randomNormal, Rng } from "../core/random.ts";
 * import { EtfProblem } from "./etf_problem.ts";
 * const rng = new Rng(0);
 * const problem = new EtfProblem(randomNormal(rng, 16, 4), null, 0);
 * const X = randomPoint(rng, 16, 4), V = randomTangent(rng, X);
 * const HV = ehessToRhess(X, problem.egrad(X), problem.ehess(X, V), V);
 * ```
 */
export function ehessToRhess(X: Matrix, egrad: Matrix, ehessV: Matrix, V: Matrix): Matrix {
  const S = symmetrise(matmulTN(X, egrad));
  const VS = matmul(V, S);
  const Z = matrix(X.rows, X.cols);
  for (let i = 0; i < Z.data.length; i++) Z.data[i] = ehessV.data[i] - VS.data[i];
  return project(X, Z);
}
