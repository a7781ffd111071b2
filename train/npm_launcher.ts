/**
 * A training task launched through npm (`npx -y deno@2.9.6 task train:…`, `npm exec`, `npm run`)
 * must still hear a SIGTERM sent to npm. npm forwards a signal only to its `sh -c` child, which
 * dies of it without passing it on; npm then exits with 128 + the signal itself, and `deno task`
 * and the run, orphaned, would train on in the background. {@link watchNpmLauncher} watches the
 * processes between this one and npm and, when one of them is gone, sends this process SIGTERM:
 * the run stops as if npm had forwarded it (the last checkpoint stays intact).
 *
 * @module
 */

/** `ps -o <fields> [-p pids | -e]`'s lines, or null when ps cannot run. */
async function ps(fields: string, pids: number[] | "all"): Promise<string[] | null> {
  try {
    const out = await new Deno.Command("ps", {
      args: ["-o", fields, ...(pids === "all" ? ["-e"] : ["-p", pids.join(",")])],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).output();
    // ps exits 1 when none of the listed processes exists.
    return new TextDecoder().decode(out.stdout).split("\n").filter((l) => l.trim() !== "");
  } catch {
    return null;
  }
}

/** Whether a command line is npm's (`npm exec …`, `npx …`, `npm run …`, or node running it). */
function isNpm(args: string): boolean {
  return /^(?:\S*\/)?np[mx](?:\s|$)/.test(args) || /\bnp[mx]-cli\.js(?:\s|$)/.test(args);
}

/**
 * Under npm, watches the processes from this one's parent up to npm (`ps`, twice a second) and
 * sends this process SIGTERM when one of them is gone; returns the function that stops watching. Does nothing off Linux and macOS, without the run permission
 * (`ps`, `Deno.kill`), or when no npm process is among the nearest ancestors. (Deno gives /proc
 * only to --allow-all, hence ps.)
 *
 * @example
 * ```ts
 * import { parseTrainArgs, type TrainRequest } from "./config.ts";
 * import { train } from "./trainer.ts";
 * const request = parseTrainArgs(["--preset", "quick"], "implicit") as TrainRequest;
 * const stopWatching = watchNpmLauncher();
 * try { await train(request); } finally { stopWatching(); }
 * ```
 */
export function watchNpmLauncher(): () => void {
  let stopped = false;
  const stop = () => {
    stopped = true;
    clearTimeout(timer);
  };
  let timer: ReturnType<typeof setTimeout> | undefined;
  if (Deno.build.os !== "linux" && Deno.build.os !== "darwin") return stop;
  if (Deno.permissions.querySync({ name: "run" }).state !== "granted") return stop;
  (async () => {
    const table = new Map<number, { ppid: number; args: string }>();
    for (const line of await ps("pid=,ppid=,args=", "all") ?? []) {
      const m = /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(line);
      if (m) table.set(Number(m[1]), { ppid: Number(m[2]), args: m[3] });
    }
    const chain: number[] = [];
    for (let pid = Deno.ppid; pid > 1 && chain.length < 6; pid = table.get(pid)?.ppid ?? 0) {
      if (!table.has(pid)) return;
      chain.push(pid);
      if (isNpm(table.get(pid)!.args)) break;
    }
    if (chain.length === 0 || !isNpm(table.get(chain[chain.length - 1])!.args)) return;
    const check = async () => {
      const alive = await ps("pid=", chain);
      if (stopped || alive === null) return;
      const living = new Set(alive.map((l) => Number(l.trim())));
      const gone = chain.find((pid) => !living.has(pid));
      if (gone === undefined) {
        const next = setTimeout(check, 500);
        Deno.unrefTimer(next);
        timer = next;
        return;
      }
      console.error(
        `train: process ${gone} between npm and this run has exited (npm was stopped by a ` +
          "signal it did not pass on); stopping as for SIGTERM",
      );
      Deno.kill(Deno.pid, "SIGTERM");
    };
    if (!stopped) await check();
  })().catch(() => {/* watching is best effort */});
  return stop;
}
