/**
 * Any smooth cost on St(d,K), given by its Euclidean gradient and Hessian, as a trust-region
 * problem in ambient coordinates (tangent vectors are d×K matrices): the textbook construction
 * (projection, Weingarten term, QR or polar retraction), as pymanopt builds it. It is the
 * general-purpose path and the reference against which the fast nearest-ETF chart is tested.
 *
 * @module
 */
import { type Matrix, matrix } from "./matrix.ts";
import { frobeniusNorm } from "./products.ts";
import {
  egradToRgrad,
  ehessToRhess,
  project,
  retractPolar,
  retractQr,
  stiefelDimension,
} from "./stiefel.ts";
import type { LocalModel, TrustRegionProblem } from "./trust_regions.ts";

/**
 * A cost on St(d,K) with its Euclidean derivatives.
 *
 * @example
 * ```ts
 * import { fromRows, type Matrix } from "./matrix.ts";
 * import { matmul } from "./products.ts";
 * // Brockett cost f(U) = tr(UᵀAU·N) for a symmetric A (d×d) and N = diag(1, 2) (K = 2).
 * const A = fromRows([[2, 1, 0], [1, 3, 1], [0, 1, 4]]), N = fromRows([[1, 0], [0, 2]]);
 * const twice = (X: Matrix): Matrix => ({ ...X, data: X.data.map((x) => 2 * x) });
 * const cost = (U: Matrix): number => {
 *   const AUN = matmul(matmul(A, U), N);
 *   return U.data.reduce((s, u, i) => s + u * AUN.data[i], 0);
 * };
 * const egrad = (U: Matrix): Matrix => twice(matmul(matmul(A, U), N)); // 2·A·U·N
 * const ehess = (_U: Matrix, V: Matrix): Matrix => twice(matmul(matmul(A, V), N)); // 2·A·V·N
 * const brockett: EuclideanCost = { cost, egrad, ehess };
 * ```
 */
export type EuclideanCost = {
  cost(U: Matrix): number;
  egrad(U: Matrix): Matrix;
  ehess(U: Matrix, V: Matrix): Matrix;
};

/**
 * The trust-region problem for `f` on St(d,K) (Euclidean metric).
 *
 * @example
 * ```ts
 * import { randomNormal, Rng } from "../core/random.ts";
 * import { EtfProblem } from "./etf_problem.ts";
 * import { eye } from "./matrix.ts";
 * import { trustRegions } from "./trust_regions.ts";
 * const d = 16, K = 4;
 * const Y = randomNormal(new Rng(0), d, K);
 * const result = trustRegions(stiefelProblem(new EtfProblem(Y, null, 0), d, K), eye(d, K));
 * ```
 */
export function stiefelProblem(
  f: EuclideanCost,
  d: number,
  K: number,
  retraction: "qr" | "polar" = "qr",
): TrustRegionProblem<Matrix> {
  const retract = retraction === "qr" ? retractQr : retractPolar;
  return {
    cost: (U) => f.cost(U),
    dimension: stiefelDimension(d, K),
    typicalDistance: Math.sqrt(K),
    model(X: Matrix): LocalModel<Matrix> {
      const egrad = f.egrad(X);
      const rgrad = egradToRgrad(X, egrad);
      return {
        size: d * K,
        gradientNorm: frobeniusNorm(rgrad),
        gradient: () => rgrad.data,
        hessian(v, out) {
          const V = matrix(d, K, v);
          out.set(ehessToRhess(X, egrad, f.ehess(X, V), V).data);
        },
        toTangent(v) {
          v.set(project(X, matrix(d, K, v)).data);
        },
        retract: (v) => retract(X, matrix(d, K, v)),
      };
    },
  };
}
