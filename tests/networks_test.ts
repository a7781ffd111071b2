/**
 * Networks (issue 3, part 2) on tfjs's cpu backend: PyTorch parameter counts and names, output
 * shapes, PyTorch's max-pool padding, BatchNorm against a hand computation (running statistics,
 * gradients), seeded Kaiming init, no tensor leaks, clear errors.
 */
import { assert, assertAlmostEquals, assertEquals, assertThrows } from "./assert.ts";
import { tf } from "../nets/tf.ts";
import {
  BatchNorm,
  batchNorm1d,
  batchNorm2d,
  batchNormTraining,
  ownedVariable,
} from "../nets/models/batch_norm.ts";
import { maxPool3x3Stride2, resnet } from "../nets/models/resnet.ts";
import { mlp } from "../nets/models/mlp.ts";
import { ufm } from "../nets/models/ufm.ts";
import { createBackbone } from "../nets/models/backbones.ts";
import { kaimingNormalConv, linearInit, Rng } from "../nets/models/init.ts";
import type { Backbone } from "../nets/models/model.ts";
import { InvalidArgumentError } from "../core/errors.ts";

await tf.setBackend("cpu");

const K = 10;

function countParameters(net: Backbone): number {
  return net.parameters.reduce((a, p) => a + p.variable.size, 0);
}

function find(list: Backbone["parameters"], name: string) {
  const p = list.find((q) => q.name === name);
  assert(p, `no parameter or buffer named ${name}`);
  return p;
}

function meanStd(data: ArrayLike<number>): { mean: number; std: number } {
  let s = 0, s2 = 0;
  for (let i = 0; i < data.length; i++) (s += data[i], s2 += data[i] * data[i]);
  const mean = s / data.length;
  return { mean, std: Math.sqrt(s2 / data.length - mean * mean) };
}

function randomTensor(seed: number, shape: number[]): tf.Tensor {
  const rng = new Rng(seed);
  const size = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(Float32Array.from({ length: size }, () => rng.normal()), shape);
}

// ---------------------------------------------------------------------------------------------
// Parameter counts and names

Deno.test("parameter counts equal PyTorch's (10 classes, learned classifier)", () => {
  const tensorsBefore = tf.memory().numTensors;
  const expected: Record<string, [number, number]> = {
    resnet18: [11_181_642, 11_172_032],
    resnet34: [21_289_802, 21_272_768],
    resnet50: [23_528_522, 23_475_392],
  };
  for (const [name, [withBias, noBias]] of Object.entries(expected)) {
    for (const bias of [true, false]) {
      const net = createBackbone(name, { bias });
      const total = countParameters(net) + K * net.featureDim + (bias ? K : 0);
      assertEquals(total, bias ? withBias : noBias, `${name} bias=${bias}`);
      assertEquals(net.featureDim, name === "resnet50" ? 2048 : 512);
      net.dispose();
    }
  }
  assertEquals(tf.memory().numTensors, tensorsBefore, "dispose frees every variable");
});

Deno.test("ResNet names, kinds and layouts are PyTorch's state_dict", () => {
  const net = resnet({ name: "resnet18", width: 8, bias: true });
  const names = net.parameters.map((p) => p.name);
  assertEquals(names.slice(0, 7), [
    "conv1.weight",
    "bn1.weight",
    "bn1.bias",
    "layer1.0.conv1.weight",
    "layer1.0.bn1.weight",
    "layer1.0.bn1.bias",
    "layer1.0.conv2.weight",
  ]);
  assertEquals(net.parameters.length, 60); // torchvision resnet18: 62 minus fc.weight, fc.bias
  assertEquals(net.buffers.length, 60); // 20 BatchNorms × 3
  assertEquals(find(net.parameters, "conv1.weight").variable.shape, [7, 7, 3, 8]);
  assertEquals(find(net.parameters, "layer2.0.downsample.0.weight").variable.shape, [1, 1, 8, 16]);
  assertEquals(find(net.parameters, "layer2.0.downsample.1.weight").kind, "vector");
  assertEquals(find(net.buffers, "layer2.0.downsample.1.running_var").variable.shape, [16]);
  assertEquals(find(net.buffers, "layer1.0.bn1.running_mean").variable.shape, [8]);
  const counter = find(net.buffers, "bn1.num_batches_tracked").variable;
  assertEquals([counter.shape, counter.dtype], [[], "int32"]);
  assert(!names.some((n) => n.startsWith("layer1.0.downsample")), "resnet18 layer1 has none");
  for (const p of net.parameters) {
    assertEquals(p.kind, p.variable.rank === 4 ? "conv" : "vector", p.name);
    assert(p.variable.trainable, `${p.name} trainable`);
  }
  for (const b of net.buffers) assert(!b.variable.trainable, `${b.name} not trainable`);
  net.dispose();

  const r50 = resnet({ name: "resnet50", width: 4 });
  const n50 = r50.parameters.map((p) => p.name);
  assert(!n50.some((n) => n.includes("bn")), "no BatchNorm parameters without bias");
  assertEquals(find(r50.parameters, "layer1.0.conv3.weight").variable.shape, [1, 1, 4, 16]);
  assertEquals(find(r50.parameters, "layer1.0.downsample.0.weight").variable.shape, [1, 1, 4, 16]);
  // v1.5: the stride sits on the 3×3 conv, the 1×1 convs are stride 1 (checked by shapes below).
  assertEquals(find(r50.parameters, "layer2.0.conv2.weight").variable.shape, [3, 3, 8, 8]);
  assertEquals(find(r50.parameters, "layer4.2.conv3.weight").variable.shape, [1, 1, 32, 128]);
  r50.dispose();
});

