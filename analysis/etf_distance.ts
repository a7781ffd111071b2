/**
 * ETF-distance analysis (docs/method.md section 8): over a sequence of measured epochs, the
 * nearest simplex ETF to the classifier (`Y_W = Wᵀ/‖W‖_F`) and to the centred class means
 * (`Y_H = H̄/‖H̄‖_F`), each by the feasibility problem (no proximal term): trust-regions (at most
 * 500 iterations, a Haar-random start at the first epoch, then the previous epoch's solution) or
 * the closed form. The ETF itself, `E = U·M/sqrt(K−1)`, is unique although U is not (any U with
 * the same U·M gives it), so every distance is between E's:
 *
 * - `etfWH` = ‖E_W − E_H‖_F², `wToEtf` = ‖E_W − Y_W‖_F², `hToEtf` = ‖E_H − Y_H‖_F²;
 * - `whToM` = ‖W·H̄/‖W·H̄‖_F − M/sqrt(K−1)‖_F (NC3);
 * - `wToRef` = ‖E_W − E_W(ref)‖_F², `hToRef` = ‖E_H − E_H(ref)‖_F², the reference being one
 *   epoch of the sequence (default the first).
 *
 * Plain float64 matrices: importable from `mod.ts` without tfjs.
 *
 * @module
 */
import { InvalidArgumentError } from "../core/errors.ts";
import { Rng } from "../core/random.ts";
import { etfOf } from "../solver/centring.ts";
import { type Matrix, transpose } from "../solver/matrix.ts";
import { type EtfSolver, nearestEtf } from "../solver/nearest_etf.ts";
import { frobeniusNorm, matmulNT } from "../solver/products.ts";
import { randomPoint } from "../solver/stiefel.ts";
import { distanceToEtf } from "./nc_accumulator.ts";

/**
 * One epoch's classifier and centred means (both K×d, one row per class).
 *
 * @example
 * ```ts
 * import { matrix } from "../solver/matrix.ts";
 * const e: EtfDistanceInput = { epoch: 5, W: matrix(10, 512), Hbar: matrix(10, 512) };
 * ```
 */
export type EtfDistanceInput = { epoch: number; W: Matrix; Hbar: Matrix };

/**
 * Options of {@link etfDistances}.
 *
 * @example
 * ```ts
 * const o: EtfDistanceOptions = { solver: "closed-form", refEpoch: 100 };
 * ```
 */
export type EtfDistanceOptions = {
  /** Default "trust-regions". */
  solver?: EtfSolver;
  /** Trust-region iterations per solve, default 500. */
  maxIterations?: number;
  /** Seed of the Haar-random start of the first epoch's solves (default 0). */
  seed?: number;
  /** The reference epoch (one of the inputs'), default the first. */
  refEpoch?: number;
  /** Called after each epoch's two solves (progress). */
  onEpoch?: (epoch: number, done: number, total: number) => void;
};

/**
 * How one nearest-ETF solve went.
 *
 * @example
 * ```ts
 * declare const s: EtfSolveInfo;
 * s.iterations; s.gradientNorm;
 * ```
 */
export type EtfSolveInfo = {
  iterations: number;
  gradientNorm: number;
  stoppingReason: string;
  seconds: number;
};

/**
 * The distances of one epoch (see the module documentation).
 *
 * @example
 * ```ts
 * declare const r: EtfDistanceRecord;
 * console.log(r.epoch, r.etfWH, r.wToRef);
 * ```
 */
export type EtfDistanceRecord = {
  epoch: number;
  etfWH: number;
  wToEtf: number;
  hToEtf: number;
  whToM: number;
  wToRef: number;
  hToRef: number;
  refEpoch: number;
  wSolve: EtfSolveInfo;
  hSolve: EtfSolveInfo;
};

/** ‖A − B‖_F² of two matrices of one size. */
function squaredDistance(A: Matrix, B: Matrix): number {
  let s = 0;
  for (let i = 0; i < A.data.length; i++) s += (A.data[i] - B.data[i]) ** 2;
  return s;
}

