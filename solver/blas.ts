/**
 * The system's BLAS and LAPACK through Deno's FFI, for the float64 kernels whose cost dominates
 * at scale (the neural-collapse metrics and the nearest-ETF node at K = 1000, d = 2048):
 * `cblas_dgemm`, `cblas_dsyrk`, `cblas_dtrsm` and LAPACK's `dsyevd` (symmetric eigensolver) and
 * `dpotrf` (Cholesky). The dense products of `products.ts`, `symmetricEigen` and the Cholesky QR
 * use them above a size threshold (`BLAS_MIN_WORK`, `LAPACK_MIN_ORDER`). Optional: without `--allow-ffi`, outside Deno, or without the
 * library, {@link blas} returns null and callers use the TypeScript kernels (the oracle in
 * tests); nothing here is needed to import `mod.ts`.
 *
 * The library: `$NC_BLAS_LIBRARY` if set (a path to a CBLAS + LAPACK library), else OpenBLAS at
 * Debian's paths (`libopenblas0-pthread`: /usr/lib/x86_64-linux-gnu/openblas-pthread/
 * libopenblas.so.0, or /usr/lib/aarch64-linux-gnu/…), Homebrew's
 * (/opt/homebrew/opt/openblas/lib/libopenblas.dylib, /usr/local/opt/openblas/…), then
 * `libopenblas.so.0` on the loader's path. `NC_BLAS=off` disables it.
 *
 * @module
 */
import { type Matrix, matrix } from "./matrix.ts";
import { ffiAllowed, openLibrary } from "../core/ffi.ts";

const ROW_MAJOR = 101, NO_TRANS = 111, TRANS = 112, UPPER = 121, RIGHT = 142, NON_UNIT = 131;

const SYMBOLS = {
  cblas_dgemm: {
    parameters: [
      "i32",
      "i32",
      "i32",
      "i32",
      "i32",
      "i32",
      "f64",
      "buffer",
      "i32",
      "buffer",
      "i32",
      "f64",
      "buffer",
      "i32",
    ],
    result: "void",
  },
  cblas_dsyrk: {
    parameters: ["i32", "i32", "i32", "i32", "i32", "f64", "buffer", "i32", "f64", "buffer", "i32"],
    result: "void",
  },
  cblas_dtrsm: {
    parameters: [
      "i32",
      "i32",
      "i32",
      "i32",
      "i32",
      "i32",
      "i32",
      "f64",
      "buffer",
      "i32",
      "buffer",
      "i32",
    ],
    result: "void",
  },
  dpotrf_: { parameters: ["buffer", "buffer", "buffer", "buffer", "buffer"], result: "void" },
  dsyevd_: {
    parameters: [
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
    ],
    result: "void",
  },
} as const;

/**
 * Where the BLAS library is looked for, in order, when `NC_BLAS_LIBRARY` is not set (the
 * float32 kernels of nets/backend/native_kernels.ts look in the same places).
 *
 * @example
 * ```ts
 * BLAS_CANDIDATES[0]; // "/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0"
 * ```
 */
export const BLAS_CANDIDATES: readonly string[] = [
  "/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0",
  "/usr/lib/aarch64-linux-gnu/openblas-pthread/libopenblas.so.0",
  "/opt/homebrew/opt/openblas/lib/libopenblas.dylib",
  "/usr/local/opt/openblas/lib/libopenblas.dylib",
  "libopenblas.so.0",
];

/**
 * The float64 kernels the library provides.
 *
 * @example
 * ```ts
 * const b = blas();
 * if (b) console.log(b.library);
 * ```
 */
