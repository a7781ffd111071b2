/**
 * nearestEtf: costs against an independent dense evaluation, trust-regions against the closed
 * form, first-order conditions, the feasibility problem's non-unique solutions, and the
 * documented option semantics.
 */
import { assert, assertAlmostEquals, assertAtMost, assertEquals } from "./assert.ts";
import { nearestEtf } from "../solver/nearest_etf.ts";
import { eye, type Matrix, matrix, maxAbsDiff } from "../solver/matrix.ts";
import { frobeniusNorm } from "../solver/products.ts";
import { Rng } from "../core/random.ts";
import { randomPoint } from "../solver/stiefel.ts";
import {
  axpy,
  denseCentring,
  naiveMatmul,
  naiveTranspose,
  orthonormalityGap,
  perturbTarget,
  randomTarget,
} from "./helpers.ts";

/** f(U) from its definition with a dense M and naive products. */
function denseCost(Y: Matrix, U: Matrix, prox: Matrix | null, delta: number): number {
  const K = Y.cols;
  const E = naiveMatmul(U, denseCentring(K));
  let fit = 0;
  for (let i = 0; i < Y.data.length; i++) fit += (Y.data[i] - E.data[i] / Math.sqrt(K - 1)) ** 2;
  if (prox === null) return fit;
  let reg = 0;
  for (let i = 0; i < U.data.length; i++) reg += (U.data[i] - prox.data[i]) ** 2;
  return fit + 0.5 * delta * reg;
}

/** ∇f(U) from docs/method.md with dense M. */
function denseGradient(Y: Matrix, U: Matrix, prox: Matrix | null, delta: number): Matrix {
  const K = Y.cols, M = denseCentring(K);
  const UM = naiveMatmul(U, M), YM = naiveMatmul(Y, M);
  const G = matrix(U.rows, K);
  for (let i = 0; i < G.data.length; i++) {
    G.data[i] = (2 / (K - 1)) * UM.data[i] - (2 / Math.sqrt(K - 1)) * YM.data[i] +
      (prox === null ? 0 : delta * (U.data[i] - prox.data[i]));
  }
  return G;
}

/** ‖∇f − U·sym(Uᵀ∇f)‖_F: the first-order (KKT) residual, by naive products. */
function kktResidual(Y: Matrix, U: Matrix, prox: Matrix | null, delta: number): number {
  const G = denseGradient(Y, U, prox, delta);
  const S = naiveMatmul(naiveTranspose(U), G);
  const K = U.cols;
  const sym = matrix(K, K);
  for (let i = 0; i < K; i++) {
    for (let j = 0; j < K; j++) {
      sym.data[i * K + j] = 0.5 * (S.data[i * K + j] + S.data[j * K + i]);
    }
  }
  return frobeniusNorm(axpy(G, naiveMatmul(U, sym), -1));
}

const SIZES: [number, number][] = [[3, 2], [10, 4], [64, 10], [512, 10], [100, 50]];

for (const [d, K] of SIZES) {
  Deno.test(`nearestEtf: trust-regions and closed form agree on the proximal problem (${d},${K})`, () => {
    const Y0 = randomTarget(100 + d + K, d, K);
    const prox = nearestEtf(Y0, { solver: "closed-form" }).U;
    const Y = perturbTarget(Y0, 200 + d);
    const tr = nearestEtf(Y, { prox, minGradientNorm: 1e-10, maxIterations: 200 });
    const cf = nearestEtf(Y, { prox, solver: "closed-form" });
    assertEquals(tr.stoppingReason, "min-gradient-norm");
    assertEquals(cf.stoppingReason, "closed-form");
    assertAtMost(maxAbsDiff(tr.U, cf.U), 1e-8, "max|ΔU|");
    assertAlmostEquals(tr.cost, cf.cost, 1e-12);
    for (const r of [tr, cf]) {
      assertAlmostEquals(
        r.cost,
        denseCost(Y, r.U, prox, 1e-3),
        1e-13,
        "reported cost vs dense f(U)",
      );
      assertAtMost(orthonormalityGap(r.U), 1e-13, "max|UᵀU − I|");
    }
    // First-order conditions to the requested tolerance (the KKT residual is the Riemannian
    // gradient; 1.01 allows for its recomputation by other products).
    assertAtMost(kktResidual(Y, tr.U, prox, 1e-3), 1.01e-10, "KKT residual (trust-regions)");
    assertAtMost(tr.gradientNorm, 1e-10, "gradientNorm (trust-regions)");
    assertAtMost(kktResidual(Y, cf.U, prox, 1e-3), 1e-12, "KKT residual (closed form)");
    assertAtMost(cf.gradientNorm, 1e-12, "gradientNorm (closed form)");
  });
}

