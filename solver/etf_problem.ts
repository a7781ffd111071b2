/**
 * The nearest-simplex-ETF problem on St(d,K) (docs/method.md section 4): cost, Euclidean gradient and
 * Euclidean Hessian exactly as the paper implements them.
 *
 *   f(U) = ‖Y − U·M/sqrt(K−1)‖_F² + (δ/2)·‖U − U_prox‖_F²   (δ term only for the proximal problem)
 *   ∇f(U) = (2/(K−1))·U·M − c·Y·M + δ·(U − U_prox),  c = 2/sqrt(K−1)
 *   ∇²f(U)[V] = (2/(K−1))·V·M + δ·V
 *
 * On St(d,K) the cost is `const − ⟨U, A⟩` with `A = c·Y·M + δ·U_prox`, which the closed form and
 * the fast trust-region chart exploit.
 *
 * @module
 */
import { centreRows } from "./centring.ts";
import { type Matrix, matrix } from "./matrix.ts";

/**
 * A validated nearest-ETF problem instance (Y is d×K; `prox` null for the feasibility problem).
 *
 * @example
 * ```ts
 * import { randomNormal, Rng } from "../core/random.ts";
 * import { eye } from "./matrix.ts";
 * const Y = randomNormal(new Rng(0), 16, 4);
 * const prox = eye(16, 4), U = eye(16, 4);
 * const p = new EtfProblem(Y, prox, 1e-3);
 * const f = p.cost(U), G = p.egrad(U);
 * ```
 */
export class EtfProblem {
  /** Feature dimension (rows of Y). */
  readonly d: number;
  /** Number of classes (columns of Y). */
  readonly K: number;
  /** The target `Y` (d×K, not normalised here). */
  readonly Y: Matrix;
  /** The proximal anchor, or null for the feasibility problem f₀. */
  readonly prox: Matrix | null;
  /** The proximal weight δ (0 for the feasibility problem). */
  readonly delta: number;
  /** `c = 2/sqrt(K−1)`. */
  readonly c: number;
  /** `‖Y·M‖_F`, the spread between the classes (0 when all columns are equal). */
  readonly spread: number;
  /** `A = c·Y·M + δ·U_prox` (d×K): on St(d,K), f(U) = const − ⟨U, A⟩. */
  readonly A: Matrix;

  /**
   * Builds the problem; arguments are assumed validated (see `nearestEtf`). `computed`: A and
   * the spread already computed for these very entries (see {@link EtfProblem.over}).
   */
  constructor(
    Y: Matrix,
    prox: Matrix | null,
    delta: number,
    computed?: { A: Matrix; spread: number },
  ) {
    this.Y = Y;
    this.d = Y.rows;
    this.K = Y.cols;
    this.prox = prox;
    this.delta = prox === null ? 0 : delta;
    this.c = 2 / Math.sqrt(this.K - 1);
    if (computed !== undefined) {
      this.A = computed.A;
      this.spread = computed.spread;
      return;
    }
    // One pass: A = c·Y·M + δ·U_prox (Y·M: each row minus its mean) and ‖Y·M‖_F.
    const { d, K, c } = this;
    const y = Y.data, a = new Float64Array(d * K);
    let spread2 = 0;
    const p = prox === null ? null : prox.data, weight = this.delta;
    for (let i = 0; i < d; i++) {
      const r = i * K;
      let mean = 0;
      for (let j = 0; j < K; j++) mean += y[r + j];
      mean /= K;
      for (let j = 0; j < K; j++) {
        const e = y[r + j] - mean, v = c * e;
        spread2 += e * e;
        a[r + j] = p === null ? v : v + weight * p[r + j];
      }
    }
    this.spread = Math.sqrt(spread2);
    this.A = matrix(d, K, a);
  }

  /**
   * The same problem (same A, spread and δ) over other storage holding the same entries of Y and
   * the anchor (copies), without recomputing A: what a cache keeps so that it references none of
   * its caller's matrices.
   *
   * @example
   * ```ts
   * import { randomNormal, Rng } from "../core/random.ts";
   * import { clone, eye } from "./matrix.ts";
   * const Y = randomNormal(new Rng(0), 16, 4), prox = eye(16, 4);
   * const p = new EtfProblem(Y, prox, 1e-3);
   * const kept = p.over(clone(Y), clone(prox)); // kept.A === p.A
   * ```
   */
  over(Y: Matrix, prox: Matrix | null): EtfProblem {
    return new EtfProblem(Y, prox, this.delta, { A: this.A, spread: this.spread });
  }

  /** f(U), evaluated directly from its definition (no use of UᵀU = I). */
  cost(U: Matrix): number {
    const { d, K } = this;
    const y = this.Y.data, u = U.data, s = 1 / Math.sqrt(K - 1);
    let fit = 0, reg = 0;
    for (let i = 0; i < d; i++) {
      const r = i * K;
      let mean = 0;
      for (let j = 0; j < K; j++) mean += u[r + j];
      mean /= K;
      for (let j = 0; j < K; j++) {
        const e = y[r + j] - (u[r + j] - mean) * s;
        fit += e * e;
      }
    }
    if (this.prox !== null) {
      const p = this.prox.data;
      for (let i = 0; i < u.length; i++) {
        const e = u[i] - p[i];
        reg += e * e;
      }
    }
    return fit + 0.5 * this.delta * reg;
  }

  /**
   * The Euclidean gradient `∇f(U) = (2/(K−1))·U·M − c·Y·M + δ·(U − U_prox)` (into `out` when
   * given), evaluated as `(2/(K−1))·U·M + δ·U − A`, the same sum.
   */
  egrad(U: Matrix, out: Matrix = matrix(this.d, this.K)): Matrix {
    centreRows(U, out);
    const o = out.data, u = U.data, A = this.A.data, a = 2 / (this.K - 1), delta = this.delta;
    if (delta === 0) {
      for (let i = 0; i < o.length; i++) o[i] = a * o[i] - A[i];
    } else {
      for (let i = 0; i < o.length; i++) o[i] = a * o[i] + delta * u[i] - A[i];
    }
    return out;
  }

  /**
   * `B = (2/(K−1))·M + δ·I − sym(S)` for `S = Uᵀ∇f(U)` (K×K): the Euclidean Hessian's K×K
   * factor minus the Lagrange multipliers. It is the Lagrangian Hessian `H[V] = V·B` of the DDN
   * backward, and the matrix D of the Riemannian Hessian `(Ω, N) ↦ (skew(Ω·D), N·D)`.
   */
  lagrangianMatrix(UtE: Matrix): Matrix {
    const { K, delta } = this;
    const B = matrix(K, K);
    const a = 2 / (K - 1), s = UtE.data;
    for (let i = 0; i < K; i++) {
      for (let j = 0; j < K; j++) {
        const m = (i === j ? 1 : 0) - 1 / K;
        B.data[i * K + j] = a * m + (i === j ? delta : 0) - 0.5 * (s[i * K + j] + s[j * K + i]);
      }
    }
    return B;
  }

  /** The Euclidean Hessian applied to V, ∇²f(U)[V] (independent of U). */
  ehess(_U: Matrix, V: Matrix, out: Matrix = matrix(this.d, this.K)): Matrix {
    centreRows(V, out);
    const o = out.data, v = V.data, a = 2 / (this.K - 1), delta = this.delta;
    for (let i = 0; i < o.length; i++) o[i] = a * o[i] + delta * v[i];
    return out;
  }
}
