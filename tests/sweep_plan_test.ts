/**
 * The sweep planner and engines' files (sweep/): the manifest's order (datasets, models, methods,
 * seeds, the last fastest), ids stable across re-plans and storages and new when a flag changes,
 * every run's flags validated as training validates them, a run directory holding another run
 * refused, sweep-file errors that name the field; the rendered Slurm scripts and Kubernetes
 * Indexed Job against golden files (tests/fixtures/sweep/), the Job typed as the Kubernetes API's
 * batch/v1 Job (sweep/engines.ts: a misspelt field fails `deno check`) and its values checked
 * against the rules kubectl validates; the command line's subcommands and flags.
 */
import { assert, assertEquals } from "./assert.ts";
import { join } from "node:path";
import { parseSweepFile } from "../sweep/sweep_file.ts";
import { planSweep, runId, writeManifest } from "../sweep/plan.ts";
import { renderAnalysisSbatch, renderIndexedJob, renderSbatch } from "../sweep/engines.ts";
import { readManifest, taskIndex, thisHost } from "../sweep/run_index.ts";
import { parseTrainArgs } from "../train/config.ts";
import { exists } from "../data/fs.ts";

const FIXTURES = new URL("./fixtures/sweep/", import.meta.url);
const fixture = (name: string) => Deno.readTextFile(new URL(name, FIXTURES));

function throwsWith(f: () => unknown, text: string): void {
  try {
    f();
  } catch (e) {
    assert((e as Error).message.includes(text), `${(e as Error).message} lacks "${text}"`);
    return;
  }
  throw new Error(`expected an error with "${text}"`);
}

const sweepText = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    name: "t",
    datasets: ["synthetic"],
    models: ["ufm", "mlp"],
    methods: ["standard", "implicit"],
    seeds: [3, 1],
    flags: { epochs: 5, dataset_size: 100, num_classes: 4 },
    ...extra,
  });

Deno.test("sweep plan: the axes in order, the last fastest; ids stable and flag-sensitive", () => {
  const sweep = parseSweepFile(sweepText(), "t.json");
  const plan = planSweep(sweep, { storage: "/a" });
  assertEquals(
    plan.runs.map((r) => [r.index, r.model, r.method, r.seed]),
    [
      [0, "ufm", "standard", 3],
      [1, "ufm", "standard", 1],
      [2, "ufm", "implicit", 3],
      [3, "ufm", "implicit", 1],
      [4, "mlp", "standard", 3],
      [5, "mlp", "standard", 1],
      [6, "mlp", "implicit", 3],
      [7, "mlp", "implicit", 1],
    ],
  );
  // The same sweep elsewhere, with its flags in another order: the same ids.
  const moved = planSweep(
    parseSweepFile(
      sweepText({ flags: { num_classes: 4, dataset_size: 100, epochs: 5 } }),
      "t.json",
    ),
    { storage: "/b" },
  );
  assertEquals(moved.runs.map((r) => r.id), plan.runs.map((r) => r.id));
  assertEquals(new Set(plan.runs.map((r) => r.id)).size, 8);
  assert(/^synthetic-ufm-standard-seed3-[0-9a-f]{10}$/.test(plan.runs[0].id), plan.runs[0].id);
  assertEquals(plan.runs[0].runDir, join("/a", "t", "runs", plan.runs[0].id));
  // A changed flag: every id changes.
  const changed = planSweep(
    parseSweepFile(sweepText({ flags: { epochs: 6, dataset_size: 100, num_classes: 4 } }), "t"),
    { storage: "/a" },
  );
  assert(changed.runs.every((r, i) => r.id !== plan.runs[i].id));
  assertEquals(
    runId("d", "m", "standard", 1, { a: 1 }) === runId("d", "m", "standard", 1, { a: "1" }),
    false,
  );
  // The training command carries the run's axes, its flags and its place.
  const train = plan.runs[2].train;
  assertEquals(train.slice(0, 3), ["deno", "task", "train:implicit"]);
  for (const [flag, value] of [["--seed", "3"], ["--uid", plan.runs[2].id]]) {
    assertEquals(train[train.indexOf(flag) + 1], value);
  }
  assert(train.includes("--epochs=5"), "the sweep's flags as --name=value");
  assertEquals(train[train.indexOf("--threads") + 1], "2"); // resources.cpus by default
});

