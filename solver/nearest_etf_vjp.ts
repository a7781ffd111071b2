/**
 * `nearestEtfVjp`: the backward of the proximal nearest-ETF node, `∂L/∂Y` from `∂L/∂U⋆`
 * (METHOD.md section 5), by the paper's DDN formula or by the polar factor's closed form.
 *
 * @module
 */
import { InvalidArgumentError } from "../core/errors.ts";
import { EtfProblem } from "./etf_problem.ts";
import type { Matrix } from "./matrix.ts";
import {
  checkEtfTarget,
  checkSpread,
  checkStiefelPoint,
  closedFormCache,
  type ClosedFormRecord,
} from "./nearest_etf.ts";
import { polarFactor } from "./polar.ts";
import { checkChoice, checkKeys, checkMatrix, checkNumber, checkOrthonormal } from "./validate.ts";
import { closedFormVjp } from "./vjp_closed_form.ts";
import { ddnVjp, SCHUR_METHODS, type SchurMethod } from "./vjp_ddn.ts";

/** The backward methods. */
export const ETF_VJP_METHODS = ["ddn", "closed-form"] as const;
/** A backward method name. */
export type EtfVjpMethod = typeof ETF_VJP_METHODS[number];

/**
 * Options of {@link nearestEtfVjp}.
 *
 * @example
 * ```ts
 * const opts: NearestEtfVjpOptions = { prox: Uprev, delta: 1e-3, method: "ddn" };
 * ```
 */
export type NearestEtfVjpOptions = {
  /** The proximal anchor the forward used (required: only the proximal problem has a backward). */
  prox: Matrix;
  /** The proximal weight the forward used, > 0, default 1e-3. */
  delta?: number;
  /** Default "ddn" (the paper's). */
  method?: EtfVjpMethod;
  /** DDN only: how the K(K+1)/2 Schur system is solved (advanced), default "auto" (see {@link SchurMethod}). */
  schur?: SchurMethod;
};

/** Largest accepted `max |U − polar(A)|` for the closed-form backward. */
export const POLAR_MATCH_TOLERANCE = 1e-4;

const OPTION_KEYS = ["prox", "delta", "method", "schur"] as const;

/**
 * `∂L/∂Y` for `∂L/∂U = dU`, where U is the solution of the proximal nearest-ETF problem for the
 * d×K target Y. "ddn" uses the given U (as the paper does); "closed-form" recomputes the polar
 * factor of `A = c·Y·M + δ·prox` (reusing the forward's when U came from
 * `nearestEtf(…, { solver: "closed-form" })` with the same inputs) and checks that U is within
 * 1e-4 of it.
 *
 * @example
 * ```ts
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
  if (typeof options !== "object" || options === null) {
    throw new InvalidArgumentError(
      "options",
      `expected an object with a proximal anchor { prox }, got ${options}`,
    );
  }
  checkKeys("options", options, OPTION_KEYS);
  const target = checkEtfTarget(Y);
  const d = target.rows, K = target.cols;
  checkMatrix("U", U, d, K);
  checkMatrix("dU", dU, d, K);
  if (options.prox === undefined) {
    throw new InvalidArgumentError(
      "options.prox",
      "is required: the backward exists only for the proximal problem (δ > 0); the feasibility " +
        "problem's solution set is not a differentiable function of Y (METHOD.md section 5)",
    );
  }
  checkMatrix("options.prox", options.prox, d, K);
  const delta = checkNumber("options.delta", options.delta ?? 1e-3, { min: 0, minExclusive: true });
  const method = checkChoice("options.method", options.method ?? "ddn", ETF_VJP_METHODS);
  const schur = checkChoice("options.schur", options.schur ?? "auto", SCHUR_METHODS);
  // The closed-form forward validated these very inputs (same entries) and kept its factors.
  const hit = method === "closed-form" ? cachedRecord(target, U, options.prox, delta) : null;
  if (hit === null) checkOrthonormal("U", U);
  const problem = hit?.problem ??
    new EtfProblem(target, checkStiefelPoint("options.prox", options.prox, d, K), delta);
  if (hit === null) checkSpread(problem, "Y");
  if (method === "ddn") return ddnVjp(problem, U, dU, schur);
  const polar = hit?.polar ?? polarFactor(problem.A);
  if (polar.rank < K) {
    throw new InvalidArgumentError(
      "Y",
      `A = c·Y·M + δ·prox is rank-deficient (rank ${polar.rank} < K=${K}): the polar factor ` +
        "is not differentiable there",
    );
  }
  let gap = 0;
  for (let i = 0; i < U.data.length; i++) {
    gap = Math.max(gap, Math.abs(U.data[i] - polar.U.data[i]));
  }
  if (!(gap <= POLAR_MATCH_TOLERANCE)) {
    throw new InvalidArgumentError(
      "U",
      `is not the solution polar(c·Y·M + δ·prox): max|U − polar(A)| = ${gap.toExponential(3)}, ` +
        `allowed ≤ ${POLAR_MATCH_TOLERANCE} (solve to a smaller minGradientNorm, or pass the matching prox and delta)`,
    );
  }
  return closedFormVjp(problem, polar, dU);
}

function sameData(a: Float64Array, b: Float64Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function cachedRecord(Y: Matrix, U: Matrix, prox: Matrix, delta: number): ClosedFormRecord | null {
  const hit = closedFormCache.get(U.data);
  if (hit === undefined || hit.proxInput === null || hit.delta !== delta) return null;
  if (!sameData(hit.Y, Y.data) || !sameData(hit.proxInput, prox.data)) return null;
  return hit;
}
