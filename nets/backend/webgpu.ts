/**
 * WebGPU: finding the adapter (and telling a software fallback such as Mesa's llvmpipe from a real
 * GPU) and starting tfjs's WebGPU backend in the same tfjs-core engine as `./tf.ts`.
 *
 * Deno 2.9 exposes `navigator.gpu` without flags. tfjs-backend-webgpu is imported lazily, only
 * when the backend is started: it registers itself with a higher priority than cpu, and an
 * asynchronously initialised backend that is merely registered would make tfjs refuse synchronous
 * ops in programs that never asked for it. Both packages load tfjs-core through its CommonJS
 * `main`, so they share one module instance and one engine (`tf.engine().registryFactory` holds
 * `webgpu` after the import; the tests check that a kernel runs). Under Deno, reads of WebGPU
 * tensors must be asynchronous (`await t.data()`): `dataSync` can fail.
 *
 * @module
 */
import { tf } from "../tf.ts";
import { installWebGpuFixes } from "./webgpu_kernels.ts";
import { BackendUnavailableError } from "./error.ts";
import { captureTfjsWarnings, errorText } from "./warnings.ts";

/**
 * The tfjs-backend-webgpu package, pinned to the tfjs version of `./tf.ts`.
 *
 * @example
 * ```ts
 * WEBGPU_PACKAGE; // "npm:@tensorflow/tfjs-backend-webgpu@4.22.0"
 * ```
 */
export const WEBGPU_PACKAGE = "npm:@tensorflow/tfjs-backend-webgpu@4.22.0";

/**
 * What `navigator.gpu` offers.
 *
 * @example
 * ```ts
 * const here: WebGpuProbe = {
 *   available: true,
 *   adapter: "llvmpipe (LLVM 15.0.6, 256 bits)",
 *   fallbackAdapter: true,
 * };
 * ```
 */
export type WebGpuProbe =
  | { available: false; reason: string }
  | {
    available: true;
    /** Human-readable adapter name, e.g. `llvmpipe (LLVM 15.0.6, 256 bits)`. */
    adapter: string;
    /** A software rasteriser (adapter.info.isFallbackAdapter, or llvmpipe/lavapipe/SwiftShader). */
    fallbackAdapter: boolean;
  };

/** The adapter-info fields we read (Deno's type may lack `isFallbackAdapter`). */
type AdapterInfoLike = {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  isFallbackAdapter?: boolean;
};

const SOFTWARE_ADAPTER = /llvmpipe|lavapipe|swiftshader|software|softpipe/i;

/**
 * A readable adapter name and whether it is a software fallback.
 *
 * @example
 * ```ts
 * describeAdapter({ description: "llvmpipe (LLVM 15.0.6, 256 bits)", isFallbackAdapter: true });
 * // { adapter: "llvmpipe (LLVM 15.0.6, 256 bits)", fallbackAdapter: true }
 * ```
 */
export function describeAdapter(
  info: AdapterInfoLike,
  adapterIsFallback?: boolean,
): { adapter: string; fallbackAdapter: boolean } {
  const parts = [info.description, info.vendor, info.architecture, info.device]
    .filter((s): s is string => typeof s === "string" && s.length > 0);
  const adapter = info.description && info.description.length > 0
    ? info.description
    : parts.length > 0
    ? parts.join(" ")
    : "unnamed adapter";
  const fallbackAdapter = info.isFallbackAdapter === true || adapterIsFallback === true ||
    parts.some((s) => SOFTWARE_ADAPTER.test(s));
  return { adapter, fallbackAdapter };
}

/**
 * Asks `navigator.gpu` for an adapter, without starting tfjs.
 *
 * @example
 * ```ts
 * const probe = await probeWebGpu();
 * if (probe.available) console.log(probe.adapter, probe.fallbackAdapter);
 * else console.log(probe.reason); // e.g. "navigator.gpu has no adapter"
 * ```
 */
export async function probeWebGpu(): Promise<WebGpuProbe> {
  // deno-lint-ignore no-explicit-any
  const gpu = (globalThis.navigator as any)?.gpu;
  if (gpu == null || typeof gpu.requestAdapter !== "function") {
    return { available: false, reason: "navigator.gpu is not available in this runtime" };
  }
  let adapter;
  try {
    adapter = await gpu.requestAdapter();
  } catch (e) {
    return { available: false, reason: `navigator.gpu.requestAdapter() failed: ${errorText(e)}` };
  }
  if (adapter == null) return { available: false, reason: "navigator.gpu has no adapter" };
  return { available: true, ...describeAdapter(adapter.info ?? {}, adapter.isFallbackAdapter) };
}

/**
 * Imports tfjs-backend-webgpu (once) and makes `webgpu` the active tfjs backend; throws
 * {@link BackendUnavailableError} with tfjs's own explanation when it cannot start.
 *
 * @example
 * ```ts
 * await startWebGpu(); // tf.getBackend() === "webgpu"
 * ```
 */
export async function startWebGpu(): Promise<void> {
  try {
    await import("npm:@tensorflow/tfjs-backend-webgpu@4.22.0");
  } catch (e) {
    throw new BackendUnavailableError(
      "webgpu",
      `failed to import ${WEBGPU_PACKAGE}: ${errorText(e)}`,
      { cause: e },
    );
  }
  if (tf.findBackendFactory("webgpu") == null) {
    throw new BackendUnavailableError(
      "webgpu",
      `${WEBGPU_PACKAGE} did not register into the tfjs engine of nets/tf.ts`,
    );
  }
  installWebGpuFixes();
  const { value: ok, warnings } = await captureTfjsWarnings(() => tf.setBackend("webgpu"));
  if (!ok) {
    throw new BackendUnavailableError(
      "webgpu",
      `tfjs could not initialise it${warnings.length > 0 ? `: ${warnings.join(" | ")}` : ""}`,
    );
  }
}
