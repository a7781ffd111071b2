/**
 * `deno task paper`: the whole released experiment for one dataset and model, resumable
 * (analysis/paper_task.ts; `--help` lists the flags). Bad input: one line on stderr, exit code
 * 2, nothing written; interrupted: 130 (SIGINT) or 143 (SIGTERM), and the same command continues.
 *
 * @module
 */
import { runParsedTask } from "../core/cli.ts";
import { PAPER_HELP, parsePaperArgs, runPaper } from "../analysis/paper_task.ts";

if (import.meta.main) {
  await runParsedTask(
    "paper",
    PAPER_HELP,
    parsePaperArgs,
    (r) => runPaper(r, { log: (line) => console.error(line) }),
  );
}
