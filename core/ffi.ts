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

/**
 * Opens the library at `$pathVariable` if that is set (an error naming it when it cannot be
 * opened), else the first of `candidates` that opens, or returns null.
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
  const given = grantedEnv(pathVariable);
  for (const path of given !== undefined ? [given] : candidates) {
    try {
      return { path, library: Deno.dlopen(path, symbols) };
    } catch (e) {
      if (given !== undefined) {
        throw new Error(`${pathVariable}=${given}: cannot load it (${(e as Error).message})`);
      }
    }
  }
  return null;
}
