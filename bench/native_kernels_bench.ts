/**
 * The native backend's convolution kernels against wasm's own (XNNPACK, and the training kernels
 * of nets/backend/wasm_kernels.ts) on ResNet18's layers at batch 256 and 32×32 inputs, side by
 * side in one run: per layer and pass (forward, input gradient, filter gradient), wasm's kernel,
 * the native one on OpenBLAS (im2col + sgemm, or wasm's composite over it for the input gradient)
 * and the native one on oneDNN (where it loads), each group switched to its kernels before it is
 * timed.
 *
 * Run: `deno task bench:native` (threads of every library: `NC_BENCH_THREADS`, default 2).
 *
 * @module
 */
import { tf } from "../nets/tf.ts";
import { selectBackend } from "../nets/backend/select.ts";
import {
  nativeSgemm,
  preferOneDnn,
  registerNativeKernels,
  unregisterNativeKernels,
} from "../nets/backend/native_kernels.ts";
import { loadDnnl } from "../nets/backend/onednn.ts";

const threads = Number(Deno.env.get("NC_BENCH_THREADS") ?? "2");
await selectBackend("wasm", { threads });
if (nativeSgemm() === null) throw new Error("bench:native needs OpenBLAS and --allow-ffi");
nativeSgemm()!.setThreads?.(threads);
loadDnnl().dnnl?.setThreads?.(threads);

/** [name, input NHWC, kernel, out channels, stride] of ResNet18 (width 64) at 32×32, batch 256. */
const SHAPES: [string, [number, number, number, number], number, number, number][] = [
  ["stem 7×7 s2, 3→64 at 32×32", [256, 32, 32, 3], 7, 64, 2],
  ["layer1 3×3, 64→64 at 8×8", [256, 8, 8, 64], 3, 64, 1],
  ["layer2 3×3 s2, 64→128 at 8×8", [256, 8, 8, 64], 3, 128, 2],
  ["layer2 3×3, 128→128 at 4×4", [256, 4, 4, 128], 3, 128, 1],
  ["layer2 1×1 s2 downsample, 64→128", [256, 8, 8, 64], 1, 128, 2],
  ["layer3 3×3, 256→256 at 2×2", [256, 2, 2, 256], 3, 256, 1],
  ["layer4 3×3, 512→512 at 1×1", [256, 1, 1, 512], 3, 512, 1],
];

const KERNELS = loadDnnl().dnnl === null
  ? ["wasm", "OpenBLAS"] as const
  : ["wasm", "OpenBLAS", "oneDNN"] as const;

function use(kernels: typeof KERNELS[number]): void {
  if (kernels === "wasm") return unregisterNativeKernels();
  registerNativeKernels();
  preferOneDnn(kernels === "oneDNN");
}

for (const [name, shape, k, cout, stride] of SHAPES) {
  const x = tf.randomNormal(shape, 0, 1, "float32", 1) as tf.Tensor4D;
  const w = tf.randomNormal([k, k, shape[3], cout], 0, 0.1, "float32", 2) as tf.Tensor4D;
  const dy = tf.tidy(() => tf.onesLike(tf.conv2d(x, w, stride, (k - 1) / 2))) as tf.Tensor4D;
  const pad = (k - 1) / 2; // PyTorch's padding, as the model has it
  const attrs = { strides: stride, pad, dataFormat: "NHWC" };
  const passes = {
    forward: () => tf.conv2d(x, w, stride, pad),
    "input gradient": () =>
      tf.engine().runKernel("Conv2DBackpropInput", { dy, filter: w }, {
        ...attrs,
        inputShape: shape,
      }) as tf.Tensor,
    "filter gradient": () =>
      tf.engine().runKernel("Conv2DBackpropFilter", { x, dy }, {
        ...attrs,
        filterShape: [k, k, shape[3], cout],
      }) as tf.Tensor,
  };
  for (const [pass, run] of Object.entries(passes)) {
    if (pass === "input gradient" && name.startsWith("stem")) continue; // never needed
    const group = `${name}, ${pass}`;
    for (const kernels of KERNELS) {
      Deno.bench(`${kernels}: ${group}`, { group, baseline: kernels === "wasm" }, (b) => {
        use(kernels);
        b.start();
        const y = run();
        y.dataSync(); // not inside tf.tidy: tidy walks a returned typed array element by element
        b.end();
        y.dispose();
      });
    }
  }
}