export type Blas = {
  /** The library's path. */
  library: string;
  /** `A·Bᵀ` (A m×k, B n×k), into `out` (m×n) when given. */
  matmulNT(A: Matrix, B: Matrix, out?: Matrix): Matrix;
  /** `C ← beta·C + AᵀA` (A m×p, C p×p, both triangles written). */
  gramInto(A: Matrix, C: Matrix, beta: number): void;
  /** `C ← A·Aᵀ` (A m×p, C m×m, both triangles). */
  outerGram(A: Matrix): Matrix;
  /** The eigenvalues of a symmetric matrix, ascending (LAPACK dsyevd, no vectors). */
  eigenvalues(A: Matrix): Float64Array;
  /** Eigenvalues (ascending) and eigenvectors (column j for value j) of a symmetric matrix. */
  eigen(A: Matrix): { values: Float64Array; vectors: Matrix };
  /**
   * `c ← alpha·op(a)·op(b) + beta·c` on row-major arrays: op(a) m×k, op(b) k×n, c m×n, where
   * op transposes when its flag is set (a is then stored k×m, b n×k).
   */
  gemm(
    transA: boolean,
    transB: boolean,
    m: number,
    n: number,
    k: number,
    alpha: number,
    a: Float64Array,
    b: Float64Array,
    beta: number,
    c: Float64Array,
  ): void;
  /**
   * In place: the symmetric n×n row-major `a` (both triangles equal) is replaced by its
   * eigenvectors, eigenvector j in column j when `vectors`; returns the eigenvalues ascending.
   */
  symmetricEigenInPlace(a: Float64Array, n: number, vectors: boolean): Float64Array;
  /**
   * In place: `Z ← Z·R⁻¹` with `RᵀR = ZᵀZ` (Cholesky, diag(R) > 0), the Q factor of the
   * sign-normalised QR of Z (m×n). False, Z unchanged, when ZᵀZ is not positive definite.
   */
  choleskyQrInPlace(Z: Matrix): boolean;
};

let cached: Blas | null | undefined;
let enabled = true;

/**
 * Turns the FFI kernels off (or on again) for this process: tests compare both paths.
 *
 * @example
 * ```ts
 * useBlas(false); // the TypeScript kernels from here on
 * ```
 */
export function useBlas(on: boolean): void {
  enabled = on;
}

/**
 * The system's BLAS/LAPACK kernels, or null (no permission, no library, or turned off).
 * An explicit `NC_BLAS_LIBRARY` that cannot be loaded is an error naming it.
 *
 * @example
 * ```ts
 * import { randomNormal, Rng } from "../core/random.ts";
 * const X = randomNormal(new Rng(0), 100, 8);
 * const G = blas()?.outerGram(X); // 100×100, or undefined without the library
 * ```
 */
export function blas(): Blas | null {
  if (!enabled) return null;
  if (cached !== undefined) return cached;
  cached = null;
  if (!ffiAllowed("NC_BLAS")) return null;
  const opened = openLibrary("NC_BLAS_LIBRARY", BLAS_CANDIDATES, SYMBOLS);
  if (opened !== null) cached = kernels(opened.path, opened.library.symbols);
  return cached;
}

