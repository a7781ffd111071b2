/**
 * Tests of the dense linear algebra in solver/: QR, Cholesky, LU, symmetric eigen, thin SVD.
 *
 * Every check is an invariant computed independently of the routine under test (products from
 * solver/products.ts, reconstructions, residuals, known spectra), with seeded random input.
 * Tolerances are multiples of the unit roundoff ε = 2⁻⁵² scaled by the size and, for forward
 * errors, by the condition number; each one says why in a comment. A wrong algorithm (missing
 * reflector, wrong sign, wrong pivot, unsorted output…) produces errors of order 1, far above them.
 *
 * @module
 */
import {
  cholesky,
  choleskySolve,
  choleskySolveRight,
  NotPositiveDefiniteError,
  tryCholesky,
} from "../solver/cholesky.ts";
import { symmetricEigen, symmetricEigenvalues } from "../solver/eigen.ts";
import { lu, luSolve } from "../solver/lu.ts";
import {
  eye,
  fromRows,
  type Matrix,
  matrix,
  maxAbs,
  maxAbsDiff,
  transpose,
} from "../solver/matrix.ts";
import { frobeniusNorm, gram, matmul, matmulNT } from "../solver/products.ts";
import { qr } from "../solver/qr.ts";
import { randomNormal, Rng } from "../core/random.ts";
import { svdThin } from "../solver/svd.ts";

const EPS = Number.EPSILON;

// ---------------------------------------------------------------------------------------------
// Helpers

function assert(cond: boolean, msg: string): void {
  if (!cond) throw new Error(msg);
}

/** Fails when `value > bound` or `value` is NaN. */
function assertLe(value: number, bound: number, what: string): void {
  if (!(value <= bound)) throw new Error(`${what}: ${value} exceeds the tolerance ${bound}`);
}

function assertThrows<E extends Error>(
  fn: () => unknown,
  ErrorClass: new (...args: never[]) => E,
  includes: string[],
): E {
  try {
    fn();
  } catch (e) {
    assert(e instanceof ErrorClass, `expected ${ErrorClass.name}, got ${e}`);
    const err = e as E;
    for (const s of includes) {
      assert(err.message.includes(s), `message "${err.message}" should mention "${s}"`);
    }
    return err;
  }
  throw new Error(`expected ${ErrorClass.name} to be thrown`);
}

/** M·diag(s) (scales column j by s[j]). */
function scaleCols(M: Matrix, s: ArrayLike<number>): Matrix {
  const out = matrix(M.rows, M.cols);
  for (let i = 0; i < M.rows; i++) {
    for (let j = 0; j < M.cols; j++) out.data[i * M.cols + j] = M.data[i * M.cols + j] * s[j];
  }
  return out;
}

/** m×n with orthonormal columns: Q of a Gaussian matrix (QR is checked on its own below). */
function randomOrthonormal(rng: Rng, m: number, n: number): Matrix {
  return qr(randomNormal(rng, m, n)).Q;
}

/** U·diag(sigma)·Vᵀ with random orthonormal U (m×n) and orthogonal V (n×n). */
function withSingularValues(rng: Rng, m: number, sigma: ArrayLike<number>): Matrix {
  const n = sigma.length;
  return matmulNT(scaleCols(randomOrthonormal(rng, m, n), sigma), randomOrthonormal(rng, n, n));
}

/** Q·diag(lambda)·Qᵀ with a random orthogonal Q. */
function withEigenvalues(rng: Rng, lambda: ArrayLike<number>): Matrix {
  const n = lambda.length;
  const Q = randomOrthonormal(rng, n, n);
  return matmulNT(scaleCols(Q, lambda), Q);
}

/** A random symmetric positive definite matrix GᵀG/n + I (eigenvalues in about [1, 5]). */
function randomSpd(rng: Rng, n: number): Matrix {
  const G = gram(randomNormal(rng, n, n));
  for (let i = 0; i < n * n; i++) G.data[i] /= n;
  for (let i = 0; i < n; i++) G.data[i * n + i] += 1;
  return G;
}

function hilbert(n: number): Matrix {
  const H = matrix(n, n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) H.data[i * n + j] = 1 / (i + j + 1);
  return H;
}

/** Known 2-norm condition numbers of Hilbert matrices (rounded up). */
const HILBERT_COND: Record<number, number> = { 4: 1.6e4, 6: 1.5e7, 8: 1.6e10, 10: 1.7e13 };

