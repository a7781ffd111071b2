/**
 * The streaming accumulator (analysis/nc_accumulator.ts) against the one-shot `ncMetrics`
 * (itself checked against an independent numpy reference in nc_metrics_test.ts): uneven batches,
 * classes arriving in any order, rows in memory or spilled to disk, give the same metrics; the
 * means it reports are the plain per-class averages; bad batches add nothing.
 *
 * Tolerance: the batches change only the order of float64 sums, so every scalar agrees to
 * 1e-12 relative (plus 1e-14 absolute) and the percentages exactly.
 */
import { assert, assertEquals } from "./assert.ts";
import { InvalidArgumentError } from "../core/errors.ts";
import { randomNormal, Rng } from "../core/random.ts";
import { NcAccumulator } from "../analysis/nc_accumulator.ts";
import { type NcMetrics, ncMetrics } from "../analysis/nc_metrics.ts";

function clusters(N: number, d: number, K: number, seed: number) {
  const rng = new Rng(seed);
  const means = randomNormal(rng, K, d);
  const features = new Float32Array(N * d), labels = new Int32Array(N);
  for (let i = 0; i < N; i++) {
    // Uneven classes: class k drawn with weight k + 1.
    labels[i] = Math.min(K - 1, Math.floor(Math.sqrt(rng.uniform()) * K));
    for (let j = 0; j < d; j++) {
      features[i * d + j] = means.data[labels[i] * d + j] + 0.3 * rng.normal();
    }
  }
  for (let k = 0; k < K; k++) labels[k] = k; // every class present
  return { features, labels, W: randomNormal(rng, K, d), b: randomNormal(rng, 1, K).data };
}

function assertSame(a: NcMetrics, b: NcMetrics, what: string): void {
  for (const key of Object.keys(a) as (keyof NcMetrics)[]) {
    if (key === "cosMargins") continue;
    const x = a[key] as number, y = b[key] as number;
    const ok = key === "top1" || key === "top5" || key === "nccMismatch"
      ? x === y
      : Math.abs(x - y) <= 1e-12 * Math.abs(y) + 1e-14;
    assert(ok, `${what}: ${key} ${x} vs ${y}`);
  }
  assertEquals(a.cosMargins.length, b.cosMargins.length, `${what}: margins`);
  for (let i = 0; i < a.cosMargins.length; i++) {
    assert(Math.abs(a.cosMargins[i] - b.cosMargins[i]) <= 1e-12, `${what}: margin ${i}`);
  }
}

/** Feeds the rows in batches of the given sizes (cycled), in a shuffled order. */
function stream(
  acc: NcAccumulator,
  p: ReturnType<typeof clusters>,
  d: number,
  sizes: number[],
  order: Int32Array,
): void {
  for (let start = 0, s = 0; start < order.length; s++) {
    const n = Math.min(sizes[s % sizes.length], order.length - start);
    const f = new Float32Array(n * d), y = new Int32Array(n);
    for (let r = 0; r < n; r++) {
      const i = order[start + r];
      f.set(p.features.subarray(i * d, (i + 1) * d), r * d);
      y[r] = p.labels[i];
    }
    acc.add(f, y);
    start += n;
  }
}

