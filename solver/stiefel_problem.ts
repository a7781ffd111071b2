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
