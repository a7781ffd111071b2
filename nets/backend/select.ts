/**
 * Choosing and starting the tensor backend (`--backend auto|webgpu|native|wasm|cpu`).
 *
 * - `auto` uses WebGPU when `navigator.gpu` gives an adapter that is not a software fallback
 *   (`adapter.info.isFallbackAdapter`, or an llvmpipe/lavapipe/SwiftShader description),
 *   otherwise native (where OpenBLAS and `--allow-ffi` are there), else wasm (and cpu if wasm
 *   cannot start either); the `reason` says why, and one line naming the backend, its threads,
 *   what convolves (native) and the adapter goes to `log`.
 * - native: wasm on one thread with `./native_kernels.ts` installed; OpenBLAS and oneDNN (when it
 *   loads: `./onednn.ts`) on `threads` threads, by default the machine's cores (at most 8).
 *   {@link applyLibraryPaths} loads the files `--blas_library` / `--dnnl_library` name first.
 * - `webgpu`, `wasm`, `cpu` start that backend or throw {@link BackendUnavailableError} saying
 *   why. An explicit `webgpu` is allowed on a software adapter (that is how the WebGPU code paths
 *   are tested without a GPU; it is slow). On WebGPU only asynchronous reads (`await t.data()`)
 *   are reliable under Deno.
 * - wasm: see `./wasm.ts` (binary location, `threads`) and `./wasm_kernels.ts` (the
 *   training kernels registered for it: Conv2DBackpropFilter, UnsortedSegmentSum, and a
 *   corrected MaxPoolGrad). It needs `--allow-read` (its `.wasm` binaries, in Deno's npm cache)
 *   and, for `threads > 1`, `--allow-sys` (`os.cpus()`) and `--allow-env` (each worker copies
 *   the environment). These are checked with `Deno.permissions.querySync` before it starts:
 *   loading without them would stop at a permission prompt on a terminal (or fail elsewhere),
 *   so `auto` says which flag is missing and falls back to cpu (about 40× slower), and an
 *   explicit `wasm` throws {@link BackendUnavailableError} naming the flags.
 * - cpu: tfjs's "looks like you are running TensorFlow.js in Node.js" banner is switched off on
 *   the backend instance (`firstUse = false`); prod mode is left alone.
 *
 * The backend packages are imported only when their backend is started, so importing this module
 * leaves tfjs's default (cpu) in place.
 *
 * @example
 * ```ts
 * import { selectBackend } from "../mod.ts";
 * const info = await selectBackend("auto"); // logs e.g. "backend: wasm (…) — auto: …"
 * console.log(info.name, info.reason);
 * ```
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { tf } from "../tf.ts";
import { InvalidArgumentError } from "../../core/errors.ts";
import { BackendUnavailableError, type ConcreteBackendName } from "./error.ts";
import { probeWebGpu, startWebGpu } from "./webgpu.ts";
import { startWasm, wasmDistDirectory } from "./wasm.ts";
import { MAX_WASM_THREADS } from "./wasm_threads.ts";
import { nativeSgemm, registerNativeKernels, unregisterNativeKernels } from "./native_kernels.ts";
import { loadDnnl } from "./onednn.ts";
import { ffiGranted, setLibraryPath } from "../../core/ffi.ts";

export { BackendUnavailableError };
export type { ConcreteBackendName };

/**
 * The accepted backend names, `auto` first.
 *
 * @example
 * ```ts
 * BACKEND_NAMES.join("|"); // "auto|webgpu|native|wasm|cpu"
 * ```
 */
export const BACKEND_NAMES = ["auto", "webgpu", "native", "wasm", "cpu"] as const;

/**
 * A backend name as accepted by {@link selectBackend}.
 *
 * @example
 * ```ts
 * const name: BackendName = "wasm";
 * ```
 */
export type BackendName = typeof BACKEND_NAMES[number];

/**
 * What {@link selectBackend} started.
 *
 * @example
 * ```ts
 * const info: BackendInfo = { name: "wasm", threads: 1, reason: "requested" };
 * ```
 */
