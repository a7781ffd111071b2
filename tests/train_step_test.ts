/**
 * The shared training step: every method trains a tiny backbone, leaks no tensors (the count
 * after step 5 equals the count after step 50), reports consistent metrics, and learns.
 */
import { InvalidArgumentError } from "../core/errors.ts";
import { assert, assertAlmostEquals, assertEquals } from "./assert.ts";
import { tf } from "../nets/tf.ts";
import type { Backbone, Parameter } from "../nets/models/model.ts";
import { fixedEtfHead } from "../nets/heads/fixed.ts";
import { standardHead } from "../nets/heads/standard.ts";
import { type ImplicitHead, implicitHead } from "../nets/heads/implicit.ts";
import { createTrainingSetup } from "../nets/training/setup.ts";
import type { Head, MethodName } from "../nets/heads/head.ts";
import { createOptimiser } from "../nets/optim/create.ts";
import type { OptimiserName } from "../nets/optim/optimiser.ts";
import { batchMetrics, trainStep } from "../nets/training/train_step.ts";

await tf.setBackend("cpu");

const IN = 8, D = 6, K = 3, N = 12;

/** A one-layer backbone: h_raw = relu(x·V). */
function tinyBackbone(seed: number): Backbone {
  const V = tf.variable(tf.randomNormal([IN, D], 0, 0.5, "float32", seed));
  const parameters: Parameter[] = [{ name: "fc1.weight", variable: V, kind: "dense" }];
  return {
    name: "tiny",
    featureDim: D,
    parameters,
    buffers: [],
    features: (x) => tf.relu(tf.matMul(x as tf.Tensor2D, V)) as tf.Tensor2D,
    dispose: () => V.dispose(),
  };
}

function head(method: MethodName): Head {
  if (method === "standard") {
    return standardHead({ featureDim: D, numClasses: K, bias: false, seed: 2 });
  }
  if (method === "fixed") return fixedEtfHead({ featureDim: D, numClasses: K });
  return implicitHead({ featureDim: D, numClasses: K });
}

/** A separable toy batch: class k lights up input coordinates 2k and 2k+1. */
function toyBatch(): { x: tf.Tensor2D; y: tf.Tensor1D } {
  const labels = Array.from({ length: N }, (_, i) => i % K);
  const xs = labels.map((k, i) =>
    Array.from(
      { length: IN },
      (_, j) => (j === 2 * k || j === 2 * k + 1 ? 1 : 0) + 0.1 * Math.sin(i + j),
    )
  );
  return { x: tf.tensor2d(xs), y: tf.tensor1d(labels, "int32") };
}

/** The tiny backbone, a head for `method` and an optimiser over both (SGD at lr 0.1). */
function tinySetup(method: MethodName, optimiser: OptimiserName) {
  const backbone = tinyBackbone(1);
  const h = head(method);
  const params = [...backbone.parameters, ...h.parameters];
  const opt = createOptimiser(optimiser, params, optimiser === "SGD" ? { lr: 0.1 } : {});
  const setup = {
    backbone,
    head: h,
    optimiser: opt,
    loss: "CrossEntropyLoss" as const,
    temperature: 5,
  };
  const dispose = () => {
    opt.dispose();
    h.dispose();
    backbone.dispose();
  };
  return { setup, dispose };
}

/** Every method with the default Y read; the implicit one also with Y read ahead (WebGPU's path). */
const variants: { method: MethodName; target: "auto" | "ahead" }[] = [
  ...(["standard", "fixed", "implicit"] as const).map((method) => ({
    method,
    target: "auto" as const,
  })),
  { method: "implicit", target: "ahead" },
];

for (const { method, target } of variants) {
  for (const optimiser of ["AGD", "SGD"] as OptimiserName[]) {
    const name = `${method} + ${optimiser}${target === "ahead" ? " (Y read ahead)" : ""}`;
    Deno.test(`train step: ${name} learns and leaks no tensors`, async () => {
      const { setup, dispose } = tinySetup(method, optimiser);
      const { x, y } = toyBatch();
      const losses: number[] = [];
      let after5 = 0;
      for (let step = 1; step <= 50; step++) {
        const m = await trainStep(setup, x, y, { implicitTarget: target });
        losses.push(m.loss);
        assert(
          Number.isFinite(m.loss) && m.top1 >= 0 && m.top1 <= m.top5 && m.top5 <= 1,
          JSON.stringify(m),
        );
        assert(Math.abs(m.cosine) <= 1 + 1e-6);
        assertEquals(m.eta !== undefined, optimiser === "AGD");
        assertEquals(m.solver !== undefined, method === "implicit");
        if (step === 5) after5 = tf.memory().numTensors;
      }
      assertEquals(tf.memory().numTensors, after5, "tensors after step 50 vs step 5");
      assert(losses[49] < losses[0], `loss ${losses[0]} → ${losses[49]}`);
      tf.dispose([x, y]);
      dispose();
    });
  }
}

