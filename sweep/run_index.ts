/**
 * `deno task sweep run --index N`: runs line N of a sweep's manifest — its training, then its
 * analysis (`nc`, `etf-distance`) — whatever engine started it (a Slurm array task, a Kubernetes
 * Indexed Job pod, the local pool). Idempotent: a run whose training is complete is not trained
 * again, a partial one resumes from its last checkpoint (`--resume`), `nc` skips measured epochs;
 * so a requeued or preempted task just runs again.
 *
 * The task's output goes to `<sweep>/logs/<id>.log` (appended); its record to
 * `<sweep>/tasks/<index>.json` (atomically): `{index, id, state, host, pid, started, finished,
 * exitCode, step}` with `state` "running", "done" or "failed" — what `sweep status` reads.
 *
 * @module
 */
import { join } from "node:path";
import { hostname } from "node:os";
import { InputError, InvalidArgumentError } from "../core/errors.ts";
import { atomicWriteFile } from "../train/atomic_write.ts";
import { runLogged } from "../core/logged_process.ts";
import { trainingState } from "../train/run_state.ts";
import type { SweepRun } from "./plan.ts";

/**
 * The environment variables an engine gives its array task's index in, in the order tried.
 *
 * @example
 * ```ts
 * INDEX_VARIABLES[0]; // "SLURM_ARRAY_TASK_ID"
 * ```
 */
export const INDEX_VARIABLES = ["SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX"] as const;

/**
 * A task's record, as `<sweep>/tasks/<index>.json` holds it.
 *
 * @example
 * ```ts
 * const t: TaskRecord = { index: 0, id: "x", state: "running", host: "n1", pid: 1,
 *   started: "2026-12-07T00:00:00.000Z", finished: null, exitCode: null, step: "train" };
 * ```
 */
export type TaskRecord = {
  index: number;
  id: string;
  state: "running" | "done" | "failed";
  host: string;
  pid: number;
  started: string;
  finished: string | null;
  exitCode: number | null;
  /** The step running, or the one that failed: train, nc, etf-distance. */
  step: string | null;
  /** When that step started. */
  stepStarted?: string;
};

/**
 * This machine's name, as task records hold it: `os.hostname()`, or Linux's
 * /proc/sys/kernel/hostname without `--allow-sys`.
 *
 * @example
 * ```ts
 * thisHost(); // "node-17"
 * ```
 */
export function thisHost(): string {
  try {
    return hostname();
  } catch {
    try {
      return Deno.readTextFileSync("/proc/sys/kernel/hostname").trim();
    } catch {
      return "unknown";
    }
  }
}

/**
 * The manifest's runs, in order; an {@link InputError} names the file and line when it cannot be
 * read.
 *
 * @example
 * ```ts
 * // const runs = await readManifest("runs/my-sweep");
 * ```
 */
export async function readManifest(sweepDir: string): Promise<SweepRun[]> {
  const path = join(sweepDir, "manifest.jsonl");
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new InputError(`${path}: no manifest (plan the sweep first: deno task sweep plan)`);
    }
    throw e;
  }
  return text.split("\n").filter((l) => l.trim() !== "").map((line, i) => {
    try {
      const run = JSON.parse(line) as SweepRun;
      if (run.index !== i || typeof run.id !== "string" || !Array.isArray(run.train)) {
        throw new Error(`expected the run of index ${i}`);
      }
      return run;
    } catch (e) {
      throw new InputError(`${path}: line ${i + 1}: ${(e as Error).message}`);
    }
  });
}

/**
 * The task index: `--index N`, or with `fromEnv` the first of {@link INDEX_VARIABLES} that is
 * set (Slurm's before Kubernetes'; digits only); an {@link InvalidArgumentError} names what is
 * missing, malformed or out of range.
 *
 * @example
 * ```ts
 * taskIndex(3, false, 10); // 3
 * ```
 */