function sub(A: Matrix, B: Matrix): Matrix {
  const out = matrix(A.rows, A.cols);
  for (let i = 0; i < out.data.length; i++) out.data[i] = A.data[i] - B.data[i];
  return out;
}

function orthonormalityError(Q: Matrix): number {
  return maxAbsDiff(gram(Q), eye(Q.cols));
}

// ---------------------------------------------------------------------------------------------
// QR

Deno.test("qr: QᵀQ = I, R upper triangular with diag ≥ 0, QR = A (random, 1×1 … 200×100)", () => {
  const rng = new Rng(11);
  for (
    const [m, n] of [[1, 1], [2, 2], [3, 2], [7, 1], [10, 10], [50, 10], [100, 100], [200, 100]]
  ) {
    const A = randomNormal(rng, m, n);
    const { Q, R } = qr(A);
    assert(Q.rows === m && Q.cols === n && R.rows === n && R.cols === n, `shapes for ${m}×${n}`);
    // Householder QR: ‖QᵀQ − I‖ and ‖QR − A‖/‖A‖ are O(m·n·ε) in the worst-case analysis and
    // O(n·ε) in practice; 10·m·ε leaves margin while any wrong reflector gives O(1).
    assertLe(orthonormalityError(Q), 10 * m * EPS, `QᵀQ − I for ${m}×${n}`);
    assertLe(
      frobeniusNorm(sub(matmul(Q, R), A)),
      10 * m * EPS * frobeniusNorm(A),
      `QR − A for ${m}×${n}`,
    );
    for (let i = 0; i < n; i++) {
      assert(R.data[i * n + i] >= 0, `R[${i}][${i}] = ${R.data[i * n + i]} < 0 (${m}×${n})`);
      for (let j = 0; j < i; j++) assert(R.data[i * n + j] === 0, `R[${i}][${j}] ≠ 0`);
    }
  }
});

Deno.test("qr: R equals the transposed Cholesky factor of AᵀA (uniqueness with diag ≥ 0)", () => {
  // For full-rank A, AᵀA = RᵀR and the positive-diagonal Cholesky factor is unique, so R = Lᵀ.
  // Forming AᵀA squares the condition number (≈ 3 here, Gaussian 60×8): the difference is
  // O(κ²·n·ε)·‖A‖; 1e3·ε·‖A‖² / ‖A‖ is a generous bound that a sign error (O(‖A‖)) exceeds.
  const A = randomNormal(new Rng(12), 60, 8);
  const { R } = qr(A);
  const Lt = transpose(cholesky(gram(A)));
  assertLe(maxAbsDiff(R, Lt), 1e3 * EPS * maxAbs(R), "R − chol(AᵀA)ᵀ");
});

Deno.test("qr: ill-conditioned and rank-deficient input keeps QᵀQ = I and QR = A", () => {
  const rng = new Rng(13);
  const sigma = Array.from({ length: 20 }, (_, i) => 10 ** (-12 * i / 19));
  const graded = withSingularValues(rng, 80, sigma);
  const deficient = randomNormal(rng, 30, 6);
  for (let i = 0; i < 30; i++) {
    deficient.data[i * 6 + 2] = 0; // a zero column
    deficient.data[i * 6 + 4] = deficient.data[i * 6 + 1]; // a repeated column
  }
  for (const A of [graded, deficient]) {
    const { Q, R } = qr(A);
    // Backward stability does not depend on the conditioning: same bounds as the random case.
    assertLe(orthonormalityError(Q), 10 * A.rows * EPS, "QᵀQ − I");
    assertLe(frobeniusNorm(sub(matmul(Q, R), A)), 10 * A.rows * EPS * frobeniusNorm(A), "QR − A");
    for (let i = 0; i < A.cols; i++) assert(R.data[i * A.cols + i] >= 0, "diag(R) ≥ 0");
  }
  // The zero column gives an exactly zero diagonal entry of R.
  assert(qr(deficient).R.data[2 * 6 + 2] === 0, "R[2][2] for a zero column");
});

Deno.test("qr: wide input is a RangeError naming the shape", () => {
  assertThrows(() => qr(matrix(2, 3)), RangeError, ["2×3"]);
});

// ---------------------------------------------------------------------------------------------
// Cholesky

