/**
 * Our dense linear algebra (solver/) against ml-matrix and, where it has the operation, mathjs,
 * at the sizes the solver uses. Run with:
 *
 * ```sh
 * deno bench --allow-read --allow-env bench/linalg_bench.ts
 * ```
 *
 * Fairness rules:
 * - every input is built once, outside the timed function, in each library's native format (our
 *   row-major `Matrix`, ml-matrix `Matrix`, mathjs `DenseMatrix`), so no conversion is timed;
 * - each timed function produces the same outputs as ours: both factors of QR (ml-matrix builds Q
 *   and R in getters, so they are read inside the timing; mathjs `qr` returns the full m×m Q,
 *   its only form), the eigenvectors, and U, S, V of the SVD;
 * - ml-matrix has no Gram product, so its gram is `Aᵀ.mmul(A)` (the transpose is part of its
 *   cost, since that is the only way to get AᵀA from it); same for mathjs.
 * mathjs has no Cholesky and no SVD. Slow library cases get a fixed small iteration count.
 *
 * For Cholesky, symmetric eigen and the thin SVD there is a third variant, "ml-matrix incl.
 * conversion": it starts from our row-major `Matrix`, copies it into an ml-matrix `Matrix`, runs
 * the decomposition and copies the outputs back into our `Matrix`/`Float64Array` form with the
 * orientation ours returns (L; eigenvalues ascending with eigenvectors as columns; U, S descending,
 * V). That is what our solver would pay to use the library. Both copies use ml-matrix's public API
 * (`new Matrix(rows)` from row views of our storage, `get(i, j)` on the way back).
 *
 * @module
 */
import {
  CholeskyDecomposition,
  EigenvalueDecomposition,
  LuDecomposition,
  Matrix as MlMatrix,
  QrDecomposition,
  SingularValueDecomposition,
} from "ml-matrix";
import * as math from "mathjs";
import { cholesky } from "../solver/cholesky.ts";
import { symmetricEigen } from "../solver/eigen.ts";
import { lu } from "../solver/lu.ts";
import { type Matrix, matrix, toRows } from "../solver/matrix.ts";
import { gram, matmul } from "../solver/products.ts";
import { qr } from "../solver/qr.ts";
import { randomNormal, Rng } from "../core/random.ts";
import { svdThin } from "../solver/svd.ts";

const rng = new Rng(2024);

/** The same matrix in the three formats. */
function triple(A: Matrix): { ours: Matrix; ml: MlMatrix; mj: math.Matrix } {
  const rows = toRows(A);
  return { ours: A, ml: new MlMatrix(rows), mj: math.matrix(rows) };
}

/** Our row-major matrix → ml-matrix (one copy per row, from views of our storage). */
function toMl(A: Matrix): MlMatrix {
  const rows: Float64Array[] = [];
  for (let i = 0; i < A.rows; i++) rows.push(A.data.subarray(i * A.cols, (i + 1) * A.cols));
  return new MlMatrix(rows);
}

/** ml-matrix → our row-major matrix. */
function fromMl(M: MlMatrix): Matrix {
  const r = M.rows, c = M.columns, out = matrix(r, c), d = out.data;
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) d[i * c + j] = M.get(i, j);
  return out;
}

/** Cholesky through ml-matrix, from and to our format. */
function mlCholesky(A: Matrix): Matrix {
  return fromMl(new CholeskyDecomposition(toMl(A)).lowerTriangularMatrix);
}

/** Symmetric eigen through ml-matrix, from and to our format (values ascending, as tql2 sorts). */
function mlEigen(A: Matrix): { values: Float64Array; vectors: Matrix } {
  const e = new EigenvalueDecomposition(toMl(A), { assumeSymmetric: true });
  return { values: Float64Array.from(e.realEigenvalues), vectors: fromMl(e.eigenvectorMatrix) };
}

/** Thin SVD through ml-matrix, from and to our format (S descending, as ml-matrix sorts). */
function mlSvd(A: Matrix): { U: Matrix; S: Float64Array; V: Matrix } {
  const f = new SingularValueDecomposition(toMl(A), { autoTranspose: false });
  return {
    U: fromMl(f.leftSingularVectors),
    S: Float64Array.from(f.diagonal),
    V: fromMl(f.rightSingularVectors),
  };
}

function symmetric(n: number): Matrix {
  const G = randomNormal(rng, n, n), S = matrix(n, n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) S.data[i * n + j] = G.data[i * n + j] + G.data[j * n + i];
  }
  return S;
}

function spd(n: number): Matrix {
  const G = gram(randomNormal(rng, n, n));
  for (let i = 0; i < n * n; i++) G.data[i] /= n;
  for (let i = 0; i < n; i++) G.data[i * n + i] += 1;
  return G;
}

// Keeps results alive so that no call can be optimised away.
let sink = 0;
function keep(x: { length?: number } | number | unknown): void {
  sink ^= typeof x === "number" ? x | 0 : 1;
}

// --- matmul: 512×K · K×K -------------------------------------------------------------------
for (const K of [10, 100]) {
  const A = triple(randomNormal(rng, 512, K)), B = triple(randomNormal(rng, K, K));
  const group = `matmul 512×${K}·${K}×${K}`;
  Deno.bench({
    name: `ours ${group}`,
    group,
    baseline: true,
    fn: () => keep(matmul(A.ours, B.ours)),
  });
  Deno.bench({ name: `ml-matrix ${group}`, group, fn: () => keep(A.ml.mmul(B.ml)) });
  Deno.bench({
    name: `mathjs ${group}`,
    group,
    n: 50,
    warmup: 5,
    fn: () => keep(math.multiply(A.mj, B.mj)),
  });
}

