/**
 * `deno task sweep plan|prepare|run|status|submit`: the command line of the sweeps (see `./plan.ts`,
 * `./run_index.ts`, `./status.ts`, `./engines.ts`, `./local_engine.ts`).
 *
 * - `plan --file F [--storage S]`: writes `<S>/<name>/manifest.jsonl` (and `sweep.json`).
 * - `prepare --file F [--storage S]`: plans, then reads every dataset once (downloading what is
 *   missing: `./prepare.ts`); `submit` does this first too.
 * - `run --sweep DIR --index N` or `--index-from-env` (`SLURM_ARRAY_TASK_ID`,
 *   `JOB_COMPLETION_INDEX`): runs one manifest line, idempotently.
 * - `status --sweep DIR [--json]`: done, running, failed (with its last log line), partial,
 *   missing.
 * - `submit --file F [--storage S] [--engine local|slurm|k8s]`: plans, then hands the tasks to
 *   the engine: `local` runs them here (`--jobs N`, default the sweep's `parallel` or 1), `slurm`
 *   writes `<dir>/array.sbatch` and `<dir>/analysis.sbatch` and submits both (`sbatch
 *   --parsable`, the analysis `--dependency=afterok:<array>`; `--dry_run` only writes them), `k8s`
 *   writes `<dir>/indexed-job.json` for `kubectl apply -f` (`--image`, `--claim`).
 *
 * @module
 */
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type Flag, flagHelp, parseFlags } from "../core/cli.ts";
import { InputError, InvalidArgumentError } from "../core/errors.ts";
import { atomicWriteFile } from "../train/atomic_write.ts";
import { parseSweepFile } from "./sweep_file.ts";
import { planSweep, type SweepPlan, writeManifest } from "./plan.ts";
import { readManifest, runIndex, taskIndex } from "./run_index.ts";
import { formatStatus, sweepStatus } from "./status.ts";
import { type Launch, renderAnalysisSbatch, renderIndexedJob, renderSbatch } from "./engines.ts";
import { analyse, runLocal } from "./local_engine.ts";
import { prepareData } from "./prepare.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

const FLAGS = {
  file: {
    kind: "string",
    default: null,
    help: "the sweep file (JSON; plan, prepare, submit, analyse)",
  },
  storage: {
    kind: "string",
    default: "runs",
    help:
      "storage every node sees: <storage>/<name>/ holds the sweep (plan, prepare, submit, analyse)",
  },
  sweep: { kind: "string", default: null, help: "the sweep's directory (run, status)" },
  index: { kind: "int", default: null, min: 0, help: "the manifest line to run (run)" },
  "index-from-env": {
    kind: "bool",
    default: false,
    help: "the line from SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX (run)",
  },
  engine: {
    kind: "string",
    default: "local",
    allowed: ["local", "slurm", "k8s"],
    help: "local | slurm | k8s (submit)",
  },
  jobs: {
    kind: "int",
    default: null,
    min: 1,
    help: "local: tasks at once (default: parallel, or 1)",
  },
  dry_run: { kind: "bool", default: false, help: "slurm: write the scripts, submit nothing" },
  wait: {
    kind: "bool",
    default: false,
    help:
      "slurm: wait for the array (sbatch --wait); a failed task exits 1 and cancels the analysis",
  },
  deno: {
    kind: "string",
    default: null,
    help: "slurm, k8s: the Deno the tasks run (default: this one)",
  },
  image: {
    kind: "string",
    default: null,
    help: "k8s: the container image (Deno and this repository)",
  },
  claim: {
    kind: "string",
    default: null,
    help: "k8s: the PersistentVolumeClaim holding --storage",
  },
  json: { kind: "bool", default: false, help: "status: one JSON line per run" },
} as const satisfies Record<string, Flag>;

/** Which flags each subcommand takes. */
const USES: Record<string, (keyof typeof FLAGS)[]> = {
  plan: ["file", "storage"],
  prepare: ["file", "storage"],
  analyse: ["file", "storage"],
  run: ["sweep", "index", "index-from-env"],
  status: ["sweep", "json"],
  submit: ["file", "storage", "engine", "jobs", "dry_run", "wait", "deno", "image", "claim"],
};

/** The `--help` text. */
export const SWEEP_HELP: string = flagHelp(
  "deno task sweep plan|prepare|run|status|submit|analyse [flags]",
  FLAGS,
);

