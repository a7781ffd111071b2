/**
 * `deno task paper`: the whole released experiment for one dataset and model — every method ×
 * every seed: train, `nc` (train and test), `etf-distance`; then `seed-stats` per method and
 * `plot` (figures and report). The plan is written first, atomically, as
 * `<storage>/<dataset>-<model>-paper/manifest.jsonl`: one line per run with its run directory and
 * the commands that make it, so another engine can execute it later.
 *
 * Resumable: a finished training run is skipped and an unfinished one resumed from its last
 * checkpoint (`--resume`), `nc` skips measured epochs, and the rest is cheap and recomputed. Each
 * step runs as its own `deno task` process (its output in `<paper>/logs/`); `--jobs N` runs N
 * runs at once. Ctrl-C or SIGTERM stops every step cleanly (the training runs keep their last
 * checkpoint) and the same command continues.
 *
 * @module
 */
import { LIBRARY_FLAGS } from "../core/library_flags.ts";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type Flag, flagHelp, parseFlags } from "../core/cli.ts";
import { InputError, InvalidArgumentError } from "../core/errors.ts";
import { expandHome } from "../data/load.ts";
import { atomicWriteFile } from "../train/atomic_write.ts";
import { formatDuration } from "../train/progress.ts";
import { trainingState } from "../train/run_state.ts";
import { lastLogLine } from "../core/logged_process.ts";
import { planRuns, type SweepRun } from "../sweep/plan.ts";
import { plotCommand, seedStatsCommand } from "../sweep/engines.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const METHODS = ["standard", "fixed", "implicit"] as const;

/** The pipeline's own flags (every other flag goes to the training tasks). */
export const PAPER_FLAGS = {
  storage: { kind: "string", default: "runs", help: "directory holding run directories" },
  dataset: { kind: "string", default: "mnist", help: "the dataset (also passed to training)" },
  model: { kind: "string", default: "resnet18", help: "the model (also passed to training)" },
  methods: { kind: "list", default: [...METHODS], help: "the methods" },
  seeds: { kind: "list", default: ["1", "2", "3"], help: "the seeds" },
  jobs: { kind: "int", default: 1, min: 1, help: "runs at once (on 2 cores, 1 is as fast)" },
  data_dir: { kind: "string", default: null, help: "dataset root (training and nc)" },
  backend: {
    kind: "string",
    default: null,
    help: "auto | webgpu | native | wasm | cpu (training and nc)",
  },
  threads: {
    kind: "int",
    default: null,
    min: 1,
    help: "native: oneDNN's and OpenBLAS's threads; wasm: XNNPACK's (training and nc)",
  },
  ...LIBRARY_FLAGS,
} as const satisfies Record<string, Flag>;

/** The `--help` text. */
export const PAPER_HELP: string = flagHelp(
  "deno task paper [--dataset D --model M --methods A,B --seeds 1,2,3 --jobs N] [training flags]",
  PAPER_FLAGS,
) +
  "\n\nAny other flag (--epochs, --preset, --batch_size, …) goes to every training run; --uid," +
  "\n--seed, --method, --resume, --resume_checkpoint and --force are the pipeline's to set." +
  "\nWrites <storage>/<dataset>-<model>-paper/manifest.jsonl and logs/, the runs, their analysis," +
  "\n<storage>/<dataset>-<model>-<method>-seed-seed-stats/ and <storage>/<dataset>-<model>-figures/.";

/**
 * One run of the plan, as a manifest line.
 *
 * @example
 * ```ts
 * const r: PaperRun = {
 *   uid: "mnist-resnet18-implicit-seed1", method: "implicit", seed: 1, epochs: 200,
 *   runDir: "runs/mnist-resnet18-implicit-seed1", train: ["deno", "task", "train:implicit"], analysis: [],
 * };
 * ```
 */
export type PaperRun = Omit<SweepRun, "index" | "id" | "dataset" | "model"> & {
  /** The run's name under `--storage` (`<dataset>-<model>-<method>-seed<seed>`). */
  uid: string;
};

/**
 * A validated pipeline: the runs, the per-method and final commands, where the plan goes.
 *
 * @example
 * ```ts
 * const plan = parsePaperArgs(["--preset", "quick", "--seeds", "1,2"]) as PaperPlan;
 * plan.runs.length; // 6
 * ```
 */
export type PaperPlan = {
  dir: string;
  storage: string;
  runs: PaperRun[];
  /** Per method: the seed-stats command. */
  seedStats: string[][];
  plot: string[];
  /** Where the plot writes the figures and the report. */
  figures: string;
  jobs: number;
  /**
   * Flags shared by the steps that load data: --data_dir, --backend, --threads, --blas_library,
   * --dnnl_library.
   */
  dataFlags: string[];
};

const RESERVED = ["uid", "seed", "method", "resume", "resume_checkpoint", "force", "storage"];

