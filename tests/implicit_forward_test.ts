/**
 * `--implicit_forward_bs` (data/pipeline.ts `forwardBatches`, the implicit head's `average`
 * batch, nets/training/train_step.ts): the second batches are a function of (seed, epoch, batch)
 * — every cycle a fresh permutation of the (sub)set, stratified when asked, augmented from their
 * own stream; a run trains with them, and resuming from a checkpoint reproduces the uninterrupted
 * run's steps bit for bit; the flag is refused where it does not apply. (The head's gradients
 * through the second batch are checked against finite differences in implicit_head_test.ts.)
 */
import { assert, assertEquals, assertThrows } from "./assert.ts";
import { join } from "node:path";
import { InvalidArgumentError } from "../core/errors.ts";
import type { DatasetSplit } from "../data/dataset.ts";
import { batches, forwardBatches } from "../data/pipeline.ts";
import { TINY_RUN } from "./support/tiny_run.ts";
import { resumeCopy, trainScript } from "./support/train_script.ts";

function split(n: number, K: number): DatasetSplit {
  const images = new Uint8Array(n * 4 * 4 * 3).map((_, i) => (i * 37) & 255);
  return {
    name: "cifar10",
    split: "train",
    length: n,
    sampleShape: [4, 4, 3],
    images,
    features: null,
    labels: Int32Array.from({ length: n }, (_, i) => i % K),
    numClasses: K,
  };
}

Deno.test("forwardBatches: permutations per cycle, stratified, deterministic, own augmentation", () => {
  const data = split(60, 3);
  const options = { batchSize: 10, seed: 7, epoch: 2, train: true, stratified: true };
  const second = forwardBatches(data, options, 15); // 6 training batches, 4 second batches a cycle
  const fed = Array.from({ length: 8 }, (_, b) => second(b));
  for (let c = 0; c < 2; c++) {
    const seen = fed.slice(4 * c, 4 * c + 4).flatMap((f) => Array.from(f.indices));
    assertEquals([...seen].sort((a, b) => a - b), Array.from({ length: 60 }, (_, i) => i));
  }
  assert(
    fed[0].indices.join() !== fed[4].indices.join(),
    "a new order in the second cycle",
  );
  for (const f of fed) {
    assertEquals(f.labels.length, 15);
    for (let k = 0; k < 3; k++) assertEquals(f.labels.filter((y) => y === k).length, 5);
  }
  // The same batch again (a resumed epoch, any order) is the same, pixels included.
  const again = forwardBatches(data, options, 15);
  for (const b of [5, 1, 7]) {
    assertEquals(Array.from(again(b).indices), Array.from(fed[b].indices));
    assertEquals(Array.from(again(b).x), Array.from(fed[b].x));
  }
  // Not the training batches' order, and another epoch gives other batches.
  const training = [...batches(data, options)];
  assert(training[0].indices.join() !== fed[0].indices.slice(0, 10).join(), "own order");
  const next = forwardBatches(data, { ...options, epoch: 3 }, 15);
  assert(next(0).x.join() !== fed[0].x.join() || next(0).indices.join() !== fed[0].indices.join());
  assertThrows(() => second(-1), InvalidArgumentError, "batch");
});

Deno.test("--implicit_forward_bs: trains, resumes bit for bit, refused where it does not apply", async () => {
  const storage = await Deno.makeTempDir({ prefix: "nc-forward-bs-" });
  const lines = (path: string) =>
    Deno.readTextFileSync(path).trim().split("\n").map((l) => JSON.parse(l));
  try {
    const base = [...TINY_RUN, "--epochs", "2", "--checkpoint_every", "1", "--storage", storage];
    const r = await trainScript("implicit", [
      ...base,
      "--implicit_forward_bs",
      "50",
      "--uid",
      "fb",
    ]);
    assertEquals(r.code, 0, r.stderr);
    const config = JSON.parse(Deno.readTextFileSync(join(storage, "fb", "config.json"))).config;
    assertEquals(config.implicitForwardBs, 50);
    const steps = lines(join(storage, "fb", "steps.jsonl"));
    assertEquals(steps.length, 10); // 100 images, batches of 20, 2 epochs
    // The same run without the flag trains differently (the average is fed differently).
    const plain = await trainScript("implicit", [...base, "--uid", "plain"]);
    assertEquals(plain.code, 0, plain.stderr);
    assert(
      lines(join(storage, "plain", "steps.jsonl"))[1].loss !== steps[1].loss,
      "the second batch changes the training",
    );
    // Resume the epoch-1 checkpoint in a copy: the same steps, bit for bit.
    const { result: resumed, dir: copy } = await resumeCopy(
      "implicit",
      storage,
      "fb",
      1,
      "fb-copy",
    );
    assertEquals(resumed.code, 0, resumed.stderr);
    const strip = (rows: Record<string, number>[]) =>
      rows.map(({ seconds: _s, solverSeconds: _t, ...rest }) => rest);
    assertEquals(strip(lines(join(copy, "steps.jsonl"))), strip(steps));
    // Refusals: another method; stratified second batches smaller than K.
    const standard = await trainScript("standard", [
      ...base,
      "--implicit_forward_bs",
      "50",
      "--uid",
      "x",
    ]);
    assertEquals(standard.code, 2);
    assert(standard.stderr.includes("--implicit_forward_bs: applies to the implicit method only"));
    const small = await trainScript("implicit", [
      ...base,
      "--stratified_batch",
      "--implicit_forward_bs",
      "5",
      "--uid",
      "y",
    ]);
    assertEquals(small.code, 2);
    assert(small.stderr.includes("--implicit_forward_bs: got 5 < K = 10"), small.stderr);
  } finally {
    await Deno.remove(storage, { recursive: true });
  }
});
