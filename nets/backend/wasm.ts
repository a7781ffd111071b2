/**
 * Starting tfjs's wasm backend: locating its `.wasm` binaries, choosing the single-threaded SIMD
 * build or the multi-threaded one, and registering the training kernels it lacks.
 *
 * **Where the binaries come from.** `import.meta.resolve("npm:@tensorflow/tfjs-backend-wasm@…")`
 * gives the package's entry file in Deno's npm cache when this module is a local file (a clean
 * clone included: Deno fetches the package on first use), and `setWasmPaths` is pointed at that
 * `dist/` directory. When this module is itself imported over http(s), `import.meta.resolve`
 * returns the bare `npm:` specifier; then no path is set and the package's Emscripten glue loads
 * the binary from its own directory (its CommonJS `__dirname`, again in the npm cache), which is
 * the same file.
 *
 * **Threads.** `threads: 1` (the default) uses `tfjs-backend-wasm-simd.wasm`, no workers.
 * `threads > 1` (up to 8) uses `tfjs-backend-wasm-threaded-simd.wasm` with XNNPACK's thread pool,
 * started through the Deno workarounds of `./backend_wasm_threads.ts` (as shipped it fails with
 * `ERR_WORKER_PATH`). It computes the same numbers as one thread (tested to 1e-6; identical in
 * practice) and costs the build's 8 preallocated worker isolates (+100 MB RSS). On this 2-core
 * machine, 2 threads made the ResNet18-sized Conv2DBackpropFilter 1.3–1.6 s → 0.85–1.1 s; the
 * default stays 1 because the machine is shared and the gain depends on free cores: ask for
 * threads explicitly. The thread count is fixed for the process once the backend exists.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { tf } from "../tf.ts";
import { BackendUnavailableError } from "./error.ts";
import { captureTfjsWarnings, errorText } from "./warnings.ts";
import { MAX_WASM_THREADS, withThreadedWasmWorkers } from "./wasm_threads.ts";
import { registerWasmTrainingKernels } from "./wasm_kernels.ts";

/**
 * The tfjs-backend-wasm package, pinned to the tfjs version of `./tf.ts`.
 *
 * @example
 * ```ts
 * WASM_PACKAGE; // "npm:@tensorflow/tfjs-backend-wasm@4.22.0"
 * ```
 */
export const WASM_PACKAGE = "npm:@tensorflow/tfjs-backend-wasm@4.22.0";

/**
 * How the wasm backend was started.
 *
 * @example
 * ```ts
 * const s: WasmStart = { threads: 1, binary: "tfjs-backend-wasm-simd.wasm", location: "/…/dist/" };
 * ```
 */
export type WasmStart = {
  /** XNNPACK's thread count (1 for the single-threaded build). */
  threads: number;
  /** The binary loaded, e.g. `tfjs-backend-wasm-simd.wasm`. */
  binary: string;
  /** The directory it was loaded from (a path, or a description when the package chose). */
  location: string;
};

type WasmModule = typeof import("npm:@tensorflow/tfjs-backend-wasm@4.22.0");

let started: WasmStart | undefined;

/**
 * The package's `dist/` directory (holding the `.wasm` binaries) as a `file:` URL, or
 * `undefined` when this module cannot resolve it to a file (imported over http).
 *
 * @example
 * ```ts
 * wasmDistDirectory()?.href; // "file:///…/npm/registry.npmjs.org/@tensorflow/tfjs-backend-wasm/4.22.0/dist/"
 * ```
 */
export function wasmDistDirectory(): URL | undefined {
  let resolved: string;
  try {
    resolved = import.meta.resolve(WASM_PACKAGE);
  } catch {
    return undefined;
  }
  return resolved.startsWith("file:") ? new URL("./", resolved) : undefined;
}

/**
 * Imports tfjs-backend-wasm, registers the missing training kernels, loads the binary and makes
 * `wasm` the active tfjs backend. Throws {@link BackendUnavailableError} when it cannot start
 * (e.g. `wasm: failed to load tfjs-backend-wasm-simd.wasm from /…/dist/: file not found`), or
 * when it already runs with another thread count.
 *
 * @example
 * ```ts
 * const { threads, binary } = await startWasm(); // 1, "tfjs-backend-wasm-simd.wasm"
 * ```
 */
export async function startWasm(options: { threads?: number } = {}): Promise<WasmStart> {
  const threads = options.threads ?? 1;
  if (!Number.isInteger(threads) || threads < 1 || threads > MAX_WASM_THREADS) {
    throw new BackendUnavailableError(
      "wasm",
      `threads must be an integer in [1, ${MAX_WASM_THREADS}], got ${threads}`,
    );
  }
  if (started !== undefined) {
    if (options.threads !== undefined && threads !== started.threads) {
      throw new BackendUnavailableError(
        "wasm",
        `already started with ${started.threads} thread(s) in this process; ` +
          `the thread count cannot change (asked for ${threads})`,
      );
    }
    if (!(await tf.setBackend("wasm"))) {
      throw new BackendUnavailableError("wasm", "tfjs could not switch back to it");
    }
    return started;
  }
  let wasm: WasmModule;
  try {
    wasm = await import("npm:@tensorflow/tfjs-backend-wasm@4.22.0");
  } catch (e) {
    throw new BackendUnavailableError("wasm", `failed to import ${WASM_PACKAGE}: ${errorText(e)}`, {
      cause: e,
    });
  }
  registerWasmTrainingKernels();
  const simd = await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT");
  if (threads > 1 && !simd) {
    throw new BackendUnavailableError(
      "wasm",
      "the multi-threaded build needs WebAssembly SIMD, which this runtime lacks",
    );
  }
  const binary = threads > 1
    ? "tfjs-backend-wasm-threaded-simd.wasm"
    : simd
    ? "tfjs-backend-wasm-simd.wasm"
    : "tfjs-backend-wasm.wasm";
  const dir = wasmDistDirectory();
  const location = dir ? fileURLToPath(dir) : `the directory of ${WASM_PACKAGE}`;
  const fail = (why: string, cause?: unknown) =>
    new BackendUnavailableError("wasm", `failed to load ${binary} from ${location}: ${why}`, {
      cause,
    });
  if (dir) {
    const missing = await isMissing(new URL(binary, dir));
    if (missing) throw fail(missing);
    try {
      wasm.setWasmPaths(dir.href);
    } catch (e) {
      throw fail(errorText(e), e);
    }
  }
  tf.env().set("WASM_HAS_MULTITHREAD_SUPPORT", threads > 1);
  wasm.setThreadsCount(threads);
  const init = () => tf.setBackend("wasm");
  const { value: ok, warnings } = await captureTfjsWarnings(
    threads > 1 ? () => withThreadedWasmWorkers(threads, init) : init,
  );
  if (!ok) throw fail(warnings.length > 0 ? warnings.join(" | ") : "tfjs gave no reason");
  started = { threads: wasm.getThreadsCount(), binary, location };
  return started;
}

/** Why `url` cannot be read, or `undefined` when it can (or when we may not look). */
async function isMissing(url: URL): Promise<string | undefined> {
  try {
    const info = await Deno.stat(url);
    return info.isFile ? undefined : "not a file";
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return "file not found";
    return undefined; // no read permission to look: let tfjs try and report
  }
}
