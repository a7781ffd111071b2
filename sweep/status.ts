/**
 * `deno task sweep status`: every run of a sweep as its files say, whatever engine ran it — the
 * task records `sweep run` writes (`<sweep>/tasks/<index>.json`) and the run directories:
 *
 * - `done`: its task finished (training complete, analysis written);
 * - `running`: its task is under way (the step, since when, on which host);
 * - `failed`: its task stopped with an exit code (the step, and the last line of its log), or its
 *   record says running on this machine but its process is gone (killed, out of time, preempted);
 * - `partial`: no task record, but a run directory (trained elsewhere, or by hand);
 * - `missing`: neither.
 *
 * @module
 */
import { join } from "node:path";
import { exists } from "../data/fs.ts";
import { lastLogLine } from "../core/logged_process.ts";
import { readManifest, type TaskRecord, thisHost } from "./run_index.ts";

/** A run's state. */
export type RunStatus = "done" | "running" | "failed" | "partial" | "missing";

/**
 * One run's line of the status.
 *
 * @example
 * ```ts
 * const s: RunState = { index: 0, id: "x", status: "missing", detail: "" };
 * ```
 */
export type RunState = { index: number; id: string; status: RunStatus; detail: string };

/**
 * The state of every run of the sweep in `sweepDir`, in manifest order.
 *
 * @example
 * ```ts
 * // const states = await sweepStatus("runs/my-sweep");
 * ```
 */
export async function sweepStatus(sweepDir: string): Promise<RunState[]> {
  const runs = await readManifest(sweepDir);
  const here = thisHost();
  return await Promise.all(runs.map(async (run): Promise<RunState> => {
    const base = { index: run.index, id: run.id };
    let record: TaskRecord | null = null;
    try {
      record = JSON.parse(await Deno.readTextFile(join(sweepDir, "tasks", `${run.index}.json`)));
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound) && !(e instanceof SyntaxError)) throw e;
    }
    if (record?.state === "done") return { ...base, status: "done", detail: "" };
    if (record?.state === "running") {
      const step = record.step ?? "starting";
      if (record.host === here && !alive(record.pid)) {
        const last = await lastLogLine(join(sweepDir, "logs", `${run.id}.log`));
        return {
          ...base,
          status: "failed",
          detail: `${step} stopped: its process ${record.pid} is gone (killed, out of time or ` +
            `memory, preempted?)${last ? `: ${last}` : ""}`,
        };
      }
      return {
        ...base,
        status: "running",
        detail: `${step} since ${record.stepStarted ?? record.started} on ${record.host}`,
      };
    }
    if (record?.state === "failed") {
      const last = await lastLogLine(join(sweepDir, "logs", `${run.id}.log`));
      return {
        ...base,
        status: "failed",
        detail: `${record.step} exited ${record.exitCode}${last ? `: ${last}` : ""}`,
      };
    }
    return (await exists(run.runDir))
      ? { ...base, status: "partial", detail: "a run directory, no task record" }
      : { ...base, status: "missing", detail: "" };
  }));
}

/** Whether process `pid` of this machine still runs (Linux's /proc; elsewhere assumed so). */
function alive(pid: number): boolean {
  if (Deno.build.os !== "linux") return true;
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

/**
 * The status as text: counts, then one line per run that is not done.
 *
 * @example
 * ```ts
 * formatStatus([{ index: 0, id: "a", status: "done", detail: "" }]);
 * // "1 runs: 1 done, 0 running, 0 failed, 0 partial, 0 missing"
 * ```
 */
export function formatStatus(states: RunState[]): string {
  const count = (s: RunStatus) => states.filter((r) => r.status === s).length;
  const head = `${states.length} runs: ${count("done")} done, ${count("running")} running, ` +
    `${count("failed")} failed, ${count("partial")} partial, ${count("missing")} missing`;
  const rest = states.filter((r) => r.status !== "done").map((r) =>
    `${String(r.index).padStart(5)} ${r.status.padEnd(8)} ${r.id}${
      r.detail ? ` — ${r.detail}` : ""
    }`
  );
  return [head, ...rest].join("\n");
}
