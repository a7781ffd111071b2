/**
 * Input-pipeline cost: one batch of 256 training images through the paper's transforms (MNIST:
 * resize 28→32 + rotation ±25° + normalise to 3 channels; CIFAR10: crop with padding 4 + flip +
 * normalise), plus planning a 60000-sample stratified epoch. Random uint8 data of the datasets'
 * shapes. The budget is 10% of a wasm ResNet18 step at batch 256 (3.1 s here): 0.31 s.
 *
 * Run: `deno bench bench/pipeline_bench.ts`
 *
 * @module
 */
import type { DatasetSplit } from "../data/dataset.ts";
import { planEpoch } from "../data/batches.ts";
import { batches } from "../data/pipeline.ts";
import { BatchTransform } from "../data/transforms.ts";
import { Rng } from "../core/random.ts";

function randomSplit(name: string, n: number, shape: number[], seed: number): DatasetSplit {
  const rng = new Rng(seed);
  const images = new Uint8Array(n * shape[0] * shape[1] * shape[2]);
  for (let i = 0; i < images.length; i++) images[i] = rng.nextUint32() & 255;
  const labels = Int32Array.from({ length: n }, (_, i) => i % 10);
  return {
    name,
    split: "train",
    length: n,
    sampleShape: shape,
    images,
    features: null,
    labels,
    numClasses: 10,
  };
}

const mnist = randomSplit("mnist", 2048, [28, 28, 1], 1);
const cifar = randomSplit("cifar10", 2048, [32, 32, 3], 2);
const indices = Int32Array.from({ length: 256 }, (_, i) => (i * 7) % 2048);
const mnistT = new BatchTransform(mnist, { train: true });
const cifarT = new BatchTransform(cifar, { train: true });
const out = new Float32Array(256 * 32 * 32 * 3);
const labels60k = Int32Array.from({ length: 60000 }, (_, i) => (i * 7) % 10);
let epoch = 0;

Deno.bench("MNIST train batch of 256 (resize, rotate, normalise)", { group: "batch" }, () => {
  mnistT.apply(indices, new Rng(epoch++), out);
});

Deno.bench("CIFAR10 train batch of 256 (crop pad 4, flip, normalise)", { group: "batch" }, () => {
  cifarT.apply(indices, new Rng(epoch++), out);
});

Deno.bench("MNIST batches() first batch of 256, stratified (plan of 2048 + transform)", () => {
  const it = batches(mnist, {
    batchSize: 256,
    seed: 1,
    epoch: epoch++,
    train: true,
    stratified: true,
    transform: mnistT,
  });
  it.next();
});

Deno.bench("plan a stratified epoch of 60000 samples, batch 256", () => {
  planEpoch(labels60k, 10, { batchSize: 256, seed: 1, epoch: epoch++, stratified: true });
});

Deno.bench("plan a shuffled epoch of 60000 samples, batch 256", () => {
  planEpoch(labels60k, 10, { batchSize: 256, seed: 1, epoch: epoch++ });
});