Deno.test("cholesky: L lower with positive diagonal and LLᵀ = A (random SPD, n = 1 … 100)", () => {
  const rng = new Rng(21);
  for (const n of [1, 2, 3, 10, 55, 100]) {
    const A = randomSpd(rng, n);
    const L = cholesky(A);
    for (let i = 0; i < n; i++) {
      assert(L.data[i * n + i] > 0, `L[${i}][${i}] > 0`);
      for (let j = i + 1; j < n; j++) assert(L.data[i * n + j] === 0, `L[${i}][${j}] = 0`);
    }
    // Cholesky is backward stable: ‖LLᵀ − A‖ ≤ c·n·ε·‖A‖ (c small); 4·n·ε is well above it.
    assertLe(maxAbsDiff(matmulNT(L, L), A), 4 * n * EPS * maxAbs(A), `LLᵀ − A, n = ${n}`);
    const T = tryCholesky(A);
    assert(T !== null && maxAbsDiff(T, L) === 0, "tryCholesky agrees with cholesky");
  }
});

Deno.test("cholesky: every size 4 … 9 and 17 (the four-column blocks' remainders)", () => {
  const rng = new Rng(26);
  for (const n of [4, 5, 6, 7, 8, 9, 17]) {
    const A = randomSpd(rng, n);
    const L = cholesky(A);
    for (let i = 0; i < n; i++) {
      assert(L.data[i * n + i] > 0, `L[${i}][${i}] > 0`);
      for (let j = i + 1; j < n; j++) assert(L.data[i * n + j] === 0, `L[${i}][${j}] = 0`);
    }
    // Same backward-stability bound as the random SPD test above.
    assertLe(maxAbsDiff(matmulNT(L, L), A), 4 * n * EPS * maxAbs(A), `LLᵀ − A, n = ${n}`);
  }
});

Deno.test("cholesky: only the lower triangle is read", () => {
  const A = randomSpd(new Rng(22), 6);
  const B = A.data.slice();
  for (let i = 0; i < 6; i++) for (let j = i + 1; j < 6; j++) B[i * 6 + j] = 1e6; // garbage
  assert(maxAbsDiff(cholesky(A), cholesky(matrix(6, 6, B))) === 0, "upper triangle ignored");
});

Deno.test("choleskySolve: residual ‖AX − B‖ ≤ c·n·ε·‖A‖‖X‖ (random SPD and Hilbert)", () => {
  const rng = new Rng(23);
  for (const n of [1, 2, 10, 55, 100]) {
    const A = randomSpd(rng, n);
    const B = randomNormal(rng, n, 3);
    const X = choleskySolve(cholesky(A), B);
    // Backward stable solve: the residual is ε-small relative to ‖A‖·‖X‖; 8·n·ε allows for the
    // factorisation and both substitutions.
    assertLe(
      frobeniusNorm(sub(matmul(A, X), B)),
      8 * n * EPS * frobeniusNorm(A) * frobeniusNorm(X),
      `AX − B, n = ${n}`,
    );
  }
  for (const n of [4, 6, 8, 10]) {
    const H = hilbert(n);
    const Xtrue = randomNormal(rng, n, 2);
    const B = matmul(H, Xtrue);
    const X = choleskySolve(cholesky(H), B);
    // The residual bound holds whatever the conditioning…
    assertLe(
      frobeniusNorm(sub(matmul(H, X), B)),
      8 * n * EPS * frobeniusNorm(H) * frobeniusNorm(X),
      `HX − B, Hilbert ${n}`,
    );
    // …while the forward error is ≲ κ(H)·(residual bound): κ·n·ε·10 relative (≈ 4e-2 for n = 10,
    // ≈ 3e-5 for n = 8); a wrong solve gives relative errors of order 1.
    const rel = frobeniusNorm(sub(X, Xtrue)) / frobeniusNorm(Xtrue);
    assertLe(rel, 10 * n * EPS * HILBERT_COND[n], `forward error, Hilbert ${n}`);
  }
});

