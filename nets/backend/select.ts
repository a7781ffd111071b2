/**
 * Choosing and starting the tensor backend (`--backend auto|webgpu|wasm|cpu`).
 *
 * - `auto` uses WebGPU when `navigator.gpu` gives an adapter that is not a software fallback
 *   (`adapter.info.isFallbackAdapter`, or an llvmpipe/lavapipe/SwiftShader description),
 *   otherwise wasm (and cpu if wasm cannot start either); the `reason` says why, and one line
 *   naming the backend and adapter goes to `log`.
 * - `webgpu`, `wasm`, `cpu` start that backend or throw {@link BackendUnavailableError} saying
 *   why. An explicit `webgpu` is allowed on a software adapter (that is how the WebGPU code paths
 *   are tested without a GPU; it is slow). On WebGPU only asynchronous reads (`await t.data()`)
 *   are reliable under Deno.
 * - wasm: see `./backend_wasm.ts` (binary location, `threads`) and `./wasm_kernels.ts` (the
 *   training kernels registered for it: Conv2DBackpropFilter, UnsortedSegmentSum, and a
 *   corrected MaxPoolGrad).
 * - cpu: tfjs's "looks like you are running TensorFlow.js in Node.js" banner is switched off on
 *   the backend instance (`firstUse = false`); prod mode is left alone.
 *
 * The backend packages are imported only when their backend is started, so importing this module
 * leaves tfjs's default (cpu) in place.
 *
 * @example
 * ```ts
 * import { selectBackend } from "./nets/mod.ts";
 * const info = await selectBackend("auto"); // logs e.g. "backend: wasm (…) — auto: …"
 * console.log(info.name, info.reason);
 * ```
 *
 * @module
 */
import { tf } from "../tf.ts";
import { InvalidArgumentError } from "../../core/errors.ts";
import { BackendUnavailableError, type ConcreteBackendName } from "./error.ts";
import { probeWebGpu, startWebGpu } from "./webgpu.ts";
import { startWasm } from "./wasm.ts";
import { MAX_WASM_THREADS } from "./wasm_threads.ts";

export { BackendUnavailableError };
export type { ConcreteBackendName };

/**
 * The accepted backend names, `auto` first.
 *
 * @example
 * ```ts
 * BACKEND_NAMES.join("|"); // "auto|webgpu|wasm|cpu"
 * ```
 */
export const BACKEND_NAMES = ["auto", "webgpu", "wasm", "cpu"] as const;

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
  /** wasm only: XNNPACK's thread count. */
  threads?: number;
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
  /** wasm threads, 1 (default, single-threaded SIMD build) to 8 (the threaded build). */
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
        `only applies to the wasm backend (or auto), not to ${backend}`,
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
  if (name === "wasm") {
    const { threads } = await startWasm({ threads: options.threads });
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
  try {
    const started = await startWasm({ threads });
    return { name: "wasm", ...seen, threads: started.threads, reason: `${why}; using wasm` };
  } catch (e) {
    why = `${why}; wasm did not start (${(e as Error).message})`;
  }
  await start("cpu", {});
  return { name: "cpu", ...seen, reason: `${why}; using cpu` };
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
  if (info.adapter !== undefined) {
    parts.push(`adapter "${info.adapter}"${info.fallbackAdapter ? " (software fallback)" : ""}`);
  }
  return parts.length > 0 ? `${info.name} (${parts.join(", ")})` : info.name;
}
