/**
 * Which training kernels a backend lacks: every op the networks, heads, losses and optimisers use,
 * run forward and backward (`tf.variableGrads`) on tiny seeded inputs.
 *
 * {@link findMissingKernels} records, on the cpu backend (which has every kernel), the kernels
 * each case dispatches (`tf.profile`), and reports those not registered for the target backend.
 * {@link compareWithCpu} runs the cases on a backend and on cpu and returns the largest
 * differences, which catches registered kernels that refuse some attributes or compute something
 * else. Run it as a script to print the report for wasm:
 *
 * ```sh
 * deno run --allow-read --allow-env tests/support/backend_probe.ts
 * ```
 *
 * @module
 */
import { tf } from "../../nets/tf.ts";

/** What a case's run returns: named tensors to compare across backends. */
type Outputs = Record<string, tf.Tensor>;

/** Helpers a case uses to make its (backend-independent, seeded) inputs. */
type CaseContext = {
  /** A seeded N(0,1)-like float32 tensor (identical on every backend). */
  data(shape: number[], scale?: number): tf.Tensor;
  /** A trainable variable from seeded data, disposed after the case. */
  variable(shape: number[], scale?: number): tf.Variable;
};

/**
 * One probe case: a forward (and usually backward) computation.
 *
 * @example
 * ```ts
 * const c: ProbeCase = { name: "relu", run: (ctx) => grads(ctx, [[4, 5]], ([v]) => tf.relu(v).sum()) };
 * ```
 */
export type ProbeCase = { name: string; run: (ctx: CaseContext) => Outputs };

/** Loss value and gradients with respect to fresh variables of the given shapes. */
function grads(
  ctx: CaseContext,
  shapes: number[][],
  loss: (vars: tf.Variable[]) => tf.Tensor,
): Outputs {
  const vars = shapes.map((s) => ctx.variable(s));
  const { value, grads } = tf.variableGrads(() => loss(vars) as tf.Scalar, vars);
  const out: Outputs = { loss: value };
  vars.forEach((v, i) => (out[`grad${i}`] = grads[v.name]));
  return out;
}

const conv = (
  name: string,
  x: number[],
  f: number[],
  stride: number,
  pad: "same" | "valid" | number | [[0, 0], [number, number], [number, number], [0, 0]],
): ProbeCase => ({
  name,
  run: (ctx) =>
    grads(ctx, [x, f], ([a, b]) => {
      const y = tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, stride, pad);
      return tf.mul(y, ctx.data(y.shape)).sum();
    }),
});

/**
 * The cases: every op of the training step at least once (NHWC, tiny shapes).
 *
 * @example
 * ```ts
 * PROBE_CASES.map((c) => c.name); // ["conv2d 3x3 s1 same", …]
 * ```
 */