Deno.test("MLP: PyTorch parameter count and Sequential names", () => {
  const noBias = mlp({ inputShape: [32, 32, 3] }); // depth 6, width 1024
  assertEquals(countParameters(noBias), 3072 * 1024 + 5 * 1024 * 1024);
  assertEquals(noBias.featureDim, 1024);
  noBias.dispose();
  const withBias = mlp({ inputShape: [32, 32, 3], bias: true });
  assertEquals(countParameters(withBias), 3072 * 1024 + 5 * 1024 * 1024 + 6 * 1024 + 6 * 2048);
  withBias.dispose();
  const small = mlp({ inputShape: [4, 4, 3], depth: 2, width: 16, bias: true });
  assertEquals(small.parameters.map((p) => p.name), [
    "layers.0.weight",
    "layers.0.bias",
    "layers.1.weight",
    "layers.1.bias",
    "layers.3.weight",
    "layers.3.bias",
    "layers.4.weight",
    "layers.4.bias",
  ]);
  assertEquals(small.parameters.map((p) => p.kind).slice(0, 2), ["dense", "vector"]);
  assertEquals(find(small.parameters, "layers.0.weight").variable.shape, [48, 16]);
  assertEquals(small.buffers.map((p) => p.name).slice(0, 3), [
    "layers.1.running_mean",
    "layers.1.running_var",
    "layers.1.num_batches_tracked",
  ]);
  small.dispose();
});

// ---------------------------------------------------------------------------------------------
// Shapes

Deno.test("ResNet18/34/50 features have shape [N, d]; fixdim makes d = K+1", () => {
  const x = randomTensor(1, [2, 32, 32, 3]);
  const cases: [string, number, number | null, number][] = [
    ["resnet18", 4, null, 32],
    ["resnet34", 4, null, 32],
    ["resnet50", 4, null, 128],
    ["resnet18", 8, null, 64],
    ["resnet18", 4, K, K + 1],
    ["resnet34", 4, K, K + 1],
    ["resnet50", 4, K, K + 1],
  ];
  for (const [name, width, fixdim, d] of cases) {
    const net = createBackbone(name, { width, fixdim, seed: 3 });
    assertEquals(net.featureDim, d, name);
    for (const training of [true, false]) {
      const h = net.features(x, training);
      assertEquals(h.shape, [2, d], `${name} width ${width} fixdim ${fixdim}`);
      assert(h.dataSync().every(Number.isFinite), "finite");
      h.dispose();
    }
    net.dispose();
  }
  x.dispose();
});

Deno.test("fixdim changes only the last block of layer4, as the paper's code", () => {
  const plain = resnet({ name: "resnet18", width: 64 });
  const fixed = resnet({ name: "resnet18", width: 64, fixdim: K });
  // The stage's last conv emits K+1 channels and a stride-1 1×1 downsample maps 512 → K+1.
  assertEquals(find(fixed.parameters, "layer4.1.conv2.weight").variable.shape, [3, 3, 512, 11]);
  assertEquals(find(fixed.parameters, "layer4.1.conv1.weight").variable.shape, [3, 3, 512, 512]);
  assertEquals(find(fixed.parameters, "layer4.1.downsample.0.weight").variable.shape, [
    1,
    1,
    512,
    11,
  ]);
  assertEquals(find(fixed.buffers, "layer4.1.bn2.running_mean").variable.shape, [11]);
  assertEquals(find(fixed.buffers, "layer4.1.downsample.1.running_var").variable.shape, [11]);
  // PyTorch count of the paper's model: 512·512·9 → 512·11·9 in conv2, plus the 512·11 downsample.
  assertEquals(
    countParameters(fixed),
    countParameters(plain) - 512 * 512 * 9 + 512 * 11 * 9 + 512 * 11,
  );
  plain.dispose();
  fixed.dispose();
  const r50 = resnet({ name: "resnet50", width: 8, fixdim: 4 });
  assertEquals(find(r50.parameters, "layer4.2.conv2.weight").variable.shape, [3, 3, 64, 64]);
  assertEquals(find(r50.parameters, "layer4.2.conv3.weight").variable.shape, [1, 1, 64, 5]);
  assertEquals(find(r50.parameters, "layer4.2.downsample.0.weight").variable.shape, [
    1,
    1,
    256,
    5,
  ]);
  assertEquals(r50.featureDim, 5);
  r50.dispose();
});

