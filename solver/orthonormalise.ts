/**
 * Re-orthonormalisation of nearly orthonormal matrices by Newton–Schulz steps
 * `U ← U·(3I − UᵀU)/2`, which converge quadratically to the orthogonal polar factor (the nearest
 * matrix with orthonormal columns). A matrix already orthonormal to rounding is returned as is.
 *
 * @module
 */
import { type Matrix, matrix } from "./matrix.ts";
import { gram, matmul } from "./products.ts";

/** `max |UᵀU − I|` below which a matrix counts as orthonormal to rounding. */
export const ROUNDING_ORTHONORMALITY = 1e-14;

/**
 * `max |G − I|` for a square matrix G (with G = UᵀU, the departure from orthonormality).
 *
 * @example
 * ```ts
 * import { eye } from "./matrix.ts";
 * import { gram } from "./products.ts";
 * const U = eye(16, 4);
 * departureFromIdentity(gram(U)); // 0 for orthonormal columns
 * ```
 */
export function departureFromIdentity(G: Matrix): number {
  const K = G.rows;
  let m = 0;
  for (let i = 0; i < K; i++) {
    for (let j = 0; j < K; j++) {
      const v = Math.abs(G.data[i * K + j] - (i === j ? 1 : 0));
      if (v > m || v !== v) m = v;
    }
  }
  return m;
}

/**
 * The polar factor of a matrix whose columns are nearly orthonormal (`max|UᵀU − I| < 0.5`),
 * by at most `maxSteps` Newton–Schulz steps; U itself (not a copy) when it is already
 * orthonormal to {@link ROUNDING_ORTHONORMALITY}. U is never modified. Pass `G = UᵀU` when it
 * is already known.
 *
 * @example
 * ```ts
 * import { eye } from "./matrix.ts";
 * const U = eye(16, 4);
 * U.data[1] = 1e-3; // nearly orthonormal, as after a float32 round trip
 * const V = orthonormalise(U); // max|VᵀV − I| ≤ 1e-14
 * ```
 */
export function orthonormalise(U: Matrix, maxSteps = 6, G: Matrix = gram(U)): Matrix {
  let X = U;
  let err = departureFromIdentity(G);
  for (let step = 0; step < maxSteps && err > ROUNDING_ORTHONORMALITY; step++) {
    if (!(err < 0.5)) throw new RangeError(`orthonormalise: max|UᵀU − I| = ${err}, need < 0.5`);
    const K = X.cols;
    const T = matrix(K, K);
    for (let i = 0; i < K * K; i++) T.data[i] = -0.5 * G.data[i];
    for (let i = 0; i < K; i++) T.data[i * K + i] += 1.5;
    X = matmul(X, T);
    // Quadratic convergence: from err < 1e-7 one step leaves 0.75·err² + rounding ≪ 1e-14,
    // so the check is only repeated from further away.
    if (err < 1e-7) break;
    G = gram(X);
    const next = departureFromIdentity(G);
    if (!(next < err)) break; // at rounding level already
    err = next;
  }
  return X;
}
