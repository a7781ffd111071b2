/**
 * The assembled pipeline: batches of transformed inputs with their labels, reproducible from
 * (seed, epoch, batch), augmentation only when training.
 */
import { assert, assertEquals } from "./assert.ts";
import type { DatasetSplit } from "../data/dataset.ts";
import { deriveSeed, STREAM } from "../data/batches.ts";
import { batches, epochPlan } from "../data/pipeline.ts";
import { BatchTransform } from "../data/transforms.ts";
import { Rng } from "../core/random.ts";

function mnistLike(n: number, seed: number): DatasetSplit {
  const rng = new Rng(seed);
  return {
    name: "mnist",
    split: "train",
    length: n,
    sampleShape: [28, 28, 1],
    images: Uint8Array.from({ length: n * 784 }, () => rng.nextUint32() & 255),
    features: null,
    labels: Int32Array.from({ length: n }, (_, i) => (i * 7) % 10),
    numClasses: 10,
  };
}

const split = mnistLike(200, 3);

Deno.test("batches: shapes, labels, every sample once, the transform's output", () => {
  const o = { batchSize: 64, seed: 1, epoch: 0, train: true };
  const all = [...batches(split, o)];
  assertEquals(all.map((b) => b.shape), [[64, 32, 32, 3], [64, 32, 32, 3], [64, 32, 32, 3], [
    8,
    32,
    32,
    3,
  ]]);
  assertEquals(all.map((b) => b.batch), [0, 1, 2, 3]);
  assert(all.every((b) => b.batches === 4));
  const seen = all.flatMap((b) => Array.from(b.indices)).sort((a, b) => a - b);
  assertEquals(seen, Array.from({ length: 200 }, (_, i) => i));
  for (const b of all) {
    assertEquals(Array.from(b.labels), Array.from(b.indices, (i) => split.labels[i]));
    assertEquals(b.x.length, b.shape.reduce((p, d) => p * d, 1));
  }
  // Batch 2 is the train transform of its indices under the (seed, epoch, batch) generator.
  const t = new BatchTransform(split, { train: true });
  const expected = t.apply(all[2].indices, new Rng(deriveSeed(1, STREAM.augment, 0, 2)));
  assertEquals(all[2].x, expected);
  assertEquals(epochPlan(split, o).batches.length, 4);
});

Deno.test("batches: the same seed reproduces batches and augmentation; another does not", () => {
  const o = { batchSize: 50, seed: 4, epoch: 3, train: true, stratified: true };
  const a = [...batches(split, o)], b = [...batches(split, o)];
  assertEquals(a.length, 4);
  for (let i = 0; i < a.length; i++) {
    assertEquals(a[i].indices, b[i].indices);
    assertEquals(a[i].x, b[i].x);
  }
  const c = [...batches(split, { ...o, seed: 5 })];
  assert(a[0].indices.join() !== c[0].indices.join(), "another seed, other batches");
  // Same indices, another seed: other augmentation.
  const t = new BatchTransform(split, { train: true });
  const x4 = t.apply(a[0].indices, new Rng(deriveSeed(4, STREAM.augment, 3, 0)));
  const x5 = t.apply(a[0].indices, new Rng(deriveSeed(5, STREAM.augment, 3, 0)));
  assertEquals(x4, a[0].x);
  assert(x4.some((v, i) => v !== x5[i]), "another seed, other rotations");
  // Any batch regenerates alone (resume within an epoch).
  const from2 = [...batches(split, { ...o, startBatch: 2 })];
  assertEquals(from2.map((x) => x.batch), [2, 3]);
  assertEquals(from2[0].x, a[2].x);
});

Deno.test("batches: evaluation keeps the order and does not augment; sampleSize; reused output", () => {
  const o = { batchSize: 32, seed: 9, epoch: 0, train: false, sampleSize: 5 };
  const all = [...batches(split, o)];
  const indices = all.flatMap((b) => Array.from(b.indices));
  assertEquals(indices.length, 50);
  assertEquals(indices, indices.slice().sort((a, b) => a - b)); // dataset order
  const plain = new BatchTransform(split, { train: false }).apply(all[0].indices, null);
  assertEquals(all[0].x, plain);
  const again = [...batches(split, { ...o, seed: 10, epoch: 4 })];
  assertEquals(again[1].x, all[1].x); // no randomness at all
  const reused = batches(split, { ...o, reuseOutput: true });
  const first = reused.next().value!, second = reused.next().value!;
  assert(first.x.buffer === second.x.buffer, "one buffer");
  assertEquals(second.x, all[1].x);
});
