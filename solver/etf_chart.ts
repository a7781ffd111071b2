/**
 * The nearest-ETF problem as a trust-region problem, in coordinates where its Riemannian
 * Hessian is diagonal.
 *
 * A tangent vector at X ∈ St(d,K) is `V = X·Ω + N` with Ω skew (K×K) and XᵀN = 0, and
 * `‖V‖² = ‖Ω‖² + ‖N‖²`. The Euclidean Hessian of docs/method.md is `∇²f[V] = V·C` with
 * `C = (2/(K−1))·M + δ·I`, so the Riemannian Hessian `P_X(∇²f[V] − V·sym(Xᵀ∇f))` is
 * `(Ω, N) ↦ (skew(Ω·D), N·D)` with `D = C − sym(Xᵀ∇f)`. In D's eigenbasis `D = Q·Λ·Qᵀ`, with
 * coordinates `Ω̃ = QᵀΩQ`, `Ñ = N·Q` (an isometry), it is diagonal:
 * `Ω̃_ij ↦ Ω̃_ij·(λ_i + λ_j)/2`, `Ñ_ij ↦ Ñ_ij·λ_j`, constant on the K(K−1)/2 pairs of Ω̃
 * and the K columns of Ñ, so truncated CG runs on one multiple of the gradient per group
 * (`reduction`, see `DiagonalReduction`): O(K²) per inner iteration, and each outer iteration a
 * few d×K×K products (gradient, rotation, retraction) and one K×K eigendecomposition. CG is invariant under this change of basis, so the iterates are pymanopt's
 * (up to rounding).
 *
 * Coordinate vectors are `[Ω̃ (K×K, row-major), Ñ (d×K, row-major)]`.
 *
 * @module
 */
import { choleskyQrInPlace } from "./cholesky_qr.ts";
import { symmetricEigen } from "./eigen.ts";
import type { EtfProblem } from "./etf_problem.ts";
import { type Matrix, matrix } from "./matrix.ts";
import { matmul, matmulNT, matmulSubtractInPlace, matmulTN } from "./products.ts";
import { stiefelDimension } from "./stiefel.ts";
import type { DiagonalReduction, LocalModel, TrustRegionProblem } from "./trust_regions.ts";

/**
 * The trust-region view of a nearest-ETF problem with the diagonal-Hessian chart.
 *
 * @example
 * ```ts
 * import { randomNormal, Rng } from "../core/random.ts";
 * import { EtfProblem } from "./etf_problem.ts";
 * import { eye } from "./matrix.ts";
 * import { trustRegions } from "./trust_regions.ts";
 * const problem = new EtfProblem(randomNormal(new Rng(0), 16, 4), null, 0);
 * const start = eye(16, 4);
 * const result = trustRegions(etfTrustRegionProblem(problem), start, { maxIterations: 30 });
 * ```
 */
export function etfTrustRegionProblem(problem: EtfProblem): TrustRegionProblem<Matrix> {
  return {
    cost: (U) => problem.cost(U),
    model: (U) => new EtfLocalModel(problem, U),
    dimension: stiefelDimension(problem.d, problem.K),
    typicalDistance: Math.sqrt(problem.K),
  };
}

/**
 * The local model of the nearest-ETF cost at X (see the module documentation).
 *
 * @example
 * ```ts
 * import { randomNormal, Rng } from "../core/random.ts";
 * import { EtfProblem } from "./etf_problem.ts";
 * import { eye } from "./matrix.ts";
 * const problem = new EtfProblem(randomNormal(new Rng(0), 16, 4), null, 0);
 * const X = eye(16, 4);
 * const m = new EtfLocalModel(problem, X); m.gradientNorm; // ‖P_X(∇f(X))‖
 * ```
 */
export class EtfLocalModel implements LocalModel<Matrix> {
  readonly size: number;
  readonly gradientNorm: number;
  #problem: EtfProblem;
  #X: Matrix;
  #XtE: Matrix;
  #N: Matrix;
  #Q: Matrix | null = null;
  #values: Float64Array | null = null;
  /** The gradient's chart coordinates: Ω̃ = Qᵀ·skew(XᵀE)·Q (K×K, exactly skew) and Ñ = N·Q. */
  #omega: Matrix | null = null;
  #normal: Matrix | null = null;
  #weights: Float64Array | null = null;
  #gradient: Float64Array | null = null;

  /** Evaluates the gradient at X (O(dK²)); the Hessian's eigenbasis is built on first use. */
  constructor(problem: EtfProblem, X: Matrix) {
    const { d, K } = problem;
    this.#problem = problem;
    this.#X = X;
    this.size = K * K + d * K;
    const E = problem.egrad(X);
    const XtE = matmulTN(X, E);
    const N = matmulSubtractInPlace(X, XtE, E); // N = E − X·XᵀE, in place
    let n2 = 0;
    for (let i = 0; i < N.data.length; i++) n2 += N.data[i] * N.data[i];
    for (let i = 0; i < K; i++) {
      for (let j = 0; j < K; j++) {
        const w = 0.5 * (XtE.data[i * K + j] - XtE.data[j * K + i]);
        n2 += w * w;
      }
    }
    this.#XtE = XtE;
    this.#N = N;
    this.gradientNorm = Math.sqrt(n2);
  }

