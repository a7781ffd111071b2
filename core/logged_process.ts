/**
 * Running one `deno …` step as a child process of the same Deno, from the repository root, with
 * its output appended to a log file (how the sweep's tasks and engines run their steps), and
 * reading the last line of such a log back (the error of a step that failed).
 *
 * @module
 */
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/**
 * Runs `deno <args>` (this process's Deno) from the repository root, no standard input, stdout and
 * stderr appended to `logPath` after a `$ <command>` line; returns its exit code.
 *
 * @example
 * ```ts
 * const code = await runLogged(["task", "seed-stats", "--help"], "/tmp/steps.log");
 * ```
 */
export async function runLogged(args: string[], logPath: string): Promise<number> {
  const log = await Deno.open(logPath, { append: true, create: true });
  try {
    await log.write(new TextEncoder().encode(`\n$ deno ${args.join(" ")}\n`));
    const child = new Deno.Command(Deno.execPath(), {
      args,
      cwd: ROOT,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const pump = (s: ReadableStream<Uint8Array>) =>
      s.pipeTo(new WritableStream({ write: async (c) => void (await log.write(c)) }));
    await Promise.all([pump(child.stdout), pump(child.stderr)]);
    return (await child.status).code;
  } finally {
    log.close();
  }
}

/**
 * The last non-empty line of a step's log, read from its last 8 KiB, without the terminal colour
 * codes the tasks print (ESC [ … m); "" when there is no log.
 *
 * @example
 * ```ts
 * await lastLogLine("/tmp/steps.log"); // "train: --epochs: got 0, allowed: ≥ 1"
 * ```
 */
export async function lastLogLine(path: string): Promise<string> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return "";
    throw e;
  }
  try {
    const size = (await file.stat()).size;
    const length = Math.min(size, 8192);
    await file.seek(size - length, Deno.SeekMode.Start);
    const buf = new Uint8Array(length);
    let read = 0;
    while (read < length) {
      const n = await file.read(buf.subarray(read));
      if (n === null) break;
      read += n;
    }
    const text = new TextDecoder().decode(buf.subarray(0, read))
      .replace(new RegExp(String.fromCharCode(27) + "\\[[0-9;]*m", "g"), "");
    return text.split("\n").map((l) => l.trim()).filter((l) => l !== "").at(-1) ?? "";
  } finally {
    file.close();
  }
}
