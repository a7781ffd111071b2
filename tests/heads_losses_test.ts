/**
 * Heads, the feature moving average and the losses against hand computations on tiny cases.
 */
import { InvalidArgumentError } from "../core/errors.ts";
import { assert, assertAlmostEquals, assertAtMost, assertEquals, assertThrows } from "./assert.ts";
import { tf } from "../nets/tf.ts";
import { fixedEtfHead } from "../nets/heads/fixed.ts";
import { standardHead } from "../nets/heads/standard.ts";
import { normaliseFeatures, parseMethod } from "../nets/heads/head.ts";
import {
  emaWeight,
  featureAverageStep,
  initialFeatureAverage,
} from "../nets/heads/feature_average.ts";
import { implicitHead } from "../nets/heads/implicit.ts";
import { loss, parseLoss } from "../nets/training/losses.ts";

await tf.setBackend("cpu");

function close(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: number,
  what: string,
): void {
  assertEquals(actual.length, expected.length, what);
  for (let i = 0; i < actual.length; i++) {
    assertAlmostEquals(actual[i], expected[i], tol, `${what}[${i}]`);
  }
}

Deno.test("losses: cross-entropy, DotRegression and MSE by hand", () => {
  const z = tf.tensor2d([[2, 0, 1], [0, 1, 0]]);
  const y = tf.tensor1d([0, 2], "int32");
  const lse1 = Math.log(Math.exp(2) + 1 + Math.exp(1)), lse2 = Math.log(2 + Math.exp(1));
  assertAlmostEquals(
    loss("CrossEntropyLoss", z, y).dataSync()[0],
    ((lse1 - 2) + (lse2 - 0)) / 2,
    1e-6,
  );
  assertAlmostEquals(
    loss("DotRegressionLoss", z, y).dataSync()[0],
    0.5 * ((2 - 1) ** 2 + (0 - 1) ** 2) / 2,
    1e-6,
  );
  assertAlmostEquals(loss("MSELoss", z, y).dataSync()[0], 4 / 6, 1e-6);
  assertEquals(parseLoss("ce"), "CrossEntropyLoss");
  assertThrows(
    () => parseLoss("hinge"),
    InvalidArgumentError,
    "--loss",
    "hinge",
    "CrossEntropyLoss",
  );
  tf.dispose([z, y]);
});

Deno.test("heads: feature normalisation to radius τ", () => {
  const h = normaliseFeatures(tf.tensor2d([[3, 4], [0, 0]]), 5);
  close(h.dataSync(), [3, 4, 0, 0], 1e-6, "h");
  h.dispose();
});

Deno.test("heads: standard head logits and row renormalisation after a step", () => {
  const head = standardHead({ featureDim: 4, numClasses: 3, bias: true, seed: 1 });
  const [w, b] = head.parameters;
  assertEquals([w.name, b.name], ["classifier.weight", "classifier.bias"]);
  w.variable.assign(tf.tensor2d([[1, 0, 2], [0, 3, 0], [0, 4, 0], [2, 0, 1]])); // [d, K]
  b.variable.assign(tf.tensor1d([1, 2, 3]));
  const h = tf.tensor2d([[1, 1, 1, 1]]);
  const out = head.forward(h, null, true);
  close(out.logits.dataSync(), [1 + 2 + 1, 3 + 4 + 2, 2 + 1 + 3], 1e-6, "logits");
  assertEquals(out.W.shape, [3, 4]);
  head.afterStep();
  const W = tf.transpose(w.variable).arraySync() as number[][];
  for (const row of W) assertAlmostEquals(Math.hypot(...row), 1, 1e-6);
  close(W[1], [0, 0.6, 0.8, 0], 1e-6, "row 1 rescaled");
  tf.dispose([h, out.logits, out.W, out.b]);
  head.dispose();
});

Deno.test("heads: fixed ETF head, W = M̃·[I 0] and a detached bias −W·μ_G", () => {
  const K = 3, d = 4;
  const head = fixedEtfHead({ featureDim: d, numClasses: K });
  const hv = [[1, 2, 0, 1], [0, 1, 1, 0]];
  const h = tf.tensor2d(hv);
  const out = head.forward(h, null, true);
  const s = Math.sqrt(K / (K - 1));
  const Mt = [0, 1, 2].map((i) => [0, 1, 2].map((j) => s * ((i === j ? 1 : 0) - 1 / K)));
  const W = Mt.map((row) => [...row, 0]);
  close(out.W.dataSync(), W.flat(), 1e-6, "W");
  const mu = [0.5, 1.5, 0.5, 0.5];
  const b = W.map((row) => -row.reduce((a, v, j) => a + v * mu[j], 0));
  const logits = hv.map((hr) =>
    W.map((row, k) => row.reduce((a, v, j) => a + v * hr[j], 0) + b[k])
  );
  close(out.logits.dataSync(), logits.flat(), 1e-6, "logits");
  // d/dh Σ R∘z = R·W: no gradient through the (detached) bias.
  const R = tf.tensor2d([[1, -2, 0.5], [0, 1, 3]]);
  const g = tf.grad((x: tf.Tensor) =>
    tf.sum(tf.mul(R, head.forward(x as tf.Tensor2D, null, true).logits))
  )(h);
  const Rv = R.arraySync() as number[][];
  const expected = Rv.map((r) =>
    [0, 1, 2, 3].map((j) => r.reduce((a, v, k) => a + v * W[k][j], 0))
  );
  close(g.dataSync(), expected.flat(), 1e-5, "gradient");
  assertThrows(
    () => fixedEtfHead({ featureDim: 2, numClasses: 3 }),
    InvalidArgumentError,
    "d=2 < K=3",
  );
  tf.dispose([h, out.logits, out.W, out.b, R, g]);
  head.dispose();
});

