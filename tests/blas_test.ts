/**
 * The system BLAS/LAPACK kernels through FFI (solver/blas.ts) against the TypeScript kernels and
 * known answers: products and Gram matrices agree to rounding (1e-12 relative to the sizes of the
 * terms), eigenvalues of Q·diag(λ)·Qᵀ are λ within the Weyl bound, the neural-collapse metrics are
 * the same on both paths (1e-10 relative), and without `--allow-ffi` nothing is loaded. Ignored
 * when no library is installed (`.ci/run` installs Debian's libopenblas0-pthread).
 */
import { assert, assertEquals } from "./assert.ts";
import { fileURLToPath } from "node:url";
import { randomNormal, Rng } from "../core/random.ts";
import { blas, useBlas } from "../solver/blas.ts";
import { matmulNT } from "../solver/products.ts";
import { type Matrix, matrix } from "../solver/matrix.ts";
import { randomPoint } from "../solver/stiefel.ts";
import { NcAccumulator } from "../analysis/nc_accumulator.ts";

const fast = blas();
if (fast === null) console.warn("blas_test: no BLAS library: ignored");
const ignore = fast === null;

function close(a: Matrix, b: Matrix, scale: number, what: string): void {
  assertEquals([a.rows, a.cols], [b.rows, b.cols], what);
  for (let i = 0; i < a.data.length; i++) {
    assert(
      Math.abs(a.data[i] - b.data[i]) <= 1e-12 * scale,
      `${what}: entry ${i} ${a.data[i]} vs ${b.data[i]}`,
    );
  }
}

Deno.test({
  name: "blas: A·Bᵀ and Gram matrices equal the TypeScript kernels",
  ignore,
  fn: () => {
    const rng = new Rng(5);
    for (const [m, k, n] of [[1, 1, 1], [7, 5, 3], [300, 64, 129], [0, 4, 3]]) {
      const A = randomNormal(rng, m, k), B = randomNormal(rng, n, k);
      close(fast!.matmulNT(A, B), matmulNT(A, B), k, `${m}×${k}×${n}`);
      // AᵀA accumulated twice with beta = 1 is 2·AᵀA, both triangles.
      const C = matrix(k, k);
      fast!.gramInto(A, C, 0);
      fast!.gramInto(A, C, 1);
      const twice = matmulNT({ rows: k, cols: m, data: transposeData(A) }, {
        rows: k,
        cols: m,
        data: transposeData(A),
      });
      for (let i = 0; i < twice.data.length; i++) twice.data[i] *= 2;
      close(C, twice, 2 * Math.max(m, 1), `gram ${m}×${k}`);
      close(fast!.outerGram(A), matmulNT(A, A), k, `outer ${m}×${k}`);
    }
  },
});

function transposeData(A: Matrix): Float64Array {
  const out = new Float64Array(A.rows * A.cols);
  for (let i = 0; i < A.rows; i++) {
    for (let j = 0; j < A.cols; j++) out[j * A.rows + i] = A.data[i * A.cols + j];
  }
  return out;
}

Deno.test({
  name: "blas: the eigenvalues of Q·diag(λ)·Qᵀ are λ (repeated and clustered too)",
  ignore,
  fn: () => {
    const rng = new Rng(9);
    for (const n of [1, 2, 10, 200]) {
      const lambda = Array.from(
        { length: n },
        (_, i) => i % 5 === 1 ? 2 : i % 7 === 3 ? 2 + 1e-10 * i : 20 * (rng.uniform() - 0.5),
      );
      const Q = randomPoint(rng, n, n);
      const A = matrix(n, n);
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < n; j++) {
          let s = 0;
          for (let k = 0; k < n; k++) s += Q.data[i * n + k] * lambda[k] * Q.data[j * n + k];
          A.data[i * n + j] = s;
        }
      }
      const values = fast!.eigenvalues(A);
      // With vectors: the same values, A·V = V·Λ and VᵀV = I to the backward error.
      const { values: v2, vectors: V } = fast!.eigen(A);
      const AV = matmulNT(A, { rows: n, cols: n, data: transposeData(V) });
      for (let i = 0; i < n; i++) {
        assert(
          Math.abs(v2[i] - values[i]) <= 10 * n * Number.EPSILON * 10,
          `n = ${n}: values agree`,
        );
        for (let j = 0; j < n; j++) {
          assert(
            Math.abs(AV.data[i * n + j] - V.data[i * n + j] * v2[j]) <=
              100 * n * Number.EPSILON * 10,
            `AV = VΛ at ${i},${j}`,
          );
        }
      }
      const VtV = matmulNT({ rows: n, cols: n, data: transposeData(V) }, {
        rows: n,
        cols: n,
        data: transposeData(V),
      });
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < n; j++) {
          assert(
            Math.abs(VtV.data[i * n + j] - (i === j ? 1 : 0)) <= 100 * n * Number.EPSILON,
            "VᵀV = I",
          );
        }
      }
      const sorted = [...lambda].sort((a, b) => a - b);
      // Weyl: within the backward error, O(n·ε·‖A‖) with ‖A‖ ≤ 10.
      for (let i = 0; i < n; i++) {
        assert(Math.abs(values[i] - sorted[i]) <= 10 * n * Number.EPSILON * 10, `n = ${n}: λ_${i}`);
      }
    }
  },
});

Deno.test({
  name: "blas: the neural-collapse metrics are the same with and without it",
  ignore,
  fn: () => {
    for (const [N, d, K] of [[600, 40, 5], [200, 80, 4]]) {
      const rng = new Rng(N + d);
      const means = randomNormal(rng, K, d);
      const f = new Float32Array(N * d), y = new Int32Array(N);
      for (let i = 0; i < N; i++) {
        y[i] = i % K;
        for (let j = 0; j < d; j++) f[i * d + j] = means.data[y[i] * d + j] + 0.4 * rng.normal();
      }
      const W = randomNormal(rng, K, d);
      const run = () => {
        const acc = new NcAccumulator({ numClasses: K, dim: d });
        acc.add(f, y);
        const m = acc.compute(W);
        acc.dispose();
        return m;
      };
      const withBlas = run();
      useBlas(false);
      const without = run();
      useBlas(true);
      for (const key of Object.keys(without) as (keyof typeof without)[]) {
        if (key === "cosMargins") continue;
        const a = withBlas[key] as number, b = without[key] as number;
        assert(Math.abs(a - b) <= 1e-10 * Math.abs(b) + 1e-14, `${key}: ${a} vs ${b}`);
      }
    }
  },
});

Deno.test("blas: without --allow-ffi nothing is loaded and the TypeScript kernels are used", async () => {
  const url = new URL("../solver/blas.ts", import.meta.url).href;
  const script = await Deno.makeTempFile({ suffix: ".ts" });
  await Deno.writeTextFile(script, `import { blas } from "${url}"; console.log(blas() === null);`);
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", script],
    cwd: fileURLToPath(new URL("..", import.meta.url)),
    stdout: "piped",
    stderr: "piped",
  }).output();
  await Deno.remove(script);
  assertEquals(
    new TextDecoder().decode(out.stdout).trim(),
    "true",
    new TextDecoder().decode(out.stderr),
  );
});