Deno.test("choleskySolveRight: X·A = V for d×K (odd d, in place, with out)", () => {
  const rng = new Rng(24);
  for (const [d, K] of [[1, 1], [3, 1], [7, 2], [37, 10], [512, 55], [64, 100]]) {
    const A = randomSpd(rng, K);
    const L = cholesky(A);
    const V = randomNormal(rng, d, K);
    const X = choleskySolveRight(L, V);
    // Same backward-stability argument as choleskySolve, row by row.
    assertLe(
      frobeniusNorm(sub(matmul(X, A), V)),
      8 * K * EPS * frobeniusNorm(A) * frobeniusNorm(X),
      `XA − V, ${d}×${K}`,
    );
    const out = matrix(d, K);
    assert(choleskySolveRight(L, V, out) === out, "returns out");
    assert(maxAbsDiff(out, X) === 0, "out gives the same result");
    const W = matrix(d, K, V.data.slice());
    choleskySolveRight(L, W, W);
    assert(maxAbsDiff(W, X) === 0, "in place gives the same result");
  }
  // Hilbert 8: the residual is still ε-small relative to ‖X‖‖A‖.
  const H = hilbert(8), V = randomNormal(rng, 9, 8);
  const X = choleskySolveRight(cholesky(H), V);
  assertLe(
    frobeniusNorm(sub(matmul(X, H), V)),
    8 * 8 * EPS * frobeniusNorm(H) * frobeniusNorm(X),
    "XH − V, Hilbert 8",
  );
  assertThrows(() => choleskySolveRight(cholesky(H), matrix(2, 7)), RangeError, ["2×7"]);
});

Deno.test("cholesky: NotPositiveDefiniteError names the pivot index and value", () => {
  const e1 = assertThrows(
    () => cholesky(fromRows([[1, 2], [2, 1]])),
    NotPositiveDefiniteError,
    ["pivot 1", "-3"],
  );
  assert(e1 instanceof Error && e1.index === 1 && e1.pivot === -3, "index 1, pivot −3");
  // Indefinite with a random spectrum: eigenvalues {−1, 1, 2, 3} in a random basis.
  const A = withEigenvalues(new Rng(25), [-1, 1, 2, 3]);
  assertThrows(() => cholesky(A), NotPositiveDefiniteError, ["pivot"]);
  assert(tryCholesky(A) === null, "tryCholesky returns null");
  const e2 = assertThrows(
    () => cholesky(fromRows([[-4, 0], [0, 1]])),
    NotPositiveDefiniteError,
    ["pivot 0"],
  );
  assert(e2.index === 0 && e2.pivot === -4, "index 0, pivot −4");
  const e3 = assertThrows(
    () => cholesky(fromRows([[1, 0], [0, NaN]])),
    NotPositiveDefiniteError,
    ["NaN"],
  );
  assert(e3.index === 1 && Number.isNaN(e3.pivot), "NaN pivot reported");
  assertThrows(() => cholesky(matrix(2, 3)), RangeError, ["2×3"]);
});

// ---------------------------------------------------------------------------------------------
// LU

function permuteRows(A: Matrix, pivots: Int32Array): Matrix {
  const n = A.cols, out = matrix(A.rows, n);
  for (let i = 0; i < A.rows; i++) {
    out.data.set(A.data.subarray(pivots[i] * n, pivots[i] * n + n), i * n);
  }
  return out;
}

function unpackLU(LU: Matrix): { L: Matrix; U: Matrix } {
  const n = LU.rows, L = eye(n), U = matrix(n, n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      if (j < i) L.data[i * n + j] = LU.data[i * n + j];
      else U.data[i * n + j] = LU.data[i * n + j];
    }
  }
  return { L, U };
}

Deno.test("lu: PA = LU with |l_ij| ≤ 1 and a permutation (random n = 1 … 100, Hilbert)", () => {
  const rng = new Rng(31);
  const cases = [1, 2, 5, 55, 100].map((n) => randomNormal(rng, n, n));
  cases.push(hilbert(10));
  for (const A of cases) {
    const n = A.rows;
    const f = lu(A);
    assert(!f.singular, `not singular, n = ${n}`);
    assert([...f.pivots].sort((a, b) => a - b).every((p, i) => p === i), "pivots permutation");
    const { L, U } = unpackLU(f.LU);
    // Partial pivoting: every multiplier is at most 1 in magnitude.
    assertLe(maxAbs(L), 1, `|L| ≤ 1, n = ${n}`);
    // Backward error of GEPP is ≤ c·n·ε·ρ·‖A‖ with growth factor ρ, tiny for these matrices;
    // 4·n·ε·‖A‖ still fails for any wrong pivot or multiplier.
    assertLe(
      maxAbsDiff(permuteRows(A, f.pivots), matmul(L, U)),
      4 * n * EPS * maxAbs(A),
      `PA − LU, n = ${n}`,
    );
  }
  const f = lu(fromRows([[1, 2], [3, 4]]));
  assert(f.pivots[0] === 1 && f.pivots[1] === 0, "pivots of [[1,2],[3,4]]");
  assert(f.LU.data[0] === 3 && f.LU.data[1] === 4 && Math.abs(f.LU.data[2] - 1 / 3) < EPS, "LU");
});

