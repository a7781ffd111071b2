/**
 * Every backend trains the same: three training steps of a small ResNet18 (width 4, batch 8,
 * K = 4, AGD, τ = 5) from the same initialisation and data give the same losses on cpu, wasm and
 * WebGPU (the machine's software adapter; skipped with a printed reason where there is none),
 * for every method. The WebGPU run of the implicit method exercises its asynchronous path (the
 * backbone's forward recorded, Y read with `await data()`, the backward through the recorded
 * tape).
 *
 * Tolerance: 1e-3 relative on each step's loss. float32 sums are ordered differently per backend
 * (≈ 1e-6 relative per reduction); the implicit node amplifies its input's rounding by up to
 * ~1/δ = 1e3 (σ_min(A) ≈ δ) before the loss sees it, and three AGD steps (normalised updates of
 * size ≈ η·gain/L) propagate the differences — the observed gaps are 6e-6 to 1.4e-4. A wrong
 * kernel shows at O(1): the WebGPU AddN bug fixed in nets/backend/webgpu_kernels.ts made it 0.2–0.5.
 */
import { assertAtMost } from "./assert.ts";
import { selectBackend } from "../nets/backend/select.ts";
import { probeWebGpu } from "../nets/backend/webgpu.ts";
import { createTrainingSetup } from "../nets/training/setup.ts";
import { tf } from "../nets/tf.ts";
import { trainStep } from "../nets/training/train_step.ts";
import { Rng } from "../core/random.ts";

const B = 8, K = 4;

function batch(): { x: Float32Array; y: number[] } {
  const rng = new Rng(5);
  return {
    x: Float32Array.from({ length: B * 32 * 32 * 3 }, () => rng.normal()),
    y: Array.from({ length: B }, (_, i) => i % K),
  };
}

async function losses(backend: "cpu" | "wasm" | "webgpu", method: string): Promise<number[]> {
  await selectBackend(backend, { log: () => {} });
  const { setup, dispose } = createTrainingSetup({
    model: "resnet18",
    method,
    numClasses: K,
    resnetWidth: 4,
    seed: 3,
  });
  const { x, y } = batch();
  const xt = tf.tensor4d(x, [B, 32, 32, 3]), yt = tf.tensor1d(y, "int32");
  const out: number[] = [];
  for (let step = 0; step < 3; step++) out.push((await trainStep(setup, xt, yt)).loss);
  tf.dispose([xt, yt]);
  dispose();
  return out;
}

const webgpu = await probeWebGpu();

for (const method of ["standard", "fixed", "implicit"]) {
  Deno.test(`backends: cpu, wasm and WebGPU give the same losses over 3 steps (${method})`, async () => {
    const reference = await losses("cpu", method);
    const others: [string, number[]][] = [["wasm", await losses("wasm", method)]];
    if (webgpu.available) others.push(["webgpu", await losses("webgpu", method)]);
    else console.log(`  WebGPU not compared (the WebGPU-only test is ignored): ${webgpu.reason}`);
    for (const [name, values] of others) {
      console.log(
        `  ${name}: max relative gap ${
          Math.max(...values.map((v, i) => Math.abs(v - reference[i]) / Math.abs(reference[i])))
            .toExponential(1)
        }`,
      );
      values.forEach((v, i) => {
        assertAtMost(
          Math.abs(v - reference[i]) / Math.abs(reference[i]),
          2e-3,
          `${name} step ${i + 1} loss ${v} vs cpu ${reference[i]}`,
        );
      });
    }
    await selectBackend("cpu", { log: () => {} });
  });
}
