/**
 * The local engine (`deno task sweep submit --engine local`, the default): the sweep's array
 * tasks as a bounded pool of processes on this machine — each `deno task sweep run --sweep <dir>
 * --index N`, exactly what a cluster's array task runs — then, only when every task succeeded, the
 * analysis (`seed-stats`, `plot`), as Slurm's `afterok` dependency would.
 *
 * @module
 */
import { join } from "node:path";
import { runLogged } from "../core/logged_process.ts";
import { analysisCommands } from "./engines.ts";
import type { SweepPlan } from "./plan.ts";

/**
 * Runs every task, at most `jobs` at once, then the analysis; returns 0, or 1 when a task or an
 * analysis step failed (their logs under `<sweep>/logs/`).
 *
 * @example
 * ```ts
 * // Deno.exit(await runLocal(plan, { jobs: 2, log: console.error }));
 * ```
 */
export async function runLocal(
  plan: SweepPlan,
  options: { jobs: number; log: (line: string) => void },
): Promise<number> {
  const started = performance.now();
  let next = 0, done = 0;
  const failed: number[] = [];
  const worker = async () => {
    while (next < plan.runs.length) {
      const index = next++;
      const code = await runLogged(
        ["task", "sweep", "run", "--sweep", plan.dir, "--index", String(index)],
        join(plan.dir, "logs", `task-${index}.out`),
      );
      done++;
      if (code !== 0) failed.push(index);
      const elapsed = (performance.now() - started) / 1000;
      const eta = (elapsed / done) * (plan.runs.length - done);
      options.log(
        `sweep: ${done}/${plan.runs.length} tasks (${failed.length} failed), ` +
          `ETA ${Math.round(eta)} s`,
      );
    }
  };
  await Deno.mkdir(join(plan.dir, "logs"), { recursive: true });
  await Promise.all(Array.from({ length: Math.max(1, options.jobs) }, worker));
  if (failed.length > 0) {
    options.log(
      `sweep: ${failed.length} task(s) failed (${failed.sort((a, b) => a - b).join(", ")}): ` +
        "the analysis is not run; `deno task sweep status` shows why",
    );
    return 1;
  }
  if (await analyse(plan, options.log) !== 0) return 1;
  options.log(`sweep: all ${plan.runs.length} tasks and the analysis done`);
  return 0;
}

/**
 * The sweep's analysis (`seed-stats` per dataset, model and method with two seeds or more; `plot`
 * per dataset and model), here, its output in `<sweep>/logs/analysis.out`; 0, or 1 when a step
 * failed. With a single seed there is nothing to compare: it says so.
 *
 * @example
 * ```ts
 * // await analyse(plan, console.error);
 * ```
 */
export async function analyse(plan: SweepPlan, log: (line: string) => void): Promise<number> {
  const commands = analysisCommands(plan);
  if (commands.length === 0) {
    log("sweep: one seed per run: no seed statistics or figures to make");
  }
  for (const command of commands) {
    const code = await runLogged(command, join(plan.dir, "logs", "analysis.out"));
    if (code !== 0) {
      log(`sweep: ${command[1]} failed (exit code ${code}): ${plan.dir}/logs/analysis.out`);
      return 1;
    }
  }
  return 0;
}
