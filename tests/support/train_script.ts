/**
 * Runs the training task's script (scripts/train.ts) as a subprocess with the permissions its
 * `deno task` entry grants (less `--allow-ffi`: the tests' runs are K = 10, where the solver stays
 * in TypeScript), for tests that drive training end to end.
 *
 * @module
 */

/** The training task's script. */
export const TRAIN_SCRIPT = new URL("../../scripts/train.ts", import.meta.url).pathname;
/** The permissions the tests run it with. */
export const TRAIN_PERMISSIONS: readonly string[] = [
  "--allow-read",
  "--allow-write",
  "--allow-net",
  "--allow-env",
  "--allow-run",
  "--allow-sys",
];

/**
 * `deno run … scripts/train.ts --task-method=METHOD ARGS…`: the exit code, stdout and stderr.
 *
 * @example
 * ```ts
 * const r = await trainScript("fixed", ["--preset", "quick", "--epochs", "1"]);
 * if (r.code !== 0) console.error(r.stderr);
 * ```
 */
export async function trainScript(
  method: string,
  args: readonly string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...TRAIN_PERMISSIONS, TRAIN_SCRIPT, `--task-method=${method}`, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/**
 * Copies run `uid` under `storage` to `copyUid` and resumes the copy from its checkpoint of
 * `epoch` (`--resume_checkpoint`), as the `method` task; the result and the copy's directory.
 *
 * @example
 * ```ts
 * const { result, dir } = await resumeCopy("implicit", "/tmp/runs", "fb", 1, "fb-copy");
 * ```
 */
export async function resumeCopy(
  method: string,
  storage: string,
  uid: string,
  epoch: number,
  copyUid: string,
): Promise<{ result: { code: number; stdout: string; stderr: string }; dir: string }> {
  const dir = `${storage}/${copyUid}`;
  const cp = await new Deno.Command("cp", { args: ["-r", `${storage}/${uid}`, dir] }).output();
  if (!cp.success) throw new Error(`cp -r ${storage}/${uid} ${dir} failed`);
  const checkpoint = `${dir}/checkpoints/model-epoch-${String(epoch).padStart(4, "0")}.safetensors`;
  const result = await trainScript(method, [
    "--storage",
    storage,
    "--uid",
    copyUid,
    "--resume_checkpoint",
    checkpoint,
  ]);
  return { result, dir };
}
