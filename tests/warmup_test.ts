/**
 * `--warmup_epochs` (nets/training/train_step.ts `headAt`, the optimisers' `freeze`): the
 * warmup epochs of an implicit run are, step for step and bit for bit, the standard method's
 * (same initialisation, batches and classifier); from then on the implicit head trains and the
 * classifier is frozen (an optimiser with a frozen parameter updates the others exactly as one
 * built without it, AGD's η included); checkpoints hold the head of their epoch, so a resume from
 * a warmup checkpoint or a later one reproduces the run bit for bit, and `nc` measures every
 * checkpoint under its own classifier; the flag is refused where it does not apply.
 */
import { assert, assertEquals } from "./assert.ts";
import { join } from "node:path";
import { tf } from "../nets/tf.ts";
import { selectBackend } from "../nets/backend/select.ts";
import { agd } from "../nets/optim/agd.ts";
import { sgd } from "../nets/optim/sgd.ts";
import { adam } from "../nets/optim/adam.ts";
import type { Parameter } from "../nets/models/model.ts";
import { readSafetensors } from "../train/safetensors.ts";
import { denoTask } from "./support/deno_task.ts";
import { TINY_RUN } from "./support/tiny_run.ts";
import { resumeCopy, trainScript } from "./support/train_script.ts";

await selectBackend("cpu"); // cpu, without tfjs's Node.js banner

Deno.test("optimisers: a frozen parameter stays; the others move as without it (AGD's η too)", () => {
  const make = (): Parameter[] =>
    [[3, 4], [4, 2], [2, 5]].map(([a, b], i) => ({
      name: `p${i}`,
      variable: tf.variable(tf.randomNormal([a, b], 0, 1, "float32", 10 + i)),
      kind: "dense" as const,
    }));
  const builders = [
    (ps: Parameter[]) => agd(ps, { gain: 5 }),
    (ps: Parameter[]) => sgd(ps, { lr: 0.1 }),
    (ps: Parameter[]) => adam(ps, { lr: 0.01 }),
  ];
  for (const build of builders) {
    const a = make(), b = make();
    const withFrozen = build(a), without = build([b[0], b[2]]);
    withFrozen.freeze([a[1]]);
    const frozenBefore = a[1].variable.dataSync().slice();
    for (let step = 0; step < 3; step++) {
      const grads = (ps: Parameter[]) =>
        Object.fromEntries(
          ps.map((
            p,
            i,
          ) => [
            p.variable.name,
            tf.randomNormal(p.variable.shape, 0, 1, "float32", step * 10 + i),
          ]),
        );
      const g = grads([a[0], a[2]]);
      const gb = {
        [b[0].variable.name]: g[a[0].variable.name],
        [b[2].variable.name]: g[a[2].variable.name],
      };
      const e1 = withFrozen.step(g).eta, e2 = without.step(gb).eta;
      if (e1 !== undefined) assertEquals(e1.dataSync()[0], e2!.dataSync()[0]);
      tf.dispose([e1, e2, ...Object.values(g)].filter((t) => t !== undefined));
    }
    assertEquals(Array.from(a[1].variable.dataSync()), Array.from(frozenBefore));
    for (const i of [0, 2]) {
      assertEquals(Array.from(a[i].variable.dataSync()), Array.from(b[i].variable.dataSync()));
    }
    withFrozen.dispose();
    without.dispose();
    tf.dispose([...a, ...b].map((p) => p.variable));
  }
});

