/**
 * `deno task seed-stats`: statistics over the seeds of an experiment
 * (analysis/seed_stats_task.ts; `--help` lists the flags). Bad input: one line on stderr,
 * exit code 2, nothing written.
 *
 * @module
 */
import { runTask } from "../core/cli.ts";
import { parseSeedStatsArgs, runSeedStats, SEED_STATS_HELP } from "../analysis/seed_stats_task.ts";

if (import.meta.main) {
  await runTask("seed-stats", async () => {
    const request = await parseSeedStatsArgs(Deno.args);
    if (request === "help") {
      console.log(SEED_STATS_HELP);
      return 0;
    }
    await runSeedStats(request, {
      log: (line) => console.error(line),
      print: (text) => console.log(text),
    });
    return 0;
  });
}
