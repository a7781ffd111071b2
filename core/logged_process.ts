/**
 * Running one `deno …` step as a child process of the same Deno, from the repository root, with
 * its output appended to a log file: how the sweep's tasks and engines run their steps.
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