export function taskIndex(index: number | null, fromEnv: boolean, runs: number): number {
  if ((index === null) === !fromEnv) {
    throw new InvalidArgumentError("--index", "give --index N or --index-from-env (one of them)");
  }
  let n = index, source = "--index";
  if (fromEnv) {
    const found = INDEX_VARIABLES.find((v) => Deno.env.get(v) !== undefined);
    if (found === undefined) {
      throw new InvalidArgumentError(
        "--index-from-env",
        `none of ${INDEX_VARIABLES.join(", ")} is set (is this an array task?)`,
      );
    }
    source = found;
    const raw = Deno.env.get(found)!;
    if (!/^[0-9]+$/.test(raw)) {
      throw new InvalidArgumentError(
        "--index-from-env",
        `${found} is ${JSON.stringify(raw)}, allowed: a task index 0 to ${runs - 1}`,
      );
    }
    n = Number(raw);
  }
  if (!Number.isInteger(n) || n! < 0 || n! >= runs) {
    throw new InvalidArgumentError(
      fromEnv ? "--index-from-env" : "--index",
      `${fromEnv ? `${source} is ${n}` : `got ${n}`}, allowed: 0 to ${
        runs - 1
      } (the manifest's lines)`,
    );
  }
  return n!;
}

/**
 * Runs the manifest's run `index` (see the module documentation); returns the exit code of the
 * step that failed, or 0.
 *
 * @example
 * ```ts
 * // Deno.exit(await runIndex("runs/my-sweep", 0, { log: console.error }));
 * ```
 */
export async function runIndex(
  sweepDir: string,
  index: number,
  io: { log: (line: string) => void },
): Promise<number> {
  const runs = await readManifest(sweepDir);
  const run = runs[taskIndex(index, false, runs.length)];
  await Deno.mkdir(join(sweepDir, "logs"), { recursive: true });
  await Deno.mkdir(join(sweepDir, "tasks"), { recursive: true });
  const record: TaskRecord = {
    index,
    id: run.id,
    state: "running",
    host: thisHost(),
    pid: Deno.pid,
    started: new Date().toISOString(),
    finished: null,
    exitCode: null,
    step: null,
  };
  const save = () =>
    atomicWriteFile(join(sweepDir, "tasks", `${index}.json`), JSON.stringify(record) + "\n");
  const state = await trainingState(run.runDir, run.epochs);
  const steps: [string, string[]][] = [];
  if (state === "none") steps.push(["train", run.train]);
  if (state === "partial") {
    const uid = run.train.indexOf("--uid"), storage = run.train.indexOf("--storage");
    steps.push(["train", [
      ...run.train.slice(0, 3),
      "--storage",
      run.train[storage + 1],
      "--uid",
      run.train[uid + 1],
      "--resume",
      "--epochs",
      String(run.epochs),
      ...carriedOn(run.train),
    ]]);
  }
  const training = { done: "complete", partial: "partial: resumed", none: "not started" }[state];
  io.log(`sweep: task ${index}: ${run.id} (training ${training})`);
  for (const a of run.analysis) steps.push([a[2], a]);
  const logPath = join(sweepDir, "logs", `${run.id}.log`);
  for (const [name, command] of steps) {
    record.step = name;
    record.stepStarted = now();
    await save();
    const code = await runLogged(command.slice(1), logPath);
    if (code !== 0) {
      Object.assign(record, { state: "failed", exitCode: code, finished: now() });
      await save();
      io.log(
        `sweep: task ${index}: ${run.id}: ${name} failed (exit code ${code}); log: ${logPath}`,
      );
      return code;
    }
  }
  Object.assign(record, { state: "done", exitCode: 0, step: null, finished: now() });
  await save();
  io.log(`sweep: task ${index}: ${run.id}: done`);
  return 0;
}

function now(): string {
  return new Date().toISOString();
}

/** The flags a resumed run takes again (how it is carried on: data, backend, libraries). */
const CARRIED_ON = [
  "--data_dir",
  "--backend",
  "--threads",
  "--blas_library",
  "--dnnl_library",
  "--log_interval",
];

/** The {@link CARRIED_ON} flags of a training command, with their values (either form). */
function carriedOn(command: string[]): string[] {
  return command.flatMap((a, i) => {
    if (CARRIED_ON.includes(a)) return [a, command[i + 1]];
    return CARRIED_ON.some((flag) => a.startsWith(`${flag}=`)) ? [a] : [];
  });
}
