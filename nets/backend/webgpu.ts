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
 * **`XDG_RUNTIME_DIR is invalid or not set in the environment.`** Where Mesa's Vulkan drivers
 * are installed, the loader runs Mesa's implicit `VK_LAYER_MESA_device_select` layer. Deno's
 * WebGPU (wgpu) enables the `VK_KHR_wayland_surface` instance extension, so on every adapter
 * enumeration (two per `requestAdapter()`) the layer calls libwayland's `wl_display_connect(NULL)`
 * to find the compositor's GPU, and libwayland prints that line to stderr whenever
 * `XDG_RUNTIME_DIR` is unset or not an absolute path (headless runs, containers, `sudo`, CI).
 * {@link provideRuntimeDirectory} stops it at the source: before the first adapter request, when
 * the variable is unset or not absolute, it sets `XDG_RUNTIME_DIR` to a valid private runtime
 * directory, as a login session would: the user's `/run/user/<uid>` when logind made one, else
 * a new one (mode 0700, under `$TMPDIR` or `/tmp`, removed when the process exits normally).
 * libwayland then looks for `wayland-0` there, finds no compositor and stays silent, and the
 * layer picks its default GPU as it always does without a compositor.
 * An absolute `XDG_RUNTIME_DIR` is never touched, so on a desktop nothing changes and real Wayland
 * errors still show. Rejected alternatives: `NODEVICE_SELECT=1` would disable the layer (and
 * with it a user's `MESA_VK_DEVICE_SELECT` choice of GPU); filtering stderr cannot be done from
 * JavaScript (the line is written by native code to file descriptor 2) and could hide other
 * messages. Without `--allow-env`, or without both `/run/user/<uid>` and `--allow-write` to the
 * temporary directory, nothing is done and the line may still appear.
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
 * What {@link provideRuntimeDirectory} did about `XDG_RUNTIME_DIR`.
 *
 * @example
 * ```ts
 * const c: RuntimeDirectory = { action: "created", path: "/tmp/nc-xdg-runtime-1a2b3c" };
 * ```
 */
export type RuntimeDirectory =
  | {
    /**
     * `kept`: it was already an absolute path; `found`: `/run/user/<uid>` (this user's, 0700);
     * `created`: a private one (0700), removed at exit.
     */
    action: "kept" | "found" | "created";
    path: string;
  }
  | { action: "skipped"; reason: string };

let runtimeDirectory: RuntimeDirectory | undefined;

/**
 * Makes sure `XDG_RUNTIME_DIR` names a private runtime directory before a WebGPU adapter is
 * requested, so that libwayland (called by Mesa's Vulkan device-select layer) does not print
 * `XDG_RUNTIME_DIR is invalid or not set in the environment.` (see the module documentation).
 * Once per process; never prompts for a permission (it checks them with
 * `Deno.permissions.querySync` and skips without them). {@link probeWebGpu} and
 * {@link startWebGpu} call it.
 *
 * @example
 * ```ts
 * provideRuntimeDirectory();
 * // { action: "created", path: "/tmp/nc-xdg-runtime-…" } when XDG_RUNTIME_DIR was unset,
 * // { action: "kept", path: "/run/user/1000" } when it was set
 * ```
 */
export function provideRuntimeDirectory(): RuntimeDirectory {
  runtimeDirectory ??= chooseRuntimeDirectory();
  return runtimeDirectory;
}

function chooseRuntimeDirectory(): RuntimeDirectory {
  if (Deno.build.os !== "linux") {
    return { action: "skipped", reason: `not needed on ${Deno.build.os}` };
  }
  const granted = (descriptor: Deno.PermissionDescriptor) =>
    Deno.permissions.querySync(descriptor).state === "granted";
  if (!granted({ name: "env", variable: "XDG_RUNTIME_DIR" })) {
    return { action: "skipped", reason: "no env access to XDG_RUNTIME_DIR (--allow-env)" };
  }
  const current = Deno.env.get("XDG_RUNTIME_DIR");
  // libwayland's own test: it complains only when the variable is unset or not absolute.
  if (current !== undefined && current.startsWith("/")) return { action: "kept", path: current };
  const session = loginRuntimeDirectory(granted);
  if (session !== undefined) {
    Deno.env.set("XDG_RUNTIME_DIR", session);
    return { action: "found", path: session };
  }
  const tmp = (granted({ name: "env", variable: "TMPDIR" }) && Deno.env.get("TMPDIR")) || "/tmp";
  if (!granted({ name: "write", path: tmp })) {
    return { action: "skipped", reason: `no write access to ${tmp} (--allow-write)` };
  }
  let path: string;
  try {
    path = Deno.makeTempDirSync({ dir: tmp, prefix: "nc-xdg-runtime-" });
    Deno.chmodSync(path, 0o700); // the XDG base-directory specification's mode
  } catch (e) {
    return { action: "skipped", reason: `cannot create a directory in ${tmp}: ${errorText(e)}` };
  }
  Deno.env.set("XDG_RUNTIME_DIR", path);
  globalThis.addEventListener("unload", () => {
    try {
      Deno.removeSync(path, { recursive: true });
    } catch { /* already gone */ }
  });
  return { action: "created", path };
}

/**
 * systemd-logind's `/run/user/<uid>` when it exists and is this user's, mode 0700 (a session
 * started without the variable: `sudo`, `su`, cron), else `undefined`.
 */
function loginRuntimeDirectory(
  granted: (descriptor: Deno.PermissionDescriptor) => boolean,
): string | undefined {
  try {
    const uid = granted({ name: "sys", kind: "uid" })
      ? Deno.uid()
      : granted({ name: "read", path: "/proc/self" })
      ? Deno.statSync("/proc/self").uid
      : null;
    if (uid == null) return undefined;
    const path = `/run/user/${uid}`;
    if (!granted({ name: "read", path })) return undefined;
    const info = Deno.statSync(path);
    return info.isDirectory && info.uid === uid && ((info.mode ?? 0) & 0o777) === 0o700
      ? path
      : undefined;
  } catch {
    return undefined; // no such directory
  }
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
  provideRuntimeDirectory();
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
  provideRuntimeDirectory(); // tfjs requests its own adapter
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
