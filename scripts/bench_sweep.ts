/**
 * The sweep's own costs at cluster scale (issue: plan and submit 1,000 runs in under 2 s, status
 * over 1,000 run directories in under 1 s): plans a 1,002-run sweep (2 datasets × 3 methods × 167
 * seeds, every run's flags validated) and writes its manifest, renders the Slurm script, then gives
 * every run a run directory and a task record (half done, a quarter failed with a log, a quarter
 * without a record) and times `sweep status` over them. Prints the times and one JSON line.
 *
 *   deno task bench:sweep
 *
 * @module
 */
import { join } from "node:path";
import { parseSweepFile } from "../sweep/sweep_file.ts";
import { planSweep, writeManifest } from "../sweep/plan.ts";
import { renderSbatch } from "../sweep/engines.ts";
import { sweepStatus } from "../sweep/status.ts";

const storage = await Deno.makeTempDir({ prefix: "nc-bench-sweep-" });
try {
  const sweep = parseSweepFile(
    JSON.stringify({
      name: "big",
      datasets: ["mnist", "cifar10"],
      models: ["resnet18"],
      methods: ["standard", "fixed", "implicit"],
      seeds: Array.from({ length: 167 }, (_, i) => i),
      flags: { epochs: 200 },
      resources: { parallel: 50 },
    }),
    "bench",
  );
  let t = performance.now();
  const plan = planSweep(sweep, { storage });
  await writeManifest(plan);
  const sbatch = renderSbatch(plan, { deno: Deno.execPath(), root: "." });
  const planSeconds = (performance.now() - t) / 1000;
  await Deno.mkdir(join(plan.dir, "tasks"));
  await Deno.mkdir(join(plan.dir, "logs"));
  for (const run of plan.runs) {
    await Deno.mkdir(run.runDir, { recursive: true });
    const state = run.index % 4 === 3 ? null : run.index % 4 === 2 ? "failed" : "done";
    if (state === null) continue;
    const record = {
      index: run.index,
      id: run.id,
      state,
      host: "n",
      pid: 1,
      started: "",
      finished: "",
      exitCode: state === "done" ? 0 : 1,
      step: state === "done" ? null : "train",
    };
    await Deno.writeTextFile(join(plan.dir, "tasks", `${run.index}.json`), JSON.stringify(record));
    if (state === "failed") {
      await Deno.writeTextFile(join(plan.dir, "logs", `${run.id}.log`), "a\nthe last line\n");
    }
  }
  t = performance.now();
  const states = await sweepStatus(plan.dir);
  const statusSeconds = (performance.now() - t) / 1000;
  console.log(
    `plan + manifest + sbatch script of ${plan.runs.length} runs: ${
      planSeconds.toFixed(3)
    } s (${sbatch.length} bytes of script)`,
  );
  console.log(`status over ${states.length} run directories: ${statusSeconds.toFixed(3)} s`);
  console.log(JSON.stringify({ runs: plan.runs.length, planSeconds, statusSeconds }));
} finally {
  await Deno.remove(storage, { recursive: true });
}
