/**
 * The error raised when a tensor backend that was asked for by name cannot start.
 *
 * @module
 */
import { InputError } from "../../core/errors.ts";

/**
 * The backends a program can run on (`auto` chooses one of them).
 *
 * @example
 * ```ts
 * const name: ConcreteBackendName = "wasm";
 * ```
 */
export type ConcreteBackendName = "webgpu" | "native" | "wasm" | "cpu";

/**
 * A requested backend could not start. The message starts with the backend's name and says why,
 * e.g. `webgpu: navigator.gpu has no adapter` or
 * `wasm: failed to load tfjs-backend-wasm-simd.wasm from /…/dist/: …`.
 *
 * @example
 * ```ts
 * import { selectBackend } from "./select.ts";
 * try {
 *   await selectBackend("webgpu");
 * } catch (e) {
 *   if (e instanceof BackendUnavailableError) console.error(e.backend, e.reason);
 * }
 * ```
 */
export class BackendUnavailableError extends InputError {
  /** The backend that failed to start. */
  readonly backend: ConcreteBackendName;
  /** Why, without the backend's name. */
  readonly reason: string;

  /** `message` is `${backend}: ${reason}`. */
  constructor(backend: ConcreteBackendName, reason: string, options?: { cause?: unknown }) {
    super(`${backend}: ${reason}`, options);
    this.backend = backend;
    this.reason = reason;
  }
}