export type BackendInfo = {
  /** The active tfjs backend. */
  name: ConcreteBackendName;
  /** The WebGPU adapter (webgpu, or `auto` when it looked at one). */
  adapter?: string;
  /** Whether that adapter is a software fallback (llvmpipe and the like). */
  fallbackAdapter?: boolean;
  /**
   * wasm: XNNPACK's thread count; native: oneDNN's and OpenBLAS's (XNNPACK's elementwise kernels
   * run on one thread beside them: measured faster than sharing the cores).
   */
  threads?: number;
  /** native: the BLAS library loaded. */
  library?: string;
  /**
   * native: what runs the convolutions and max-pooling gradients, e.g. "oneDNN 2.6.3", or
   * "OpenBLAS im2col (…why not oneDNN)".
   */
  convolutions?: string;
  /** Why this backend: `requested`, or `auto`'s reasoning (including any fallback). */
  reason: string;
};

/**
 * Options of {@link selectBackend}.
 *
 * @example
 * ```ts
 * const options: SelectBackendOptions = { threads: 2, log: () => {} };
 * ```
 */
export type SelectBackendOptions = {
  /**
   * wasm: XNNPACK's threads, 1 (default, single-threaded SIMD build) to 8 (the threaded build);
   * native: oneDNN's and OpenBLAS's threads, 1 to 8 (default: the machine's cores, at most 8).
   */
  threads?: number;
  /** Where the one-line choice report goes; default `console.error`. */
  log?: (line: string) => void;
};

/**
 * Parses a backend name (from a flag or a config), with an error naming the argument, the value
 * and the allowed values.
 *
 * @example
 * ```ts
 * parseBackendName("wasm"); // "wasm"
 * parseBackendName("gpu", "--backend");
 * // InvalidArgumentError: --backend: unknown backend "gpu"; expected one of auto, webgpu, wasm, cpu
 * ```
 */
export function parseBackendName(value: unknown, argument = "backend"): BackendName {
  if (typeof value === "string" && (BACKEND_NAMES as readonly string[]).includes(value)) {
    return value as BackendName;
  }
  const shown = typeof value === "string" ? `"${value}"` : String(value);
  throw new InvalidArgumentError(
    argument,
    `unknown backend ${shown}; expected one of ${BACKEND_NAMES.join(", ")}`,
  );
}

/**
 * Starts the named tfjs backend and makes it the active one; see the module documentation for
 * what `auto` chooses. A backend named explicitly that cannot start throws
 * {@link BackendUnavailableError}; `auto` falls back (WebGPU → wasm → cpu) and says why in
 * `reason`.
 *
 * @example
 * ```ts
 * const info = await selectBackend("wasm", { threads: 1, log: (l) => console.log(l) });
 * // info = { name: "wasm", threads: 1, reason: "requested" }
 * ```
 */
export async function selectBackend(
  name: BackendName,
  options: SelectBackendOptions = {},
): Promise<BackendInfo> {
  const backend = parseBackendName(name, "name");
  const log = options.log ?? ((line: string) => console.error(line));
  if (options.threads !== undefined) {
    const t = options.threads;
    if (!Number.isInteger(t) || t < 1 || t > MAX_WASM_THREADS) {
      throw new InvalidArgumentError(
        "options.threads",
        `expected an integer in [1, ${MAX_WASM_THREADS}], got ${t}`,
      );
    }
    if (backend === "cpu" || backend === "webgpu") {
      throw new InvalidArgumentError(
        "options.threads",
        `only applies to the native and wasm backends (or auto), not to ${backend}`,
      );
    }
  }
  const info = backend === "auto" ? await selectAuto(options.threads) : await start(backend, {
    threads: options.threads,
  });
  silenceCpuBanner();
  log(`backend: ${describe(info)} — ${info.reason}`);
  return info;
}

