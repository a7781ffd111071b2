/**
 * `deno task nc`: the neural-collapse metrics of a trained run at its checkpoint epochs
 * (analysis/nc_task.ts; `--help` lists the flags). Bad input: one line on stderr, exit code 2,
 * nothing written.
 *
 * @module
 */
import { runParsedTask } from "../core/cli.ts";
import { NC_HELP, parseNcArgs, runNc } from "../analysis/nc_task.ts";

if (import.meta.main) {
  await runParsedTask(
    "nc",
    NC_HELP,
    parseNcArgs,
    (r) => runNc(r, { log: (line) => console.error(line) }),
  );
}
