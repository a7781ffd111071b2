/**
 * The sweep planner: a sweep file (`./sweep_file.ts`) expanded into its manifest, one fully
 * resolved training run per line, in a fixed order — datasets, then models, then methods, then
 * seeds (the last varies fastest) — so that line N is the same run however often it is planned.
 *
 * A run's id is `<dataset>-<model>-<method>-seed<seed>-<hash>`, the hash the first 10 hex digits
 * of SHA-256 over the run's canonical description (dataset, model, method, seed and the sweep's
 * training flags, keys sorted): stable across re-plans and storages, new whenever a flag
 * changes. Its directory is `<storage>/<name>/runs/<id>` (the training task's `--storage` and
 * `--uid`). Every run's flags are validated as the training task validates them (an error names
 * the flag and the run), and a run directory that exists must hold the same run.
 *
 * The manifest `<storage>/<name>/manifest.jsonl` is written atomically, beside the sweep file
 * as planned (`sweep.json`).
 *
 * @module
 */
import { createHash } from "node:crypto";
import { join, resolve } from "node:path";
import { InvalidArgumentError } from "../core/errors.ts";
import { expandHome } from "../data/load.ts";
import { atomicWriteFile } from "../train/atomic_write.ts";
import { checkFlagsApply, parseTrainArgs, type TrainConfig } from "../train/config.ts";
import { checkRunConfig, resumedConfig } from "../train/open_run.ts";
import { storedConfig } from "../train/run_state.ts";
import type { SweepFile } from "./sweep_file.ts";

/**
 * One planned run: a manifest line.
 *
 * @example
 * ```ts
 * const r: SweepRun = { index: 0, id: "synthetic-ufm-standard-seed1-0123456789",
 *   dataset: "synthetic", model: "ufm", method: "standard", seed: 1, epochs: 10,
 *   runDir: "/runs/s/runs/synthetic-ufm-standard-seed1-0123456789",
 *   train: ["deno", "task", "train:standard"], analysis: [] };
 * ```
 */
export type SweepRun = {
  /** The line number (0-based): the array task index that runs it. */
  index: number;
  id: string;
  dataset: string;
  model: string;
  method: string;
  seed: number;
  /** The planned epochs: a run directory whose last checkpoint is there is done. */
  epochs: number;
  runDir: string;
  /** The training command for a new run (a partial one is resumed with `--resume`). */
  train: string[];
  /** The run's analysis commands, in order (`nc`, `etf-distance`). */
  analysis: string[][];
};

/**
 * A planned sweep: where it lives, its runs, and the sweep file it came from.
 *
 * @example
 * ```ts
 * // const plan = planSweep(sweep, { storage: "runs" }); plan.runs.length
 * ```
 */
export type SweepPlan = {
  /** `<storage>/<name>`: the manifest, the logs and the task records. */
  dir: string;
  /** The absolute storage every task reads and writes. */
  storage: string;
  sweep: SweepFile;
  runs: SweepRun[];
};

/** The training flags of a run as command-line arguments (sorted by name: a canonical order). */
function flagArgs(flags: SweepFile["flags"]): string[] {
  // `--name=value`: a value that starts with "-" (a negative number) stays the flag's.
  return Object.keys(flags).sort().map((k) => flags[k] === true ? `--${k}` : `--${k}=${flags[k]}`);
}

/**
 * A run's id from what makes it this run (not where it is stored).
 *
 * @example
 * ```ts
 * runId("mnist", "resnet18", "implicit", 1, { epochs: 200 }); // "mnist-resnet18-implicit-seed1-…"
 * ```
 */
export function runId(
  dataset: string,
  model: string,
  method: string,
  seed: number,
  flags: SweepFile["flags"],
): string {
  const canonical = JSON.stringify({
    dataset,
    model,
    method,
    seed,
    flags: Object.fromEntries(Object.keys(flags).sort().map((k) => [k, flags[k]])),
  });
  const hash = createHash("sha256").update(canonical).digest("hex").slice(0, 10);
  return `${dataset}-${model}-${method}-seed${seed}-${hash}`;
}

/**
 * Expands `sweep` into its runs under `storage` (nothing is written), validating each run's
 * training flags; `threads` (default: the sweep's `resources.cpus`) is added to runs whose flags
 * do not set it and whose backend takes it.
 *
 * @example
 * ```ts
 * import { parseSweepFile } from "./sweep_file.ts";
 * const sweep = parseSweepFile('{"name":"s","datasets":["synthetic"],"models":["ufm"],' +
 *   '"methods":["standard","implicit"],"seeds":[1,2]}', "s.json");
 * planSweep(sweep, { storage: "/tmp/runs" }).runs.map((r) => r.index); // [0, 1, 2, 3]
 * ```
 */
export function planSweep(sweep: SweepFile, options: { storage: string }): SweepPlan {
  const storage = resolve(expandHome(options.storage));
  const dir = join(storage, sweep.name);
  // --data_dir is for datasets read from files: synthetic runs go without it.
  const { data_dir: dataDir, ...withoutDataDir } = sweep.flags;
  const backend = String(sweep.flags.backend ?? "auto");
  const threads = sweep.flags.threads === undefined && backend !== "webgpu" && backend !== "cpu"
    ? ["--threads", String(sweep.resources.cpus)]
    : [];
  const runs = planRuns({
    ...sweep,
    runsRoot: join(dir, "runs"),
    name: (dataset, model, method, seed) => runId(dataset, model, method, seed, sweep.flags),
    trainArgs: (dataset) => [
      ...flagArgs(dataset === "synthetic" ? withoutDataDir : sweep.flags),
      ...threads,
    ],
    analysisArgs: (dataset) => [
      ...(dataDir !== undefined && dataset !== "synthetic" ? ["--data_dir", String(dataDir)] : []),
      ...(sweep.flags.backend !== undefined ? ["--backend", backend] : []),
      ...threads,
    ],
  });
  return { dir, storage, sweep, runs };
}

