/**
 * `deno task nc`: the neural-collapse metrics of a trained run at its checkpoint epochs
 * (analysis/nc_task.ts; `--help` lists the flags). Bad input: one line on stderr, exit code 2,
 * nothing written.
 *
 * @module
 */
import { runTask } from "../core/cli.ts";
import { NC_HELP, parseNcArgs, runNc } from "../analysis/nc_task.ts";

if (import.meta.main) {
  await runTask("nc", async () => {
    const request = await parseNcArgs(Deno.args);
    if (request === "help") {
      console.log(NC_HELP);
      return 0;
    }
    await runNc(request, { log: (line) => console.error(line) });
    return 0;
  });
}