Deno.test("feature average: present, never-seen-absent and seen-absent rules, EMA by hand", () => {
  const K = 3;
  let state = initialFeatureAverage(K, 2);
  // Step 1: classes 0, 1 present; class 2 absent, never seen → μ_G.
  const h1 = [[1, 0], [3, 0], [0, 6]], y1 = [0, 0, 1];
  const mu1 = [4 / 3, 2];
  const s1 = featureAverageStep("ema", state, tf.tensor2d(h1), tf.tensor1d(y1, "int32"));
  const expected1 = [[2 - mu1[0], 0 - mu1[1]], [0 - mu1[0], 6 - mu1[1]], mu1]; // α₁ = 1
  close(s1.average.dataSync(), expected1.flat(), 1e-6, "Ȳ₁");
  close(s1.next.seen.dataSync(), [1, 1, 0], 0, "seen₁");
  state = s1.next;
  // Step 2: class 2 present, class 0 present, class 1 absent but seen → keeps its value.
  const h2 = [[2, 2], [0, 4]], y2 = [2, 0];
  const mu2 = [1, 3], a = emaWeight(2);
  assertAlmostEquals(a, 2 / 3, 1e-15);
  const C2 = [[0 - mu2[0], 4 - mu2[1]], expected1[1], [2 - mu2[0], 2 - mu2[1]]];
  const s2 = featureAverageStep("ema", state, tf.tensor2d(h2), tf.tensor1d(y2, "int32"));
  const expected2 = C2.map((c, k) => c.map((v, j) => a * v + (1 - a) * expected1[k][j]));
  close(s2.average.dataSync(), expected2.flat(), 1e-6, "Ȳ₂ (EMA)");
  // CMA from the same state: (Ȳ₁·1 + C₂)/2.
  const s2c = featureAverageStep("cma", state, tf.tensor2d(h2), tf.tensor1d(y2, "int32"));
  close(
    s2c.average.dataSync(),
    C2.map((c, k) => c.map((v, j) => (v + expected1[k][j]) / 2)).flat(),
    1e-6,
    "Ȳ₂ (CMA)",
  );
  assertEquals(s2.next.step, 2);
  assertAlmostEquals(emaWeight(1e6), 1e-4, 0); // floored
});

Deno.test("heads: implicit head evaluation uses the committed U and changes nothing", () => {
  const head = implicitHead({ featureDim: 4, numClasses: 3, geometry: { solver: "closed-form" } });
  const h = tf.tensor2d([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [1, 1, 0, 0], [0, 1, 1, 0], [
    1,
    0,
    1,
    0,
  ]]);
  const y = tf.tensor1d([0, 1, 2, 0, 1, 2], "int32");
  const train = head.forward(h, y, true);
  head.afterStep();
  const committed = head.getState();
  assert(committed.U !== null);
  const before = tf.memory().numTensors;
  const a = head.forward(h, null, false), b = head.forward(h, null, false);
  close(a.logits.dataSync(), b.logits.dataSync(), 0, "deterministic evaluation");
  // Evaluation logits use W = M̃·Uᵀ with U the committed solution: same as the training forward's.
  close(a.logits.dataSync(), train.logits.dataSync(), 1e-5, "same U");
  tf.dispose([a.logits, a.W, a.b, b.logits, b.W, b.b]);
  assertEquals(tf.memory().numTensors, before);
  assertEquals(head.getState(), committed);
  assertThrows(() => head.forward(h, null, true), InvalidArgumentError, "needs the labels");
  tf.dispose([h, y, train.logits, train.W, train.b]);
  head.dispose();
});

Deno.test("heads: method names", () => {
  assertEquals(parseMethod("implicit"), "implicit");
  assertThrows(
    () => parseMethod("adaptive"),
    InvalidArgumentError,
    "--method",
    "standard, fixed, implicit",
  );
});

Deno.test("heads: no tensors leak over many implicit-head steps", () => {
  const head = implicitHead({ featureDim: 5, numClasses: 3 });
  const h = tf.randomNormal([12, 5], 0, 1, "float32", 3) as tf.Tensor2D;
  const y = tf.tensor1d([0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2], "int32");
  const counts: number[] = [];
  for (let step = 1; step <= 30; step++) {
    tf.tidy(() => {
      const g = tf.grad((x: tf.Tensor) =>
        loss("CrossEntropyLoss", head.forward(x as tf.Tensor2D, y, true).logits, y)
      )(h);
      return g;
    }).dispose();
    head.afterStep();
    counts.push(tf.memory().numTensors);
  }
  assertEquals(counts[29], counts[4]);
  assertAtMost(head.lastStats?.gradientNorm ?? Infinity, 1e-6, "solver gradient norm");
  tf.dispose([h, y]);
  head.dispose();
});