Deno.test("sweep plan: bad sweep files and bad runs are errors naming the field or flag", () => {
  throwsWith(() => parseSweepFile("{", "s.json"), "s.json: not JSON");
  throwsWith(() => parseSweepFile(sweepText({ name: "a/b" }), "s.json"), '"name": got "a/b"');
  throwsWith(() => parseSweepFile(sweepText({ methods: [] }), "s.json"), '"methods": got []');
  throwsWith(
    () => parseSweepFile(sweepText({ methods: ["sgd"] }), "s.json"),
    '"methods": got "sgd"',
  );
  throwsWith(() => parseSweepFile(sweepText({ seeds: [1, 1] }), "s.json"), "given twice");
  throwsWith(() => parseSweepFile(sweepText({ extra: 1 }), "s.json"), '"extra": unknown field');
  throwsWith(
    () => parseSweepFile(sweepText({ datasets: ["synthetc"] }), "s.json"),
    '"datasets": got "synthetc", allowed: ',
  );
  throwsWith(
    () => parseSweepFile(sweepText({ models: ["resnet19"] }), "s.json"),
    '"models": got "resnet19"',
  );
  throwsWith(
    () => parseSweepFile(sweepText({ flags: { epochz: 3 } }), "s.json"),
    '"flags.epochz": not a training flag',
  );
  throwsWith(
    () => parseSweepFile(sweepText({ flags: { epochs: true } }), "s.json"),
    '"flags.epochs": got true, allowed: a number',
  );
  throwsWith(
    () => parseSweepFile(sweepText({ flags: { bias: 1 } }), "s.json"),
    '"flags.bias": got 1, allowed: true or false',
  );
  throwsWith(
    () => parseSweepFile(sweepText({ flags: { seed: 4 } }), "s.json"),
    '"flags.seed": the sweep sets it',
  );
  throwsWith(
    () => parseSweepFile(sweepText({ resources: { time: "4h" } }), "s.json"),
    '"resources.time": got "4h"',
  );
  throwsWith(
    () => parseSweepFile(sweepText({ resources: { memory: "8GB" } }), "s.json"),
    '"resources.memory": got "8GB"',
  );
  // A flag training refuses, for the run it is refused in.
  throwsWith(
    () => planSweep(parseSweepFile(sweepText({ flags: { epochs: 0 } }), "s"), { storage: "/a" }),
    "--epochs: run synthetic-ufm-standard-seed3-",
  );
  // A negative value reaches training as the flag's value (--name=value), and training refuses it.
  throwsWith(
    () => planSweep(parseSweepFile(sweepText({ flags: { lr: -0.1 } }), "s"), { storage: "/a" }),
    "--lr: run synthetic-ufm-standard-seed3-",
  );
});

Deno.test("sweep plan: the manifest is written atomically and read back; task indices", async () => {
  const storage = await Deno.makeTempDir();
  try {
    const plan = planSweep(parseSweepFile(sweepText(), "t.json"), { storage });
    const path = await writeManifest(plan);
    assertEquals(path, join(storage, "t", "manifest.jsonl"));
    assertEquals(await readManifest(join(storage, "t")), plan.runs);
    assertEquals([...Deno.readDirSync(join(storage, "t"))].map((e) => e.name).sort(), [
      "manifest.jsonl",
      "runs",
      "sweep.json",
    ]);
    assertEquals(taskIndex(7, false, 8), 7);
    throwsWith(() => taskIndex(8, false, 8), "--index: got 8, allowed: 0 to 7");
    throwsWith(() => taskIndex(null, false, 8), "give --index N or --index-from-env");
    Deno.env.set("SLURM_ARRAY_TASK_ID", "5");
    try {
      assertEquals(taskIndex(null, true, 8), 5);
    } finally {
      Deno.env.delete("SLURM_ARRAY_TASK_ID");
    }
    for (const bad of ["", "0x2", "x"]) {
      Deno.env.set("SLURM_ARRAY_TASK_ID", bad);
      try {
        throwsWith(() => taskIndex(null, true, 8), `SLURM_ARRAY_TASK_ID is ${JSON.stringify(bad)}`);
      } finally {
        Deno.env.delete("SLURM_ARRAY_TASK_ID");
      }
    }
    Deno.env.set("JOB_COMPLETION_INDEX", "9");
    try {
      throwsWith(() => taskIndex(null, true, 8), "JOB_COMPLETION_INDEX is 9, allowed: 0 to 7");
    } finally {
      Deno.env.delete("JOB_COMPLETION_INDEX");
    }
    // A run directory holding another run (a stored configuration that differs in a flag a
    // resumed run may not change): re-planning is refused, naming the flag and the run.
    const run = plan.runs[0];
    const other = parseTrainArgs([...run.train.slice(3), "--dataset_size", "150"], "standard");
    if (other === "help") throw new Error("unexpected help");
    await Deno.mkdir(run.runDir, { recursive: true });
    await Deno.writeTextFile(
      join(run.runDir, "config.json"),
      JSON.stringify({ config: other.config }),
    );
    throwsWith(
      () => planSweep(parseSweepFile(sweepText(), "t.json"), { storage }),
      `--dataset_size: run ${run.id}: the run ${run.id} was started with 150, given 100`,
    );
  } finally {
    await Deno.remove(storage, { recursive: true });
  }
});