export const PROBE_CASES: readonly ProbeCase[] = [
  conv("conv2d 3x3 s1 same", [2, 6, 6, 3], [3, 3, 3, 4], 1, "same"),
  conv("conv2d 3x3 s2 same", [2, 7, 7, 3], [3, 3, 3, 4], 2, "same"),
  conv("conv2d 3x3 s2 valid", [2, 7, 7, 3], [3, 3, 3, 4], 2, "valid"),
  conv("conv2d 1x1 s2 valid (downsample)", [2, 6, 6, 3], [1, 1, 3, 5], 2, "valid"),
  conv("conv2d 7x7 s2 pad 3 (stem)", [2, 9, 9, 3], [7, 7, 3, 4], 2, [[0, 0], [3, 3], [3, 3], [
    0,
    0,
  ]]),
  {
    name: "fused conv2d + bias + relu",
    run: (ctx) =>
      grads(ctx, [[2, 5, 5, 3], [3, 3, 3, 4], [4]], ([x, f, b]) =>
        tf.fused.conv2d({
          x: x as tf.Tensor4D,
          filter: f as tf.Tensor4D,
          strides: 1,
          pad: "same",
          bias: b,
          activation: "relu",
        }).mul(ctx.data([2, 5, 5, 4])).sum()),
  },
  {
    name: "maxPool 3x3 s2 same",
    run: (ctx) =>
      grads(ctx, [[2, 7, 7, 3]], ([x]) => {
        const y = tf.maxPool(x as tf.Tensor4D, 3, 2, "same");
        return tf.mul(y, ctx.data(y.shape)).sum();
      }),
  },
  {
    name: "maxPool 3x3 s2 pad 1",
    run: (ctx) =>
      grads(ctx, [[2, 8, 8, 3]], ([x]) => {
        const y = tf.maxPool(x as tf.Tensor4D, 3, 2, 1);
        return tf.mul(y, ctx.data(y.shape)).sum();
      }),
  },
  {
    name: "avgPool 3x3 s2 same",
    run: (ctx) =>
      grads(ctx, [[2, 7, 7, 3]], ([x]) => {
        const y = tf.avgPool(x as tf.Tensor4D, 3, 2, "same");
        return tf.mul(y, ctx.data(y.shape)).sum();
      }),
  },
  {
    name: "avgPool 2x2 s2",
    run: (ctx) =>
      grads(ctx, [[2, 6, 6, 3]], ([x]) => {
        const y = tf.avgPool(x as tf.Tensor4D, 2, 2, "valid");
        return tf.mul(y, ctx.data(y.shape)).sum();
      }),
  },
  {
    name: "global average pool + dense + bias",
    run: (ctx) =>
      grads(ctx, [[3, 4, 4, 5], [5, 6], [6]], ([x, w, b]) => {
        const h = tf.mean(x, [1, 2]);
        return tf.add(tf.matMul(h, w), b).mul(ctx.data([3, 6])).sum();
      }),
  },
  {
    name: "batch norm (moments, rsqrt, sub, mul) + relu",
    run: (ctx) =>
      grads(ctx, [[4, 3, 3, 5], [5], [5]], ([x, g, b]) => {
        const { mean, variance } = tf.moments(x, [0, 1, 2]);
        const y = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, 1e-5)));
        return tf.relu(tf.add(tf.mul(y, g), b)).mul(ctx.data([4, 3, 3, 5])).sum();
      }),
  },
  {
    name: "tf.batchNorm",
    run: (ctx) =>
      grads(ctx, [[4, 5], [5], [5]], ([x, g, b]) => {
        const { mean, variance } = tf.moments(x, [0]);
        return tf.batchNorm(x, mean, variance, b, g, 1e-5).mul(ctx.data([4, 5])).sum();
      }),
  },
  {
    name: "MLP layer (flatten, matMul, relu, fused matMul)",
    run: (ctx) =>
      grads(ctx, [[3, 2, 2, 2], [8, 6], [6, 4], [4]], ([x, w1, w2, b2]) => {
        const h = tf.relu(tf.matMul(tf.reshape(x, [3, 8]), w1));
        return tf.fused.matMul({ a: h, b: w2, bias: b2, activation: "relu" })
          .mul(ctx.data([3, 4])).sum();
      }),
  },
  {
    name: "l2 normalisation to radius tau",
    run: (ctx) =>
      grads(ctx, [[4, 6]], ([h]) => {
        const byNorm = tf.mul(5, tf.div(h, tf.norm(h, "euclidean", 1, true)));
        const byRsqrt = tf.mul(h, tf.rsqrt(tf.sum(tf.square(h), 1, true)));
        return tf.add(byNorm.mul(ctx.data([4, 6])).sum(), byRsqrt.mul(ctx.data([4, 6])).sum());
      }),
  },
  {
    name: "softmax cross-entropy (tf.losses and logSoftmax)",
    run: (ctx) =>
      grads(ctx, [[5, 4]], ([z]) => {
        const y = tf.oneHot(tf.tensor1d([0, 3, 1, 1, 2], "int32"), 4);
        const a = tf.losses.softmaxCrossEntropy(y, z);
        const b = tf.neg(tf.mean(tf.sum(tf.mul(y, tf.logSoftmax(z)), 1)));
        return tf.add(a, b);
      }),
  },
  {
    name: "mean squared error against one-hot",
    run: (ctx) =>
      grads(ctx, [[5, 4]], ([z]) => {
        const y = tf.oneHot(tf.tensor1d([0, 3, 1, 1, 2], "int32"), 4);
        return tf.add(tf.losses.meanSquaredError(y, z), tf.mean(tf.squaredDifference(z, y)));
      }),
  },
  {
    name: "gather rows (UFM features) + oneHot",
    run: (ctx) =>
      grads(ctx, [[7, 3]], ([table]) => {
        const rows = tf.gather(table, tf.tensor1d([0, 2, 6, 2, 5], "int32"));
        return tf.mul(rows, ctx.data([5, 3])).sum();
      }),
  },
  {
    name: "ETF-head style ops (transpose, matMul, centring, customGrad)",
    run: (ctx) =>
      grads(ctx, [[6, 4], [4, 3]], ([h, u]) => {
        const square = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
          const [x, save] = args as [tf.Tensor, tf.GradSaveFunc];
          save([x]);
          return { value: tf.square(x), gradFunc: (dy, [s]) => [tf.mul(dy, tf.mul(2, s))] };
        });
        const mu = tf.mean(h, 0, true);
        const z = tf.matMul(tf.sub(h, mu), u);
        const w = tf.matMul(u, u, true, false);
        return tf.add(square(z).sum(), tf.sum(tf.transpose(w)));
      }),
  },
  {
    name: "metrics (topk, argMax, equal, cast) — forward only",
    run: (ctx) => {
      const z = ctx.data([6, 10]);
      const labels = tf.tensor1d([0, 9, 3, 3, 7, 1], "int32");
      const top1 = tf.cast(tf.equal(tf.argMax(z, 1), labels), "float32").mean();
      const { indices } = tf.topk(z, 5);
      const top5 = tf.cast(tf.any(tf.equal(indices, tf.expandDims(labels, 1)), 1), "float32")
        .mean();
      return { top1, top5 };
    },
  },
  {
    name: "optimisers (SGD momentum + weight decay, Adam)",
    run: (ctx) => {
      const a = ctx.variable([4, 3]);
      const b = ctx.variable([4, 3]);
      const loss = () => tf.add(tf.square(a).sum(), tf.mul(a, b).sum()) as tf.Scalar;
      const sgd = tf.train.momentum(0.1, 0.9);
      const adam = tf.train.adam(0.01, 0.9, 0.999, 1e-8);
      for (let i = 0; i < 2; i++) {
        const g = tf.variableGrads(loss, [a, b]);
        const decayed = tf.add(g.grads[a.name], tf.mul(5e-4, a));
        sgd.applyGradients([{ name: a.name, tensor: decayed }]);
        adam.applyGradients([{ name: b.name, tensor: g.grads[b.name] }]);
      }
      sgd.dispose();
      adam.dispose();
      return { a: a.clone(), b: b.clone() };
    },
  },
];