/**
 * The library files a command line names (`--blas_library`, `--dnnl_library`), or null for each
 * to be found as usual (its environment variable, then the usual places).
 *
 * @example
 * ```ts
 * const paths: LibraryPaths = { blasLibrary: null, dnnlLibrary: "/opt/onednn/lib/libdnnl.so.2" };
 * ```
 */
export type LibraryPaths = { blasLibrary: string | null; dnnlLibrary: string | null };

/**
 * Loads the libraries a command line names, before a backend starts: OpenBLAS (the native
 * backend's kernels and the solver's float64 BLAS) from `--blas_library`, oneDNN (the native
 * backend's convolutions) from `--dnnl_library`. A named file that does not load (or is not a
 * usable version, or comes after this process loaded another) is an {@link InvalidArgumentError}
 * naming the flag: a named library is never silently replaced.
 *
 * @example
 * ```ts
 * applyLibraryPaths({ blasLibrary: null, dnnlLibrary: null }); // nothing to do
 * ```
 */
export function applyLibraryPaths(paths: LibraryPaths): void {
  const named = [
    ["--blas_library", "NC_BLAS_LIBRARY", paths.blasLibrary],
    ["--dnnl_library", "NC_DNNL_LIBRARY", paths.dnnlLibrary],
  ] as const;
  for (const [flag, variable, path] of named) {
    if (path === null) continue;
    if (path.trim() === "") throw new InvalidArgumentError(flag, "an empty path");
    if (!ffiGranted()) {
      throw new InvalidArgumentError(flag, "loading a library needs --allow-ffi");
    }
    try {
      setLibraryPath(variable, path, flag);
      if (flag === "--blas_library" && nativeSgemm() === null) {
        throw new Error(`${flag} ${path}: not loaded (NC_BLAS=off?)`);
      }
      if (flag === "--dnnl_library") {
        const { dnnl, reason } = loadDnnl();
        if (dnnl === null) throw new Error(reason);
      }
    } catch (e) {
      const message = (e as Error).message.replace(`${flag} ${path}: `, "");
      throw new InvalidArgumentError(flag, `${path}: ${message}`);
    }
  }
}

/**
 * A `deno run` flag the wasm backend needs and this process was not given.
 *
 * @example
 * ```ts
 * const p: MissingPermission = { flag: "--allow-read", why: "to load the .wasm binaries" };
 * ```
 */
export type MissingPermission = {
  /** The flag that grants it, e.g. `--allow-read`. */
  flag: "--allow-read" | "--allow-env" | "--allow-sys";
  /** What the backend needs it for. */
  why: string;
};

/**
 * The permissions the wasm backend with `threads` threads needs and does not have (none when it
 * can start), checked with `Deno.permissions.querySync`, which never prompts: read access to the
 * package's `dist/` directory (its `.wasm` binaries; to everything when this module is imported
 * over http and the directory is unknown), and for `threads > 1` sys access to `cpus` and env
 * access (the worker threads copy the environment).
 *
 * @example
 * ```ts
 * missingWasmPermissions(); // [] under `deno run --allow-read`
 * missingWasmPermissions(2);
 * // under plain `deno run`: [{ flag: "--allow-read", why: "to load the .wasm binaries" },
 * //   { flag: "--allow-sys", why: … }, { flag: "--allow-env", why: … }]
 * ```
 */
export function missingWasmPermissions(threads = 1): MissingPermission[] {
  const granted = (descriptor: Deno.PermissionDescriptor) =>
    Deno.permissions.querySync(descriptor).state === "granted";
  const dir = wasmDistDirectory();
  const missing: MissingPermission[] = [];
  if (!granted(dir ? { name: "read", path: fileURLToPath(dir) } : { name: "read" })) {
    missing.push({ flag: "--allow-read", why: "to load the .wasm binaries" });
  }
  if (threads > 1) {
    if (!granted({ name: "sys", kind: "cpus" })) {
      missing.push({ flag: "--allow-sys", why: "for os.cpus(), which sizes the worker pool" });
    }
    if (!granted({ name: "env" })) {
      missing.push({
        flag: "--allow-env",
        why: "for the worker threads, which copy the environment",
      });
    }
  }
  return missing;
}