Deno.test("sweep engines: the Slurm scripts and the Kubernetes Indexed Job equal their golden files", async () => {
  const sweep = parseSweepFile(await fixture("golden-sweep.json"), "golden-sweep.json");
  const plan = planSweep(sweep, { storage: "/storage" });
  const launch = { deno: "/usr/local/bin/deno", root: "/opt/guided-collapse" };
  assertEquals(renderSbatch(plan, launch), await fixture("array.sbatch"));
  assertEquals(renderAnalysisSbatch(plan, launch), await fixture("analysis.sbatch"));
  const job = renderIndexedJob(plan, launch, {
    image: "registry.example/guided-collapse:1",
    claim: "nc-runs",
  });
  assertEquals(JSON.stringify(job, null, 2) + "\n", await fixture("indexed-job.json"));
  // batch/v1 Job's rules for an Indexed Job (beyond its type, which `deno check` holds to the
  // Kubernetes 1.30 API's): the values kubectl's validation requires.
  const spec = job.spec!;
  assertEquals([job.apiVersion, job.kind], ["batch/v1", "Job"]);
  assert(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(job.metadata!.name!));
  assertEquals(spec.completionMode, "Indexed");
  assertEquals(spec.completions, plan.runs.length);
  assert(spec.parallelism! >= 1 && spec.parallelism! <= plan.runs.length);
  const pod = spec.template.spec!;
  assert(["Never", "OnFailure"].includes(pod.restartPolicy!));
  const [container] = pod.containers;
  assert(typeof container.image === "string" && typeof container.name === "string");
  assertEquals(
    container.volumeMounts![0].name,
    pod.volumes![0].name,
    "the storage volume is mounted",
  );
  assertEquals(container.command!.at(-1), "--index-from-env");
});

Deno.test("sweep command line: subcommands, their flags, and the files each engine writes", async () => {
  const { sweepMain } = await import("../sweep/cli.ts");
  const storage = await Deno.makeTempDir();
  const out: string[] = [], log: string[] = [];
  const io = { out: (l: string) => void out.push(l), log: (l: string) => void log.push(l) };
  const rejects = async (args: string[], text: string) => {
    try {
      await sweepMain(args, io);
    } catch (e) {
      assert((e as Error).message.includes(text), `${(e as Error).message} lacks "${text}"`);
      return;
    }
    throw new Error(`sweep ${args.join(" ")}: expected an error with "${text}"`);
  };
  try {
    const file = join(storage, "s.json");
    await Deno.writeTextFile(file, sweepText());
    await rejects(
      ["launch"],
      'command: got "launch", allowed: plan, prepare, analyse, run, status, submit',
    );
    await rejects(["status", "--file", file], "--file: not a flag of sweep status");
    await rejects(["run", "--sweep", join(storage, "t")], "no manifest");
    await rejects(["submit", "--file", join(storage, "none.json")], "cannot read it");
    await rejects(
      ["submit", "--file", file, "--storage", storage, "--dry_run"],
      "--dry_run: applies to --engine slurm only, not local",
    );
    await rejects(
      ["submit", "--file", file, "--storage", storage, "--engine", "slurm", "--jobs", "2"],
      "--jobs: applies to --engine local only, not slurm",
    );
    await rejects(
      ["submit", "--file", file, "--storage", storage, "--engine", "k8s", "--claim", "c"],
      "--image: sweep submit needs it",
    );
    assert(!(await exists(join(storage, "t"))), "refused before anything is written");
    assertEquals(
      await sweepMain(
        ["submit", "--file", file, "--storage", storage, "--engine", "slurm", "--dry_run"],
        io,
      ),
      0,
    );
    const dir = join(storage, "t");
    assert((await Deno.readTextFile(join(dir, "array.sbatch"))).includes("--array=0-7\n"));
    assert((await Deno.readTextFile(join(dir, "analysis.sbatch"))).includes("task plot"));
    assertEquals(
      await sweepMain([
        "submit",
        "--file",
        file,
        "--storage",
        storage,
        "--engine",
        "k8s",
        "--image",
        "img:1",
        "--claim",
        "runs",
      ], io),
      0,
    );
    const job = JSON.parse(await Deno.readTextFile(join(dir, "indexed-job.json")));
    assertEquals([job.spec.completions, job.spec.parallelism], [8, 8]);
    await rejects(["run", "--sweep", dir], "give --index N or --index-from-env");
    // status before any task: every run missing, exit code 1.
    out.length = 0;
    assertEquals(await sweepMain(["status", "--sweep", dir], io), 1);
    assertEquals(
      out[0].split("\n")[0],
      "8 runs: 0 done, 0 running, 0 failed, 0 partial, 8 missing",
    );
    await rejects(["analyse", "--file", file, "--storage", storage], "8 run(s) not done");
    // A task recorded as running on this machine whose process is gone: failed, saying so.
    await Deno.mkdir(join(dir, "tasks"), { recursive: true });
    const gone = new Deno.Command("true").spawn();
    await gone.status;
    const first = (await readManifest(dir))[0];
    await Deno.writeTextFile(
      join(dir, "tasks", "0.json"),
      JSON.stringify({
        index: 0,
        id: first.id,
        state: "running",
        host: thisHost(),
        pid: gone.pid,
        started: "2026-12-07T00:00:00.000Z",
        finished: null,
        exitCode: null,
        step: "train",
      }),
    );
    out.length = 0;
    assertEquals(await sweepMain(["status", "--sweep", dir], io), 1);
    assert(
      out[0].includes(`failed   ${first.id} — train stopped: its process ${gone.pid} is gone`),
      out[0],
    );
  } finally {
    await Deno.remove(storage, { recursive: true });
  }
});

