/**
 * Optimisers against hand computations on tiny cases (PyTorch semantics; AGD as docs/method.md).
 * float32 parameters: tolerances 1e-6 absolute on O(1) values.
 */
import { InvalidArgumentError } from "../core/errors.ts";
import { assertAlmostEquals, assertAtMost, assertEquals, assertThrows } from "./assert.ts";
import { tf } from "../nets/tf.ts";
import type { Parameter } from "../nets/models/model.ts";
import { agd, agdInitialise, agdScale } from "../nets/optim/agd.ts";
import { createOptimiser } from "../nets/optim/create.ts";
import { parseOptimiser } from "../nets/optim/optimiser.ts";

await tf.setBackend("cpu");

function param(
  name: string,
  values: number[],
  shape: number[],
  kind: Parameter["kind"],
): Parameter {
  return { name, variable: tf.variable(tf.tensor(values, shape)), kind };
}

function grads(p: Parameter, values: number[]): tf.NamedTensorMap {
  return { [p.variable.name]: tf.tensor(values, p.variable.shape) };
}

function close(actual: ArrayLike<number>, expected: number[], tol: number, what: string): void {
  for (let i = 0; i < expected.length; i++) {
    assertAlmostEquals(actual[i], expected[i], tol, `${what}[${i}]`);
  }
}

Deno.test("SGD: momentum and weight decay over two steps", () => {
  const p = param("w", [1, 2], [2], "vector");
  const opt = createOptimiser("SGD", [p], { lr: 0.1, momentum: 0.9, weightDecay: 0.01 });
  opt.step(grads(p, [0.5, -1]));
  close(p.variable.dataSync(), [0.949, 2.098], 1e-6, "after step 1"); // b = g + wd·p
  opt.step(grads(p, [0.1, 0.1]));
  // g = [0.10949, 0.12098], b = 0.9·[0.51, −0.98] + g
  close(p.variable.dataSync(), [0.892151, 2.174102], 1e-6, "after step 2");
  assertEquals(opt.state().step, 2);
  opt.dispose();
});

Deno.test("Adam and AdamW: one step, L2 versus decoupled weight decay", () => {
  const a = param("a", [1], [1], "vector"), w = param("b", [1], [1], "vector");
  const adam = createOptimiser("Adam", [a], { lr: 0.1, weightDecay: 0.1 });
  const adamw = createOptimiser("AdamW", [w], { lr: 0.1, weightDecay: 0.1 });
  adam.step(grads(a, [0.5]));
  adamw.step(grads(w, [0.5]));
  // Adam: g = 0.5 + 0.1·1 = 0.6, m̂ = 0.6, v̂ = 0.36 → p = 1 − 0.1·0.6/(0.6 + 1e-8)
  close(a.variable.dataSync(), [1 - 0.1 * 0.6 / (0.6 + 1e-8)], 1e-6, "Adam");
  // AdamW: p = 1·(1 − 0.1·0.1) − 0.1·0.5/(0.5 + 1e-8)
  close(w.variable.dataSync(), [0.99 - 0.1 * 0.5 / (0.5 + 1e-8)], 1e-6, "AdamW");
  adam.step(grads(a, [-0.2]));
  // Step 2 (Adam): g = −0.2 + 0.1·p₁, m = 0.9·0.06 + 0.1g, v = 0.999·0.00036 + 0.001g²
  const p1 = 1 - 0.1 * 0.6 / (0.6 + 1e-8), g2 = -0.2 + 0.1 * p1;
  const m = 0.9 * 0.06 + 0.1 * g2, v = 0.999 * 0.00036 + 0.001 * g2 * g2;
  const expected = p1 - 0.1 * (m / (1 - 0.81)) / (Math.sqrt(v / (1 - 0.999 ** 2)) + 1e-8);
  close(a.variable.dataSync(), [expected], 1e-6, "Adam step 2");
  adam.dispose();
  adamw.dispose();
});

Deno.test("AGD: one step and η by hand, a zero slice unchanged", () => {
  // conv kernel tfjs [kh=1, kw=2, in=2, out=3]; dense [in=3, out=2]
  const conv = param(
    "conv.weight",
    Array.from({ length: 12 }, (_, i) => i / 10),
    [1, 2, 2, 3],
    "conv",
  );
  const dense = param("fc.weight", [1, 0, 0, 1, 1, 1], [3, 2], "dense");
  const gc = [1, 2, 2, 0, 1, 0, /* slice (0,1) zero: */ 0, 0, 0, 0, 0, 0];
  const gd = [0.3, 0.4, 0, 0, 0, 0];
  const opt = agd([conv, dense], { gain: 10 });
  const before = {
    c: Array.from(conv.variable.dataSync()),
    d: Array.from(dense.variable.dataSync()),
  };
  const { eta } = opt.step({ ...grads(conv, gc), ...grads(dense, gd) });
  const sc = Math.sqrt(3 / 2) / Math.sqrt(2), sd = Math.sqrt(2 / 3);
  assertAlmostEquals(agdScale(conv), sc, 1e-15);
  assertAlmostEquals(agdScale(dense), sd, 1e-15);
  const n0 = Math.hypot(1, 2, 2, 0, 1, 0), nd = 0.5; // slice (0,0) and the dense gradient
  const G = (sc * (n0 + 0) + sd * nd) / 2;
  const expectedEta = Math.log(0.5 * (1 + Math.sqrt(1 + 4 * G)));
  assertAlmostEquals(eta?.dataSync()[0] ?? NaN, expectedEta, 1e-6, "η");
  const fc = 10 * expectedEta / 2 * sc / n0, fd = 10 * expectedEta / 2 * sd / nd;
  close(
    conv.variable.dataSync(),
    before.c.map((v, i) => (i < 6 ? v - fc * gc[i] : v)),
    1e-6,
    "conv",
  );
  close(dense.variable.dataSync(), before.d.map((v, i) => v - fd * gd[i]), 1e-6, "dense");
  eta?.dispose();
  opt.dispose();
});