Deno.test("stem and max-pool follow PyTorch: 32×32 → 16×16 → 8×8, padding never wins", () => {
  tf.tidy(() => {
    const net = resnet({ name: "resnet18", width: 4 });
    const stem = net.parameters[0].variable as tf.Tensor4D;
    const x = randomTensor(2, [2, 32, 32, 3]) as tf.Tensor4D;
    const s = tf.conv2d(x, stem, 2, 3); // conv1: 7×7, stride 2, padding 3
    assertEquals(s.shape, [2, 16, 16, 4]);
    assertEquals(maxPool3x3Stride2(s).shape, [2, 8, 8, 4]);
    net.dispose();

    // All-negative 4×4 input: PyTorch pads with −∞, so the pad never wins the max.
    const values = Array.from({ length: 16 }, (_, i) => -1 - i);
    const y = maxPool3x3Stride2(tf.tensor4d(values, [1, 4, 4, 1]));
    assertEquals(y.shape, [1, 2, 2, 1]);
    // Hand computation: window rows/cols {−1,0,1} and {1,2,3} clipped to the image.
    const at = (r: number, c: number) => values[r * 4 + c];
    const expected = [[0, 0], [0, 2], [2, 0], [2, 2]].map(([r0, c0]) => {
      let m = -Infinity;
      for (let r = r0 - 1; r <= r0 + 1; r++) {
        for (let c = c0 - 1; c <= c0 + 1; c++) {
          if (r >= 0 && r < 4 && c >= 0 && c < 4) m = Math.max(m, at(r, c));
        }
      }
      return m;
    });
    assertEquals(Array.from(y.dataSync()), expected); // [−1, −2, −5, −6]
    // Same as explicit −∞ padding followed by a valid pool, on a random odd-sized map.
    const z = randomTensor(3, [2, 7, 9, 3]) as tf.Tensor4D;
    const padded = tf.pad(z, [[0, 0], [1, 1], [1, 1], [0, 0]], -Infinity) as tf.Tensor4D;
    const a = maxPool3x3Stride2(z), b = tf.maxPool(padded, 3, 2, "valid");
    assertEquals(a.shape, [2, 4, 5, 3]);
    assertEquals(Array.from(a.dataSync()), Array.from(b.dataSync()));
  });
});

Deno.test("MLP and UFM feature shapes; UFM gathers rows of its N(0,1) matrix", () => {
  const net = mlp({ inputShape: [4, 4, 3], depth: 3, width: 16, seed: 1 });
  const x = randomTensor(4, [5, 4, 4, 3]);
  for (const training of [true, false]) {
    const h = net.features(x, training);
    assertEquals(h.shape, [5, 16]);
    assert(h.dataSync().every((v) => v >= 0), "ReLU output");
    h.dispose();
  }
  // A flat batch with the same number of values per sample is accepted.
  tf.tidy(() => assertEquals(net.features(tf.reshape(x, [5, 48]), true).shape, [5, 16]));
  net.dispose();
  x.dispose();

  // The default scale is N(0, 1/d): rows of norm ≈ 1 (docs/method.md section 9, UFM).
  const fresh = ufm({ numSamples: 2000, dim: 64, seed: 5 });
  const fd = fresh.parameters[0].variable.dataSync();
  let f2 = 0;
  for (const v of fd) f2 += v * v;
  assertAlmostEquals(Math.sqrt(f2 / fd.length), 1 / Math.sqrt(64), 0.00125, "UFM default init std");
  fresh.dispose();
  const u = ufm({ numSamples: 2000, dim: 64, seed: 5, std: 1 });
  assertEquals(u.featureDim, 64);
  assertEquals(u.parameters.map((p) => [p.name, p.kind]), [["features", "features"]]);
  const H = u.parameters[0].variable;
  assertEquals(H.shape, [2000, 64]);
  const data = H.dataSync();
  let s = 0, s2 = 0;
  for (const v of data) (s += v, s2 += v * v);
  const mean = s / data.length, std = Math.sqrt(s2 / data.length - mean * mean);
  assertAlmostEquals(mean, 0, 0.01, "UFM init mean");
  assertAlmostEquals(std, 1, 0.01, "UFM init std");
  tf.tidy(() => {
    const idx = tf.tensor1d([3, 0, 1999, 3], "int32");
    const h = u.features(idx, true);
    assertEquals(h.shape, [4, 64]);
    const rows = h.arraySync();
    assertEquals(rows[0], Array.from(data.slice(3 * 64, 4 * 64)));
    assertEquals(rows[2], Array.from(data.slice(1999 * 64, 2000 * 64)));
    // The gradient reaches exactly the gathered rows (row 3 twice).
    const { grads } = tf.variableGrads(() => tf.sum(u.features(idx, true)) as tf.Scalar);
    const g = grads[H.name].arraySync() as number[][];
    assertEquals([g[3][0], g[0][5], g[1999][63], g[1][0]], [2, 1, 1, 0]);
  });
  u.dispose();
});

// ---------------------------------------------------------------------------------------------
// BatchNorm against a hand computation

/** Per-channel statistics of channels-last data in float64. */
function channelStats(x: number[], C: number) {
  const n = x.length / C;
  const mean = Array.from({ length: C }, (_, c) => {
    let s = 0;
    for (let i = c; i < x.length; i += C) s += x[i];
    return s / n;
  });
  const biased = mean.map((m, c) => {
    let s = 0;
    for (let i = c; i < x.length; i += C) s += (x[i] - m) ** 2;
    return s / n;
  });
  return { n, mean, biased, unbiased: biased.map((v) => v * n / (n - 1)) };
}

function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: number,
  what: string,
) {
  assertEquals(actual.length, expected.length, `${what} length`);
  for (let i = 0; i < actual.length; i++) {
    assertAlmostEquals(actual[i], expected[i], tol, `${what}[${i}]`);
  }
}