// --- gram AᵀA of 512×K ---------------------------------------------------------------------
for (const K of [10, 100]) {
  const A = triple(randomNormal(rng, 512, K));
  const group = `gram 512×${K}`;
  Deno.bench({ name: `ours ${group}`, group, baseline: true, fn: () => keep(gram(A.ours)) });
  Deno.bench({ name: `ml-matrix ${group}`, group, fn: () => keep(A.ml.transpose().mmul(A.ml)) });
  Deno.bench({
    name: `mathjs ${group}`,
    group,
    n: 50,
    warmup: 5,
    fn: () => keep(math.multiply(math.transpose(A.mj), A.mj)),
  });
}

// --- thin QR of 512×K ----------------------------------------------------------------------
for (const K of [10, 100]) {
  const A = triple(randomNormal(rng, 512, K));
  const group = `qr 512×${K}`;
  Deno.bench({ name: `ours ${group}`, group, baseline: true, fn: () => keep(qr(A.ours)) });
  Deno.bench({
    name: `ml-matrix ${group}`,
    group,
    fn: () => {
      const f = new QrDecomposition(A.ml);
      keep(f.orthogonalMatrix);
      keep(f.upperTriangularMatrix);
    },
  });
  // mathjs returns the full 512×512 Q (no thin variant); ~2.6 s at K = 100, hence few runs.
  Deno.bench({
    name: `mathjs ${group} (full Q)`,
    group,
    n: K === 10 ? 10 : 2,
    warmup: 1,
    fn: () => keep(math.qr(A.mj)),
  });
}

// --- Cholesky n×n (mathjs has none) ----------------------------------------------------------
for (const n of [10, 55, 100]) {
  const A = triple(spd(n));
  const group = `cholesky ${n}×${n}`;
  Deno.bench({ name: `ours ${group}`, group, baseline: true, fn: () => keep(cholesky(A.ours)) });
  Deno.bench({
    name: `ml-matrix ${group}`,
    group,
    fn: () => keep(new CholeskyDecomposition(A.ml).lowerTriangularMatrix),
  });
  if (n === 100) {
    Deno.bench({
      name: `ml-matrix incl. conversion ${group}`,
      group,
      fn: () => keep(mlCholesky(A.ours)),
    });
  }
}

// --- LU 55×55 ---------------------------------------------------------------------------------
{
  const A = triple(randomNormal(rng, 55, 55));
  const group = "lu 55×55";
  Deno.bench({ name: `ours ${group}`, group, baseline: true, fn: () => keep(lu(A.ours)) });
  Deno.bench({ name: `ml-matrix ${group}`, group, fn: () => keep(new LuDecomposition(A.ml)) });
  Deno.bench({ name: `mathjs ${group}`, group, n: 50, warmup: 5, fn: () => keep(math.lup(A.mj)) });
}

// --- symmetric eigen (values and vectors) ----------------------------------------------------
for (const n of [10, 100]) {
  const A = triple(symmetric(n));
  const group = `eigen ${n}×${n}`;
  Deno.bench({
    name: `ours ${group}`,
    group,
    baseline: true,
    fn: () => keep(symmetricEigen(A.ours)),
  });
  Deno.bench({
    name: `ml-matrix ${group}`,
    group,
    fn: () => keep(new EigenvalueDecomposition(A.ml, { assumeSymmetric: true })),
  });
  Deno.bench({
    name: `ml-matrix incl. conversion ${group}`,
    group,
    fn: () => keep(mlEigen(A.ours)),
  });
  // mathjs eigs (Jacobi for symmetric input) takes ~250 ms at n = 100.
  Deno.bench({
    name: `mathjs ${group}`,
    group,
    n: n === 10 ? 50 : 4,
    warmup: 1,
    fn: () => keep(math.eigs(A.mj)),
  });
}
{
  // 1000×1000: ~2 s per call for all three, so very few iterations; mathjs is left out (its Jacobi
  // would take minutes at this size).
  const A = triple(symmetric(1000));
  const group = "eigen 1000×1000";
  Deno.bench({
    name: `ours ${group}`,
    group,
    baseline: true,
    n: 3,
    warmup: 1,
    fn: () => keep(symmetricEigen(A.ours)),
  });
  Deno.bench({
    name: `ml-matrix ${group}`,
    group,
    n: 3,
    warmup: 1,
    fn: () => keep(new EigenvalueDecomposition(A.ml, { assumeSymmetric: true })),
  });
  Deno.bench({
    name: `ml-matrix incl. conversion ${group}`,
    group,
    n: 3,
    warmup: 1,
    fn: () => keep(mlEigen(A.ours)),
  });
}

// --- thin SVD of 512×K (mathjs has none) -------------------------------------------------------
for (const K of [10, 100]) {
  const A = triple(randomNormal(rng, 512, K));
  const group = `svd 512×${K}`;
  Deno.bench({ name: `ours ${group}`, group, baseline: true, fn: () => keep(svdThin(A.ours)) });
  Deno.bench({
    name: `ml-matrix ${group}`,
    group,
    fn: () => keep(new SingularValueDecomposition(A.ml, { autoTranspose: false })),
  });
  if (K === 100) {
    Deno.bench({
      name: `ml-matrix incl. conversion ${group}`,
      group,
      fn: () => keep(mlSvd(A.ours)),
    });
  }
}

addEventListener("unload", () => {
  if (sink === 0x7fffffff) console.log(sink); // never true; reads the sink
});
