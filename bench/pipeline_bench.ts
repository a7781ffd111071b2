/**
 * Input-pipeline cost: one batch of 256 training images through the paper's transforms (MNIST:
 * resize 28→32 + rotation ±25° + normalise to 3 channels; CIFAR10: crop with padding 4 + flip +
 * normalise; STL10: flip + crop 96 with padding 4 + normalise), plus planning a 60000-sample
 * stratified epoch. Random uint8 data of the datasets' shapes. And ImageNet's file-backed path:
 * 32 JPEGs of ImageNet's typical 500×375 (written to a temporary folder first) read, decoded,
 * resized to 256, cropped to 224, flipped and normalised — per image, the decoding throughput.
 * The budget is 5% of a training step at batch 256.
 *
 * Run: `deno task bench:pipeline`
 *
 * @module
 */
import type { DatasetSplit } from "../data/dataset.ts";
import { planEpoch } from "../data/batches.ts";
import { batches } from "../data/pipeline.ts";
import { BatchTransform } from "../data/transforms.ts";
import { Rng } from "../core/random.ts";
import jpeg from "npm:jpeg-js@0.4.4";

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
const stl10 = randomSplit("stl10", 512, [96, 96, 3], 3);
const mnistT = new BatchTransform(mnist, { train: true });
const cifarT = new BatchTransform(cifar, { train: true });
const stl10T = new BatchTransform(stl10, { train: true });
const stl10Indices = Int32Array.from({ length: 256 }, (_, i) => (i * 7) % 512);
const stl10Out = new Float32Array(256 * 96 * 96 * 3);

/** 32 JPEGs (quality 90) of smooth ramps plus noise at 500×375, as a file-backed split. */
function imagenetFiles(dir: string): DatasetSplit {
  const rng = new Rng(4), n = 32, width = 500, height = 375;
  const files: string[] = [];
  for (let i = 0; i < n; i++) {
    const data = new Uint8Array(width * height * 4);
    for (let p = 0, y = 0; y < height; y++) {
      for (let x = 0; x < width; x++, p += 4) {
        const noise = rng.nextUint32() & 31;
        data[p] = (x / 2 + noise) & 255;
        data[p + 1] = (y / 2 + noise + 10 * i) & 255;
        data[p + 2] = ((x + y) / 4 + noise) & 255;
        data[p + 3] = 255;
      }
    }
    files.push(`${dir}/${i}.JPEG`);
    Deno.writeFileSync(files[i], jpeg.encode({ data, width, height }, 90).data);
  }
  return {
    name: "imagenet",
    split: "train",
    length: n,
    sampleShape: [224, 224, 3],
    images: null,
    features: null,
    files,
    labels: new Int32Array(n),
    numClasses: 1000,
  };
}
const imagenetDir = Deno.makeTempDirSync();
const imagenet = imagenetFiles(imagenetDir);
const imagenetT = new BatchTransform(imagenet, { train: true });
const imagenetIndices = Int32Array.from({ length: 32 }, (_, i) => i);
const imagenetOut = new Float32Array(32 * 224 * 224 * 3);
globalThis.addEventListener("unload", () => Deno.removeSync(imagenetDir, { recursive: true }));
const out = new Float32Array(256 * 32 * 32 * 3);
const labels60k = Int32Array.from({ length: 60000 }, (_, i) => (i * 7) % 10);
let epoch = 0;

Deno.bench("MNIST train batch of 256 (resize, rotate, normalise)", { group: "batch" }, () => {
  mnistT.apply(indices, new Rng(epoch++), out);
});

Deno.bench("CIFAR10 train batch of 256 (crop pad 4, flip, normalise)", { group: "batch" }, () => {
  cifarT.apply(indices, new Rng(epoch++), out);
});

Deno.bench("STL10 train batch of 256 (flip, crop 96 pad 4, normalise)", { group: "batch" }, () => {
  stl10T.apply(stl10Indices, new Rng(epoch++), stl10Out);
});

Deno.bench("ImageNet 32 JPEGs 500×375: read, decode, resize 256, crop 224, flip, normalise", () => {
  imagenetT.apply(imagenetIndices, new Rng(epoch++), imagenetOut);
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