/** `Xᵀ/‖X‖_F` (d×K) of a K×d matrix. */
function normalisedTranspose(X: Matrix, name: string, epoch: number): Matrix {
  const n = frobeniusNorm(X);
  if (!(n > 0) || !Number.isFinite(n)) {
    throw new InvalidArgumentError(
      name,
      `at epoch ${epoch} has norm ${n}: no ETF is nearest to it`,
    );
  }
  const Y = transpose(X);
  for (let i = 0; i < Y.data.length; i++) Y.data[i] /= n;
  return Y;
}

/**
 * The ETF distances of every epoch, in the given (epoch) order, with each epoch's E_W and E_H
 * (d×K).
 *
 * @example
 * ```ts
 * import { randomNormal, Rng } from "../core/random.ts";
 * const rng = new Rng(0);
 * const epochs = [5, 10].map((epoch) => ({ epoch, W: randomNormal(rng, 4, 16), Hbar: randomNormal(rng, 4, 16) }));
 * const { records, EW, EH } = etfDistances(epochs, { solver: "closed-form" });
 * records[1].wToRef; // ‖E_W(10) − E_W(5)‖²
 * ```
 */
export function etfDistances(
  epochs: readonly EtfDistanceInput[],
  options: EtfDistanceOptions = {},
): { records: EtfDistanceRecord[]; EW: Matrix[]; EH: Matrix[] } {
  if (epochs.length === 0) throw new InvalidArgumentError("epochs", "got none, allowed: ≥ 1");
  const solver = options.solver ?? "trust-regions";
  const maxIterations = options.maxIterations ?? 500;
  const refEpoch = options.refEpoch ?? epochs[0].epoch;
  const refIndex = epochs.findIndex((e) => e.epoch === refEpoch);
  if (refIndex < 0) {
    throw new InvalidArgumentError(
      "refEpoch",
      `got ${refEpoch}, allowed: a measured epoch (${epochs.map((e) => e.epoch).join(", ")})`,
    );
  }
  const { rows: K, cols: d } = epochs[0].W;
  for (const e of epochs) {
    for (const [name, X] of [["W", e.W], ["Hbar", e.Hbar]] as const) {
      if (X.rows !== K || X.cols !== d) {
        throw new InvalidArgumentError(
          name,
          `at epoch ${e.epoch} is ${X.rows}×${X.cols}, but epoch ${
            epochs[0].epoch
          }'s W is ${K}×${d}`,
        );
      }
    }
  }
  const rng = new Rng(options.seed ?? 0);
  let startW: Matrix | undefined, startH: Matrix | undefined;
  if (solver === "trust-regions") {
    startW = randomPoint(rng, d, K);
    startH = randomPoint(rng, d, K);
  }
  const solve = (Y: Matrix, start: Matrix | undefined) => {
    const r = nearestEtf(Y, {
      solver,
      ...(start ? { start } : {}),
      ...(solver === "trust-regions" ? { maxIterations } : {}),
    });
    const info: EtfSolveInfo = {
      iterations: r.iterations,
      gradientNorm: r.gradientNorm,
      stoppingReason: r.stoppingReason,
      seconds: r.seconds,
    };
    return { U: r.U, E: etfOf(r.U), info };
  };
  const EW: Matrix[] = [], EH: Matrix[] = [];
  const partial: Omit<EtfDistanceRecord, "wToRef" | "hToRef" | "refEpoch">[] = [];
  for (const e of epochs) {
    const YW = normalisedTranspose(e.W, "W", e.epoch);
    const YH = normalisedTranspose(e.Hbar, "Hbar", e.epoch);
    const w = solve(YW, startW), h = solve(YH, startH);
    if (solver === "trust-regions") {
      startW = w.U;
      startH = h.U;
    }
    EW.push(w.E);
    EH.push(h.E);
    partial.push({
      epoch: e.epoch,
      etfWH: squaredDistance(w.E, h.E),
      wToEtf: squaredDistance(w.E, YW),
      hToEtf: squaredDistance(h.E, YH),
      whToM: distanceToEtf(matmulNT(e.W, e.Hbar).data, K),
      wSolve: w.info,
      hSolve: h.info,
    });
    options.onEpoch?.(e.epoch, partial.length, epochs.length);
  }
  const records = partial.map((r, i) => ({
    ...r,
    wToRef: squaredDistance(EW[i], EW[refIndex]),
    hToRef: squaredDistance(EH[i], EH[refIndex]),
    refEpoch,
  }));
  return { records, EW, EH };
}