function kernels(library: string, s: Deno.DynamicLibrary<typeof SYMBOLS>["symbols"]): Blas {
  return {
    library,
    matmulNT(A, B, out) {
      if (A.cols !== B.cols) {
        throw new RangeError(`matmulNT: ${A.rows}×${A.cols} by (${B.rows}×${B.cols})ᵀ`);
      }
      const C = out ?? matrix(A.rows, B.rows);
      if (C.rows !== A.rows || C.cols !== B.rows) {
        throw new RangeError("matmulNT: out has the wrong shape");
      }
      if (A.rows === 0 || B.rows === 0) return C;
      s.cblas_dgemm(
        ROW_MAJOR,
        NO_TRANS,
        TRANS,
        A.rows,
        B.rows,
        A.cols,
        1,
        A.data,
        A.cols,
        B.data,
        B.cols,
        0,
        C.data,
        C.cols,
      );
      return C;
    },
    gramInto(A, C, beta) {
      const p = A.cols;
      if (C.rows !== p || C.cols !== p) throw new RangeError("gramInto: C must be p×p");
      if (A.rows > 0) {
        s.cblas_dsyrk(ROW_MAJOR, UPPER, TRANS, p, A.rows, 1, A.data, p, beta, C.data, p);
      }
      mirrorUpper(C);
    },
    outerGram(A) {
      const m = A.rows, C = matrix(m, m);
      if (m > 0) {
        s.cblas_dsyrk(ROW_MAJOR, UPPER, NO_TRANS, m, A.cols, 1, A.data, A.cols, 0, C.data, m);
      }
      mirrorUpper(C);
      return C;
    },
    eigenvalues(A) {
      return syevd(s, A, false).values;
    },
    eigen(A) {
      const { values, a } = syevd(s, A, true);
      transposeSquare(a, A.rows);
      return { values, vectors: matrix(A.rows, A.rows, a) };
    },
    gemm(transA, transB, m, n, k, alpha, a, b, beta, c) {
      if (m === 0 || n === 0) return;
      if (k === 0) {
        for (let i = 0; i < m * n; i++) c[i] *= beta;
        return;
      }
      s.cblas_dgemm(
        ROW_MAJOR,
        transA ? TRANS : NO_TRANS,
        transB ? TRANS : NO_TRANS,
        m,
        n,
        k,
        alpha,
        a,
        transA ? m : k,
        b,
        transB ? k : n,
        beta,
        c,
        n,
      );
    },
    symmetricEigenInPlace(a, n, vectors) {
      const values = syevdInPlace(s, a, n, vectors);
      if (vectors) transposeSquare(a, n);
      return values;
    },
    choleskyQrInPlace(Z) {
      const m = Z.rows, n = Z.cols;
      if (n === 0) return true;
      const R = matrix(n, n);
      s.cblas_dsyrk(ROW_MAJOR, UPPER, TRANS, n, m, 1, Z.data, n, 0, R.data, n);
      // Row-major upper = column-major lower: LAPACK's lower Cholesky factor L is R = Lᵀ here.
      const info = new Int32Array([0]);
      s.dpotrf_(char("L"), new Int32Array([n]), R.data, new Int32Array([n]), info);
      if (info[0] !== 0) return false;
      for (let i = 0; i < n; i++) if (!(R.data[i * n + i] > 0)) return false;
      s.cblas_dtrsm(ROW_MAJOR, RIGHT, UPPER, NO_TRANS, NON_UNIT, m, n, 1, R.data, n, Z.data, n);
      return true;
    },
  };
}

function char(c: string): Uint8Array {
  return new Uint8Array([c.charCodeAt(0)]);
}

/** In place transpose of a square row-major array. */
function transposeSquare(a: Float64Array, n: number): void {
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const t = a[i * n + j];
      a[i * n + j] = a[j * n + i];
      a[j * n + i] = t;
    }
  }
}

/** LAPACK dsyevd on a copy of A (symmetric, so its row-major data is its column-major data). */
function syevd(
  s: Deno.DynamicLibrary<typeof SYMBOLS>["symbols"],
  A: Matrix,
  vectors: boolean,
): { values: Float64Array; a: Float64Array } {
  const n = A.rows;
  if (A.cols !== n) throw new RangeError(`eigen: A is ${A.rows}×${A.cols}, not square`);
  const a = A.data.slice();
  return { values: syevdInPlace(s, a, n, vectors), a };
}

/** LAPACK dsyevd on `a` in place (column-major eigenvectors when `vectors`); the eigenvalues. */
function syevdInPlace(
  s: Deno.DynamicLibrary<typeof SYMBOLS>["symbols"],
  a: Float64Array,
  n: number,
  vectors: boolean,
): Float64Array {
  const w = new Float64Array(n);
  if (n === 0) return w;
  const int = (v: number) => new Int32Array([v]);
  const lw = vectors ? 1 + 6 * n + 2 * n * n : 2 * n + 1, liw = vectors ? 3 + 5 * n : 1;
  const info = int(0);
  s.dsyevd_(
    char(vectors ? "V" : "N"),
    char("U"),
    int(n),
    a,
    int(n),
    w,
    new Float64Array(lw),
    int(lw),
    new Int32Array(liw),
    int(liw),
    info,
  );
  if (info[0] !== 0) throw new Error(`dsyevd: info = ${info[0]} (n = ${n})`);
  return w;
}

/** Copies the upper triangle of a square matrix onto the lower. */
function mirrorUpper(C: Matrix): void {
  const n = C.rows, c = C.data;
  for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) c[i * n + j] = c[j * n + i];
}
