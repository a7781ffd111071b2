/**
 * `deno task train:standard|fixed|implicit [flags]` (and `deno task train --method NAME`): trains
 * with the paper's released recipe by default; `--help` lists every flag with its default.
 * Bad input: one line on stderr and exit code 2. A non-finite loss: exit code 1, naming the step
 * and the last good checkpoint.
 *
 * **Signals.** SIGINT (Ctrl-C) and SIGTERM stop the run after the step in progress (the trainer
 * listens for both; the last checkpoint stays intact) and the message says how to resume. The
 * exit code is the shell's convention for a signal, 128 + its number: 130 for SIGINT, 143 for
 * SIGTERM, however the task was launched (`deno task` forwards both to this process and passes
 * the code on). `npx -y deno@2.9.6 task …` needs one more step: npm passes a SIGTERM sent to it
 * only to its `sh -c` child, which dies of it without passing it on, and npm then exits 143
 * itself; `deno task` and this process, orphaned, would never hear of it and train on in the
 * background. So when this process runs under npm (`npm exec`, `npx`, `npm run`), it watches
 * the processes between itself and npm (`train/npm_launcher.ts`: `ps`, twice a second) and, when one of them is gone,
 * sends itself SIGTERM: the run stops as if npm had forwarded it. (A SIGINT sent to npm alone
 * is held by that `sh -c`, which outlives it, so nothing here can see it; a terminal's Ctrl-C
 * reaches every process of the job and works.) A signal that arrives before the trainer
 * listens (while the backend, data and model load) ends the process at once, as usual. The
 * signal's name comes from the trainer's outcome (`TrainOutcome.signal`).
 *
 * @module
 */
import { isInputError } from "../core/errors.ts";
import { helpText, parseTrainArgs, type TrainConfig } from "../train/config.ts";
import { train } from "../train/trainer.ts";
import { watchNpmLauncher } from "../train/npm_launcher.ts";

const METHODS = ["standard", "fixed", "implicit"] as const;

async function main(): Promise<number> {
  const args = [...Deno.args];
  // The task fixes the method with a leading "--task-method=NAME" (see deno.json).
  let method: TrainConfig["method"] | null = null;
  if (args[0]?.startsWith("--task-method=")) {
    method = args.shift()!.slice("--task-method=".length) as TrainConfig["method"];
    if (!(METHODS as readonly string[]).includes(method)) method = null;
  }
  const parsed = parseTrainArgs(args, method);
  if (parsed === "help") {
    console.log(helpText(method));
    return 0;
  }
  const stopWatching = watchNpmLauncher();
  let outcome;
  try {
    outcome = await train(parsed);
  } finally {
    stopWatching();
  }
  // Interruptions and divergence were already reported (and logged) by the run itself.
  if (outcome.status === "completed") console.error(outcome.message);
  if (outcome.status === "interrupted") return SIGNAL_EXIT_CODES[outcome.signal ?? "SIGINT"];
  return outcome.status === "completed" ? 0 : 1;
}

/**
 * Exit codes after an interruption: 128 + the signal's number (SIGINT 2, SIGTERM 15), what a
 * shell reports for a process that the signal terminated. A run stopped without a signal (only
 * an `AbortSignal` passed to `train`, which this task does not do) counts as Ctrl-C.
 */
const SIGNAL_EXIT_CODES = { SIGINT: 130, SIGTERM: 143 } as const;

if (import.meta.main) {
  try {
    Deno.exit(await main());
  } catch (e) {
    // Only the project's input errors mean bad input; anything else is a bug (stack trace,
    // exit code 1).
    if (isInputError(e)) {
      console.error(`train: ${e.message}`);
      Deno.exit(2);
    }
    throw e;
  }
}
