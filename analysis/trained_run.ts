/**
 * A trained run as the analysis tasks read it (no tensors): its directory, stored configuration
 * and checkpoint epochs. The run directory's layout is train/run_dir.ts's; the analysis adds
 *
 *   <run>/nc/<split>.jsonl                      one record per measured checkpoint epoch
 *   <run>/nc/<split>.log                        the same, readable
 *   <run>/nc/<split>/epoch-NNNN.safetensors     sorted cosine margins, W, b, class means, H̄
 *   <run>/etf-distance/<split>.jsonl            ETF distances per epoch
 *   <run>/etf-distance/<split>.safetensors      E_W and E_H of every epoch
 *
 * @module
 */
import { join, resolve } from "node:path";
import type { Flag } from "../core/cli.ts";
import { InvalidArgumentError } from "../core/errors.ts";
import { exists } from "../data/fs.ts";
import { expandHome } from "../data/load.ts";
import { checkStoredConfig, type TrainConfig } from "../train/config.ts";
import { type LatestCheckpoint, readJsonFile, RunDirectory } from "../train/run_dir.ts";

/**
 * One checkpoint of a run (paths relative to the run directory).
 *
 * @example
 * ```ts
 * const c: RunCheckpoint = { epoch: 5, model: "checkpoints/model-epoch-0005.safetensors", state: "…" };
 * ```
 */
export type RunCheckpoint = { epoch: number; model: string; state: string };

/**
 * A trained run: its path, `config.json`'s configuration and dataset record, and its
 * checkpoints up to the last complete one (`latest.json`), in epoch order.
 *
 * @example
 * ```ts
 * const run = await readTrainedRun("runs/mnist-resnet18-implicit-seed1", "--run");
 * run.checkpoints.map((c) => c.epoch); // [5, 10, …]
 * ```
 */
export type TrainedRun = {
  path: string;
  uid: string;
  config: TrainConfig;
  dataset: { name: string; train: number; test: number; numClasses: number };
  checkpoints: RunCheckpoint[];
};

/** The flags that name one trained run (read by {@link runPathOf}), shared by the tasks. */
export const RUN_FLAGS = {
  uid: { kind: "string", default: null, help: "the run's uid (its directory under --storage)" },
  storage: { kind: "string", default: "runs", help: "directory holding run directories" },
  run: { kind: "string", default: null, help: "the run directory itself (instead of --uid)" },
} as const satisfies Record<string, Flag>;

/**
 * The run directory named by `--run DIR`, or by `--storage` and `--uid`.
 *
 * @example
 * ```ts
 * runPathOf({ run: null, uid: "mnist-resnet18-implicit-seed1", storage: "runs" }); // "runs/mnist-…"
 * ```
 */
export function runPathOf(v: { run: string | null; uid: string | null; storage: string | null }): {
  path: string;
  flag: string;
} {
  if (v.run !== null) {
    if (v.uid !== null) {
      throw new InvalidArgumentError("--run", "given with --uid: name the run one way");
    }
    return { path: resolve(expandHome(v.run)), flag: "--run" };
  }
  if (v.uid === null) {
    throw new InvalidArgumentError(
      "--uid",
      "missing: name the run by --uid (and --storage) or --run DIR",
    );
  }
  return { path: resolve(expandHome(v.storage ?? "runs"), v.uid), flag: "--uid" };
}

/**
 * Reads a trained run; `flag` names the flag that chose it in errors. A directory without
 * `config.json`, or a run without a complete checkpoint, is an InvalidArgumentError.
 *
 * @example
 * ```ts
 * const run = await readTrainedRun("runs/mnist-resnet18-implicit-seed1", "--uid");
 * ```
 */
export async function readTrainedRun(path: string, flag: string): Promise<TrainedRun> {
  if (!(await exists(join(path, "config.json")))) {
    throw new InvalidArgumentError(flag, `no trained run at ${path} (config.json is missing)`);
  }
  const file = await readJsonFile<{ config: TrainConfig; dataset: TrainedRun["dataset"] }>(
    join(path, "config.json"),
  );
  checkStoredConfig(file, join(path, "config.json"));
  const latest: LatestCheckpoint | null = await exists(join(path, "latest.json"))
    ? await readJsonFile<LatestCheckpoint>(
      join(path, "latest.json"),
      "resume the training (--resume falls back to the newest checkpoint that verifies)",
    )
    : null;
  const checkpoints: RunCheckpoint[] = [];
  if (latest !== null && (await exists(join(path, "checkpoints")))) {
    for (const entry of Deno.readDirSync(join(path, "checkpoints"))) {
      const m = /^model-epoch-(\d+)\.safetensors$/.exec(entry.name);
      if (m === null) continue;
      const epoch = Number(m[1]);
      // Later files are left from a branch abandoned by --resume_checkpoint.
      if (epoch > latest.epoch) continue;
      const names = RunDirectory.checkpointNames(epoch);
      if (!(await exists(join(path, names.state)))) continue;
      checkpoints.push({ epoch, ...names });
    }
  }
  checkpoints.sort((a, b) => a.epoch - b.epoch);
  if (checkpoints.length === 0) {
    throw new InvalidArgumentError(
      flag,
      `the run ${path} has no complete checkpoint yet (train it first, or let it reach its first ` +
        "checkpoint epoch)",
    );
  }
  return { path, uid: file.config.uid, config: file.config, dataset: file.dataset, checkpoints };
}

/**
 * The checkpoint epochs `--every N` selects: the multiples of N, and always the last.
 *
 * @example
 * ```ts
 * selectEpochs([5, 10, 15, 20, 22], 10); // [10, 20, 22]
 * ```
 */
export function selectEpochs(epochs: readonly number[], every: number): number[] {
  const last = epochs[epochs.length - 1];
  return epochs.filter((e) => e % every === 0 || e === last);
}
