/**
 * Small file-system helpers shared by the dataset loaders and the training tasks.
 *
 * @module
 */

/**
 * Whether `path` exists (a file, directory or link); other errors than "not found" propagate.
 *
 * @example
 * ```ts
 * if (!(await exists("~/data/MNIST/raw"))) console.log("missing");
 * ```
 */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}