/**
 * What {@link planRuns} expands: the axes, where the runs go, how they are named, and the flags
 * of each dataset's training and `nc` commands.
 *
 * @example
 * ```ts
 * const axes: RunAxes = { datasets: ["synthetic"], models: ["ufm"], methods: ["standard"],
 *   seeds: [1], runsRoot: "/tmp/runs", name: (d, m, x, s) => `${d}-${m}-${x}-seed${s}`,
 *   trainArgs: () => ["--epochs", "5"], analysisArgs: () => [] };
 * ```
 */
export type RunAxes = {
  datasets: readonly string[];
  models: readonly string[];
  methods: readonly string[];
  seeds: readonly number[];
  /** The training task's `--storage`: each run's directory is `<runsRoot>/<name>`. */
  runsRoot: string;
  name: (dataset: string, model: string, method: string, seed: number) => string;
  /** The training flags of a dataset's runs (after `--dataset`, `--model`, `--seed`). */
  trainArgs: (dataset: string) => string[];
  /** The flags `nc` takes for a dataset's runs (data, backend, threads, libraries). */
  analysisArgs: (dataset: string) => string[];
  /** Rewrites the error for a run directory that holds another run (`deno task paper`'s words). */
  existing?: (runDir: string, e: InvalidArgumentError) => InvalidArgumentError;
};

/**
 * The runs of the axes in the planner's order (datasets, models, methods, seeds; the last
 * fastest), each validated as the training task validates it (an error names the flag and the
 * run); a run directory that exists must hold the same run. `deno task sweep` and `deno task
 * paper` both plan with it.
 *
 * @example
 * ```ts
 * const runs = planRuns({ datasets: ["synthetic"], models: ["ufm"], methods: ["standard"],
 *   seeds: [1, 2], runsRoot: "/tmp/runs", name: (d, m, x, s) => `${d}-${m}-${x}-seed${s}`,
 *   trainArgs: () => ["--epochs", "5"], analysisArgs: () => [] });
 * runs[1].id; // "synthetic-ufm-standard-seed2"
 * ```
 */
export function planRuns(axes: RunAxes): SweepRun[] {
  const runs: SweepRun[] = [];
  const root = axes.runsRoot;
  for (const dataset of axes.datasets) {
    for (const model of axes.models) {
      for (const method of axes.methods) {
        for (const seed of axes.seeds) {
          const id = axes.name(dataset, model, method, seed);
          const runDir = join(root, id);
          const args = [
            "--dataset",
            dataset,
            "--model",
            model,
            "--seed",
            String(seed),
            ...axes.trainArgs(dataset),
            "--storage",
            root,
            "--uid",
            id,
          ];
          const config = validated(args, method, runDir, id, axes.existing);
          runs.push({
            index: runs.length,
            id,
            dataset,
            model,
            method,
            seed,
            epochs: config.epochs,
            runDir,
            train: ["deno", "task", `train:${method}`, ...args],
            analysis: [
              ["deno", "task", "nc", "--storage", root, "--uid", id, ...axes.analysisArgs(dataset)],
              ["deno", "task", "etf-distance", "--storage", root, "--uid", id],
            ],
          });
        }
      }
    }
  }
  return runs;
}

/** The run's configuration, as the training task would accept it (errors name flag and run). */
function validated(
  args: string[],
  method: string,
  runDir: string,
  id: string,
  existing?: RunAxes["existing"],
): TrainConfig {
  let parsed;
  try {
    parsed = parseTrainArgs(args, method as TrainConfig["method"]);
    if (parsed === "help") throw new InvalidArgumentError("--help", "not a training flag here");
    checkFlagsApply(parsed);
    checkRunConfig(parsed.config);
  } catch (e) {
    if (!(e instanceof InvalidArgumentError)) throw e;
    throw new InvalidArgumentError(
      e.argument,
      `run ${id}: ${e.message.slice(e.argument.length + 2)}`,
    );
  }
  const stored = storedConfig(runDir);
  if (stored === null) return parsed.config;
  try {
    resumedConfig(stored, { ...parsed, flags: new Set([...parsed.flags, ...parsed.preset]) });
    return parsed.config;
  } catch (e) {
    if (e instanceof InvalidArgumentError && existing !== undefined) throw existing(runDir, e);
    if (!(e instanceof InvalidArgumentError)) throw e;
    throw new InvalidArgumentError(
      e.argument,
      `run ${id}: ${e.message.slice(e.argument.length + 2)}`,
    );
  }
}

/**
 * Writes the plan: `<dir>/manifest.jsonl` (one run a line, in index order) and `<dir>/sweep.json`
 * (the sweep file as planned), each atomically.
 *
 * @example
 * ```ts
 * // await writeManifest(planSweep(sweep, { storage: "runs" }));
 * ```
 */
export async function writeManifest(plan: SweepPlan): Promise<string> {
  await Deno.mkdir(join(plan.dir, "runs"), { recursive: true });
  await atomicWriteFile(join(plan.dir, "sweep.json"), JSON.stringify(plan.sweep, null, 2) + "\n");
  const manifest = join(plan.dir, "manifest.jsonl");
  await atomicWriteFile(manifest, plan.runs.map((r) => JSON.stringify(r) + "\n").join(""));
  return manifest;
}
