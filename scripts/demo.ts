/**
 * `deno task demo`: UFM-10 and the quick MNIST preset, three methods × two seeds, through the
 * whole pipeline, ending with a table and the reports' paths (analysis/demo_task.ts; `--help`
 * lists the flags; `--ci` at a reduced size). The solver printout is `deno task etf-demo`.
 *
 * @module
 */
import { runTask } from "../core/cli.ts";
import { runDemo } from "../analysis/demo_task.ts";

if (import.meta.main) {
  await runTask("demo", () =>
    runDemo(Deno.args, {
      log: (line) => console.error(line),
      print: (text) => console.log(text),
    }));
}