Deno.test("BatchNorm2d: training output, running stats after 1 and 2 steps, eval output", () => {
  const C = 2, eps = 1e-5;
  // x: [N=2, H=1, W=3, C=2] (n = 6 values per channel), then a second batch.
  const x1 = [1, -2, 3, 0.5, -1, 4, 2, 2, 0, -3, 5, 1];
  const x2 = [0.3, 1, -0.7, 2, 4, -1, 1.5, 0, -2, 3, 0, 0.25];
  const bn = batchNorm2d("bn", C);
  const stats1 = channelStats(x1, C), stats2 = channelStats(x2, C);

  const y1 = tf.tidy(() => bn.apply(tf.tensor4d(x1, [2, 1, 3, 2]), true).dataSync());
  const hand1 = x1.map((v, i) => (v - stats1.mean[i % C]) / Math.sqrt(stats1.biased[i % C] + eps));
  assertClose(y1, hand1, 1e-5, "training output (biased variance)");
  let rm = stats1.mean.map((m) => 0.1 * m);
  let rv = stats1.unbiased.map((v) => 0.9 * 1 + 0.1 * v);
  assertClose(bn.runningMean.dataSync(), rm, 1e-6, "running_mean after 1 step");
  assertClose(bn.runningVar.dataSync(), rv, 1e-6, "running_var after 1 step (unbiased)");
  assertEquals(bn.numBatchesTracked.dataSync()[0], 1);

  tf.tidy(() => bn.apply(tf.tensor4d(x2, [2, 1, 3, 2]), true));
  rm = rm.map((m, c) => 0.9 * m + 0.1 * stats2.mean[c]);
  rv = rv.map((v, c) => 0.9 * v + 0.1 * stats2.unbiased[c]);
  assertClose(bn.runningMean.dataSync(), rm, 1e-6, "running_mean after 2 steps");
  assertClose(bn.runningVar.dataSync(), rv, 1e-6, "running_var after 2 steps");
  assertEquals(bn.numBatchesTracked.dataSync()[0], 2);

  const runningMeanBefore = bn.runningMean.dataSync().slice();
  const ye = tf.tidy(() => bn.apply(tf.tensor4d(x1, [2, 1, 3, 2]), false).dataSync());
  assertClose(ye, x1.map((v, i) => (v - rm[i % C]) / Math.sqrt(rv[i % C] + eps)), 1e-5, "eval");
  assertEquals(bn.numBatchesTracked.dataSync()[0], 2, "evaluation does not count");
  assertEquals(bn.runningMean.dataSync(), runningMeanBefore, "evaluation leaves running_mean");
  bn.dispose();
});

Deno.test("updateStatistics false: batch statistics, running statistics untouched", () => {
  for (const name of ["resnet18", "mlp"]) {
    const net = name === "mlp"
      ? mlp({ inputShape: [4, 4, 3], depth: 2, width: 8, bias: true })
      : resnet({ name: "resnet18", width: 4, bias: true });
    const x = randomTensor(6, name === "mlp" ? [3, 4, 4, 3] : [3, 32, 32, 3]);
    const snapshot = () => net.buffers.map((b) => Array.from(b.variable.dataSync()));
    const before = snapshot();
    const a = net.features(x, true, false);
    assertEquals(snapshot(), before, `${name}: no update with updateStatistics = false`);
    const b = net.features(x, true); // default: training updates
    assertEquals(
      Array.from(a.dataSync()),
      Array.from(b.dataSync()),
      "same batch-statistics output",
    );
    assertEquals(
      net.buffers.find((p) => p.name.endsWith("num_batches_tracked"))!.variable.dataSync()[0],
      1,
    );
    const c = net.features(x, false, true); // evaluation never updates
    assertEquals(
      net.buffers.find((p) => p.name.endsWith("num_batches_tracked"))!.variable.dataSync()[0],
      1,
    );
    tf.dispose([a, b, c, x]);
    net.dispose();
  }
});

Deno.test("BatchNorm1d affine: weight and bias apply; PyTorch's n > 1 rule", () => {
  const x = [1, 2, 3, -1, 0, 5, 2, 2, 4, 0.5, -3, 1]; // [N=4, C=3]
  const bn = batchNorm1d("layers.1", 3, { affine: true });
  assertEquals(bn.parameters.map((p) => p.name), ["layers.1.weight", "layers.1.bias"]);
  assertEquals(Array.from(bn.weight!.dataSync()), [1, 1, 1]);
  assertEquals(Array.from(bn.bias!.dataSync()), [0, 0, 0]);
  const w = [2, -1, 0.5], b = [0.1, 0.2, -0.3];
  bn.weight!.assign(tf.tensor1d(w));
  bn.bias!.assign(tf.tensor1d(b));
  const st = channelStats(x, 3);
  const y = tf.tidy(() => bn.apply(tf.tensor2d(x, [4, 3]), true).dataSync());
  const hand = x.map((v, i) =>
    w[i % 3] * (v - st.mean[i % 3]) / Math.sqrt(st.biased[i % 3] + 1e-5) + b[i % 3]
  );
  assertClose(y, hand, 1e-5, "affine training output");
  assertClose(bn.runningVar.dataSync(), st.unbiased.map((v) => 0.9 + 0.1 * v), 1e-6, "running_var");
  assertThrows(
    () => bn.apply(tf.ones([1, 3]), true),
    InvalidArgumentError,
    "more than 1 value per channel",
  );
  assertThrows(() => bn.apply(tf.ones([4, 2]), true), InvalidArgumentError, "[N, 3]");
  bn.dispose();
});