Deno.test("nearestEtf: feasibility problem gives the same cost and U·M from different starts", () => {
  const d = 30, K = 6;
  const Y = randomTarget(7, d, K);
  const starts = [eye(d, K), randomPoint(new Rng(8), d, K), randomPoint(new Rng(9), d, K)];
  const M = denseCentring(K);
  const results = starts.flatMap((start) => [
    nearestEtf(Y, { start, maxIterations: 500, minGradientNorm: 1e-10 }),
    nearestEtf(Y, { start, solver: "closed-form" }),
  ]);
  const ref = results[1];
  const refUM = naiveMatmul(ref.U, M);
  for (const r of results) {
    assertAlmostEquals(r.cost, ref.cost, 1e-12);
    assertAlmostEquals(r.cost, denseCost(Y, r.U, null, 0), 1e-13);
    assertAtMost(maxAbsDiff(naiveMatmul(r.U, M), refUM), 1e-8, "max|ΔU·M|");
    assertAtMost(orthonormalityGap(r.U), 1e-13, "max|UᵀU − I|");
    assertAtMost(kktResidual(Y, r.U, null, 0), 1e-9, "KKT residual");
  }
  // U itself is not determined: the closed-form solutions from different starts differ.
  assert(maxAbsDiff(results[1].U, results[3].U) > 1e-3);
});

Deno.test("nearestEtf: closed-form feasibility picks the free direction closest to the start", () => {
  const d = 12, K = 4;
  const Y = randomTarget(10, d, K);
  const start = randomPoint(new Rng(11), d, K);
  const U = nearestEtf(Y, { start, solver: "closed-form" }).U;
  // Any other optimal point differs only in p = U·1/sqrt(K): U' = U + (p' − p)·1ᵀ/sqrt(K), p' a
  // unit vector orthogonal to the other columns' span. None may be closer to the start.
  const s = 1 / Math.sqrt(K);
  const p = new Float64Array(d);
  for (let i = 0; i < d; i++) for (let j = 0; j < K; j++) p[i] += U.data[i * K + j] * s;
  const UM = naiveMatmul(U, denseCentring(K));
  const dist = (V: Matrix) => frobeniusNorm(axpy(V, start, -1));
  const rng = new Rng(12);
  for (let trial = 0; trial < 20; trial++) {
    // p′ = cos θ·p + sin θ·q̂ with q̂ a unit vector orthogonal to range(U): a unit vector
    // orthogonal to range(U·M), so U′ = U·M + p′·1ᵀ/sqrt(K) is another optimum.
    const q = new Float64Array(d).map(() => rng.normal());
    for (let pass = 0; pass < 2; pass++) {
      for (let c = 0; c < K; c++) {
        let proj = 0;
        for (let i = 0; i < d; i++) proj += U.data[i * K + c] * q[i];
        for (let i = 0; i < d; i++) q[i] -= proj * U.data[i * K + c];
      }
    }
    const nq = Math.hypot(...q), theta = rng.uniform() * 2 * Math.PI;
    const other = matrix(d, K);
    for (let i = 0; i < d; i++) {
      const pi = Math.cos(theta) * p[i] + Math.sin(theta) * q[i] / nq;
      for (let j = 0; j < K; j++) other.data[i * K + j] = UM.data[i * K + j] + pi * s;
    }
    assertAtMost(orthonormalityGap(other), 1e-12, "alternative optimum on St(d,K)");
    assertAlmostEquals(denseCost(Y, other, null, 0), denseCost(Y, U, null, 0), 1e-13, "same cost");
    assert(dist(U) <= dist(other) + 1e-12, `trial ${trial}: ${dist(U)} > ${dist(other)}`);
  }
});

Deno.test("nearestEtf: rank-deficient class means (two equal classes) are handled", () => {
  const d = 10, K = 4;
  const Y = randomTarget(13, d, K);
  for (let i = 0; i < d; i++) Y.data[i * K + 3] = Y.data[i * K + 2]; // classes 2 and 3 coincide
  const tr = nearestEtf(Y, { maxIterations: 500, minGradientNorm: 1e-10 });
  const cf = nearestEtf(Y, { solver: "closed-form" });
  assertAlmostEquals(tr.cost, cf.cost, 1e-12);
  assertAtMost(orthonormalityGap(cf.U), 1e-13, "max|UᵀU − I|");
  assertAtMost(kktResidual(Y, cf.U, null, 0), 1e-12, "KKT residual");
  // With rank(Y·M) = K−2 even U·M is not determined; no start reaches a lower cost.
  for (const seed of [19, 20, 21]) {
    const start = randomPoint(new Rng(seed), d, K);
    const r = nearestEtf(Y, { start, maxIterations: 500, minGradientNorm: 1e-10 });
    assertAlmostEquals(r.cost, cf.cost, 1e-12);
  }
});