function shuffled(N: number, seed: number): Int32Array {
  const rng = new Rng(seed), order = Int32Array.from({ length: N }, (_, i) => i);
  for (let i = N - 1; i > 0; i--) {
    const j = Math.floor(rng.uniform() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

for (const [N, d, K] of [[600, 24, 6], [300, 80, 4]] as const) {
  // d = 24 < n_k (the d×d class Gram route), d = 80 > n_k for the small classes (n_k×n_k).
  Deno.test(`NcAccumulator: uneven, shuffled batches equal ncMetrics (N = ${N}, d = ${d}, K = ${K})`, () => {
    const p = clusters(N, d, K, N + d);
    const W = { rows: K, cols: d, data: p.W.data };
    const oneShot = ncMetrics({ features: p.features, labels: p.labels, numClasses: K, W, b: p.b });
    const acc = new NcAccumulator({ numClasses: K, dim: d });
    stream(acc, p, d, [1, 37, 5, 128, 2], shuffled(N, 7));
    assertEquals(acc.count, N);
    assertSame(acc.compute(W, p.b), oneShot, "in memory");
    // A second classifier on the same rows: compute may be called again.
    const W2 = randomNormal(new Rng(9), K, d);
    assertSame(
      acc.compute(W2),
      ncMetrics({ features: p.features, labels: p.labels, numClasses: K, W: W2 }),
      "second classifier",
    );
    acc.dispose();
  });
}

Deno.test("NcAccumulator: rows spilled to disk give the same metrics; dispose removes the files", async () => {
  const N = 500, d = 16, K = 5;
  const p = clusters(N, d, K, 3);
  const W = { rows: K, cols: d, data: p.W.data };
  const dir = `${await Deno.makeTempDir()}/spill`;
  // A 1 KiB buffer: rows go to disk in many appends while the batches arrive.
  const acc = new NcAccumulator({
    numClasses: K,
    dim: d,
    spillDirectory: dir,
    spillBufferBytes: 1024,
  });
  stream(acc, p, d, [64, 3, 250], shuffled(N, 11));
  const files = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
  assertEquals(files, [
    "class-00000.f32",
    "class-00001.f32",
    "class-00002.f32",
    "class-00003.f32",
    "class-00004.f32",
  ]);
  const spilled = acc.compute(W, p.b);
  assertSame(
    spilled,
    ncMetrics({ features: p.features, labels: p.labels, numClasses: K, W, b: p.b }),
    "spilled",
  );
  acc.dispose();
  assert(!(await Deno.stat(dir).then(() => true, () => false)), "spill directory removed");
});

Deno.test("NcAccumulator: means() are the per-class averages, H̄ the means minus the global mean", () => {
  const acc = new NcAccumulator({ numClasses: 2, dim: 2 });
  acc.add(new Float64Array([1, 2, 3, 4]), [0, 0]);
  acc.add(new Float64Array([10, 20]), [1]);
  const m = acc.means();
  assertEquals([...m.means.data], [2, 3, 10, 20]);
  // μ_G = (1 + 3 + 10, 2 + 4 + 20)/3 = (14/3, 26/3).
  const g = [14 / 3, 26 / 3];
  for (let j = 0; j < 2; j++) assert(Math.abs(m.globalMean[j] - g[j]) < 1e-15, "μ_G");
  assert(Math.abs(m.centred.data[0] - (2 - g[0])) < 1e-15, "H̄");
  assertEquals([...m.counts], [2, 1]);
  acc.dispose();
});

Deno.test("NcAccumulator: bad batches throw InvalidArgumentError and add nothing", () => {
  const acc = new NcAccumulator({ numClasses: 2, dim: 2 });
  const fails = (f: () => void, argument: string) => {
    try {
      f();
    } catch (e) {
      assert(e instanceof InvalidArgumentError && e.argument === argument, `${e}`);
      return;
    }
    throw new Error(`expected an error naming ${argument}`);
  };
  fails(() => acc.add(new Float32Array([1, 2, 3]), [0, 1]), "features");
  fails(() => acc.add(new Float32Array([1, 2, 3, 4]), [0, 2]), "labels");
  fails(() => acc.add(new Float32Array([1, NaN, 3, 4]), [0, 1]), "features");
  assertEquals(acc.count, 0);
  acc.add(new Float32Array([1, 2, 3, 4]), [0, 1]);
  fails(() => acc.add(new Float64Array([1, 2]), [0]), "features"); // precision changed
  fails(() => new NcAccumulator({ numClasses: 3, dim: 2 }).means(), "labels"); // no samples
  const one = new NcAccumulator({ numClasses: 3, dim: 2 });
  one.add(new Float32Array([1, 2]), [0]);
  fails(() => one.means(), "labels"); // empty classes
  fails(() => acc.compute({ rows: 2, cols: 3, data: new Float64Array(6) }), "W");
  fails(() => new NcAccumulator({ numClasses: 1, dim: 2 }), "numClasses");
  fails(() => new NcAccumulator({ numClasses: 2, dim: 0 }), "dim");
  acc.dispose();
});