Deno.test("BatchNorm gradients: exact through the batch statistics, none to running stats", () => {
  const C = 2;
  const xs = [0.3, -1, 2, 0.5, -0.7, 1.5, 1, 2, 0, -2, 3, 1];
  const r = [1, 0.5, -2, 1, 0.25, -1, 3, 0, -0.5, 2, 1, -1]; // upstream gradient
  const st = channelStats(xs, C);
  const tensorsBefore = tf.memory().numTensors;
  for (const affine of [false, true]) {
    const bn = new BatchNorm("bn", C, 4, { affine });
    const x = ownedVariable(tf.tensor4d(xs, [1, 2, 3, 2]), true);
    const up = tf.tensor4d(r, [1, 2, 3, 2]);
    const { value, grads } = tf.variableGrads(() =>
      tf.sum(tf.mul(bn.apply(x, true), up)) as tf.Scalar
    );
    const expectedKeys = affine ? [x.name, bn.weight!.name, bn.bias!.name] : [x.name];
    assertEquals(Object.keys(grads).sort(), expectedKeys.sort(), `affine=${affine} grads`);
    for (const v of [bn.runningMean, bn.runningVar, bn.numBatchesTracked]) {
      assert(!(v.name in grads) && !v.trainable, "no gradient reaches the running statistics");
    }
    // dL/dx = (1/σ)·(g − mean(g) − x̂·mean(g·x̂)) per channel (weight 1), σ = sqrt(var + eps).
    const hand = xs.map((_, i) => {
      const c = i % C, sd = Math.sqrt(st.biased[c] + 1e-5);
      let mg = 0, mgx = 0;
      for (let j = c; j < xs.length; j += C) {
        mg += r[j] / st.n;
        mgx += r[j] * (xs[j] - st.mean[c]) / sd / st.n;
      }
      return (r[i] - mg - (xs[i] - st.mean[c]) / sd * mgx) / sd;
    });
    assertClose(grads[x.name].dataSync(), hand, 2e-5, "dL/dx");
    if (affine) {
      const xhat = xs.map((v, i) => (v - st.mean[i % C]) / Math.sqrt(st.biased[i % C] + 1e-5));
      const dw = [0, 1].map((c) => xhat.reduce((a, v, i) => a + (i % C === c ? v * r[i] : 0), 0));
      const db = [0, 1].map((c) => r.reduce((a, v, i) => a + (i % C === c ? v : 0), 0));
      assertClose(grads[bn.weight!.name].dataSync(), dw, 1e-5, "dL/dweight");
      assertClose(grads[bn.bias!.name].dataSync(), db, 1e-5, "dL/dbias");
    }
    // Evaluation mode: gradients still go only to trainable variables.
    const evalGrads = tf.variableGrads(() => tf.sum(tf.mul(bn.apply(x, false), up)) as tf.Scalar);
    assertEquals(Object.keys(evalGrads.grads).sort(), expectedKeys.sort(), "eval grads");
    tf.dispose([value, up, x, evalGrads.value]);
    tf.dispose(Object.values(grads));
    tf.dispose(Object.values(evalGrads.grads));
    bn.dispose();
  }
  assertEquals(tf.memory().numTensors, tensorsBefore);
});

/** Seeded float32 data: scale·N(0, 1) + offset + 0.7·(c mod 7) for channel c (channels last). */
function seededData(seed: number, shape: number[], scale = 1, offset = 0): Float32Array {
  const rng = new Rng(seed), C = shape[shape.length - 1];
  const size = shape.reduce((a, b) => a * b, 1);
  return Float32Array.from(
    { length: size },
    (_, i) => scale * rng.normal() + offset + ((i % C) % 7) * 0.7,
  );
}

/** The previous BatchNorm training forward (plain autodiff through tf.moments), a reference. */
function autodiffBatchNorm(x: tf.Tensor, weight: tf.Tensor | null, bias: tf.Tensor | null) {
  const axes = Array.from({ length: x.rank - 1 }, (_, i) => i);
  const { mean, variance } = tf.moments(x, axes);
  let scale = tf.rsqrt(tf.add(variance, 1e-5));
  if (weight) scale = tf.mul(scale, weight);
  let shift = tf.neg(tf.mul(mean, scale));
  if (bias) shift = tf.add(shift, bias);
  return tf.add(tf.mul(x, scale), shift);
}

const BN_CASES: { shape: number[]; affine: boolean }[] = [
  { shape: [6, 3], affine: false }, // BatchNorm1d, N×C
  { shape: [6, 3], affine: true },
  { shape: [2, 3, 2, 3], affine: false }, // BatchNorm2d, N×H×W×C
  { shape: [2, 3, 2, 3], affine: true },
];