Deno.test("AGD: initialisation makes every slice orthogonal, scaled by s", () => {
  const conv = param("c", new Array(2 * 2 * 3 * 5).fill(0), [2, 2, 3, 5], "conv"); // PyTorch 5×3×2×2
  const dense = param("d", new Array(5 * 3).fill(0), [5, 3], "dense"); // PyTorch 3×5
  agdInitialise([conv, dense], 7);
  const s = agdScale(conv);
  const k = conv.variable.arraySync() as number[][][][];
  for (const slice of k.flat()) {
    // tfjs slice is in×out = 3×5 (PyTorch's 5×3 is tall): S·Sᵀ = s²·I₃
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 3; j++) {
        const dot = slice[i].reduce((a, v, o) => a + v * slice[j][o], 0);
        assertAlmostEquals(dot, i === j ? s * s : 0, 1e-6);
      }
    }
  }
  const W = dense.variable.arraySync() as number[][]; // 5×3, PyTorch 3×5 wide: rows orthonormal → WᵀW = s²I₃
  const sd = agdScale(dense);
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) {
      const dot = W.reduce((a, row) => a + row[i] * row[j], 0);
      assertAlmostEquals(dot, i === j ? sd * sd : 0, 1e-6);
    }
  }
});

Deno.test("optimisers: bad names, AGD on a bias, bad settings", () => {
  assertEquals(parseOptimiser("adamw"), "AdamW");
  assertThrows(
    () => parseOptimiser("lbfgs"),
    InvalidArgumentError,
    "--optimiser",
    "AGD, SGD, Adam, AdamW",
  );
  const b = param("fc.bias", [0, 0], [2], "vector");
  assertThrows(() => agd([b]), InvalidArgumentError, "fc.bias", "no biases");
  assertThrows(() => createOptimiser("SGD", [b], { lr: -1 }), InvalidArgumentError, "--lr");
  assertThrows(() => createOptimiser("AGD", [], { gain: 0 }), InvalidArgumentError, "--gain");
});

Deno.test("optimisers: no tensors leak over many steps", () => {
  for (const name of ["SGD", "Adam", "AdamW", "AGD"] as const) {
    const p = param(`w.${name}`, [1, 2, 3, 4], [2, 2], "dense");
    const opt = createOptimiser(name, [p]);
    const counts: number[] = [];
    for (let i = 0; i < 20; i++) {
      const g = grads(p, [0.1, -0.2, 0.3, 0.05 * i]);
      opt.step(g).eta?.dispose();
      tf.dispose(Object.values(g));
      counts.push(tf.memory().numTensors);
    }
    assertAtMost(counts[19] - counts[4], 0, `${name} tensors`);
    opt.dispose();
    p.variable.dispose();
  }
});

Deno.test("optimisers: state() and setState() resume bit for bit", () => {
  for (const name of ["SGD", "Adam", "AdamW", "AGD"] as const) {
    const make = (values: number[]) => param(`r.${name}`, values, [2, 2], "dense");
    const a = make([1, 2, 3, 4]);
    const optA = createOptimiser(name, [a]);
    const g = (i: number) => grads(a, [0.1 * i, -0.2, 0.3, 0.05]);
    for (let i = 1; i <= 3; i++) optA.step(g(i)).eta?.dispose();
    // A second optimiser on a copy of the parameters, restored from the first's state.
    const b = make(Array.from(a.variable.dataSync()));
    const optB = createOptimiser(name, [b]);
    optB.setState(optA.state());
    for (let i = 4; i <= 5; i++) {
      optA.step(g(i)).eta?.dispose();
      optB.step({ [b.variable.name]: g(i)[a.variable.name] }).eta?.dispose();
    }
    assertEquals(Array.from(b.variable.dataSync()), Array.from(a.variable.dataSync()), name);
    assertEquals(optB.state().step, 5);
    optA.dispose();
    optB.dispose();
  }
  const p = param("s.w", [1, 2], [2], "vector");
  const sgdOpt = createOptimiser("SGD", [p]);
  assertThrows(
    () =>
      sgdOpt.setState({ step: 1, tensors: new Map([["other.momentum_buffer", tf.zeros([2])]]) }),
    InvalidArgumentError,
    "missing s.w.momentum_buffer",
    "unexpected other.momentum_buffer",
  );
});
