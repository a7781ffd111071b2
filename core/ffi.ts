/**
 * Loading an optional system library through Deno's FFI, as the BLAS kernels (solver/blas.ts)
 * and the JPEG decoder (data/turbojpeg.ts) do: only where Deno grants `--allow-ffi` and the
 * library is not turned off by an environment variable; an explicit path (from another
 * variable) or else the first candidate that opens. Nothing here throws for a missing library:
 * callers fall back to their TypeScript paths.
 *
 * @module
 */

/**
 * The value of an environment variable when Deno may read it (else undefined, never a prompt).
 *
 * @example
 * ```ts
 * grantedEnv("NC_BLAS"); // "off", or undefined
 * ```
 */
export function grantedEnv(variable: string): string | undefined {
  try {
    if (Deno.permissions.querySync({ name: "env", variable }).state !== "granted") return;
    return Deno.env.get(variable) || undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether this process may load a library: Deno with `dlopen`, `--allow-ffi` granted, and the
 * variable `offVariable` not set to "off".
 *
 * @example
 * ```ts
 * ffiAllowed("NC_TURBOJPEG"); // false without --allow-ffi
 * ```
 */
export function ffiAllowed(offVariable: string): boolean {
  return ffiGranted() && grantedEnv(offVariable) !== "off";
}

/**
 * Whether this is Deno with `dlopen` and `--allow-ffi` granted (asked without a prompt).
 *
 * @example
 * ```ts
 * ffiGranted(); // false under plain `deno run`
 * ```
 */
export function ffiGranted(): boolean {
  const d = (globalThis as { Deno?: typeof Deno }).Deno;
  if (d === undefined || typeof d.dlopen !== "function") return false;
  try {
    return d.permissions.querySync({ name: "ffi" }).state === "granted";
  } catch {
    return false;
  }
}

/** Paths given for this process (by a flag), by the environment variable they stand for. */
const givenPaths = new Map<string, { path: string; source: string }>();
/** The libraries looked for so far, by their path variable: the path opened, or null (none). */
const openedPaths = new Map<string, string | null>();

/**
 * Names the file of the library that `pathVariable` would name, for this process (the tasks'
 * `--blas_library` and `--dnnl_library` flags), ahead of the variable itself; `source` is how
 * errors name it. Call it before the library is first opened: naming another file after that
 * throws (the library cannot change in a running process), naming the same one is a no-op.
 *
 * @example
 * ```ts
 * setLibraryPath("NC_DNNL_LIBRARY", "/opt/onednn/lib/libdnnl.so.2", "--dnnl_library");
 * ```
 */
export function setLibraryPath(pathVariable: string, path: string, source: string): void {
  const opened = openedPaths.get(pathVariable);
  if (opened !== undefined && opened !== path) {
    const what = opened === null ? "looked for it and found none" : `loaded ${opened}`;
    throw new Error(
      `${source} ${path}: this process already ${what}; give it before anything loads it`,
    );
  }
  givenPaths.set(pathVariable, { path, source });
}

/**
 * Opens the library named by {@link setLibraryPath} or `$pathVariable`, if either is set (an
 * error naming it when it cannot be opened), else the first of `candidates` that opens, or
 * returns null.
 *
 * @example
 * ```ts
 * const symbols = { cblas_ddot: { parameters: ["i32", "buffer", "i32", "buffer", "i32"], result: "f64" } } as const;
 * const lib = openLibrary("NC_BLAS_LIBRARY", ["libopenblas.so.0"], symbols);
 * ```
 */
export function openLibrary<S extends Deno.ForeignLibraryInterface>(
  pathVariable: string,
  candidates: readonly string[],
  symbols: S,
): { path: string; library: Deno.DynamicLibrary<S> } | null {
  openedPaths.set(pathVariable, openedPaths.get(pathVariable) ?? null);
  const flag = givenPaths.get(pathVariable);
  const env = flag === undefined ? grantedEnv(pathVariable) : undefined;
  const given = flag?.path ?? env;
  for (const path of given !== undefined ? [given] : candidates) {
    try {
      const library = Deno.dlopen(path, symbols);
      openedPaths.set(pathVariable, path);
      return { path, library };
    } catch (e) {
      if (given !== undefined) {
        const named = flag !== undefined ? `${flag.source} ${given}` : `${pathVariable}=${given}`;
        throw new Error(`${named}: cannot load it (${(e as Error).message})`);
      }
    }
  }
  return null;
}
