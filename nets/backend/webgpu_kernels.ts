/**
 * Fixes for tfjs-backend-webgpu 4.22 kernels that give wrong results.
 *
 * `AddN` with more than 4 inputs silently returns the sum of the first 4 (measured on Mesa's
 * llvmpipe adapter: addN of 1..8 gives 10, not 36; its packed shader binds one storage buffer
 * per input). The wrapper registered here sums at most 4 inputs per call of the original kernel,
 * in a tree, so every AddN (ours and tfjs's own) is exact.
 *
 * @module
 */
import { tf } from "../tf.ts";

/** Largest number of inputs the webgpu AddN kernel sums correctly. */
export const WEBGPU_ADDN_MAX_INPUTS = 4;

let installed = false;

/**
 * Replaces the webgpu AddN kernel by the chunked wrapper (idempotent; call after the webgpu
 * backend is registered).
 *
 * @example
 * ```ts
 * import { startWebGpu } from "./webgpu.ts";
 * await startWebGpu(); installWebGpuFixes();
 * ```
 */
export function installWebGpuFixes(): void {
  if (installed) return;
  const original = tf.getKernel("AddN", "webgpu");
  if (original === undefined) return;
  const kernelFunc = original.kernelFunc;
  type Args = Parameters<typeof kernelFunc>[0];
  const addN = (args: Args): tf.TensorInfo => {
    const inputs = args.inputs as unknown as tf.TensorInfo[];
    if (inputs.length <= WEBGPU_ADDN_MAX_INPUTS) return kernelFunc(args) as tf.TensorInfo;
    const partials: tf.TensorInfo[] = [];
    for (let i = 0; i < inputs.length; i += WEBGPU_ADDN_MAX_INPUTS) {
      const chunk = inputs.slice(i, i + WEBGPU_ADDN_MAX_INPUTS);
      partials.push(
        chunk.length === 1
          ? chunk[0]
          : kernelFunc({ ...args, inputs: chunk as unknown as Args["inputs"] }) as tf.TensorInfo,
      );
    }
    const result = addN({ ...args, inputs: partials as unknown as Args["inputs"] });
    const backend = args.backend as { disposeData(dataId: object): void };
    for (const p of partials) if (!inputs.includes(p)) backend.disposeData(p.dataId);
    return result;
  };
  tf.unregisterKernel("AddN", "webgpu");
  tf.registerKernel({ ...original, kernelFunc: addN as typeof kernelFunc });
  installed = true;
}