/**
 * Whether the wasm backend already runs in this process (then starting it again loads nothing).
 * Read from the engine's registry: `tf.findBackend` would start initialising it.
 */
function wasmStarted(): boolean {
  return "wasm" in tf.engine().registry;
}

/** `needs --allow-read (to …) and --allow-env (for …); grant them: deno run --allow-read …`. */
function describeMissing(missing: MissingPermission[]): string {
  const needs = missing.map((m) => `${m.flag} (${m.why})`);
  const list = needs.length > 1
    ? `${needs.slice(0, -1).join(", ")} and ${needs[needs.length - 1]}`
    : needs[0];
  const flags = missing.map((m) => m.flag).join(" ");
  return `needs ${list}; grant ${missing.length > 1 ? "them" : "it"}: deno run ${flags} …`;
}

/** Starts an explicitly requested backend (errors propagate). */
async function start(
  name: ConcreteBackendName,
  options: { threads?: number },
): Promise<BackendInfo> {
  if (name === "cpu") {
    if (!(await tf.setBackend("cpu"))) {
      throw new BackendUnavailableError("cpu", "tfjs could not initialise it");
    }
    return { name, reason: "requested" };
  }
  if (name === "native") {
    const why = nativeUnavailable();
    if (why !== null) throw new BackendUnavailableError("native", why);
    const missing = wasmStarted() ? [] : missingWasmPermissions(1);
    if (missing.length > 0) throw new BackendUnavailableError(name, describeMissing(missing));
    await startNativeWasm();
    return { ...startNative(options.threads ?? defaultNativeThreads()), reason: "requested" };
  }
  if (name === "wasm") {
    const missing = wasmStarted() ? [] : missingWasmPermissions(options.threads ?? 1);
    if (missing.length > 0) throw new BackendUnavailableError(name, describeMissing(missing));
    const { threads } = await startWasm({ threads: options.threads });
    unregisterNativeKernels(); // wasm's own kernels, even after native in this process
    return { name, threads, reason: "requested" };
  }
  const probe = await probeWebGpu();
  if (!probe.available) throw new BackendUnavailableError("webgpu", probe.reason);
  await startWebGpu();
  return {
    name,
    adapter: probe.adapter,
    fallbackAdapter: probe.fallbackAdapter,
    reason: probe.fallbackAdapter
      ? "requested (on a software adapter: slow, for testing the WebGPU code paths)"
      : "requested",
  };
}

/** `auto`: a hardware WebGPU adapter, else wasm, else cpu. */
async function selectAuto(threads: number | undefined): Promise<BackendInfo> {
  const probe = await probeWebGpu();
  const seen = probe.available
    ? { adapter: probe.adapter, fallbackAdapter: probe.fallbackAdapter }
    : {};
  let why: string;
  if (!probe.available) {
    why = `auto: no WebGPU (${probe.reason})`;
  } else if (probe.fallbackAdapter) {
    why = `auto: the WebGPU adapter "${probe.adapter}" is a software fallback`;
  } else {
    try {
      await startWebGpu();
      return {
        name: "webgpu",
        ...seen,
        reason: `auto: hardware WebGPU adapter "${probe.adapter}"`,
      };
    } catch (e) {
      why = `auto: WebGPU on "${probe.adapter}" did not start (${(e as Error).message})`;
    }
  }
  const noNative = nativeUnavailable();
  const missing = wasmStarted() ? [] : missingWasmPermissions(noNative === null ? 1 : threads ?? 1);
  if (missing.length > 0) {
    // Not tried: loading would prompt for the permission on a terminal (and wait there).
    why = `${why}; wasm backend unavailable: ${describeMissing(missing)}`;
  } else {
    try {
      if (noNative === null) {
        await startNativeWasm();
        const native = startNative(threads ?? defaultNativeThreads());
        return { ...native, ...seen, reason: `${why}; using native` };
      }
      const started = await startWasm({ threads });
      unregisterNativeKernels();
      return {
        name: "wasm",
        ...seen,
        threads: started.threads,
        reason: `${why}; native unavailable (${noNative}); using wasm`,
      };
    } catch (e) {
      // A library named by its flag or variable that does not load: an error, not a fallback.
      if (e instanceof BackendUnavailableError && e.backend === "native") throw e;
      why = `${why}; wasm did not start (${(e as Error).message})`;
    }
  }
  await start("cpu", {});
  return { name: "cpu", ...seen, reason: `${why}; falling back to cpu (about 40× slower)` };
}

