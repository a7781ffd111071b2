/**
 * Epoch plans: every sample once per epoch, reproducible from (seed, epoch), stratified batches
 * within ±1 of each class's proportion, per-class subsets, errors.
 */
import { assert, assertEquals, assertThrows } from "./assert.ts";
import {
  classMembers,
  deriveSeed,
  type EpochOptions,
  planEpoch,
  STREAM,
  subsetIndices,
} from "../data/batches.ts";
import { InvalidArgumentError } from "../core/errors.ts";
import { Rng } from "../core/random.ts";

/** Labels with the given class counts, interleaved pseudo-randomly. */
function labelsWith(counts: number[], seed = 0): Int32Array {
  const labels: number[] = [];
  counts.forEach((c, k) => {
    for (let i = 0; i < c; i++) labels.push(k);
  });
  const rng = new Rng(seed);
  for (let i = labels.length - 1; i > 0; i--) {
    const j = Math.floor(rng.uniform() * (i + 1));
    [labels[i], labels[j]] = [labels[j], labels[i]];
  }
  return Int32Array.from(labels);
}

function flat(batches: Int32Array[]): number[] {
  return batches.flatMap((b) => Array.from(b));
}

function plan(labels: Int32Array, K: number, o: EpochOptions): Int32Array[] {
  return planEpoch(labels, K, o).batches;
}

Deno.test("deriveSeed: deterministic, distinct streams", () => {
  assertEquals(deriveSeed(1, 0, 3), deriveSeed(1, 0, 3));
  const seen = new Set<number>();
  for (const s of [0, 1, 2, -1, 2 ** 40]) {
    for (const parts of [[], [0], [1], [0, 0], [0, 1], [1, 0], [1, 2, 3]]) {
      const d = deriveSeed(s, ...parts);
      assert(Number.isSafeInteger(d) && d >= 0);
      seen.add(d);
    }
  }
  assertEquals(seen.size, 35);
  assertThrows(() => deriveSeed(1.5), InvalidArgumentError, "seed");
  assertThrows(() => deriveSeed(1, -1), InvalidArgumentError, "non-negative");
});

Deno.test("plain epochs: every sample once; (seed, epoch) fixes the order", () => {
  const labels = labelsWith([30, 25, 45]);
  const o = { batchSize: 16, seed: 5, epoch: 2 };
  const a = plan(labels, 3, o);
  assertEquals(a.map((b) => b.length), [16, 16, 16, 16, 16, 16, 4]);
  assertEquals(flat(a).sort((x, y) => x - y), Array.from({ length: 100 }, (_, i) => i));
  assertEquals(flat(plan(labels, 3, o)), flat(a)); // regenerated exactly
  assert(
    flat(plan(labels, 3, { ...o, epoch: 3 })).join() !== flat(a).join(),
    "next epoch reshuffles",
  );
  assert(
    flat(plan(labels, 3, { ...o, seed: 6 })).join() !== flat(a).join(),
    "another seed differs",
  );
  assertEquals(plan(labels, 3, { ...o, dropLast: true }).length, 6);
  assertEquals(
    flat(plan(labels, 3, { ...o, shuffle: false })),
    Array.from({ length: 100 }, (_, i) => i),
  );
  assertEquals(plan(labels, 3, { ...o, batchSize: 200 }).map((b) => b.length), [100]);
  assertEquals(plan(labels, 3, { ...o, batchSize: 200, dropLast: true }).length, 0);
});

Deno.test("stratified: F = ⌊n/B⌋ folds partition the epoch, each class within ±1 of its share", () => {
  const rng = new Rng(17);
  for (let trial = 0; trial < 60; trial++) {
    const K = 2 + Math.floor(rng.uniform() * 10);
    const counts = Array.from({ length: K }, () => 1 + Math.floor(rng.uniform() ** 2 * 120));
    const labels = labelsWith(counts, trial);
    const n = labels.length;
    const B = K + Math.floor(rng.uniform() ** 3 * (n - K + 1)); // mostly small batches, many folds
    if (B > n) continue;
    const batches = plan(labels, K, { batchSize: B, seed: trial, epoch: 0, stratified: true });
    const F = Math.floor(n / B);
    assertEquals(batches.length, F);
    assertEquals(flat(batches).sort((x, y) => x - y), Array.from({ length: n }, (_, i) => i));
    for (const batch of batches) {
      const b = batch.length;
      assert(b === Math.floor(n / F) || b === Math.ceil(n / F), `batch size ${b}`);
      const c = new Array(K).fill(0);
      for (const i of batch) c[labels[i]]++;
      for (let k = 0; k < K; k++) {
        const share = (b * counts[k]) / n;
        assert(
          c[k] >= Math.floor(share) && c[k] <= Math.ceil(share),
          `class ${k}: ${c[k]} in a batch of ${b}, share ${share} (counts ${counts}, B ${B})`,
        );
      }
    }
  }
});