/** A deterministic float sequence (LCG + Box–Muller), identical on every backend. */
function seeded(seed: number, n: number, scale: number): Float32Array {
  let s = (seed * 2654435761) >>> 0 || 1;
  const next = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 4294967296;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    out[i] = scale * Math.sqrt(-2 * Math.log(next())) * Math.cos(2 * Math.PI * next());
  }
  return out;
}

/** Runs one case on the active backend and reads its outputs (asynchronously: WebGPU-safe). */
async function runCase(c: ProbeCase, seed = 1): Promise<Record<string, Float32Array>> {
  const variables: tf.Variable[] = [];
  let counter = seed * 1000;
  const ctx: CaseContext = {
    data: (shape, scale = 1) =>
      tf.tensor(seeded(counter++, tf.util.sizeFromShape(shape), scale), shape),
    variable: (shape, scale = 1) => {
      const v = tf.variable(
        tf.tensor(seeded(counter++, tf.util.sizeFromShape(shape), scale), shape),
      );
      variables.push(v);
      return v;
    },
  };
  try {
    const outputs = tf.tidy(() => c.run(ctx));
    const read: Record<string, Float32Array> = {};
    for (const [k, t] of Object.entries(outputs)) read[k] = Float32Array.from(await t.data());
    tf.dispose(Object.values(outputs));
    return read;
  } finally {
    tf.dispose(variables);
  }
}

