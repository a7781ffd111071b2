/**
 * `--imb_factor` and `--label_noise` (data/label_transforms.ts, train/open_run.ts): the
 * long-tailed profile gives CIFAR-10-LT's published class sizes (ρ = 100: 5000, 2997, 1796, 1077,
 * 645, 387, 232, 139, 83, 50; 12,406 images) from the first images of each class; label noise
 * relabels exactly ⌊p·N + 0.5⌋ samples, the same ones for a seed, about (K − 1)/K of them to
 * another class; and end to end on a CIFAR-10 layout, the run records its training labels, a
 * resume sees the same ones, and a changed record (as a changed dataset) is refused.
 */
import { assert, assertEquals, assertThrows } from "./assert.ts";
import { join } from "node:path";
import { InvalidArgumentError } from "../core/errors.ts";
import { encodeCifarMeta, encodeCifarPickle } from "../data/fixtures.ts";
import { longTailIndices, noisyLabels } from "../data/label_transforms.ts";
import { loadTensors, saveTensors } from "../train/checkpoint.ts";
import { trainScript } from "./support/train_script.ts";

Deno.test("imb_factor: CIFAR-10-LT's class sizes at ρ = 100, the first images of each class", () => {
  // 5000 images per class, interleaved as the CIFAR batches are (not sorted by class).
  const labels = Int32Array.from({ length: 50000 }, (_, i) => (i * 7) % 10);
  const kept = longTailIndices(labels, 10, 0.01);
  const counts = new Array(10).fill(0);
  for (const i of kept) counts[labels[i]]++;
  assertEquals(counts, [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]);
  assertEquals(kept.length, 12406);
  for (let k = 0; k < 10; k++) {
    const members = [...labels.keys()].filter((i) => labels[i] === k);
    const mine = [...kept].filter((i) => labels[i] === k);
    assertEquals(mine, members.slice(0, counts[k]), `class ${k}: the first ${counts[k]}`);
  }
  assert([...kept].every((v, i) => i === 0 || kept[i - 1] < v), "ascending");
  assertEquals(longTailIndices(labels, 10, 1).length, 50000);
  assertThrows(() => longTailIndices(labels, 10, 0), InvalidArgumentError, "0 < r ≤ 1");
});

Deno.test("label_noise: ⌊p·N + 0.5⌋ relabelled, the same for a seed, most to another class", () => {
  const labels = Int32Array.from({ length: 10000 }, (_, i) => i % 10);
  const noisy = noisyLabels(labels, 10, 0.2, 1);
  const changed = noisy.reduce((a, v, i) => a + (v !== labels[i] ? 1 : 0), 0);
  // 2000 relabelled uniformly: changed ~ Binomial(2000, 0.9), mean 1800, sd 13.4.
  assert(changed <= 2000 && Math.abs(changed - 1800) < 6 * 13.4, `${changed} changed`);
  assertEquals([...noisyLabels(labels, 10, 0.2, 1)], [...noisy], "same seed, same labels");
  const other = noisyLabels(labels, 10, 0.2, 2);
  assert(other.some((v, i) => v !== noisy[i]), "another seed, other labels");
  assert(noisy.every((v) => v >= 0 && v < 10));
  assertEquals([...noisyLabels(labels, 10, 0, 1)], [...labels]);
  // p = 1: every label redrawn, so the classes are uniform: each count ~ 1000 ± 30.
  const all = noisyLabels(labels, 10, 1, 3);
  const counts = new Array(10).fill(0);
  for (const v of all) counts[v]++;
  assert(counts.every((c) => Math.abs(c - 1000) < 6 * 30), `${counts}`);
  assertEquals([...labels.subarray(0, 3)], [0, 1, 2], "the input is not modified");
});

function train(args: string[]) {
  return trainScript("standard", args);
}

