/**
 * `deno task plot`: the paper's figure panels from the seed statistics of each method
 * (analysis/plot_task.ts; `--help` lists the flags). Bad input: one line on stderr, exit code 2,
 * nothing written.
 *
 * @module
 */
import { runTask } from "../core/cli.ts";
import { parsePlotArgs, PLOT_HELP, runPlot } from "../analysis/plot_task.ts";

if (import.meta.main) {
  await runTask("plot", async () => {
    const request = await parsePlotArgs(Deno.args);
    if (request === "help") {
      console.log(PLOT_HELP);
      return 0;
    }
    await runPlot(request, { log: (line) => console.error(line) });
    return 0;
  });
}
