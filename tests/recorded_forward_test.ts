/**
 * recordForward: a forward recorded on tfjs's tape, back-propagated later (after an await and
 * after unrelated gradient calls), gives the gradients `tf.grads` gives for the same function,
 * the hand-derived gradient on a case small enough to differentiate by hand, and frees what it
 * saved. Misuse is a clear error.
 */
import { assert, assertAlmostEquals, assertEquals, assertThrows } from "./assert.ts";
import { recordForward } from "../nets/training/recorded_forward.ts";
import { tf } from "../nets/tf.ts";

await tf.setBackend("cpu");

Deno.test("recordForward: hand gradient of y = w² ⊙ x + sin(w)", async () => {
  const w = tf.variable(tf.tensor1d([0.5, -1.5, 2]));
  const x = tf.tensor1d([3, -1, 0.25]);
  const rec = recordForward(() => tf.add(tf.mul(tf.square(w), x), tf.sin(w)) as tf.Tensor1D);
  await rec.value.data(); // an await between forward and backward
  const dy = tf.tensor1d([1, 2, -3]);
  const [dw, dx] = rec.backward(dy, [w, x]);
  const wv = [0.5, -1.5, 2], xv = [3, -1, 0.25], dyv = [1, 2, -3];
  const dwv = dw.dataSync(), dxv = dx.dataSync();
  for (let i = 0; i < 3; i++) {
    assertAlmostEquals(dwv[i], dyv[i] * (2 * wv[i] * xv[i] + Math.cos(wv[i])), 1e-5);
    assertAlmostEquals(dxv[i], dyv[i] * wv[i] * wv[i], 1e-5);
  }
  rec.dispose();
  tf.dispose([w, x, dy, dw, dx]);
});

/** A small two-layer net with a BatchNorm-like normalisation, as the backbones use. */
function net(W1: tf.Variable, W2: tf.Variable, x: tf.Tensor2D): tf.Tensor2D {
  const a = tf.matMul(x, W1);
  const { mean, variance } = tf.moments(a, 0, true);
  const n = tf.div(tf.sub(a, mean), tf.sqrt(tf.add(variance, 1e-5)));
  return tf.matMul(tf.relu(n), W2) as tf.Tensor2D;
}

Deno.test("recordForward: equals tf.grads on a two-layer net, across other gradient calls", async () => {
  const W1 = tf.variable(tf.randomNormal([5, 7], 0, 1, "float32", 1));
  const W2 = tf.variable(tf.randomNormal([7, 4], 0, 1, "float32", 2));
  const x = tf.randomNormal([6, 5], 0, 1, "float32", 3) as tf.Tensor2D;
  const dy = tf.randomNormal([6, 4], 0, 1, "float32", 4) as tf.Tensor2D;
  const expected = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
    tf.sum(tf.mul(net(a as tf.Variable, b as tf.Variable, x), dy))
  )([W1, W2]);
  const before = tf.memory().numTensors;
  const rec = recordForward(() => net(W1, W2, x));
  await rec.value.data();
  // An unrelated gradient computation between forward and backward starts its own tape.
  const other = tf.grad((z: tf.Tensor) => tf.sum(tf.square(z)))(tf.ones([3]));
  assertEquals(Array.from(other.dataSync()), [2, 2, 2]);
  other.dispose();
  const got = rec.backward(dy, [W1, W2]);
  for (let i = 0; i < 2; i++) {
    const e = expected[i].dataSync(), g = got[i].dataSync();
    let worst = 0;
    for (let j = 0; j < e.length; j++) worst = Math.max(worst, Math.abs(e[j] - g[j]));
    assert(worst <= 1e-6 * (1 + Math.max(...e.map(Math.abs))), `gradient ${i}: ${worst}`);
  }
  rec.dispose();
  tf.dispose(got);
  // Only the ones() fed to tf.grad above remains (tf.grad does not free its input).
  assertEquals(tf.memory().numTensors, before + 1, "tensors freed by dispose");
  tf.dispose([W1, W2, x, dy, ...expected]);
});

Deno.test("recordForward: misuse is a clear error", () => {
  const w = tf.variable(tf.tensor1d([1, 2]));
  const unused = tf.tensor1d([3, 4]);
  const rec = recordForward(() => tf.mul(w, 2) as tf.Tensor1D);
  assertThrows(() => rec.backward(tf.ones([3]), [w]), RangeError, "shape [2]");
  const rec2 = recordForward(() => tf.mul(w, 2) as tf.Tensor1D);
  assertThrows(() => rec2.backward(tf.ones([2]), [unused]), Error, "does not depend on xs[0]");
  rec2.dispose();
  assertThrows(() => rec2.backward(tf.ones([2]), [w]), Error, "after dispose");
  const [g] = rec.backward(tf.ones([2]), [w]);
  assertEquals(Array.from(g.dataSync()), [2, 2]);
  assertThrows(() => rec.backward(tf.ones([2]), [w]), Error, "once");
  rec.dispose();
  rec.dispose(); // idempotent
  assertThrows(
    () => tf.grad((z: tf.Tensor) => recordForward(() => tf.mul(z, 2)).value)(tf.ones([1])),
    Error,
    "while gradients are being recorded",
  );
  assertThrows(
    () => recordForward(() => [tf.ones([1])] as unknown as tf.Tensor),
    TypeError,
    "must return a tensor",
  );
  const before = tf.memory().numTensors;
  assertThrows(
    () =>
      recordForward(() => {
        tf.mul(tf.square(w), 3); // saves tensors for a backward that never comes
        throw new Error("forward failed");
      }),
    Error,
    "forward failed",
  );
  assertEquals(tf.memory().numTensors, before, "a failed forward frees what it saved");
  tf.dispose([w, unused, g]);
});