/**
 * Runs `deno task sweep <args>`; returns the exit code.
 *
 * @example
 * ```ts
 * // Deno.exit(await sweepMain(["status", "--sweep", "runs/my-sweep"], { log: console.error, out: console.log }));
 * ```
 */
export async function sweepMain(
  args: string[],
  io: { log: (line: string) => void; out: (line: string) => void },
): Promise<number> {
  const [command, ...rest] = args;
  if (command === undefined || command === "--help") {
    io.out(SWEEP_HELP);
    return 0;
  }
  if (!(command in USES)) {
    throw new InvalidArgumentError(
      "command",
      `got ${JSON.stringify(command)}, allowed: ${Object.keys(USES).join(", ")}`,
    );
  }
  const parsed = parseFlags(rest, FLAGS);
  if (parsed === "help") {
    io.out(SWEEP_HELP);
    return 0;
  }
  for (const given of parsed.given) {
    if (!USES[command].includes(given)) {
      throw new InvalidArgumentError(`--${given}`, `not a flag of sweep ${command}`);
    }
  }
  const v = parsed.values;
  if (command === "submit") checkEngineFlags(v.engine!, parsed.given);
  const need = (name: keyof typeof FLAGS, value: string | null): string => {
    if (value === null) throw new InvalidArgumentError(`--${name}`, `sweep ${command} needs it`);
    return value;
  };
  if (command === "run") {
    const dir = resolve(need("sweep", v.sweep));
    const runs = await readManifest(dir);
    return await runIndex(dir, taskIndex(v.index, v["index-from-env"], runs.length), io);
  }
  if (command === "status") {
    const states = await sweepStatus(resolve(need("sweep", v.sweep)));
    if (v.json) { for (const s of states) io.out(JSON.stringify(s)); }
    else io.out(formatStatus(states));
    return states.every((s) => s.status === "done") ? 0 : 1;
  }
  if (v.engine === "k8s" && command === "submit") {
    need("image", v.image);
    need("claim", v.claim);
  }
  const file = need("file", v.file);
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (e) {
    throw new InputError(`--file ${file}: cannot read it (${(e as Error).message})`);
  }
  const plan = planSweep(parseSweepFile(text, file), { storage: v.storage! });
  const manifest = await writeManifest(plan);
  const n = plan.runs.length;
  io.log(`sweep: ${n} run${n === 1 ? "" : "s"} planned → ${manifest}`);
  if (command === "plan") return 0;
  if (command === "analyse") return await runAnalysis(plan, io.log);
  // The datasets, once, before any task starts (not with --dry_run: nothing starts).
  if (!(v.engine === "slurm" && v.dry_run)) await prepareData(plan, io);
  if (command === "prepare") return 0;
  // A Slurm node usually sees this machine's files; a container has Deno on its PATH.
  const launch: Launch = {
    deno: v.deno ?? (v.engine === "k8s" ? "deno" : Deno.execPath()),
    root: ROOT,
  };
  if (v.engine === "local") {
    return await runLocal(plan, {
      jobs: v.jobs ?? plan.sweep.resources.parallel ?? 1,
      log: io.log,
    });
  }
  if (v.engine === "k8s") {
    const image = need("image", v.image), claim = need("claim", v.claim);
    const path = join(plan.dir, "indexed-job.json");
    await atomicWriteFile(
      path,
      JSON.stringify(renderIndexedJob(plan, launch, { image, claim }), null, 2) + "\n",
    );
    io.log(`sweep: wrote ${path}; submit it with: kubectl apply -f ${path}`);
    return 0;
  }
  return await submitSlurm(plan, launch, { dryRun: v.dry_run, wait: v.wait }, io);
}

/** The flags of one engine, refused with another (none is silently ignored). */
const ENGINE_FLAGS: Record<string, (keyof typeof FLAGS)[]> = {
  local: ["jobs"],
  slurm: ["dry_run", "wait", "deno"],
  k8s: ["deno", "image", "claim"],
};

function checkEngineFlags(engine: string, given: ReadonlySet<string>): void {
  for (const flag of new Set(Object.values(ENGINE_FLAGS).flat())) {
    if (given.has(flag) && !ENGINE_FLAGS[engine].includes(flag)) {
      const owners = Object.keys(ENGINE_FLAGS).filter((e) => ENGINE_FLAGS[e].includes(flag));
      throw new InvalidArgumentError(
        `--${flag}`,
        `applies to --engine ${owners.join(" or ")} only, not ${engine}`,
      );
    }
  }
}

