/**
 * A sweep end to end on the local engine (`deno task sweep`), as a user runs it: a small UFM sweep
 * (two methods × two seeds) with one cell made to fail (a run whose checkpoints are damaged
 * after it trained: its task resumes and cannot load them) — the other tasks finish, the submit
 * exits 1 without the analysis, `sweep status` names the failed run with its log's last line;
 * after the fix (the damaged run removed) the same submit runs only what is missing, then the
 * analysis (seed statistics per method, figures), and `status` says all done. A task run again is
 * a no-op for training (`--index` of a finished run: no new epochs).
 */
import { assert, assertEquals } from "./assert.ts";
import { join } from "node:path";
import { readManifest } from "../sweep/run_index.ts";
import { exists } from "../data/fs.ts";
import { denoTask } from "./support/deno_task.ts";

const sweep = (args: string[], env?: Record<string, string>) => denoTask("sweep", args, env);

const lines = async (path: string) =>
  (await Deno.readTextFile(path)).split("\n").filter((l) => l !== "").length;

Deno.test("sweep on the local engine: a failing cell, status, the fix, the analysis", async () => {
  const storage = await Deno.makeTempDir({ prefix: "nc-sweep-test-" });
  try {
    const file = join(storage, "ufm.json");
    await Deno.writeTextFile(
      file,
      JSON.stringify({
        name: "ufm",
        datasets: ["synthetic"],
        models: ["ufm"],
        methods: ["standard", "implicit"],
        seeds: [1, 2],
        flags: {
          epochs: 20,
          checkpoint_every: 10,
          dataset_size: 200,
          feature_dim: 32,
          num_classes: 4,
          log_interval: 50,
        },
        resources: { cpus: 1, parallel: 2 },
      }),
    );
    const plan = await sweep(["plan", "--file", file, "--storage", storage]);
    assertEquals(plan.code, 0, plan.stderr);
    const dir = join(storage, "ufm");
    const runs = await readManifest(dir);
    assertEquals(runs.map((r) => r.method + r.seed), [
      "standard1",
      "standard2",
      "implicit1",
      "implicit2",
    ]);

    // Cell 1 trains, then its checkpoints are damaged and its latest.json put back at epoch 10.
    const one = await sweep(["run", "--sweep", dir, "--index", "1"]);
    assertEquals(one.code, 0, one.stderr);
    const bad = runs[1].runDir;
    for (const e of ["0010", "0020"]) {
      await Deno.writeTextFile(join(bad, "checkpoints", `model-epoch-${e}.safetensors`), "garbage");
      await Deno.writeTextFile(join(bad, "checkpoints", `state-epoch-${e}.safetensors`), "garbage");
    }
    await Deno.writeTextFile(
      join(bad, "latest.json"),
      JSON.stringify({
        epoch: 10,
        model: "checkpoints/model-epoch-0010.safetensors",
        state: "checkpoints/state-epoch-0010.safetensors",
      }),
    );

    const failing = await sweep(["submit", "--file", file, "--storage", storage, "--jobs", "2"]);
    assertEquals(failing.code, 1, failing.stderr);
    assert(
      failing.stderr.includes("1 task(s) failed (1): the analysis is not run"),
      failing.stderr,
    );
    const status = await sweep(["status", "--sweep", dir]);
    assertEquals(status.code, 1);
    const [head, ...rest] = status.stdout.trim().split("\n");
    assertEquals(head, "4 runs: 3 done, 0 running, 1 failed, 0 partial, 0 missing");
    assertEquals(rest.length, 1);
    assert(rest[0].includes(`failed   ${runs[1].id} — train exited 2: `), rest[0]);
    assert(/safetensors/.test(rest[0]), `the last log line names the damaged file: ${rest[0]}`);
    assert(!status.stdout.includes(String.fromCharCode(27)), "no terminal colour codes");
    assert(!(await exists(join(dir, "runs", "synthetic-ufm-standard-seed-seed-stats"))));

    // The fix: the damaged run goes; the same submit trains only it, then the analysis.
    await Deno.remove(bad, { recursive: true });
    const epochsBefore = await lines(join(runs[0].runDir, "epochs.jsonl"));
    const fixed = await sweep(["submit", "--file", file, "--storage", storage, "--jobs", "2"]);
    assertEquals(fixed.code, 0, fixed.stderr);
    assertEquals(await lines(join(runs[0].runDir, "epochs.jsonl")), epochsBefore);
    const done = await sweep(["status", "--sweep", dir, "--json"]);
    assertEquals(done.code, 0);
    assertEquals(
      done.stdout.trim().split("\n").map((l) => JSON.parse(l).status),
      ["done", "done", "done", "done"],
    );
    for (const method of ["standard", "implicit"]) {
      const stats = join(dir, "runs", `synthetic-ufm-${method}-seed-seed-stats`);
      assert(await exists(stats), `${stats} written`);
    }
    assert(await exists(join(dir, "runs", "synthetic-ufm-figures", "report.html")));
    // A finished task again: no training.
    const again = await sweep(["run", "--sweep", dir, "--index", "0"]);
    assertEquals(again.code, 0, again.stderr);
    assert(again.stderr.includes("(training complete)"), again.stderr);
    assertEquals(await lines(join(runs[0].runDir, "epochs.jsonl")), epochsBefore);
    // --index-from-env takes Slurm's variable.
    const fromEnv = await sweep(["run", "--sweep", dir, "--index-from-env"], {
      SLURM_ARRAY_TASK_ID: "3",
    });
    assertEquals(fromEnv.code, 0);
    assert(fromEnv.stderr.includes(`task 3: ${runs[3].id}`));
  } finally {
    await Deno.remove(storage, { recursive: true });
  }
});
