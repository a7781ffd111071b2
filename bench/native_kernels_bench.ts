/**
 * The native kernels (nets/backend/native_kernels.ts: OpenBLAS sgemm through FFI on the wasm
 * heap) against wasm's own (XNNPACK) on a ResNet18 training step's forward convolutions at
 * batch 256 and 32×32 inputs, side by side in one run: each shape timed with wasm's kernel, then
 * with the native one (registered and unregistered between the two groups of a shape).
 *
 * Run: `deno task bench:native` (wasm threads: `NC_BENCH_THREADS`, default 2).
 *
 * @module
 */
import { tf } from "../nets/tf.ts";
import { selectBackend } from "../nets/backend/select.ts";
import {
  nativeSgemm,
  registerNativeKernels,
  unregisterNativeKernels,
} from "../nets/backend/native_kernels.ts";

const threads = Number(Deno.env.get("NC_BENCH_THREADS") ?? "2");
await selectBackend("wasm", { threads });
if (nativeSgemm() === null) throw new Error("bench:native needs OpenBLAS and --allow-ffi");

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

for (const [name, shape, k, cout, stride] of SHAPES) {
  const x = tf.randomNormal(shape, 0, 1, "float32", 1) as tf.Tensor4D;
  const w = tf.randomNormal([k, k, shape[3], cout], 0, 0.1, "float32", 2) as tf.Tensor4D;
  for (const kernels of ["wasm", "native"] as const) {
    Deno.bench(`${kernels}: ${name}`, { group: name, baseline: kernels === "wasm" }, (b) => {
      if (kernels === "native") registerNativeKernels();
      else unregisterNativeKernels();
      b.start();
      const y = tf.conv2d(x, w, stride, "same");
      y.dataSync(); // not inside tf.tidy: tidy walks a returned typed array element by element
      b.end();
      y.dispose();
    });
  }
}
