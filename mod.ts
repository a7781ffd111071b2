/**
 * Guided neural collapse toolkit: the nearest simplex ETF (forward by Riemannian trust-regions or
 * in closed form) and its implicit backward, on plain row-major `Float64Array` matrices.
 * Importable from a URL: everything here resolves without the project's `deno.json`.
 *
 * @example
 * ```ts
 * import { nearestEtf, nearestEtfVjp, prepareEtfBackward, randomNormal, Rng } from "./mod.ts";
 * const rng = new Rng(0);
 * const Y = randomNormal(rng, 16, 4), Y2 = randomNormal(rng, 16, 4); // d = 16, K = 4
 * const dU = randomNormal(rng, 16, 4); // ∂L/∂U from the layer above
 * const first = nearestEtf(Y); // feasibility problem
 * const next = nearestEtf(Y2, { prox: first.U }); // proximal problem
 * const dY = nearestEtfVjp(Y2, next.U, dU, { prox: first.U });
 * const back = prepareEtfBackward(Y2, next.U, { prox: first.U }); // once per solve
 * const dY2 = back.apply(dU); // the same ∂L/∂Y, for any number of dU
 * ```
 *
 * @module
 */
export { type Matrix } from "./solver/matrix.ts";
export {
  clone,
  eye,
  fromRows,
  matrix,
  maxAbs,
  maxAbsDiff,
  toRows,
  transpose,
} from "./solver/matrix.ts";
export { InputError, InvalidArgumentError, isInputError } from "./core/errors.ts";
export {
  ETF_SOLVERS,
  type EtfSolver,
  nearestEtf,
  type NearestEtfOptions,
  type NearestEtfResult,
} from "./solver/nearest_etf.ts";
export {
  ETF_VJP_METHODS,
  type EtfVjpMethod,
  nearestEtfVjp,
  type NearestEtfVjpOptions,
} from "./solver/nearest_etf_vjp.ts";
export type { SchurMethod } from "./solver/vjp_ddn.ts";
export {
  type EtfBackwardDiagnostics,
  type EtfBackwardFactors,
  type EtfBackwardOptions,
  prepareEtfBackward,
  SINGULAR_PAIR_TOLERANCE,
} from "./solver/etf_backward.ts";
export type { IterationLog, StoppingReason, TcgStopReason } from "./solver/trust_regions.ts";
export { centreRows, centringMatrix, etfOf, simplexEtf } from "./solver/centring.ts";
export { EtfProblem } from "./solver/etf_problem.ts";
export { randomNormal, Rng } from "./core/random.ts";
export {
  frobeniusDot,
  frobeniusNorm,
  gram,
  matmul,
  matmulNT,
  matmulTN,
} from "./solver/products.ts";
export { type PolarDecomposition, polarFactor } from "./solver/polar.ts";
export * as stiefel from "./solver/stiefel.ts";
export { type EuclideanCost, stiefelProblem } from "./solver/stiefel_problem.ts";
export {
  type DiagonalReduction,
  type LocalModel,
  type TrustRegionOptions,
  type TrustRegionProblem,
  type TrustRegionResult,
  trustRegions,
} from "./solver/trust_regions.ts";
export { type NcInput, type NcMetrics, ncMetrics } from "./analysis/nc_metrics.ts";
export type { FeatureRows } from "./analysis/class_store.ts";
export {
  type ClassMeans,
  NcAccumulator,
  type NcAccumulatorOptions,
} from "./analysis/nc_accumulator.ts";
export {
  type EtfDistanceInput,
  type EtfDistanceOptions,
  type EtfDistanceRecord,
  etfDistances,
  type EtfSolveInfo,
} from "./analysis/etf_distance.ts";
export { type SeedStatistics, seedStatistics, seriesStatistics } from "./analysis/seed_stats.ts";