Deno.test("BatchNorm custom gradient: central finite differences in float32 (2-D, 4-D, affine)", () => {
  const tensorsBefore = tf.memory().numTensors;
  for (const [k, { shape, affine }] of BN_CASES.entries()) {
    const C = shape[shape.length - 1];
    const what = `[${shape}] affine=${affine}`;
    const xs = seededData(10 + k, shape, 1.5, 0.3);
    const r = seededData(20 + k, shape); // upstream gradient dL/dy
    const ws = Float32Array.from({ length: C }, (_, c) => 0.5 + 0.6 * c);
    const bs = Float32Array.from({ length: C }, (_, c) => 0.2 - 0.3 * c);
    // L(x, γ, β) = Σ y·r, summed in float64 from the float32 output.
    const loss = (xv: Float32Array, wv: Float32Array, bv: Float32Array): number => {
      const y = tf.tidy(() =>
        batchNormTraining(tf.tensor(xv, shape), {
          weight: affine ? tf.tensor1d(wv) : null,
          bias: affine ? tf.tensor1d(bv) : null,
        }).dataSync()
      );
      let s = 0;
      for (let i = 0; i < y.length; i++) s += y[i] * r[i];
      return s;
    };
    // Central differences, step h (the float32 step actually taken is used as the divisor).
    const h = 1e-2;
    const central = (v: Float32Array, i: number, f: (p: Float32Array) => number): number => {
      const p = v.slice(), m = v.slice();
      p[i] = Math.fround(v[i] + h);
      m[i] = Math.fround(v[i] - h);
      return (f(p) - f(m)) / (p[i] - m[i]);
    };
    const fdX = Array.from(xs, (_, i) => central(xs, i, (p) => loss(p, ws, bs)));
    const x = tf.tensor(xs, shape), up = tf.tensor(r, shape);
    const w = tf.tensor1d(ws), b = tf.tensor1d(bs);
    const f = (...a: tf.Tensor[]) =>
      tf.sum(tf.mul(batchNormTraining(a[0], { weight: a[1] ?? null, bias: a[2] ?? null }), up));
    const grads = tf.grads(f)(affine ? [x, w, b] : [x]);
    // Tolerance: the forward's float32 rounding (a few ulps of |y| ≈ 1, ≲ 1e-6 per value)
    // enters L with weights |r| ≈ 1 over ≤ 36 values (~6e-6 typical, ≲ 4e-5 if all align) and
    // is divided by 2h = 0.02: ~3e-4 typical; the truncation h²·|∂³L|/6 is ~2e-5. So 1e-3
    // absolute on gradients of size 1–4 (largest error seen: 1.7e-4), far below what a wrong
    // formula gives (dropping mean(g) or x̂·mean(g·x̂) moves entries by ~0.1–1).
    const tol = 1e-3;
    assertClose(grads[0].dataSync(), fdX, tol, `${what} dL/dx vs finite differences`);
    if (affine) {
      const fdW = Array.from(ws, (_, c) => central(ws, c, (p) => loss(xs, p, bs)));
      const fdB = Array.from(bs, (_, c) => central(bs, c, (p) => loss(xs, ws, p)));
      assertClose(grads[1].dataSync(), fdW, tol, `${what} dL/dweight vs finite differences`);
      assertClose(grads[2].dataSync(), fdB, tol, `${what} dL/dbias vs finite differences`);
    }
    tf.dispose([x, up, w, b, ...grads]);
  }
  assertEquals(tf.memory().numTensors, tensorsBefore);
});

Deno.test("BatchNorm custom gradient equals the previous autodiff formulation (float32)", () => {
  const tensorsBefore = tf.memory().numTensors;
  const cases = [...BN_CASES, { shape: [8, 5, 5, 16], affine: true }, {
    shape: [32, 64],
    affine: false,
  }];
  for (const [k, { shape, affine }] of cases.entries()) {
    const C = shape[shape.length - 1];
    const what = `[${shape}] affine=${affine}`;
    const bn = new BatchNorm("bn", C, shape.length as 2 | 4, { affine });
    const x = ownedVariable(tf.tensor(seededData(30 + k, shape, 2, -1), shape), true);
    const up = tf.tensor(seededData(40 + k, shape), shape);
    if (affine) {
      tf.tidy(() => {
        bn.weight!.assign(tf.tensor1d(seededData(50 + k, [C], 0.5, 1)));
        bn.bias!.assign(tf.tensor1d(seededData(60 + k, [C], 0.5)));
      });
    }
    // The layer (custom gradient) through tf.variableGrads, as a training step takes it.
    const custom = tf.variableGrads(() =>
      tf.sum(tf.mul(bn.apply(x, true, false), up)) as tf.Scalar
    );
    // The reference: autodiff through tf.moments and the broadcasting ops.
    const inputs = affine ? [x, bn.weight!, bn.bias!] : [x];
    const reference = tf.grads((...a: tf.Tensor[]) =>
      tf.sum(tf.mul(autodiffBatchNorm(a[0], a[1] ?? null, a[2] ?? null), up))
    )(inputs);
    const yCustom = tf.tidy(() => bn.apply(x, true, false).dataSync());
    const yRef = tf.tidy(() => autodiffBatchNorm(x, bn.weight, bn.bias).dataSync());
    // Same math in another order, so float32 rounding only. Output and dL/dx: a few ulps of
    // the O(1) values, 1e-5 relative to the largest entry. dL/dweight and dL/dbias are
    // per-channel sums of n ≤ 200 terms (sequential float32 summation: error up to
    // ~n·2⁻²⁴·Σ|terms|), and the reference's dL/dweight = Σ dy·x·r − μ·r·Σ dy cancels where
    // |μ| > σ: 2e-4 relative to the largest entry; the custom one is also held to 2e-5 of the
    // float64 value below (observed: ≤ 4e-6 relative; the reference is no closer).
    const close = (a: ArrayLike<number>, b: ArrayLike<number>, rel: number, label: string) => {
      const scale = Math.max(1, ...Array.from(b, Math.abs));
      assertClose(a, b, rel * scale, `${what} ${label}`);
    };
    close(yCustom, yRef, 1e-5, "output");
    close(custom.grads[x.name].dataSync(), reference[0].dataSync(), 1e-5, "dL/dx");
    if (affine) {
      const dw = custom.grads[bn.weight!.name].dataSync();
      close(dw, reference[1].dataSync(), 2e-4, "dL/dweight");
      close(custom.grads[bn.bias!.name].dataSync(), reference[2].dataSync(), 2e-4, "dL/dbias");
      // float64: dL/dweight = Σ dy·x̂ per channel, from the same float32 data.
      const xv = x.dataSync(), r = up.dataSync(), st = channelStats(Array.from(xv), C);
      const exact = Array.from({ length: C }, (_, c) => {
        let s = 0;
        for (let i = c; i < xv.length; i += C) {
          s += r[i] * (xv[i] - st.mean[c]) / Math.sqrt(st.biased[c] + 1e-5);
        }
        return s;
      });
      close(dw, exact, 2e-5, "dL/dweight vs float64");
    }
    assertEquals(bn.numBatchesTracked.dataSync()[0], 0, "updateStatistics false");
    tf.dispose([x, up, custom.value, ...Object.values(custom.grads), ...reference]);
    bn.dispose();
  }
  assertEquals(tf.memory().numTensors, tensorsBefore);
});

