/**
 * Atomic file writes: the data goes to a temporary file in the destination's directory, which is
 * flushed to disk (fsync) and then renamed over the destination, and the directory is synced so
 * the rename itself survives a crash. Readers see either the old file or the whole new one,
 * never a partial file; on any failure (including an exception thrown while producing the data)
 * the temporary file is removed and an existing destination is left untouched.
 *
 * @example
 * ```ts
 * import { defaultConfig } from "./config.ts";
 * const config = defaultConfig("implicit");
 * await atomicWriteFile("run/config.json", JSON.stringify(config, null, 2) + "\n");
 * ```
 *
 * @module
 */

/**
 * What {@link atomicWriteFile} writes: a string (as UTF-8), bytes, or byte chunks written in
 * order (e.g. a safetensors header and each tensor's bytes, without concatenating them).
 *
 * @example
 * ```ts
 * const data: AtomicWriteData = [new Uint8Array([1, 2]), new Uint8Array([3])];
 * ```
 */
export type AtomicWriteData = string | Uint8Array | Iterable<Uint8Array>;

/** The prefix of the temporary files, so leftovers from a killed process are recognisable. */
export const TEMP_PREFIX = ".tmp-";

function splitPath(path: string): { dir: string; base: string } {
  const i = Math.max(
    path.lastIndexOf("/"),
    Deno.build.os === "windows" ? path.lastIndexOf("\\") : -1,
  );
  return i < 0
    ? { dir: ".", base: path }
    : { dir: path.slice(0, i) || "/", base: path.slice(i + 1) };
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let at = 0;
  while (at < bytes.length) at += await file.write(bytes.subarray(at));
}

/**
 * Writes `data` to `path` atomically (temporary file in the same directory, fsync, rename,
 * directory fsync where the platform allows it). The temporary file is
 * `<dir>/.tmp-<name>-<pid>-<random>`; it never outlives the call.
 *
 * @example
 * ```ts
 * await atomicWriteFile("out/metrics.json", new TextEncoder().encode("{}\n"));
 * import { encodeSafetensors, type TensorEntry } from "./safetensors.ts";
 * const tensors = new Map<string, TensorEntry>([
 *   ["step", { dtype: "I64", shape: [], data: new BigInt64Array([42n]) }],
 * ]);
 * await atomicWriteFile("out/model.safetensors", encodeSafetensors(tensors));
 * ```
 */
export async function atomicWriteFile(path: string, data: AtomicWriteData): Promise<void> {
  const { dir, base } = splitPath(path);
  if (base === "" || base === "." || base === "..") {
    throw new TypeError(`atomicWriteFile: "${path}" does not name a file`);
  }
  const random = crypto.getRandomValues(new Uint32Array(2)).join("");
  const temp = `${dir}/${TEMP_PREFIX}${base}-${Deno.pid}-${random}`;
  const file = await Deno.open(temp, { write: true, createNew: true });
  let closed = false;
  try {
    if (typeof data === "string") await writeAll(file, new TextEncoder().encode(data));
    else if (data instanceof Uint8Array) await writeAll(file, data);
    else for (const chunk of data) await writeAll(file, chunk);
    await file.sync();
    file.close();
    closed = true;
    await Deno.rename(temp, path);
  } catch (e) {
    if (!closed) file.close();
    await Deno.remove(temp).catch(() => {});
    throw e;
  }
  await syncDirectory(dir);
}

/** fsync of a directory (makes a rename durable); a no-op where directories cannot be opened. */
async function syncDirectory(dir: string): Promise<void> {
  if (Deno.build.os === "windows") return;
  let handle: Deno.FsFile | null = null;
  try {
    handle = await Deno.open(dir, { read: true });
    await handle.sync();
  } catch {
    // Some file systems refuse fsync on directories; the rename is still atomic.
  } finally {
    handle?.close();
  }
}
