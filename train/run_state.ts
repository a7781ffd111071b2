/**
 * What a run directory says about its training, read by the pipelines that resume runs (`deno
 * task paper`, `deno task sweep`): its stored configuration, and whether its training is
 * complete, partial or not started.
 *
 * @module
 */
import { join } from "node:path";
import { InputError } from "../core/errors.ts";
import { exists } from "../data/fs.ts";
import { checkStoredConfig, type TrainConfig } from "./config.ts";
import { readJsonFile, RunFileError } from "./run_dir.ts";

/**
 * A run's stored configuration (`config.json`), or null when it has none yet; an unreadable or
 * invalid one is an {@link InputError} naming the file.
 *
 * @example
 * ```ts
 * storedConfig("runs/mnist-resnet18-implicit-seed1")?.epochs; // 200, or undefined
 * ```
 */
export function storedConfig(runDir: string): TrainConfig | null {
  try {
    const path = join(runDir, "config.json");
    return checkStoredConfig(JSON.parse(Deno.readTextFileSync(path)), path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    if (e instanceof InputError) throw e;
    throw new InputError(`${join(runDir, "config.json")}: unreadable (${(e as Error).message})`);
  }
}

/**
 * Whether a run's training is complete (its last checkpoint is at the `planned` epochs), partial
 * (it has a configuration; `--resume` continues it, repairing a damaged `latest.json` from the
 * newest checkpoint) or not started.
 *
 * @example
 * ```ts
 * await trainingState("runs/mnist-resnet18-implicit-seed1", 200); // "done" | "partial" | "none"
 * ```
 */
export async function trainingState(
  runDir: string,
  planned: number,
): Promise<"done" | "partial" | "none"> {
  if (storedConfig(runDir) === null) return "none";
  if (!(await exists(join(runDir, "latest.json")))) return "partial";
  try {
    const latest = await readJsonFile<{ epoch: number }>(join(runDir, "latest.json"));
    return latest.epoch >= planned ? "done" : "partial";
  } catch (e) {
    if (e instanceof RunFileError) return "partial";
    throw e;
  }
}