Deno.test("BatchNorm training mode: no tensor leaks over repeated steps; clear option errors", () => {
  const tensorsBefore = tf.memory().numTensors;
  for (const { shape, affine } of BN_CASES) {
    const C = shape[shape.length - 1];
    const bn = new BatchNorm("bn", C, shape.length as 2 | 4, { affine });
    const x = ownedVariable(tf.tensor(seededData(70, shape), shape), true);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) {
      // A training step: gradients (the op's saved tensors are freed after the backward),
      // an update of the trainable variables, the running statistics updated in the forward.
      tf.tidy(() => {
        const { value, grads } = tf.variableGrads(() =>
          tf.mean(tf.square(bn.apply(x, true))) as tf.Scalar
        );
        for (const p of bn.parameters) {
          p.variable.assign(tf.sub(p.variable, tf.mul(grads[p.variable.name], 0.1)));
        }
        return value;
      }).dispose();
      assertEquals(tf.memory().numTensors, before, `[${shape}] affine=${affine} step ${i}`);
      // A forward outside any gradient (nothing saved) and an evaluation forward.
      tf.tidy(() => bn.apply(x, true)).dispose();
      tf.tidy(() => bn.apply(x, false)).dispose();
      assertEquals(tf.memory().numTensors, before, `[${shape}] affine=${affine} forward ${i}`);
    }
    assertEquals(bn.numBatchesTracked.dataSync()[0], 10);
    x.dispose();
    bn.dispose();
  }
  assertEquals(tf.memory().numTensors, tensorsBefore);
  const x = tf.ones([4, 3]), w = tf.ones([3]);
  assertThrows(
    () => batchNormTraining(x, { weight: w }),
    InvalidArgumentError,
    "weight and bias go together",
  );
  tf.dispose([x, w]);
});

// ---------------------------------------------------------------------------------------------
// Initialisation

Deno.test("Kaiming-normal fan_out init: std sqrt(2/fan_out), seeded", () => {
  const kernel = kaimingNormalConv(new Rng(7), 3, 3, 256, 512);
  const data = kernel.dataSync();
  let s = 0, s2 = 0;
  for (const v of data) (s += v, s2 += v * v);
  const mean = s / data.length, std = Math.sqrt(s2 / data.length - mean * mean);
  const target = Math.sqrt(2 / (512 * 9));
  assertAlmostEquals(std / target, 1, 0.02, "empirical std / sqrt(2/fan_out)");
  assertAlmostEquals(mean / target, 0, 0.01, "mean");
  kernel.dispose();

  // Inside a network: the stem and a 3×3 conv of a width-16 ResNet18.
  const a = resnet({ name: "resnet18", width: 16, seed: 1 });
  const w = find(a.parameters, "layer3.0.conv2.weight").variable.dataSync();
  const std3 = meanStd(w).std;
  assertAlmostEquals(std3 / Math.sqrt(2 / (64 * 9)), 1, 0.03, "layer3.0.conv2 std");
  const b = resnet({ name: "resnet18", width: 16, seed: 1 });
  const c = resnet({ name: "resnet18", width: 16, seed: 2 });
  for (let i = 0; i < a.parameters.length; i++) {
    const va = a.parameters[i].variable.dataSync();
    assertEquals(va, b.parameters[i].variable.dataSync(), "same seed, same init");
    assert(
      va.some((v, j) => v !== c.parameters[i].variable.dataSync()[j]),
      `another seed changes ${a.parameters[i].name}`,
    );
  }
  for (const net of [a, b, c]) net.dispose();
});

Deno.test("MLP init is PyTorch's default Linear init U(±1/sqrt(fan_in)), seeded", () => {
  const { weight, bias } = linearInit(new Rng(3), 400, 300, true);
  const bound = 1 / Math.sqrt(400);
  const w = weight.dataSync();
  assert(w.every((v) => Math.abs(v) <= bound), "within the bound");
  const std = meanStd(w).std;
  assertAlmostEquals(std / (bound / Math.sqrt(3)), 1, 0.02, "uniform std");
  assert(bias!.dataSync().every((v) => Math.abs(v) <= bound), "bias within the bound");
  tf.dispose([weight, bias!]);
  const n1 = mlp({ inputShape: [8], depth: 2, width: 4, bias: true, seed: 9 });
  const n2 = mlp({ inputShape: [8], depth: 2, width: 4, bias: true, seed: 9 });
  assertEquals(n1.parameters[0].variable.dataSync(), n2.parameters[0].variable.dataSync());
  n1.dispose();
  n2.dispose();
});