Deno.test("--warmup_epochs: the standard method's epochs, then the implicit head; resumes bit for bit; nc", async () => {
  const storage = await Deno.makeTempDir({ prefix: "nc-warmup-" });
  const lines = (path: string) =>
    Deno.readTextFileSync(path).trim().split("\n").map((l) => JSON.parse(l));
  const strip = (rows: Record<string, number>[]) =>
    rows.map(({ seconds: _s, solverSeconds: _t, ...rest }) => rest);
  try {
    const base = [
      ...TINY_RUN,
      "--stratified_batch",
      "--epochs",
      "3",
      "--checkpoint_every",
      "1",
      "--storage",
      storage,
    ];
    const w = await trainScript("implicit", [...base, "--warmup_epochs", "1", "--uid", "w"]);
    assertEquals(w.code, 0, w.stderr);
    const s = await trainScript("standard", [...base, "--epochs", "1", "--uid", "s"]);
    assertEquals(s.code, 0, s.stderr);
    const steps = lines(join(storage, "w", "steps.jsonl"));
    const standard = lines(join(storage, "s", "steps.jsonl"));
    // Epoch 1 is the standard method's run, step for step.
    assertEquals(strip(steps.filter((r) => r.epoch === 1)), strip(standard));
    assert(steps.filter((r) => r.epoch === 1).every((r) => r.solverIterations === undefined));
    assert(steps.filter((r) => r.epoch > 1).every((r) => r.solverIterations !== undefined));
    // With --implicit_forward_bs too: the warmup epoch ignores the second batches (they feed
    // the implicit head's average only), so it is the same epoch; the implicit epochs use them.
    const wf = await trainScript("implicit", [
      ...base,
      "--epochs",
      "2",
      "--warmup_epochs",
      "1",
      "--implicit_forward_bs",
      "50",
      "--uid",
      "wf",
    ]);
    assertEquals(wf.code, 0, wf.stderr);
    const wfSteps = lines(join(storage, "wf", "steps.jsonl"));
    assertEquals(strip(wfSteps.filter((r) => r.epoch === 1)), strip(standard));
    assert(wfSteps.find((r) => r.epoch === 2)!.loss !== steps.find((r) => r.epoch === 2)!.loss);
    // Checkpoints hold their epoch's head: the learned classifier at epoch 1, none after.
    const ckpt = (e: number) =>
      join(storage, "w", "checkpoints", `model-epoch-000${e}.safetensors`);
    const names = async (e: number) => [...(await readSafetensors(ckpt(e))).tensors.keys()];
    assert((await names(1)).includes("classifier.weight"));
    assert(!(await names(2)).includes("classifier.weight"));
    // Resume from the warmup checkpoint and from the first implicit one.
    for (const e of [1, 2]) {
      const { result: r, dir: copy } = await resumeCopy("implicit", storage, "w", e, `w-from-${e}`);
      assertEquals(r.code, 0, r.stderr);
      assertEquals(strip(lines(join(copy, "steps.jsonl"))), strip(steps), `resumed at ${e}`);
    }
    // nc loads every checkpoint strictly and measures it under its own classifier.
    const nc = await denoTask("nc", [
      "--uid",
      "w",
      "--storage",
      storage,
      "--data_dir",
      "/nonexistent-data-dir",
    ]);
    assertEquals(nc.code, 0, nc.stderr);
    const epochs = lines(join(storage, "w", "epochs.jsonl"));
    // The warmup epoch's clean accuracies are the standard run's (its learned classifier).
    const sEpoch = lines(join(storage, "s", "epochs.jsonl"))[0];
    assertEquals(
      [epochs[0].trainAccuracy, epochs[0].testAccuracy],
      [sEpoch.trainAccuracy, sEpoch.testAccuracy],
    );
    const metrics = lines(join(storage, "w", "nc", "train.jsonl"));
    for (const e of [1, 2, 3]) {
      const m = metrics.find((r) => r.epoch === e);
      assert(m !== undefined, `nc measured epoch ${e}`);
      // The float64 argmax may differ from the trainer's float32 one on a near tie (1 sample).
      const reported = epochs[e - 1].trainAccuracy * 100;
      assert(
        Math.abs(m.top1 - reported) <= 100 / m.samples + 1e-9,
        `epoch ${e}: nc's top-1 ${m.top1} vs the trainer's ${reported}`,
      );
    }
    // Refusals.
    const std = await trainScript("standard", [...base, "--warmup_epochs", "1", "--uid", "x"]);
    assertEquals(std.code, 2);
    assert(std.stderr.includes("--warmup_epochs: applies to the fixed and implicit methods only"));
    const all = await trainScript("fixed", [...base, "--warmup_epochs", "3", "--uid", "y"]);
    assertEquals(all.code, 2);
    assert(all.stderr.includes("the method's head would never train"), all.stderr);
  } finally {
    await Deno.remove(storage, { recursive: true });
  }
});
