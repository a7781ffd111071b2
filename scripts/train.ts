/**
 * `deno task train:standard|fixed|implicit [flags]` (and `deno task train --method NAME`): trains
 * with the paper's released recipe by default; `--help` lists every flag with its default.
 * Bad input: one line on stderr and exit code 2. Ctrl-C: exit code 130 after saying how to
 * resume. A non-finite loss: exit code 1, naming the step and the last good checkpoint.
 *
 * @module
 */
import { helpText, parseTrainArgs, type TrainConfig } from "../train/config.ts";
import { train } from "../train/trainer.ts";

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
  const outcome = await train(parsed);
  // Interruptions and divergence were already reported (and logged) by the run itself.
  if (outcome.status === "completed") console.error(outcome.message);
  return outcome.status === "completed" ? 0 : outcome.status === "interrupted" ? 130 : 1;
}

if (import.meta.main) {
  try {
    Deno.exit(await main());
  } catch (e) {
    const err = e as Error;
    if (
      err instanceof RangeError || err.name === "InvalidArgumentError" ||
      err.name === "DatasetError" || err.name === "BackendUnavailableError" ||
      err.name === "CheckpointError"
    ) {
      console.error(`train: ${err.message}`);
      Deno.exit(2);
    }
    throw e;
  }
}