// ---------------------------------------------------------------------------------------------
// Memory

Deno.test("no tensor leaks: training-mode forwards and training steps", () => {
  const tensorsBefore = tf.memory().numTensors;
  const x = randomTensor(4, [2, 32, 32, 3]);
  for (const bias of [false, true]) {
    const net = resnet({ name: "resnet18", width: 4, bias });
    const before = tf.memory().numTensors;
    for (let i = 0; i < 10; i++) {
      tf.tidy(() => {
        net.features(x, true);
      });
    }
    assertEquals(tf.memory().numTensors, before, "10 training-mode forwards");
    assertEquals(find(net.buffers, "layer4.1.bn2.num_batches_tracked").variable.dataSync()[0], 10);
    const counts: number[] = [];
    for (let i = 0; i < 3; i++) {
      tf.tidy(() => {
        const { value, grads } = tf.variableGrads(() =>
          tf.mean(tf.square(net.features(x, true))) as tf.Scalar
        );
        assertEquals(Object.keys(grads).length, net.parameters.length, "a gradient per parameter");
        for (const p of net.parameters) {
          p.variable.assign(tf.sub(p.variable, tf.mul(grads[p.variable.name], 0.01)));
        }
        return value;
      }).dispose();
      counts.push(tf.memory().numTensors);
    }
    assertEquals(counts, [before, before, before], `training steps, bias=${bias}`);
    assertEquals(find(net.buffers, "bn1.num_batches_tracked").variable.dataSync()[0], 13);
    net.dispose();
  }

  const m = mlp({ inputShape: [32, 32, 3], depth: 2, width: 8 });
  const mBefore = tf.memory().numTensors;
  for (let i = 0; i < 10; i++) {
    tf.tidy(() => {
      m.features(x, true);
    });
  }
  assertEquals(tf.memory().numTensors, mBefore, "MLP forwards");
  m.dispose();
  x.dispose();
  assertEquals(tf.memory().numTensors, tensorsBefore, "dispose frees every variable");
});

// ---------------------------------------------------------------------------------------------
// Errors

function expectError(fn: () => unknown, argument: string, ...includes: string[]): void {
  const e = assertThrows(fn, InvalidArgumentError, ...includes);
  assertEquals(e.argument, argument);
}

Deno.test("bad names and options give clear errors", () => {
  const tensorsBefore = tf.memory().numTensors;
  expectError(() => createBackbone("vgg16"), "name", '"vgg16"', "resnet18", "mlp", "ufm");
  expectError(() => createBackbone("resnet18", { width: 0 }), "options.width", "≥ 1", "got 0");
  expectError(() => createBackbone("resnet18", { width: 2.5 }), "options.width", "2.5");
  expectError(() => createBackbone("resnet18", { fixdim: 1 }), "options.fixdim", "≥ 2");
  expectError(() => createBackbone("resnet34", { inChannels: 0 }), "options.inChannels", "got 0");
  expectError(() => createBackbone("resnet50", { seed: 0.5 }), "options.seed", "0.5");
  expectError(
    () => createBackbone("resnet18", { depth: 3 }),
    "options.depth",
    "not an option of resnet18",
    "width",
  );
  expectError(() => createBackbone("mlp", {}), "options.inputShape", "mlp needs");
  expectError(
    () => createBackbone("mlp", { inputShape: [8], depth: 0 }),
    "options.depth",
    "got 0",
  );
  expectError(() => createBackbone("mlp", { inputShape: [8], width: -1 }), "options.width", "-1");
  expectError(() => createBackbone("mlp", { inputShape: [0, 3] }), "options.inputShape", "[0,3]");
  expectError(() => createBackbone("ufm", {}), "options.numSamples", "ufm needs");
  expectError(() => createBackbone("ufm", { numSamples: 10, dim: 0 }), "options.dim", "got 0");
  expectError(() => createBackbone("ufm", { numSamples: 10, width: 3 }), "options.width", "ufm");
  expectError(
    () => resnet({ name: "resnet101" as "resnet18" }),
    "options.name",
    "resnet101",
    "resnet50",
  );
  assertEquals(tf.memory().numTensors, tensorsBefore, "nothing allocated by an options error");

  const net = createBackbone("resnet18", { width: 4 });
  tf.tidy(() => {
    expectError(() => net.features(tf.zeros([2, 32, 32, 1]), true), "x", "[N, H, W, 3]");
    expectError(() => net.features(tf.zeros([32, 32, 3]), true), "x", "[32, 32, 3]");
  });
  net.dispose();
  const m = createBackbone("mlp", { inputShape: [4, 4, 3], width: 4, depth: 1 });
  tf.tidy(() => expectError(() => m.features(tf.zeros([2, 5]), true), "x", "48 values"));
  m.dispose();
  const u = createBackbone("ufm", { numSamples: 10, dim: 4 });
  tf.tidy(() => expectError(() => u.features(tf.tensor1d([1, 2]), true), "indices", "int32"));
  u.dispose();
});
