/**
 * Argument checks shared by the public solver functions: shapes, finiteness, orthonormality.
 *
 * @module
 */
import { InvalidArgumentError } from "../core/errors.ts";
import type { Matrix } from "./matrix.ts";
import { departureFromIdentity } from "./orthonormalise.ts";
import { gram } from "./products.ts";

/**
 * Checks that `value` is a well-formed {@link Matrix} (integer shape, `Float64Array` of matching
 * length, finite entries) and, when given, of shape rows×cols.
 *
 * @example
 * ```ts
 * const Y: unknown = { rows: 2, cols: 2, data: new Float64Array(3) }; // 3 entries, not 4
 * checkMatrix("Y", Y); // throws InvalidArgumentError("Y: ...") when malformed
 * ```
 */
export function checkMatrix(name: string, value: unknown, rows?: number, cols?: number): Matrix {
  if (typeof value !== "object" || value === null) {
    throw new InvalidArgumentError(
      name,
      `expected a matrix {rows, cols, data: Float64Array}, got ${value}`,
    );
  }
  const { rows: m, cols: n, data } = value as Partial<Matrix>;
  if (
    !Number.isSafeInteger(m) || !Number.isSafeInteger(n) || (m as number) < 0 || (n as number) < 0
  ) {
    throw new InvalidArgumentError(
      name,
      `rows and cols must be non-negative integers, got ${m}×${n}`,
    );
  }
  if (!(data instanceof Float64Array)) {
    throw new InvalidArgumentError(name, "data must be a Float64Array (row-major)");
  }
  if (data.length !== (m as number) * (n as number)) {
    throw new InvalidArgumentError(
      name,
      `data has ${data.length} entries but the shape is ${m}×${n}`,
    );
  }
  if ((rows !== undefined && m !== rows) || (cols !== undefined && n !== cols)) {
    throw new InvalidArgumentError(
      name,
      `shape is ${m}×${n}, expected ${rows}×${cols} (the shape of Y)`,
    );
  }
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i])) {
      const r = Math.floor(i / (n as number)), c = i % (n as number);
      throw new InvalidArgumentError(
        name,
        `entry (${r}, ${c}) is ${data[i]}; all entries must be finite`,
      );
    }
  }
  return value as Matrix;
}

/**
 * `max |UᵀU − I|`, the departure of U's columns from orthonormality.
 *
 * @example
 * ```ts
 * import { eye } from "./matrix.ts";
 * orthonormalityError(eye(5, 3)); // 0
 * ```
 */
export function orthonormalityError(U: Matrix): number {
  return departureFromIdentity(gram(U));
}

/** Largest accepted `max |UᵀU − I|` for a start point or proximal anchor. */
export const ORTHONORMALITY_TOLERANCE = 1e-5;

/**
 * Checks that U's columns are orthonormal to {@link ORTHONORMALITY_TOLERANCE}; returns UᵀU.
 *
 * @example
 * ```ts
 * import { eye } from "./matrix.ts";
 * const U = eye(16, 4);
 * checkOrthonormal("options.start", U);
 * ```
 */
export function checkOrthonormal(name: string, U: Matrix): Matrix {
  const G = gram(U);
  const err = departureFromIdentity(G);
  if (!(err <= ORTHONORMALITY_TOLERANCE)) {
    throw new InvalidArgumentError(
      name,
      `columns are not orthonormal: max|UᵀU − I| = ${
        err.toExponential(3)
      }, allowed ≤ ${ORTHONORMALITY_TOLERANCE}`,
    );
  }
  return G;
}

/**
 * Checks that `value` is a finite number within [min, max] (bounds inclusive unless stated).
 *
 * @example
 * ```ts
 * checkNumber("options.delta", 1e-3, { min: 0 });
 * ```
 */
export function checkNumber(
  name: string,
  value: unknown,
  range: { min?: number; max?: number; integer?: boolean; minExclusive?: boolean } = {},
): number {
  const { min, max, integer = false, minExclusive = false } = range;
  const allowed = [
    integer ? "an integer" : "a finite number",
    min === undefined ? "" : minExclusive ? ` > ${min}` : ` ≥ ${min}`,
    max === undefined ? "" : ` ≤ ${max}`,
  ].join("");
  const ok = typeof value === "number" && Number.isFinite(value) &&
    (!integer || Number.isInteger(value)) &&
    (min === undefined || (minExclusive ? value > min : value >= min)) &&
    (max === undefined || value <= max);
  if (!ok) throw new InvalidArgumentError(name, `got ${String(value)}, allowed: ${allowed}`);
  return value as number;
}

/**
 * Checks that an options object has only known keys (catches misspelt options).
 *
 * @example
 * ```ts
 * checkKeys("options", { delta: 1 }, ["delta", "prox"]);
 * ```
 */
export function checkKeys(name: string, value: object, allowed: readonly string[]): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) {
      throw new InvalidArgumentError(
        `${name}.${key}`,
        `unknown option; allowed: ${allowed.join(", ")}`,
      );
    }
  }
}

/**
 * Checks that `value` is one of the allowed strings.
 *
 * @example
 * ```ts
 * checkChoice("options.solver", "closed-form", ["trust-regions", "closed-form"]);
 * ```
 */
export function checkChoice<T extends string>(
  name: string,
  value: unknown,
  allowed: readonly T[],
): T {
  if (!allowed.includes(value as T)) {
    throw new InvalidArgumentError(
      name,
      `got ${JSON.stringify(value)}, allowed: ${allowed.join(", ")}`,
    );
  }
  return value as T;
}