Deno.test("stratified: the paper's MNIST shape (60000, batch 256) and reshuffling per epoch", () => {
  const counts = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949];
  const labels = labelsWith(counts, 1);
  const o = { batchSize: 256, seed: 1, epoch: 0, stratified: true };
  const a = plan(labels, 10, o);
  assertEquals(a.length, 234);
  let minB = Infinity, maxB = 0;
  for (const batch of a) {
    minB = Math.min(minB, batch.length);
    maxB = Math.max(maxB, batch.length);
    const c = new Array(10).fill(0);
    for (const i of batch) c[labels[i]]++;
    for (let k = 0; k < 10; k++) {
      assert(Math.abs(c[k] - (batch.length * counts[k]) / 60000) < 1);
    }
  }
  assertEquals([minB, maxB], [256, 257]);
  assertEquals(flat(plan(labels, 10, o)), flat(a));
  const next = plan(labels, 10, { ...o, epoch: 1 });
  assert(flat(next).join() !== flat(a).join(), "epoch 1 reshuffles");
  // Not sorted by class within a batch.
  assert(Array.from(a[0]).some((v, i, arr) => i > 0 && labels[v] < labels[arr[i - 1]]));
});

Deno.test("sample_size: the first sampleSize of each class (or a seeded choice)", () => {
  const labels = Int32Array.of(0, 1, 0, 2, 1, 0, 2, 2, 1, 0);
  assertEquals(classMembers(labels, 3).map((m) => Array.from(m)), [[0, 2, 5, 9], [1, 4, 8], [
    3,
    6,
    7,
  ]]);
  assertEquals(Array.from(subsetIndices(labels, 3, 2)), [0, 1, 2, 3, 4, 6]);
  assertEquals(subsetIndices(labels, 3).length, 10);
  const seeded = subsetIndices(labels, 3, 2, 7);
  assertEquals(Array.from(seeded), Array.from(subsetIndices(labels, 3, 2, 7)));
  const c = [0, 0, 0];
  for (const i of seeded) c[labels[i]]++;
  assertEquals(c, [2, 2, 2]);
  const batches = plan(labels, 3, { batchSize: 4, seed: 1, epoch: 0, sampleSize: 2 });
  assertEquals(flat(batches).sort((x, y) => x - y), [0, 1, 2, 3, 4, 6]);
  const strat = plan(labels, 3, {
    batchSize: 3,
    seed: 1,
    epoch: 0,
    sampleSize: 2,
    stratified: true,
  });
  assertEquals(strat.length, 2);
  for (const b of strat) assertEquals(Array.from(b, (i) => labels[i]).sort(), [0, 1, 2]);
  assertEquals(STREAM.subset, 2);
});

Deno.test("errors: batch size, stratified batch size < K, sample size, labels, epoch", () => {
  const labels = labelsWith([5, 3, 4]);
  const o = { batchSize: 4, seed: 1, epoch: 0 };
  assertThrows(
    () => planEpoch(labels, 3, { ...o, batchSize: 0 }),
    InvalidArgumentError,
    "batchSize",
    "positive",
  );
  assertThrows(
    () => planEpoch(labels, 3, { ...o, batchSize: 2.5 }),
    InvalidArgumentError,
    "batchSize",
  );
  assertThrows(
    () => planEpoch(labels, 3, { ...o, batchSize: 2, stratified: true }),
    InvalidArgumentError,
    "batch size 2 < 3 classes",
  );
  assertThrows(
    () => planEpoch(labels, 3, { ...o, sampleSize: 4 }),
    InvalidArgumentError,
    "sampleSize",
    "class 1 holds (3 samples)",
  );
  assertThrows(
    () => planEpoch(labels, 3, { ...o, sampleSize: 0 }),
    InvalidArgumentError,
    "sampleSize",
  );
  assertThrows(() => planEpoch(Int32Array.of(0, 3), 3, o), InvalidArgumentError, "label 3");
  assertThrows(() => planEpoch(labels, 3, { ...o, epoch: -1 }), InvalidArgumentError, "epoch");
});
