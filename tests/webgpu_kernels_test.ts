/**
 * The WebGPU kernel fixes: AddN with more than 4 inputs (wrong in tfjs-backend-webgpu 4.22)
 * sums every input, leaks nothing, and matches the cpu backend. Runs on the machine's software
 * adapter; skipped with a printed reason where there is none.
 */
import { assertEquals } from "./assert.ts";
import { selectBackend } from "../nets/backend/select.ts";
import { probeWebGpu } from "../nets/backend/webgpu.ts";
import { tf } from "../nets/tf.ts";

const webgpu = await probeWebGpu();

if (!webgpu.available) console.log(`webgpu kernels tests ignored: ${webgpu.reason}`);

Deno.test({
  name: "webgpu kernels: AddN of 1 to 13 inputs sums them all",
  ignore: !webgpu.available,
  fn: async () => {
    await selectBackend("webgpu", { log: () => {} });
    const before = tf.memory().numTensors;
    for (let n = 1; n <= 13; n++) {
      const parts = Array.from({ length: n }, (_, i) => tf.fill([2, 3], i + 1));
      const sum = tf.addN(parts);
      assertEquals(Array.from(await sum.data()), new Array(6).fill((n * (n + 1)) / 2), `n = ${n}`);
      tf.dispose([...parts, sum]);
    }
    assertEquals(tf.memory().numTensors, before);
    await selectBackend("cpu", { log: () => {} });
  },
});