Deno.test("nearestEtf: maxIterations 0 returns the start, evaluated, for both solvers", () => {
  const d = 8, K = 3;
  const Y = randomTarget(14, d, K);
  const start = randomPoint(new Rng(15), d, K);
  for (const solver of ["trust-regions", "closed-form"] as const) {
    const r = nearestEtf(Y, { start, solver, maxIterations: 0 });
    assertEquals(Array.from(r.U.data), Array.from(start.data));
    assertEquals(r.iterations, 0);
    assertEquals(r.stoppingReason, "max-iterations");
    assertAlmostEquals(r.cost, denseCost(Y, start, null, 0), 1e-13);
    assertAlmostEquals(r.gradientNorm, kktResidual(Y, start, null, 0), 1e-13);
  }
});

Deno.test("nearestEtf: Y is not normalised (scaling Y changes the cost, not the ETF)", () => {
  const d = 16, K = 5;
  const Y = randomTarget(16, d, K);
  const Y3 = matrix(d, K, Y.data.map((v) => 3 * v));
  const a = nearestEtf(Y, { solver: "closed-form" }), b = nearestEtf(Y3, { solver: "closed-form" });
  assertAtMost(
    maxAbsDiff(naiveMatmul(a.U, denseCentring(K)), naiveMatmul(b.U, denseCentring(K))),
    1e-12,
    "U·M",
  );
  assertAlmostEquals(b.cost, denseCost(Y3, b.U, null, 0), 1e-12);
  assert(Math.abs(a.cost - b.cost) > 0.1);
});

Deno.test("nearestEtf: a slightly non-orthonormal start or prox is accepted and re-orthonormalised", () => {
  const d = 20, K = 5;
  const Y = randomTarget(17, d, K);
  const prox = randomPoint(new Rng(18), d, K);
  const noisy = matrix(d, K, prox.data.map((v, i) => v + (i % 3 === 0 ? 1e-6 : -1e-6)));
  assert(orthonormalityGap(noisy) > 1e-7 && orthonormalityGap(noisy) < 1e-5);
  const r = nearestEtf(Y, { prox: noisy, maxIterations: 0 });
  assertAtMost(orthonormalityGap(r.U), 1e-14, "re-orthonormalised start");
  assertAtMost(maxAbsDiff(r.U, noisy), 1e-5, "moved by no more than the noise");
  // The result equals the solve from the re-orthonormalised prox itself.
  const a = nearestEtf(Y, { prox: noisy, solver: "closed-form" });
  const b = nearestEtf(Y, { prox: r.U, solver: "closed-form" });
  assertAtMost(maxAbsDiff(a.U, b.U), 1e-14, "same problem");
});

Deno.test("nearestEtf: a closed-form sequence, each solve proximal to the last, keeps no old solve alive", async () => {
  // The closed form caches its factors for the backward, keyed by U's storage; a record that
  // referenced its prox (the previous U, itself a key) would keep every earlier record and U
  // alive. A child process with --expose-gc checks that the first solve's U is collected.
  const url = new URL("../solver/nearest_etf.ts", import.meta.url).href;
  const random = new URL("../core/random.ts", import.meta.url).href;
  const script = await Deno.makeTempFile({ suffix: ".ts" });
  await Deno.writeTextFile(
    script,
    `import { nearestEtf } from "${url}";
import { randomNormal, Rng } from "${random}";
const rng = new Rng(0);
let Y = randomNormal(rng, 40, 6);
let U = nearestEtf(Y, { solver: "closed-form" }).U;
const first = new WeakRef(U.data);
let second = null;
for (let t = 0; t < 6; t++) {
  const G = randomNormal(rng, 40, 6);
  Y = { rows: 40, cols: 6, data: Y.data.map((v, i) => v + 0.01 * G.data[i]) };
  U = nearestEtf(Y, { prox: U, solver: "closed-form" }).U;
  if (t === 0) second = new WeakRef(U.data);
}
await new Promise((r) => setTimeout(r, 0));
globalThis.gc();
await new Promise((r) => setTimeout(r, 0));
console.log(JSON.stringify({ first: first.deref() === undefined, second: second.deref() === undefined }));
`,
  );
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--v8-flags=--expose-gc", "--allow-read", script],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout).trim();
    assert(out.success, new TextDecoder().decode(out.stderr));
    assertEquals(JSON.parse(text), { first: true, second: true });
  } finally {
    await Deno.remove(script);
  }
});