Deno.test("imb_factor + label_noise: the run records its labels; a resume sees the same; a changed record is refused", async () => {
  const root = await Deno.makeTempDir({ prefix: "nc-variants-" });
  try {
    // A CIFAR-10 python layout: 5 batches of 20 images, 10 per class overall per batch pair.
    const py = join(root, "data", "cifar-10-batches-py");
    await Deno.mkdir(py, { recursive: true });
    for (let b = 1; b <= 5; b++) {
      const labels = Array.from({ length: 20 }, (_, i) => (i + b) % 10);
      const chw = new Uint8Array(20 * 3072).map((_, i) => (i * b) & 0xff);
      await Deno.writeFile(join(py, `data_batch_${b}`), encodeCifarPickle(chw, labels));
    }
    await Deno.writeFile(
      join(py, "test_batch"),
      encodeCifarPickle(new Uint8Array(10 * 3072), [...Array(10).keys()]),
    );
    await Deno.writeFile(join(py, "batches.meta"), encodeCifarMeta("abcdefghij".split("")));
    const flags = [
      "--dataset",
      "cifar10",
      "--data_dir",
      join(root, "data"),
      "--resnet_width",
      "4",
      "--batch_size",
      "10",
      "--backend",
      "wasm",
      "--storage",
      join(root, "runs"),
      "--uid",
      "lt",
    ];
    const first = await train([
      ...flags,
      "--imb_factor",
      "0.1",
      "--label_noise",
      "0.25",
      "--epochs",
      "1",
    ]);
    assertEquals(first.code, 0, first.stderr);
    // 10 images per class; n_k = ⌊10·0.1^(k/9)⌋ = 10, 7, 5, 4, 3, 2, 2, 1, 1, 1 (36 images).
    assert(
      first.stderr.includes(
        "training set: 36 of 100 samples (long-tailed, r = 0.1), 9 labels replaced",
      ),
      first.stderr,
    );
    const record = join(root, "runs", "lt", "train-labels.safetensors");
    const { tensors } = await loadTensors(record);
    const indices = tensors.get("indices")!.data as Int32Array;
    assertEquals(indices.length, 36);
    const resumed = await train([
      "--storage",
      join(root, "runs"),
      "--uid",
      "lt",
      "--resume",
      "--epochs",
      "2",
    ]);
    assertEquals(resumed.code, 0, resumed.stderr);
    assert(resumed.stderr.includes("training set: 36 of 100 samples"), resumed.stderr);
    // A record that no longer matches (as after the dataset files changed) is refused.
    const labels = (tensors.get("labels")!.data as Int32Array).slice();
    labels[0] = (labels[0] + 1) % 10;
    await saveTensors(
      record,
      new Map([
        ["indices", { dtype: "I32", shape: [36], data: indices }],
        ["labels", { dtype: "I32", shape: [36], data: labels }],
      ]),
    );
    const refused = await train([
      "--storage",
      join(root, "runs"),
      "--uid",
      "lt",
      "--resume",
      "--epochs",
      "3",
    ]);
    assertEquals(refused.code, 2, refused.stderr);
    assert(
      refused.stderr.includes("train-labels.safetensors") && refused.stderr.includes("differ"),
      refused.stderr,
    );
    // --imb_factor only for CIFAR; values outside their ranges are refused.
    for (
      const [args, expected] of [
        [
          ["--imb_factor", "0.5", "--dataset", "mnist"],
          "--imb_factor: applies to --dataset cifar10|cifar100 only",
        ],
        [["--imb_factor", "1.5"], "--imb_factor: got 1.5, allowed: 0 < r ≤ 1"],
        [["--label_noise=-0.1"], "--label_noise: got -0.1, allowed: 0 ≤ p ≤ 1"],
      ] as const
    ) {
      const bad = await train([
        ...flags.slice(0, 4),
        "--uid",
        "bad",
        "--storage",
        join(root, "runs"),
        ...args,
      ]);
      assertEquals(bad.code, 2, bad.stderr);
      assert(bad.stderr.includes(expected), `${expected}: ${bad.stderr}`);
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
