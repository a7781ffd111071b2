/**
 * `deno task etf-distance`: the ETF-distance analysis of a run's measured epochs
 * (analysis/etf_distance_task.ts; `--help` lists the flags). Bad input: one line on stderr,
 * exit code 2, nothing written.
 *
 * @module
 */
import { runTask } from "../core/cli.ts";
import {
  ETF_DISTANCE_HELP,
  parseEtfDistanceArgs,
  runEtfDistance,
} from "../analysis/etf_distance_task.ts";

if (import.meta.main) {
  await runTask("etf-distance", async () => {
    const request = await parseEtfDistanceArgs(Deno.args);
    if (request === "help") {
      console.log(ETF_DISTANCE_HELP);
      return 0;
    }
    await runEtfDistance(request, { log: (line) => console.error(line) });
    return 0;
  });
}