Deno.test("luSolve: residuals small and Hilbert forward error within κ·ε", () => {
  const rng = new Rng(32);
  for (const n of [1, 3, 55, 100]) {
    const A = randomNormal(rng, n, n), B = randomNormal(rng, n, 4);
    const X = luSolve(lu(A), B);
    // GEPP + substitutions: residual O(n·ε·‖A‖·‖X‖) (small growth factor).
    assertLe(
      frobeniusNorm(sub(matmul(A, X), B)),
      8 * n * EPS * frobeniusNorm(A) * frobeniusNorm(X),
      `AX − B, n = ${n}`,
    );
  }
  for (const n of [4, 8, 10]) {
    const H = hilbert(n), Xtrue = randomNormal(rng, n, 2);
    const X = luSolve(lu(H), matmul(H, Xtrue));
    // Forward error ≲ κ(H)·n·ε (times a small constant): 10·n·ε·κ.
    const rel = frobeniusNorm(sub(X, Xtrue)) / frobeniusNorm(Xtrue);
    assertLe(rel, 10 * n * EPS * HILBERT_COND[n], `forward error, Hilbert ${n}`);
  }
});

Deno.test("lu: singular matrices are flagged and luSolve refuses them", () => {
  const rng = new Rng(33);
  const G = randomNormal(rng, 6, 6);
  for (let j = 0; j < 6; j++) G.data[5 * 6 + j] = G.data[0 * 6 + j] + 2 * G.data[1 * 6 + j];
  const zeroCol = randomNormal(rng, 4, 4);
  for (let i = 0; i < 4; i++) zeroCol.data[i * 4 + 2] = 0;
  for (const A of [G, zeroCol, matrix(3, 3), fromRows([[1, 2], [2, 4]])]) {
    const f = lu(A);
    assert(f.singular, `singular ${A.rows}×${A.cols} flagged`);
    assertThrows(() => luSolve(f, matrix(A.rows, 1)), Error, ["singular"]);
  }
  assert(!lu(eye(3)).singular, "identity not singular");
  assertThrows(() => lu(matrix(2, 3)), RangeError, ["2×3"]);
  assertThrows(() => lu(fromRows([[1, NaN], [0, 1]])), RangeError, ["NaN"]);
});

// ---------------------------------------------------------------------------------------------
// Symmetric eigen

function checkEigen(A: Matrix, what: string): { values: Float64Array; vectors: Matrix } {
  const n = A.rows;
  const r = symmetricEigen(A);
  const { values, vectors: V } = r;
  assert(values.length === n && V.rows === n && V.cols === n, `${what}: shapes`);
  for (let i = 1; i < n; i++) assert(values[i - 1] <= values[i], `${what}: ascending at ${i}`);
  // Householder + QL is backward stable: ‖AV − VΛ‖ and ‖VᵀV − I‖ are O(n·ε·‖A‖) and O(n·ε);
  // 10·n·ε (with ‖A‖ bounded by n·max|a_ij|) leaves margin; a wrong vector gives O(‖A‖).
  const scale = Math.max(maxAbs(A) * n, Number.MIN_VALUE);
  assertLe(
    maxAbsDiff(matmul(A, V), scaleCols(V, values)),
    10 * n * EPS * scale,
    `${what}: AV − VΛ`,
  );
  assertLe(orthonormalityError(V), 10 * n * EPS, `${what}: VᵀV − I`);
  return r;
}

Deno.test("symmetricEigen: recovers the spectrum of Q·diag(λ)·Qᵀ (n = 1 … 300)", () => {
  const rng = new Rng(41);
  for (const n of [1, 2, 3, 10, 100, 300]) {
    // Spread, negative, repeated and clustered eigenvalues.
    const lambda = Array.from({ length: n }, (_, i) => {
      if (i % 7 === 3) return 2; // repeated
      if (i % 11 === 5) return 2 + 1e-9 * i; // clustered around 2
      return (rng.uniform() - 0.5) * 20;
    });
    const A = withEigenvalues(rng, lambda);
    const { values } = checkEigen(A, `n = ${n}`);
    const sorted = [...lambda].sort((a, b) => a - b);
    // Weyl: each computed eigenvalue is within ‖E‖₂ of the exact one for a backward error E of
    // norm O(n·ε·‖A‖); the constructed A itself carries O(n·ε·‖A‖) rounding. ‖A‖ = max|λ| ≤ 10.
    for (let i = 0; i < n; i++) {
      assertLe(Math.abs(values[i] - sorted[i]), 10 * n * EPS * 10, `λ_${i}, n = ${n}`);
    }
  }
});