/**
 * Splits the command line into the pipeline's flags and the training flags, validates the
 * training flags for every method (parseTrainArgs, so a bad value fails here, naming its flag)
 * and plans the runs. Nothing is written.
 *
 * @example
 * ```ts
 * const plan = parsePaperArgs(["--epochs", "20", "--jobs", "1"]);
 * ```
 */
export function parsePaperArgs(args: string[]): PaperPlan | "help" {
  // The pipeline's own flags (all take a value) go to parseFlags; the rest to training.
  const ownArgs: string[] = [];
  const forwarded: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--help") return "help";
    const name = /^--([a-z_]+)(?:=.*)?$/.exec(a)?.[1];
    if (name !== undefined && name in PAPER_FLAGS) {
      ownArgs.push(a);
      if (!a.includes("=")) {
        if (i + 1 >= args.length) throw new InvalidArgumentError(`--${name}`, "missing its value");
        ownArgs.push(args[++i]);
      }
      continue;
    }
    if (name !== undefined && RESERVED.includes(name)) {
      throw new InvalidArgumentError(
        `--${name}`,
        "the pipeline sets it for every run (its runs are <dataset>-<model>-<method>-seed<seed> under --storage)",
      );
    }
    forwarded.push(a);
  }
  const parsed = parseFlags(ownArgs, PAPER_FLAGS);
  if (parsed === "help") return "help";
  const v = parsed.values;
  const methods = v.methods;
  for (const m of methods) {
    if (!(METHODS as readonly string[]).includes(m)) {
      throw new InvalidArgumentError("--methods", `got ${m}, allowed: ${METHODS.join(", ")}`);
    }
  }
  if (new Set(methods).size !== methods.length) {
    throw new InvalidArgumentError("--methods", "a method is given twice");
  }
  const seeds = v.seeds.map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 0) {
      throw new InvalidArgumentError("--seeds", `got ${s}, allowed: integers ≥ 0`);
    }
    return n;
  });
  if (new Set(seeds).size !== seeds.length) {
    throw new InvalidArgumentError("--seeds", "a seed is given twice");
  }
  if (seeds.length < 2) {
    throw new InvalidArgumentError(
      "--seeds",
      `got ${seeds.length}, allowed: at least 2 (seed statistics need two runs)`,
    );
  }
  const jobs = v.jobs!, threads = v.threads;
  const storage = resolve(expandHome(v.storage!));
  const dataset = v.dataset!, model = v.model!;
  const dataFlags = [
    ...(v.data_dir !== null ? ["--data_dir", v.data_dir] : []),
    ...(v.backend !== null ? ["--backend", v.backend] : []),
    ...(threads !== null ? ["--threads", String(threads)] : []),
    ...(v.blas_library !== null ? ["--blas_library", v.blas_library] : []),
    ...(v.dnnl_library !== null ? ["--dnnl_library", v.dnnl_library] : []),
  ];
  // The sweep's planner (sweep/plan.ts), with the paper's layout: runs named
  // <dataset>-<model>-<method>-seed<seed> directly under --storage.
  const runs: PaperRun[] = planRuns({
    datasets: [dataset],
    models: [model],
    methods,
    seeds,
    runsRoot: storage,
    name: (d, m, method, seed) => `${d}-${m}-${method}-seed${seed}`,
    trainArgs: () => [...dataFlags, ...forwarded],
    analysisArgs: () => dataFlags,
    existing: (runDir, e) =>
      new InvalidArgumentError(
        e.argument,
        `${runDir} exists and differs: ${e.message.slice(e.argument.length + 2)} ` +
          "(use another --storage for another experiment)",
      ),
  }).map((r) => ({
    uid: r.id,
    method: r.method,
    seed: r.seed,
    epochs: r.epochs,
    runDir: r.runDir,
    train: r.train,
    analysis: r.analysis,
  }));
  const seedStats = methods.map((method) => [
    "deno",
    ...seedStatsCommand(
      runs.filter((r) => r.method === method).map((r) => r.runDir),
      storage,
      dataset,
      model,
      method,
    ),
  ]);
  const plot = ["deno", ...plotCommand(storage, dataset, model, methods)];
  return {
    dir: join(storage, `${dataset}-${model}-paper`),
    storage,
    runs,
    seedStats,
    plot,
    figures: join(storage, `${dataset}-${model}-figures`),
    jobs,
    dataFlags,
  };
}

/** The exit codes of a step stopped by a signal (the training task's convention). */
const SIGNALLED = new Set([130, 143]);

/**
 * Runs the plan: writes the manifest, then every run's steps (`jobs` runs at once), then
 * seed-stats per method and the plot. Returns 0, or the exit code to end with (130/143 when
 * interrupted, 1 when a step failed).
 *
 * @example
 * ```ts
 * const plan = parsePaperArgs(["--preset", "quick"]);
 * if (plan !== "help") Deno.exit(await runPaper(plan, { log: console.error }));
 * ```
 */