/** The sweep's analysis, here (after an engine that runs none: the Kubernetes Job). */
async function runAnalysis(plan: SweepPlan, log: (line: string) => void): Promise<number> {
  const states = await sweepStatus(plan.dir);
  const notDone = states.filter((s) => s.status !== "done");
  if (notDone.length > 0) {
    throw new InputError(
      `${plan.dir}: ${notDone.length} run(s) not done (e.g. ${notDone[0].id}: ` +
        `${notDone[0].status}); the analysis needs every run: deno task sweep status`,
    );
  }
  const code = await analyse(plan, log);
  if (code === 0) log(`sweep: the analysis of ${plan.runs.length} runs is done`);
  return code;
}

/**
 * Writes the two Slurm scripts and submits them: the array (`sbatch --parsable`, with `--wait`
 * when asked), then the analysis with `--dependency=afterok:<array>`. Waiting, a failed task
 * (sbatch's non-zero exit) cancels the analysis job (`scancel`: its dependency can never be met)
 * and returns 1.
 */
async function submitSlurm(
  plan: SweepPlan,
  launch: Launch,
  options: { dryRun: boolean; wait: boolean },
  io: { log: (line: string) => void; out: (line: string) => void },
): Promise<number> {
  await Deno.mkdir(join(plan.dir, "slurm"), { recursive: true });
  const array = join(plan.dir, "array.sbatch"), analysis = join(plan.dir, "analysis.sbatch");
  await atomicWriteFile(array, renderSbatch(plan, launch));
  await atomicWriteFile(analysis, renderAnalysisSbatch(plan, launch));
  if (options.dryRun) {
    io.log(`sweep: wrote ${array} and ${analysis} (--dry_run: nothing submitted)`);
    return 0;
  }
  const start = (command: string, args: string[]) => {
    try {
      return new Deno.Command(command, { args, stdout: "piped", stderr: "piped" }).spawn();
    } catch (e) {
      throw new InputError(
        `${command}: cannot run it (${(e as Error).message}); is Slurm's client installed?`,
      );
    }
  };
  // The array: its job id is the first line sbatch prints (at once, also with --wait).
  const arrayProcess = start("sbatch", ["--parsable", ...(options.wait ? ["--wait"] : []), array]);
  const reader = arrayProcess.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let printed = "";
  while (!printed.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    printed += value;
  }
  const arrayJob = printed.trim().split(/[;\n]/)[0];
  if (!/^[0-9]+$/.test(arrayJob)) {
    const { stderr } = await arrayProcess.output().catch(() => ({ stderr: new Uint8Array() }));
    throw new InputError(`sbatch ${array}: ${new TextDecoder().decode(stderr).trim() || printed}`);
  }
  const dependent = await start("sbatch", [
    "--parsable",
    `--dependency=afterok:${arrayJob}`,
    analysis,
  ]).output();
  if (dependent.code !== 0) {
    throw new InputError(
      `sbatch ${analysis}: ${new TextDecoder().decode(dependent.stderr).trim()}`,
    );
  }
  const analysisJob = new TextDecoder().decode(dependent.stdout).trim().split(";")[0];
  io.log(`sweep: submitted the array as job ${arrayJob} and the analysis as job ${analysisJob}`);
  io.out(JSON.stringify({ arrayJob, analysisJob }));
  if (!options.wait) {
    reader.releaseLock();
    await arrayProcess.stdout.cancel().catch(() => {});
    await arrayProcess.status;
    return 0;
  }
  while (!(await reader.read()).done) { /* drain */ }
  const { code } = await arrayProcess.status;
  if (code === 0) {
    io.log(
      `sweep: every task of job ${arrayJob} succeeded; the analysis (job ${analysisJob}) follows`,
    );
    return 0;
  }
  await start("scancel", [analysisJob]).output();
  io.log(
    `sweep: a task of job ${arrayJob} failed (sbatch --wait exited ${code}); the analysis job ` +
      `${analysisJob} is cancelled; \`deno task sweep status --sweep ${plan.dir}\` shows which`,
  );
  return 1;
}