Deno.test("sweep prepare: every dataset read once before any task, synthetic data skipped", async () => {
  const { sweepMain } = await import("../sweep/cli.ts");
  const { encodeCifarMeta, encodeCifarPickle } = await import("../data/fixtures.ts");
  const storage = await Deno.makeTempDir();
  try {
    // A CIFAR-10 layout of 5 × 20 training and 10 test images under the data directory.
    const py = join(storage, "data", "cifar-10-batches-py");
    await Deno.mkdir(py, { recursive: true });
    const labels = Array.from({ length: 20 }, (_, i) => i % 10);
    for (let b = 1; b <= 5; b++) {
      await Deno.writeFile(
        join(py, `data_batch_${b}`),
        encodeCifarPickle(new Uint8Array(20 * 3072), labels),
      );
    }
    await Deno.writeFile(
      join(py, "test_batch"),
      encodeCifarPickle(new Uint8Array(10 * 3072), [...Array(10).keys()]),
    );
    await Deno.writeFile(join(py, "batches.meta"), encodeCifarMeta("abcdefghij".split("")));
    const file = join(storage, "s.json");
    await Deno.writeTextFile(
      file,
      JSON.stringify({
        name: "c",
        datasets: ["cifar10"],
        models: ["resnet18"],
        methods: ["standard", "fixed"],
        seeds: [1, 2],
        flags: { epochs: 1, resnet_width: 4, data_dir: join(storage, "data") },
      }),
    );
    const log: string[] = [];
    const io = { out: () => {}, log: (l: string) => void log.push(l) };
    assertEquals(await sweepMain(["prepare", "--file", file, "--storage", storage], io), 0);
    const prepared = log.filter((l) => l.startsWith("sweep: prepared"));
    assertEquals(prepared, [
      `sweep: prepared cifar10 in ${join(storage, "data")}: 100 training and 10 test samples`,
    ]);
    // Synthetic data is regenerated by each run; a data directory is not passed to it.
    const synthetic = join(storage, "u.json");
    await Deno.writeTextFile(synthetic, sweepText({ flags: { epochs: 1, data_dir: "/x" } }));
    log.length = 0;
    assertEquals(await sweepMain(["prepare", "--file", synthetic, "--storage", storage], io), 0);
    assertEquals(log.at(-1), "sweep: no dataset to prepare (synthetic data only)");
    const runs = await readManifest(join(storage, "t"));
    assert(runs.every((r) => !r.train.includes("--data_dir")));
  } finally {
    await Deno.remove(storage, { recursive: true });
  }
});