Deno.test("symmetricEigenvalues: the known spectrum of Q·diag(λ)·Qᵀ, without eigenvectors", () => {
  const rng = new Rng(43);
  for (const n of [1, 2, 3, 10, 100, 300]) {
    const lambda = Array.from({ length: n }, (_, i) => {
      if (i % 7 === 3) return 2; // repeated
      if (i % 11 === 5) return 2 + 1e-9 * i; // clustered around 2
      return (rng.uniform() - 0.5) * 20;
    });
    const A = withEigenvalues(rng, lambda);
    const values = symmetricEigenvalues(A);
    assert(values.length === n, `n = ${n}: length`);
    const sorted = [...lambda].sort((a, b) => a - b);
    // The same Weyl bound as symmetricEigen's (backward-stable reduction; ‖A‖ ≤ 10).
    for (let i = 0; i < n; i++) {
      assertLe(Math.abs(values[i] - sorted[i]), 10 * n * EPS * 10, `λ_${i}, n = ${n}`);
    }
  }
  assertThrows(() => symmetricEigenvalues(matrix(2, 3)), RangeError, ["2×3"]);
  assertThrows(() => symmetricEigenvalues(fromRows([[1, NaN], [NaN, 1]])), RangeError, ["NaN"]);
});

Deno.test("symmetricEigen: known spectrum of tridiag(−1, 2, −1) and of diagonal matrices", () => {
  const n = 50;
  const T = matrix(n, n);
  for (let i = 0; i < n; i++) {
    T.data[i * n + i] = 2;
    if (i + 1 < n) T.data[i * n + i + 1] = T.data[(i + 1) * n + i] = -1;
  }
  const { values } = checkEigen(T, "tridiag(−1, 2, −1)");
  for (let k = 1; k <= n; k++) {
    const exact = 2 - 2 * Math.cos((k * Math.PI) / (n + 1));
    // Backward error O(n·ε·‖T‖) with ‖T‖ ≤ 4 (exact values are computed to ≈ ε).
    assertLe(Math.abs(values[k - 1] - exact), 10 * n * EPS * 4, `λ_${k}`);
  }
  // Already-diagonal input (no reflection needed): exact values, and V a signed permutation.
  const D = matrix(4, 4);
  [3, -1, 0, 2].forEach((v, i) => (D.data[i * 4 + i] = v));
  const r = checkEigen(D, "diagonal");
  assert([...r.values].join() === "-1,0,2,3", `diagonal values ${r.values}`);
  const Z = checkEigen(matrix(5, 5), "zero");
  assert(Z.values.every((v) => v === 0), "zero matrix has zero eigenvalues");
  const one = checkEigen(fromRows([[-7.5]]), "1×1");
  assert(one.values[0] === -7.5 && Math.abs(one.vectors.data[0]) === 1, "1×1");
});

Deno.test("symmetricEigen: every size 4 … 9 and 17 (blocked kernels' remainders), block-diagonal", () => {
  // The reduction, the accumulation of Q and the QL rotations work on two or four rows at a time;
  // these sizes reach every remainder. Same bounds as checkEigen (backward stability).
  const rng = new Rng(43);
  for (const n of [4, 5, 6, 7, 8, 9, 17]) {
    const G = randomNormal(rng, n, n), A = matrix(n, n);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) A.data[i * n + j] = G.data[i * n + j] + G.data[j * n + i];
    }
    checkEigen(A, `random symmetric n = ${n}`);
  }
  // Block-diagonal (6×6 and 5×5 blocks): the reduction meets a row that is already tridiagonal
  // (no reflection) while an update from the previous step is still pending.
  const B = matrix(11, 11);
  for (const [o, m] of [[0, 6], [6, 5]]) {
    const G = randomNormal(rng, m, m);
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < m; j++) {
        B.data[(o + i) * 11 + o + j] = G.data[i * m + j] + G.data[j * m + i];
      }
    }
  }
  const { values } = checkEigen(B, "block-diagonal 6 + 5");
  // The spectrum is the union of the blocks' spectra (each computed on its own).
  const parts: number[] = [];
  for (const [o, m] of [[0, 6], [6, 5]]) {
    const Bk = matrix(m, m);
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < m; j++) Bk.data[i * m + j] = B.data[(o + i) * 11 + o + j];
    }
    parts.push(...symmetricEigen(Bk).values);
  }
  parts.sort((x, y) => x - y);
  // Both are backward stable: each eigenvalue is within O(n·ε·‖B‖) of the exact one (Weyl).
  for (let i = 0; i < 11; i++) {
    assertLe(Math.abs(values[i] - parts[i]), 20 * 11 * EPS * maxAbs(B) * 11, `λ_${i} of 6 + 5`);
  }
});

