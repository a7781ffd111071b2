/**
 * `deno task etf-distance`: the ETF-distance analysis of a run's measured epochs
 * (analysis/etf_distance_task.ts; `--help` lists the flags). Bad input: one line on stderr,
 * exit code 2, nothing written.
 *
 * @module
 */
import { runParsedTask } from "../core/cli.ts";
import {
  ETF_DISTANCE_HELP,
  parseEtfDistanceArgs,
  runEtfDistance,
} from "../analysis/etf_distance_task.ts";

if (import.meta.main) {
  await runParsedTask(
    "etf-distance",
    ETF_DISTANCE_HELP,
    parseEtfDistanceArgs,
    (r) => runEtfDistance(r, { log: (line) => console.error(line) }),
  );
}