  /** D's eigenbasis and the gradient's chart coordinates (two d×K×K products, one K³ eigen). */
  #prepare(): void {
    const { d, K } = this.#problem;
    const xte = this.#XtE.data;
    const D = this.#problem.lagrangianMatrix(this.#XtE); // (2/(K−1))·M + δ·I − sym(XᵀE)
    const { values, vectors: Q } = symmetricEigen(D);
    const Omega = matrix(K, K);
    for (let i = 0; i < K; i++) {
      for (let j = 0; j < K; j++) Omega.data[i * K + j] = 0.5 * (xte[i * K + j] - xte[j * K + i]);
    }
    const omega = matrix(K, K);
    skewInto(matmulTN(Q, matmul(Omega, Q)).data, omega.data, K);
    this.#normal = matmul(this.#N, Q, matrix(d, K));
    this.#omega = omega;
    this.#Q = Q;
    this.#values = values;
  }

  gradient(): Float64Array {
    if (this.#gradient === null) {
      if (this.#omega === null) this.#prepare();
      const K = this.#problem.K;
      const g = new Float64Array(this.size);
      g.set((this.#omega as Matrix).data);
      g.set((this.#normal as Matrix).data, K * K);
      this.#gradient = g;
    }
    return this.#gradient;
  }

  hessian(v: Float64Array, out: Float64Array): void {
    if (this.#weights === null) {
      if (this.#values === null) this.#prepare();
      const { d, K } = this.#problem;
      const values = this.#values as Float64Array;
      const w = new Float64Array(this.size);
      for (let i = 0; i < K; i++) {
        for (let j = 0; j < K; j++) w[i * K + j] = 0.5 * (values[i] + values[j]);
      }
      for (let r = 0; r < d; r++) w.set(values, K * K + r * K);
      this.#weights = w;
    }
    const w = this.#weights;
    for (let i = 0; i < w.length; i++) out[i] = w[i] * v[i];
  }

  /**
   * The Hessian is diagonal in the chart with weight `(λ_i + λ_j)/2` on the pair
   * `(Ω̃_ij, Ω̃_ji)` (i < j; the diagonal of Ω̃ is 0) and `λ_j` on column j of Ñ: K(K−1)/2 + K
   * groups instead of K² + dK coordinates (500,500 instead of 3,048,000 at d = 2048, K = 1000).
   */
  reduction(): DiagonalReduction {
    if (this.#omega === null) this.#prepare();
    const { d, K } = this.#problem;
    const values = this.#values as Float64Array;
    const om = (this.#omega as Matrix).data, nt = (this.#normal as Matrix).data;
    const pairs = (K * (K - 1)) / 2;
    const weights = new Float64Array(pairs + K), mass = new Float64Array(pairs + K);
    let p = 0;
    for (let i = 0; i < K; i++) {
      for (let j = i + 1; j < K; j++, p++) {
        weights[p] = 0.5 * (values[i] + values[j]);
        mass[p] = 2 * om[i * K + j] * om[i * K + j];
      }
    }
    weights.set(values, pairs);
    for (let r = 0; r < d; r++) {
      for (let j = 0; j < K; j++) mass[pairs + j] += nt[r * K + j] * nt[r * K + j];
    }
    const size = this.size;
    return {
      weights,
      mass,
      expand(c: Float64Array): Float64Array {
        const v = new Float64Array(size);
        let q = 0;
        for (let i = 0; i < K; i++) {
          for (let j = i + 1; j < K; j++, q++) {
            v[i * K + j] = c[q] * om[i * K + j];
            v[j * K + i] = c[q] * om[j * K + i];
          }
        }
        const cols = c.subarray(pairs);
        for (let r = 0; r < d; r++) {
          const o = K * K + r * K;
          for (let j = 0; j < K; j++) v[o + j] = cols[j] * nt[r * K + j];
        }
        return v;
      },
    };
  }

  /** A no-op: the Hessian and linear combinations keep Ω̃ exactly skew and Ñ in range. */
  toTangent(_v: Float64Array): void {}

  retract(v: Float64Array): Matrix {
    if (this.#Q === null) this.#prepare();
    const { d, K } = this.#problem;
    const Q = this.#Q as Matrix;
    // Ω = Q·Ω̃·Qᵀ, N = Ñ·Qᵀ, Z = X·(I + Ω) + N, then the sign-normalised QR of Z.
    const Omega = matmulNT(matmul(Q, matrix(K, K, v.subarray(0, K * K))), Q);
    const IpO = matrix(K, K);
    skewInto(Omega.data, IpO.data, K);
    for (let i = 0; i < K; i++) IpO.data[i * K + i] += 1;
    const Z = matmul(this.#X, IpO);
    const N = matmulNT(matrix(d, K, v.subarray(K * K)), Q);
    for (let i = 0; i < Z.data.length; i++) Z.data[i] += N.data[i];
    if (!choleskyQrInPlace(Z)) throw new Error("retraction: X + η lost rank (non-finite step?)");
    return Z;
  }
}

/** `out[0:K²] ← (S − Sᵀ)/2` for a K×K row-major S. */
function skewInto(s: Float64Array, out: Float64Array, K: number): void {
  for (let i = 0; i < K; i++) {
    out[i * K + i] = 0;
    for (let j = i + 1; j < K; j++) {
      const v = 0.5 * (s[i * K + j] - s[j * K + i]);
      out[i * K + j] = v;
      out[j * K + i] = -v;
    }
  }
}