Deno.test("symmetricEigen: decomposes (A + Aᵀ)/2 of a non-symmetric A; rejects bad input", () => {
  const rng = new Rng(42);
  const A = randomNormal(rng, 12, 12);
  const S = matrix(12, 12);
  for (let i = 0; i < 12; i++) {
    for (let j = 0; j < 12; j++) {
      S.data[i * 12 + j] = 0.5 * (A.data[i * 12 + j] + A.data[j * 12 + i]);
    }
  }
  const { values, vectors } = symmetricEigen(A);
  // Residual against the symmetric part (same bound as checkEigen); against A it would be O(1).
  assertLe(
    maxAbsDiff(matmul(S, vectors), scaleCols(vectors, values)),
    10 * 12 * EPS * maxAbs(S) * 12,
    "(A+Aᵀ)/2 · V − VΛ",
  );
  assertThrows(() => symmetricEigen(matrix(2, 3)), RangeError, ["2×3"]);
  assertThrows(() => symmetricEigen(fromRows([[1, Infinity], [0, 1]])), RangeError, ["Infinity"]);
});

// ---------------------------------------------------------------------------------------------
// SVD

function checkSvd(A: Matrix, what: string): { U: Matrix; S: Float64Array; V: Matrix } {
  const m = A.rows, n = A.cols;
  const r = svdThin(A);
  const { U, S, V } = r;
  assert(U.rows === m && U.cols === n && S.length === n && V.rows === n && V.cols === n, what);
  for (let i = 0; i < n; i++) assert(S[i] >= 0, `${what}: S[${i}] ≥ 0`);
  for (let i = 1; i < n; i++) assert(S[i - 1] >= S[i], `${what}: S descending at ${i}`);
  // QR + one-sided Jacobi: orthogonality O(n·ε) per sweep, a few tens of sweeps at most, and a
  // backward-stable reconstruction; 20·n·ε and 20·n·ε·‖A‖_F leave margin for both.
  assertLe(orthonormalityError(U), 20 * Math.max(n, 5) * EPS, `${what}: UᵀU − I`);
  assertLe(orthonormalityError(V), 20 * Math.max(n, 5) * EPS, `${what}: VᵀV − I`);
  assertLe(
    frobeniusNorm(sub(matmulNT(scaleCols(U, S), V), A)),
    20 * Math.max(n, 5) * EPS * frobeniusNorm(A),
    `${what}: U·diag(S)·Vᵀ − A`,
  );
  return r;
}

Deno.test("svdThin: reconstruction and orthonormality (random, 1×1 … 200×100)", () => {
  const rng = new Rng(51);
  for (const [m, n] of [[1, 1], [2, 2], [5, 3], [30, 30], [100, 50], [200, 100]]) {
    const A = randomNormal(rng, m, n);
    const { S } = checkSvd(A, `${m}×${n}`);
    // Independent cross-check: σ_i² are the eigenvalues of AᵀA (eigen solver, not the SVD).
    // Gaussian A is well conditioned; the eigenvalues carry O(n·ε·‖A‖²) error, so
    // |σ² − λ| ≤ 20·n·ε·σ_max².
    const lambda = symmetricEigen(gram(A)).values;
    for (let i = 0; i < n; i++) {
      const err = Math.abs(S[i] * S[i] - lambda[n - 1 - i]);
      assertLe(err, 20 * n * EPS * S[0] * S[0], `σ_${i}² vs eig(AᵀA), ${m}×${n}`);
    }
  }
});

