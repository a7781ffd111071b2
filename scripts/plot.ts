/**
 * `deno task plot`: the paper's figure panels from the seed statistics of each method
 * (analysis/plot_task.ts; `--help` lists the flags). Bad input: one line on stderr, exit code 2,
 * nothing written.
 *
 * @module
 */
import { runParsedTask } from "../core/cli.ts";
import { parsePlotArgs, PLOT_HELP, runPlot } from "../analysis/plot_task.ts";

if (import.meta.main) {
  await runParsedTask(
    "plot",
    PLOT_HELP,
    parsePlotArgs,
    (r) => runPlot(r, { log: (line) => console.error(line) }),
  );
}