/**
 * Why the native backend cannot start here (null when it can): it needs `--allow-ffi` and
 * OpenBLAS (Debian's `libopenblas0-pthread`, Homebrew's `openblas`, or `NC_BLAS_LIBRARY`).
 */
function nativeUnavailable(): string | null {
  if (!ffiGranted()) return "needs --allow-ffi, to call OpenBLAS";
  let blas;
  try {
    blas = nativeSgemm();
  } catch (e) {
    // NC_BLAS_LIBRARY names a file that does not load: never silently replaced, auto included.
    throw new BackendUnavailableError("native", (e as Error).message, { cause: e });
  }
  if (blas !== null) return null;
  return "needs OpenBLAS: install Debian's libopenblas0-pthread (macOS: brew install openblas), " +
    "or set NC_BLAS_LIBRARY=/path/to/libopenblas; NC_BLAS=off turns it off";
}

/**
 * The wasm backend under the native kernels: single-threaded (XNNPACK's worker threads competing
 * with oneDNN's and OpenBLAS's for the cores made a ResNet18 step 10–30% slower, measured), or
 * as it already runs in this process (its thread count cannot change).
 */
async function startNativeWasm(): Promise<void> {
  await startWasm(wasmStarted() ? {} : { threads: 1 });
}

/** native's default thread count: the machine's logical cores, at most {@link MAX_WASM_THREADS}. */
function defaultNativeThreads(): number {
  const cores = globalThis.navigator?.hardwareConcurrency ?? 1;
  return Math.max(1, Math.min(MAX_WASM_THREADS, cores));
}

/**
 * Installs the native kernels on the started wasm backend, OpenBLAS and oneDNN (when it loads)
 * on `threads` threads.
 */
function startNative(threads: number): BackendInfo & { name: "native" } {
  const blas = nativeSgemm()!;
  blas.setThreads?.(threads);
  const { dnnl, reason, named } = loadDnnl();
  // A oneDNN file named by --dnnl_library or NC_DNNL_LIBRARY is never silently replaced.
  if (named) throw new BackendUnavailableError("native", reason);
  dnnl?.setThreads?.(threads);
  registerNativeKernels();
  const convolutions = dnnl !== null
    ? `oneDNN ${dnnl.version}`
    : `OpenBLAS im2col (oneDNN: ${reason})`;
  return { name: "native", threads, library: blas.library, convolutions, reason: "" };
}

/**
 * Turns off the cpu backend's one-time Node.js banner (creating that backend if needed, which is
 * cheap and synchronous), whichever backend is active: tfjs may use cpu later (comparisons, tests).
 */
function silenceCpuBanner(): void {
  const cpu = tf.findBackend("cpu") as unknown as { firstUse?: boolean } | null;
  if (cpu != null) cpu.firstUse = false;
}

function describe(info: BackendInfo): string {
  const parts: string[] = [];
  if (info.threads !== undefined) {
    parts.push(`${info.threads} thread${info.threads > 1 ? "s" : ""}`);
  }
  if (info.convolutions !== undefined) parts.push(`convolutions: ${info.convolutions}`);
  if (info.adapter !== undefined && info.name === "webgpu") {
    parts.push(`adapter "${info.adapter}"${info.fallbackAdapter ? " (software fallback)" : ""}`);
  }
  return parts.length > 0 ? `${info.name} (${parts.join(", ")})` : info.name;
}