export async function runPaper(
  plan: PaperPlan,
  io: { log: (line: string) => void },
): Promise<number> {
  await Deno.mkdir(join(plan.dir, "logs"), { recursive: true });
  await atomicWriteFile(
    join(plan.dir, "manifest.jsonl"),
    plan.runs.map((r) => JSON.stringify(r) + "\n").join(""),
  );
  io.log(`paper: ${plan.runs.length} runs planned → ${join(plan.dir, "manifest.jsonl")}`);
  let stopping: "SIGINT" | "SIGTERM" | null = null;
  const children = new Set<Deno.ChildProcess>();
  const listeners = (["SIGINT", "SIGTERM"] as const).map((s) => {
    const f = () => {
      stopping ??= s;
      // A terminal's Ctrl-C reaches every step already; a SIGTERM sent to this process alone is
      // passed on, so that the steps stop cleanly too.
      if (s === "SIGTERM") { for (const c of children) c.kill("SIGTERM"); }
    };
    Deno.addSignalListener(s, f);
    return () => Deno.removeSignalListener(s, f);
  });
  const step = async (name: string, command: string[]): Promise<number> => {
    if (stopping) return SIGNAL_CODE[stopping];
    const log = await Deno.open(join(plan.dir, "logs", `${name}.log`), {
      append: true,
      create: true,
    });
    try {
      await log.write(new TextEncoder().encode(`\n$ ${command.join(" ")}\n`));
      const child = new Deno.Command(Deno.execPath(), {
        args: command.slice(1),
        cwd: ROOT,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      children.add(child);
      const pump = (s: ReadableStream<Uint8Array>) =>
        s.pipeTo(new WritableStream({ write: async (c) => void (await log.write(c)) }));
      await Promise.all([pump(child.stdout), pump(child.stderr)]);
      const { code } = await child.status;
      children.delete(child);
      return code;
    } finally {
      log.close();
    }
  };
  const started = performance.now();
  let done = 0;
  let failure: { code: number; what: string; log: string } | null = null;
  const runOne = async (run: PaperRun) => {
    const state = await trainingState(run.runDir, run.epochs);
    const steps: [string, string[]][] = [];
    if (state === "partial") {
      steps.push(["train", [
        "deno",
        "task",
        `train:${run.method}`,
        "--storage",
        plan.storage,
        "--uid",
        run.uid,
        "--resume",
        "--epochs",
        String(run.epochs),
        ...plan.dataFlags,
      ]]);
    } else if (state === "none") steps.push(["train", run.train]);
    if (state === "done") io.log(`paper: ${run.uid}: training already complete (skipped)`);
    for (const a of run.analysis) steps.push([a[2], a]);
    for (const [name, command] of steps) {
      if (failure || stopping) return;
      const t = performance.now();
      const code = await step(`${run.uid}-${name}`, command);
      if (code !== 0) {
        const log = join(plan.dir, "logs", `${run.uid}-${name}.log`);
        failure ??= { code, what: `${name} of ${run.uid} (log: ${log})`, log };
        return;
      }
      io.log(
        `paper: ${run.uid}: ${name} ${
          name === "train" && state === "partial" ? "resumed and " : ""
        }done in ${((performance.now() - t) / 1000).toFixed(1)} s`,
      );
    }
    done++;
    const eta = ((performance.now() - started) / done) * (plan.runs.length - done) / 1000;
    io.log(
      `paper: ${done}/${plan.runs.length} runs analysed${
        done < plan.runs.length ? `, ETA ${formatDuration(eta)}` : ""
      }`,
    );
  };
  try {
    const queue = [...plan.runs];
    await Promise.all(Array.from({ length: Math.min(plan.jobs, queue.length) }, async () => {
      while (queue.length > 0 && !failure && !stopping) await runOne(queue.shift()!);
    }));
    const finals: [string, string[]][] = [
      ...plan.seedStats.map((c) =>
        [`seed-stats-${c[c.indexOf("--out") + 1].split("/").at(-1)}`, c] as [string, string[]]
      ),
      ["plot", plan.plot],
    ];
    for (const [name, command] of finals) {
      if (failure || stopping) break;
      const code = await step(name, command);
      if (code !== 0) {
        const log = join(plan.dir, "logs", `${name}.log`);
        failure = { code, what: `${name} (log: ${log})`, log };
      }
    }
  } finally {
    for (const remove of listeners) remove();
  }
  const f = failure as { code: number; what: string; log: string } | null;
  if (stopping || (f && SIGNALLED.has(f.code))) {
    io.log(`paper: interrupted; the same command continues where it stopped`);
    return SIGNAL_CODE[stopping ?? (f!.code === 143 ? "SIGTERM" : "SIGINT")];
  }
  if (f) {
    if (f.code === 2) {
      throw new InputError(`${f.what} refused its input: ${await lastLogLine(f.log)}`);
    }
    io.log(`paper: ${f.what} failed with exit code ${f.code}`);
    return 1;
  }
  io.log(
    `paper: done in ${formatDuration((performance.now() - started) / 1000)}; figures and report: ` +
      join(plan.figures, "report.html"),
  );
  return 0;
}

const SIGNAL_CODE = { SIGINT: 130, SIGTERM: 143 } as const;
