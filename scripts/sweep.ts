/**
 * `deno task sweep plan|run|status|submit`: sweeps of independent runs handed to an engine
 * (sweep/cli.ts; `--help` lists the flags). Bad input: one line on stderr, exit code 2.
 *
 * @module
 */
import { runParsedTask } from "../core/cli.ts";
import { SWEEP_HELP, sweepMain } from "../sweep/cli.ts";

if (import.meta.main) {
  await runParsedTask(
    "sweep",
    SWEEP_HELP,
    (args) => ({ args }),
    (r) => sweepMain(r.args, { log: (l) => console.error(l), out: (l) => console.log(l) }),
  );
}
