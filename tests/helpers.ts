/**
 * Shared test utilities: seeded problem data and independent reference computations.
 *
 * @module
 */
import { type Matrix, matrix } from "../solver/matrix.ts";
import { frobeniusNorm } from "../solver/products.ts";
import { randomNormal, Rng } from "../core/random.ts";

/** A d×K Gaussian matrix normalised to unit Frobenius norm, from a seed. */
export function randomTarget(seed: number, d: number, K: number): Matrix {
  const Y = randomNormal(new Rng(seed), d, K);
  const n = frobeniusNorm(Y);
  for (let i = 0; i < Y.data.length; i++) Y.data[i] /= n;
  return Y;
}

/** `Y + s·G/sqrt(dK)`, renormalised: one step of the benchmark's training-like sequence. */
export function perturbTarget(Y: Matrix, seed: number, s = 0.05): Matrix {
  const G = randomNormal(new Rng(seed), Y.rows, Y.cols);
  const out = matrix(Y.rows, Y.cols);
  const k = s / Math.sqrt(Y.rows * Y.cols);
  for (let i = 0; i < out.data.length; i++) out.data[i] = Y.data[i] + k * G.data[i];
  const n = frobeniusNorm(out);
  for (let i = 0; i < out.data.length; i++) out.data[i] /= n;
  return out;
}

/** Naive triple-loop product, an oracle independent of solver/products.ts. */
export function naiveMatmul(A: Matrix, B: Matrix): Matrix {
  const C = matrix(A.rows, B.cols);
  for (let i = 0; i < A.rows; i++) {
    for (let j = 0; j < B.cols; j++) {
      let s = 0;
      for (let k = 0; k < A.cols; k++) s += A.data[i * A.cols + k] * B.data[k * B.cols + j];
      C.data[i * B.cols + j] = s;
    }
  }
  return C;
}

/** Naive transpose. */
export function naiveTranspose(A: Matrix): Matrix {
  const T = matrix(A.cols, A.rows);
  for (let i = 0; i < A.rows; i++) {
    for (let j = 0; j < A.cols; j++) T.data[j * A.rows + i] = A.data[i * A.cols + j];
  }
  return T;
}

/** The dense centring matrix built entry by entry. */
export function denseCentring(K: number): Matrix {
  const M = matrix(K, K);
  for (let i = 0; i < K; i++) {
    for (let j = 0; j < K; j++) M.data[i * K + j] = (i === j ? 1 : 0) - 1 / K;
  }
  return M;
}

/** `max |UᵀU − I|` by the naive product. */
export function orthonormalityGap(U: Matrix): number {
  const G = naiveMatmul(naiveTranspose(U), U);
  let m = 0;
  for (let i = 0; i < U.cols; i++) {
    for (let j = 0; j < U.cols; j++) {
      m = Math.max(m, Math.abs(G.data[i * U.cols + j] - (i === j ? 1 : 0)));
    }
  }
  return m;
}

/** `A + t·B` as a new matrix. */
export function axpy(A: Matrix, B: Matrix, t: number): Matrix {
  const out = matrix(A.rows, A.cols);
  for (let i = 0; i < out.data.length; i++) out.data[i] = A.data[i] + t * B.data[i];
  return out;
}

/** Least-squares slope of log10(err) against log10(t). */
export function logLogSlope(ts: number[], errs: number[]): number {
  const x = ts.map(Math.log10), y = errs.map(Math.log10);
  const mx = x.reduce((a, b) => a + b) / x.length, my = y.reduce((a, b) => a + b) / y.length;
  let num = 0, den = 0;
  for (let i = 0; i < x.length; i++) {
    num += (x[i] - mx) * (y[i] - my);
    den += (x[i] - mx) ** 2;
  }
  return num / den;
}

/** `max|a − b| / max(max|b|, tiny)`. */
export function relativeMaxError(a: Matrix, b: Matrix): number {
  let num = 0, den = 0;
  for (let i = 0; i < a.data.length; i++) {
    num = Math.max(num, Math.abs(a.data[i] - b.data[i]));
    den = Math.max(den, Math.abs(b.data[i]));
  }
  return num / Math.max(den, 1e-300);
}
