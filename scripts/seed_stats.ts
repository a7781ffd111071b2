/**
 * `deno task seed-stats`: statistics over the seeds of an experiment
 * (analysis/seed_stats_task.ts; `--help` lists the flags). Bad input: one line on stderr,
 * exit code 2, nothing written.
 *
 * @module
 */
import { runParsedTask } from "../core/cli.ts";
import { parseSeedStatsArgs, runSeedStats, SEED_STATS_HELP } from "../analysis/seed_stats_task.ts";

if (import.meta.main) {
  await runParsedTask(
    "seed-stats",
    SEED_STATS_HELP,
    parseSeedStatsArgs,
    (r) =>
      runSeedStats(r, { log: (line) => console.error(line), print: (text) => console.log(text) }),
  );
}