Deno.test("svdThin: singular values 1 … 1e-12 with small relative error (column-graded A)", () => {
  // A = Q·diag(σ)·P with Q orthonormal columns and P a permutation: columns are orthogonal with
  // norms σ, so the singular values are exactly σ, and A is stored to within one rounding per
  // entry (a column-wise *relative* perturbation). QR + one-sided Jacobi is accurate to
  // O(n·ε·κ(B)) RELATIVE error for A = B·D (Demmel–Veselić) with B = Q·P, κ(B) = 1, so every σ,
  // even 1e-12, must come back with relative error ≤ 20·n·ε. A Golub–Kahan or AᵀA-based method
  // only guarantees absolute error ε·σ_max, i.e. relative error ~1e-4 at σ = 1e-12, and fails.
  const rng = new Rng(52);
  for (const [m, n] of [[2, 2], [20, 13], [512, 10], [150, 100]]) {
    const sigma = Array.from({ length: n }, (_, i) => 10 ** (-12 * i / (n - 1)));
    const perm = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(rng.uniform() * (i + 1));
      [perm[i], perm[j]] = [perm[j], perm[i]];
    }
    const A = scaleCols(randomOrthonormal(rng, m, n), perm.map((p) => sigma[p]));
    const { S } = checkSvd(A, `graded ${m}×${n}`);
    for (let i = 0; i < n; i++) {
      assertLe(Math.abs(S[i] - sigma[i]) / sigma[i], 20 * n * EPS, `rel. error of σ_${i}`);
    }
  }
});

Deno.test("svdThin: singular values of U·diag(σ)·Vᵀ, σ = 1 … 1e-12, to ε·σ_max/σ relative", () => {
  // With random orthogonal U and V the entries of A mix all σ, and merely storing A in floating
  // point perturbs it by ≈ ε·‖A‖₂ = ε·σ_max. By Weyl's theorem no method can then promise more
  // than |σ̂_i − σ_i| ≲ c·n·ε·σ_max, i.e. RELATIVE error c·n·ε·σ_max/σ_i: ≈ 10·n·ε for σ ≈ 1,
  // ≈ 2e-12·n at σ = 1e-3 and ≈ 2e-3·n at σ = 1e-12. We assert exactly that bound with c = 10
  // (the column-graded test above is where 1e-12 must come back to full relative accuracy).
  const rng = new Rng(53);
  for (const [m, n] of [[3, 3], [60, 25], [512, 100]]) {
    const sigma = Array.from({ length: n }, (_, i) => 10 ** (-12 * i / (n - 1)));
    const A = withSingularValues(rng, m, sigma);
    const { S } = checkSvd(A, `U·diag(σ)·Vᵀ ${m}×${n}`);
    for (let i = 0; i < n; i++) {
      const rel = Math.abs(S[i] - sigma[i]) / sigma[i];
      assertLe(rel, 10 * n * EPS * (sigma[0] / sigma[i]), `rel. error of σ_${i} (${m}×${n})`);
    }
  }
});

Deno.test("svdThin: rank-deficient input still gives orthonormal U (completed basis)", () => {
  const rng = new Rng(54);
  const G = randomNormal(rng, 9, 3);
  const A = matrix(9, 6);
  for (let i = 0; i < 9; i++) {
    const g = G.data.subarray(i * 3, i * 3 + 3);
    // columns: g0, g1, g0 + g1, 0, g2, 0 → rank 3
    [g[0], g[1], g[0] + g[1], 0, g[2], 0].forEach((v, j) => (A.data[i * 6 + j] = v));
  }
  const { S } = checkSvd(A, "rank 3 of 6");
  // Three singular values are 0 up to the backward error O(n·ε·‖A‖).
  for (let i = 3; i < 6; i++) assertLe(S[i], 20 * 6 * EPS * S[0], `σ_${i} ≈ 0`);
  assert(S[2] > 1e-3 * S[0], "σ_2 clearly non-zero");
  const Z = checkSvd(matrix(4, 3), "zero 4×3");
  assert(Z.S.every((s) => s === 0), "zero matrix: S = 0");
  // Rank one, u·vᵀ with u = (1, 2, 0, 1), v = (1, 2, 3): σ_0 = ‖u‖‖v‖ = √84, σ_1 = σ_2 ≈ 0.
  const r1 = checkSvd(fromRows([[1, 2, 3], [2, 4, 6], [0, 0, 0], [1, 2, 3]]), "rank 1");
  assertLe(Math.abs(r1.S[0] - Math.sqrt(84)), 8 * EPS * r1.S[0], "σ_0 of rank 1");
  assertLe(r1.S[1], 20 * 3 * EPS * r1.S[0], "σ_1 of rank 1 ≈ 0");
  assertThrows(() => svdThin(matrix(2, 3)), RangeError, ["2×3"]);
  assertThrows(() => svdThin(fromRows([[NaN]])), RangeError, ["NaN"]);
});
