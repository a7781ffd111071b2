/**
 * Runs a `deno task` of this repository as a user does (`deno task -q NAME …`, so with the task's
 * own permissions) and returns its exit code and output.
 *
 * @module
 */
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/**
 * `deno task -q name ...args` in the repository's root (with `env` added to the environment).
 *
 * @example
 * ```ts
 * const { code, stderr } = await denoTask("nc", ["--help"]);
 * ```
 */
export async function denoTask(
  name: string,
  args: readonly string[],
  env?: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["task", "-q", name, ...args],
    cwd: ROOT,
    ...(env !== undefined ? { env } : {}),
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}