/**
 * For each kernel the cases dispatch that `backendName` has not registered, the cases using it.
 * Runs the cases on the cpu backend (and leaves the previously active backend active).
 *
 * @example
 * ```ts
 * await findMissingKernels("wasm");
 * // [] once registerWasmTrainingKernels() has run; before: Conv2DBackpropFilter, UnsortedSegmentSum
 * ```
 */
export async function findMissingKernels(
  backendName: string,
  cases: readonly ProbeCase[] = PROBE_CASES,
): Promise<{ kernel: string; usedBy: string[] }[]> {
  const previous = tf.getBackend();
  await tf.setBackend("cpu");
  const usedBy = new Map<string, string[]>();
  try {
    for (const c of cases) {
      const info = await tf.profile(async () => {
        await runCase(c);
      });
      for (const name of new Set(info.kernelNames)) {
        if (!usedBy.has(name)) usedBy.set(name, []);
        usedBy.get(name)!.push(c.name);
      }
    }
  } finally {
    if (previous !== undefined && previous !== "cpu") await tf.setBackend(previous);
  }
  // tf.profile also lists customGrad scopes ("forward", "logSoftmax__op"): keep real kernels.
  return [...usedBy.entries()]
    .filter(([kernel]) => tf.getKernel(kernel, "cpu") !== undefined)
    .filter(([kernel]) => tf.getKernel(kernel, backendName) === undefined)
    .map(([kernel, names]) => ({ kernel, usedBy: names }))
    .sort((a, b) => a.kernel.localeCompare(b.kernel));
}

/**
 * Runs every case on `backendName` (already started) and on cpu; per case, the largest
 * absolute difference relative to the output's scale (max |a−b| / max(1, max |cpu|)), or the
 * error it raised.
 *
 * @example
 * ```ts
 * for (const r of await compareWithCpu("wasm")) console.log(r.name, r.error ?? r.maxRelDiff);
 * ```
 */
export async function compareWithCpu(
  backendName: string,
  cases: readonly ProbeCase[] = PROBE_CASES,
): Promise<{ name: string; maxRelDiff?: number; error?: string }[]> {
  const previous = tf.getBackend();
  const results: { name: string; maxRelDiff?: number; error?: string }[] = [];
  try {
    for (const c of cases) {
      await tf.setBackend("cpu");
      const want = await runCase(c);
      await tf.setBackend(backendName);
      try {
        const got = await runCase(c);
        let worst = 0;
        for (const [k, w] of Object.entries(want)) {
          const g = got[k];
          let scale = 1;
          for (const v of w) scale = Math.max(scale, Math.abs(v));
          for (let i = 0; i < w.length; i++) {
            const d = Math.abs(g[i] - w[i]) / scale;
            worst = Math.max(worst, Number.isNaN(d) ? Infinity : d);
          }
        }
        results.push({ name: c.name, maxRelDiff: worst });
      } catch (e) {
        results.push({ name: c.name, error: (e as Error).message });
      }
    }
  } finally {
    if (previous !== undefined) await tf.setBackend(previous);
  }
  return results;
}

if (import.meta.main) {
  const { selectBackend } = await import("../../nets/backend/select.ts");
  const { registerWasmTrainingKernels } = await import("../../nets/backend/wasm_kernels.ts");
  await selectBackend("cpu", { log: () => {} });
  await import("npm:@tensorflow/tfjs-backend-wasm@4.22.0"); // its own kernels, not ours yet
  const before = await findMissingKernels("wasm");
  console.log("missing on wasm as shipped:");
  for (const m of before) console.log(`  ${m.kernel}: used by ${m.usedBy.join("; ")}`);
  registerWasmTrainingKernels();
  await selectBackend("wasm", { log: () => {} });
  const after = await findMissingKernels("wasm");
  console.log(
    `missing after registerWasmTrainingKernels: ${after.map((m) => m.kernel).join(", ") || "none"}`,
  );
  console.log("wasm against cpu (max |wasm − cpu| / max(1, max |cpu|) over loss and gradients):");
  for (const r of await compareWithCpu("wasm")) {
    console.log(`  ${r.name}: ${r.error ?? r.maxRelDiff?.toExponential(2)}`);
  }
}