Deno.test("train step: batch metrics by hand", () => {
  const logits = tf.tensor2d([[3, 1, 2], [0, 5, 1], [1, 0, 2]]);
  const labels = tf.tensor1d([0, 2, 1], "int32");
  const h = tf.tensor2d([[1, 0], [0, 1], [1, 1]]);
  const W = tf.tensor2d([[1, 0], [0, 1], [-1, -1]]);
  const [top1, top5, cos] = batchMetrics(logits, labels, h, W).dataSync();
  assertAlmostEquals(top1, 1 / 3, 1e-7); // only row 0 is right
  assertAlmostEquals(top5, 1, 1e-7); // K = 3 < 5: every label is in the top 3
  // K = 7: row 0's label has the lowest logit (not in the top 5), row 1's the 5th highest.
  const wide = tf.tensor2d([[7, 6, 5, 4, 3, 2, 1], [7, 6, 5, 4, 3, 2, 1]]);
  const h7 = tf.tensor2d([[1, 0], [0, 1]]),
    W7 = tf.tensor2d(Array.from({ length: 7 }, () => [1, 0]));
  const [t1, t5] = batchMetrics(wide, tf.tensor1d([6, 4], "int32"), h7, W7).dataSync();
  assertAlmostEquals(t1, 0, 1e-7);
  assertAlmostEquals(t5, 1 / 2, 1e-7);
  // centred h: [[1/3,−2/3],[−2/3,1/3],[1/3,1/3]]; w_y rows [1,0],[−1,−1],[0,1], mean [0,0]
  const hc = [[1 / 3, -2 / 3], [-2 / 3, 1 / 3], [1 / 3, 1 / 3]], wc = [[1, 0], [-1, -1], [0, 1]];
  const expected = hc.reduce(
    (a, v, i) =>
      a + (v[0] * wc[i][0] + v[1] * wc[i][1]) / (Math.hypot(...v) * Math.hypot(...wc[i])),
    0,
  ) / 3;
  assertAlmostEquals(cos, expected, 1e-6);
  tf.dispose([logits, labels, h, W]);
});

/**
 * Reading Y ahead (recorded forward, asynchronous read, backward through the recorded tape: the
 * WebGPU path) and inside the forward (the cpu/wasm path) are the same update: three steps of a
 * small ResNet18 with BatchNorm give the same losses, parameters, BatchNorm running statistics
 * and head state. Both run the same kernels in the same order, so they agree to float32
 * rounding (observed: bit for bit); 1e-6 relative leaves room for a summation order change.
 */
for (const optimiser of ["AGD", "SGD"]) {
  Deno.test(`train step: Y read ahead equals Y read inside (ResNet18, implicit, ${optimiser})`, async () => {
    const run = async (implicitTarget: "inside" | "ahead") => {
      const { setup, dispose } = createTrainingSetup({
        model: "resnet18",
        method: "implicit",
        numClasses: K,
        resnetWidth: 4,
        optimiser,
        seed: 7,
      });
      const B = 6;
      const x = tf.randomNormal([B, 32, 32, 3], 0, 1, "float32", 11);
      const y = tf.tensor1d(Array.from({ length: B }, (_, i) => i % K), "int32");
      const losses: number[] = [];
      for (let step = 0; step < 3; step++) {
        losses.push((await trainStep(setup, x, y, { implicitTarget })).loss);
      }
      const tensors = [
        ...setup.backbone.parameters.map((p) => p.variable),
        ...setup.backbone.buffers.map((b) => b.variable),
        (setup.head as ImplicitHead).getState().average.running,
      ];
      const values = tensors.map((t) => Array.from(t.dataSync()));
      tf.dispose([x, y]);
      dispose();
      return { losses, values };
    };
    const inside = await run("inside");
    const ahead = await run("ahead");
    let worst = 0;
    inside.losses.forEach((l, i) =>
      worst = Math.max(worst, Math.abs(l - ahead.losses[i]) / Math.abs(l))
    );
    inside.values.forEach((v, i) =>
      v.forEach((a, j) => {
        worst = Math.max(worst, Math.abs(a - ahead.values[i][j]) / (1 + Math.abs(a)));
      })
    );
    console.log(`  largest relative difference: ${worst}`);
    assert(worst <= 1e-6, `inside vs ahead differ by ${worst}`);
    assert(inside.values.length > 20, "compared every parameter and buffer");
  });
}

Deno.test("train step: an unknown implicitTarget is a clear error", async () => {
  const { setup, dispose } = tinySetup("implicit", "SGD");
  const { x, y } = toyBatch();
  let error: unknown = null;
  try {
    await trainStep(setup, x, y, { implicitTarget: "later" as "ahead" });
  } catch (e) {
    error = e;
  }
  assert(error instanceof InvalidArgumentError, String(error));
  assertEquals(error.argument, "options.implicitTarget");
  assert(
    error.message.includes('got "later"') && error.message.includes("auto, inside, ahead"),
    error.message,
  );
  tf.dispose([x, y]);
  dispose();
});
