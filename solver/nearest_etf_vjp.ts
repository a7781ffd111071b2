/**
 * `nearestEtfVjp`: the backward of the proximal nearest-ETF node, `∂L/∂Y` from `∂L/∂U⋆`
 * (docs/method.md section 5), by the paper's DDN formula or by the polar factor's closed form. Both
 * run through the prepared backward of `etf_backward.ts` (`prepareEtfBackward(…).apply(dU)`),
 * except the DDN `schur: "dense" | "dense-lu"` routes, the paper's dense Schur solve
 * (`vjp_ddn.ts`), kept as an independent reference.
 *
 * @module
 */
import { backwardFactors, type EtfBackwardOptions, validateBackwardInput } from "./etf_backward.ts";
import type { Matrix } from "./matrix.ts";
import { checkChoice } from "./validate.ts";
import { denseDdnVjp, SCHUR_METHODS, type SchurMethod } from "./vjp_ddn.ts";

export { ETF_VJP_METHODS, type EtfVjpMethod, POLAR_MATCH_TOLERANCE } from "./etf_backward.ts";

/**
 * Options of {@link nearestEtfVjp}.
 *
 * @example
 * ```ts
 * import { randomNormal, Rng } from "../core/random.ts";
 * import { nearestEtf } from "./nearest_etf.ts";
 * const Uprev = nearestEtf(randomNormal(new Rng(0), 16, 4)).U; // the previous solve
 * const opts: NearestEtfVjpOptions = { prox: Uprev, delta: 1e-3, method: "ddn" };
 * ```
 */
export type NearestEtfVjpOptions = EtfBackwardOptions & {
  /**
   * DDN only: how the K(K+1)/2 Schur system is solved (advanced), default "auto" = "eigen" (the
   * prepared backward); "dense" / "dense-lu" the paper's dense route (see {@link SchurMethod}).
   */
  schur?: SchurMethod;
};

const OPTION_KEYS = ["prox", "delta", "method", "schur", "requirePositiveDefinite"] as const;

/**
 * `∂L/∂Y` for `∂L/∂U = dU`, where U is the solution of the proximal nearest-ETF problem for the
 * d×K target Y. "ddn" uses the given U (as the paper does); "closed-form" recomputes the polar
 * factor of `A = c·Y·M + δ·prox` (reusing the forward's when U came from
 * `nearestEtf(…, { solver: "closed-form" })` with the same inputs) and checks that U is within
 * 1e-4 of it. A DDN Hessian that is not positive definite is an error unless
 * `requirePositiveDefinite: false` (see `prepareEtfBackward`). For several dU at one U, prepare
 * the backward once with `prepareEtfBackward`.
 *
 * @example
 * ```ts
 * import { randomNormal, Rng } from "../core/random.ts";
 * import { nearestEtf } from "./nearest_etf.ts";
 * const rng = new Rng(0);
 * const Y = randomNormal(rng, 16, 4), dU = randomNormal(rng, 16, 4); // dU = ∂L/∂U
 * const prox = nearestEtf(Y).U;
 * const { U } = nearestEtf(Y, { prox, solver: "closed-form" });
 * const dY = nearestEtfVjp(Y, U, dU, { prox, method: "closed-form" });
 * ```
 */
export function nearestEtfVjp(
  Y: Matrix,
  U: Matrix,
  dU: Matrix,
  options: NearestEtfVjpOptions,
): Matrix {
  const input = validateBackwardInput(Y, U, options, OPTION_KEYS, dU);
  const schur = checkChoice("options.schur", options.schur ?? "auto", SCHUR_METHODS);
  if (input.method === "ddn" && (schur === "dense" || schur === "dense-lu")) {
    return denseDdnVjp(input.problem, input.U, dU, {
      forceLu: schur === "dense-lu",
      requirePositiveDefinite: input.requirePositiveDefinite,
    });
  }
  return backwardFactors(input).apply(dU);
}
