/**
 * The implicit head's gradient with respect to the raw features — through the feature
 * normalisation, the moving average (with its absent-class rules), Y's normalisation, the
 * nearest-ETF node and the logits — against central finite differences of an independent
 * float64 re-implementation of the same forward (closed-form solver), from the same state.
 *
 * Tolerance: the tfjs computation is float32 (ε ≈ 6e-8); the node amplifies relative errors by
 * up to about σ_max(A)/σ_min(A) (σ_min ≈ δ = 1e-3), yet at these sizes the measured gap is
 * ≈ 3e-6. We require 1e-4 on the whole gradient (Frobenius, relative): 30× the float32 noise,
 * and far below the ≈ 0.4 error of dropping the implicit backward ("none", tested below).
 */
import { assert, assertAtMost, assertEquals } from "./assert.ts";
import { tf } from "../nets/tf.ts";
import { implicitHead } from "../nets/heads/implicit.ts";
import { normaliseFeatures } from "../nets/heads/head.ts";
import type { EtfBackward } from "../nets/heads/closest_etf_geometry.ts";
import { loss } from "../nets/training/losses.ts";
import { nearestEtf } from "../solver/nearest_etf.ts";
import { type Matrix, matrix } from "../solver/matrix.ts";
import { Rng } from "../core/random.ts";

await tf.setBackend("cpu");

const d = 6, K = 3, N = 9, TAU = 5;

/** float64 reference state: running average (K×d rows), seen flags, step, previous U. */
type RefState = { running: Float64Array; seen: boolean[]; step: number; U: Matrix | null };

/** Cross-entropy of the implicit head for raw features (N×d) — float64, written from docs/method.md. */
function referenceLoss(
  raw: Float64Array,
  labels: number[],
  s: RefState,
  average: "ema" | "cma",
  fed?: { raw: Float64Array; labels: number[] },
): number {
  return referenceForward(raw, labels, s, average, fed).loss;
}

/** h = τ·h_raw/‖h_raw‖ row by row, and the rows' mean μ. */
function normalised(raw: Float64Array): { h: Float64Array; mu: Float64Array } {
  const rows = raw.length / d;
  const h = new Float64Array(raw.length);
  for (let i = 0; i < rows; i++) {
    let n = 0;
    for (let j = 0; j < d; j++) n += raw[i * d + j] ** 2;
    n = Math.sqrt(n);
    for (let j = 0; j < d; j++) h[i * d + j] = (TAU * raw[i * d + j]) / n;
  }
  const mu = new Float64Array(d);
  for (let i = 0; i < rows; i++) for (let j = 0; j < d; j++) mu[j] += h[i * d + j] / rows;
  return { h, mu };
}

/**
 * The float64 forward: the node's input Y, the loss and the state it commits. The average is
 * fed by `fed` (a second batch, `--implicit_forward_bs`) when given, else by the batch itself.
 */
function referenceForward(
  raw: Float64Array,
  labels: number[],
  s: RefState,
  average: "ema" | "cma",
  fed?: { raw: Float64Array; labels: number[] },
): { Y: Matrix; loss: number; next: RefState } {
  const { h, mu } = normalised(raw);
  const fedLabels = fed?.labels ?? labels;
  const { h: hf, mu: muf } = fed === undefined ? { h, mu } : normalised(fed.raw);
  const t = s.step + 1;
  const alpha = Math.max(2 / (t + 1), 1e-4);
  const Ybar = new Float64Array(K * d);
  for (let k = 0; k < K; k++) {
    const members = fedLabels.map((y, i) => (y === k ? i : -1)).filter((i) => i >= 0);
    const C = new Float64Array(d), prev = s.running.slice(k * d, (k + 1) * d);
    if (members.length > 0) {
      for (const i of members) for (let j = 0; j < d; j++) C[j] += hf[i * d + j] / members.length;
      for (let j = 0; j < d; j++) C[j] -= muf[j];
    } else if (!s.seen[k]) {
      C.set(muf);
      prev.set(muf);
    } else {
      C.set(prev);
    }
    for (let j = 0; j < d; j++) {
      Ybar[k * d + j] = average === "ema"
        ? alpha * C[j] + (1 - alpha) * prev[j]
        : (prev[j] * (t - 1) + C[j]) / t;
    }
  }
  let norm = 0;
  for (const v of Ybar) norm += v * v;
  norm = Math.sqrt(norm);
  const Y = matrix(d, K);
  for (let k = 0; k < K; k++) {
    for (let j = 0; j < d; j++) Y.data[j * K + k] = Ybar[k * d + j] / norm;
  }
  // The proximal anchor is detached: the previous solution, or on the first step the
  // feasibility solution at the unperturbed input (fixed by finiteDifference).
  const prox = s.U ?? nearestEtf(Y, { solver: "closed-form" }).U;
  const U = nearestEtf(Y, { prox, solver: "closed-form" }).U;
  // z = (h − μ)·U·M̃,  M̃ = sqrt(K/(K−1))·(I − 11ᵀ/K)
  const scale = Math.sqrt(K / (K - 1));
  let total = 0;
  for (let i = 0; i < N; i++) {
    const p = new Float64Array(K);
    for (let k = 0; k < K; k++) {
      for (let j = 0; j < d; j++) p[k] += (h[i * d + j] - mu[j]) * U.data[j * K + k];
    }
    const mean = p.reduce((a, b) => a + b) / K;
    const z = Array.from(p, (v) => scale * (v - mean));
    const m = Math.max(...z);
    const lse = m + Math.log(z.reduce((a, v) => a + Math.exp(v - m), 0));
    total += lse - z[labels[i]];
  }
  const seen = s.seen.map((v, k) => v || fedLabels.includes(k));
  return { Y, loss: total / N, next: { running: Ybar, seen, step: t, U } };
}

function finiteDifference(
  raw: Float64Array,
  labels: number[],
  state: RefState,
  average: "ema" | "cma",
): Float64Array {
  // The first step's anchor is fixed at the unperturbed input's feasibility solution (detached).
  const s = state.U !== null ? state : {
    ...state,
    U: nearestEtf(referenceForward(raw, labels, state, average).Y, { solver: "closed-form" }).U,
  };
  const g = new Float64Array(raw.length), x = raw.slice(), h = 1e-6;
  for (let i = 0; i < raw.length; i++) {
    x[i] = raw[i] + h;
    const up = referenceLoss(x, labels, s, average);
    x[i] = raw[i] - h;
    g[i] = (up - referenceLoss(x, labels, s, average)) / (2 * h);
    x[i] = raw[i];
  }
  return g;
}

function headGradient(
  head: ReturnType<typeof implicitHead>,
  raw: Float64Array,
  labels: number[],
): Float64Array {
  const g = tf.tidy(() => {
    const x = tf.tensor2d(Float32Array.from(raw), [N, d]);
    const y = tf.tensor1d(labels, "int32");
    return tf.grad((r: tf.Tensor) => {
      const out = head.forward(normaliseFeatures(r as tf.Tensor2D, TAU), y, true);
      return loss("CrossEntropyLoss", out.logits, y);
    })(x);
  });
  const values = Float64Array.from(g.dataSync());
  g.dispose();
  return values;
}

function relativeError(a: Float64Array, b: Float64Array): number {
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / den);
}

function batch(seed: number, labels: number[]): Float64Array {
  const rng = new Rng(seed);
  const raw = new Float64Array(N * d);
  // Class-dependent means so that the class means are well spread.
  for (let i = 0; i < N; i++) {
    for (let j = 0; j < d; j++) raw[i * d + j] = rng.normal() + (j === labels[i] ? 3 : 0);
  }
  return raw;
}

// Step 1: class 2 absent and never seen (its column is μ_G, with gradient). Step 2: class 1
// absent but seen (its running value is kept), class 2 present.
const LABELS_1 = [0, 1, 0, 1, 0, 1, 0, 1, 0];
const LABELS_2 = [0, 2, 0, 2, 0, 2, 0, 2, 2];

for (const backward of ["ddn", "closed-form"] as EtfBackward[]) {
  for (const average of ["ema", "cma"] as const) {
    Deno.test(`implicit head: gradient matches float64 finite differences (${backward}, ${average})`, () => {
      const head = implicitHead({
        featureDim: d,
        numClasses: K,
        average,
        geometry: { solver: "closed-form", backward },
      });
      const raw1 = batch(1, LABELS_1), raw2 = batch(2, LABELS_2);
      const initial: RefState = {
        running: new Float64Array(K * d),
        seen: [false, false, false],
        step: 0,
        U: null,
      };
      // Step 1 from the initial state; evaluated twice from the same state (no commit in between).
      const g1 = headGradient(head, raw1, LABELS_1);
      const g1again = headGradient(head, raw1, LABELS_1);
      assertAtMost(relativeError(g1again, g1), 1e-6, "same state, same gradient");
      const fd1 = finiteDifference(raw1, LABELS_1, initial, average);
      assertAtMost(relativeError(g1, fd1), 1e-4, "step 1 gradient vs finite differences");
      head.afterStep();
      // The committed state equals the float64 reference's after step 1 (computed here, not
      // read from the head), and step 2 starts from the reference's state.
      const refState = referenceForward(raw1, LABELS_1, initial, average).next;
      const st = head.getState();
      const running = Float64Array.from(st.average.running.dataSync());
      const seen = Array.from(st.average.seen.dataSync(), (v) => v > 0);
      assertEquals(seen, refState.seen);
      assertEquals(refState.seen, [true, true, false]);
      assertEquals(st.average.step, refState.step);
      // float32 state against float64: relative 1e-5 (the node's conditioning adds ≈ 10×).
      assertAtMost(relativeError(running, refState.running), 1e-5, "running average vs reference");
      assertAtMost(
        relativeError(st.U!.data, refState.U!.data),
        1e-4,
        "committed U⋆ vs reference",
      );
      const g2 = headGradient(head, raw2, LABELS_2);
      const fd2 = finiteDifference(raw2, LABELS_2, refState, average);
      assertAtMost(relativeError(g2, fd2), 1e-4, "step 2 gradient vs finite differences");
      head.dispose();
    });
  }
}

Deno.test("implicit head: the test detects a missing implicit backward", () => {
  const head = implicitHead({
    featureDim: d,
    numClasses: K,
    geometry: { solver: "closed-form", backward: "none" },
  });
  const raw = batch(1, LABELS_1);
  const initial: RefState = {
    running: new Float64Array(K * d),
    seen: [false, false, false],
    step: 0,
    U: null,
  };
  const err = relativeError(
    headGradient(head, raw, LABELS_1),
    finiteDifference(raw, LABELS_1, initial, "ema"),
  );
  assert(err > 1e-2, `without the implicit gradient the error is only ${err}`);
  head.dispose();
});

Deno.test("implicit head: a second batch feeds the average; gradients reach both batches", () => {
  // --implicit_forward_bs: the average (and so U⋆) comes from a second batch of another size;
  // the loss is the first batch's. Gradients with respect to both batches' raw features against
  // float64 central differences of the reference fed by the second batch.
  const head = implicitHead({
    featureDim: d,
    numClasses: K,
    geometry: { solver: "closed-form", backward: "ddn" },
  });
  const LABELS_F = [2, 0, 1, 2, 0, 1, 2]; // 7 rows: not N
  const raw = batch(3, LABELS_1);
  const rng = new Rng(4);
  const fedRaw = Float64Array.from(
    { length: LABELS_F.length * d },
    (_, i) => rng.normal() + (i % d === LABELS_F[Math.floor(i / d)] ? 3 : 0),
  );
  const initial: RefState = {
    running: new Float64Array(K * d),
    seen: [false, false, false],
    step: 0,
    U: null,
  };
  const fed = { raw: fedRaw, labels: LABELS_F };
  const [gMain, gFed] = tf.tidy(() => {
    const x = tf.tensor2d(Float32Array.from(raw), [N, d]);
    const xf = tf.tensor2d(Float32Array.from(fedRaw), [LABELS_F.length, d]);
    const y = tf.tensor1d(LABELS_1, "int32"), yf = tf.tensor1d(LABELS_F, "int32");
    return tf.grads((a: tf.Tensor, b: tf.Tensor) => {
      const out = head.forward(normaliseFeatures(a as tf.Tensor2D, TAU), y, true, {
        h: normaliseFeatures(b as tf.Tensor2D, TAU),
        labels: yf,
      });
      return loss("CrossEntropyLoss", out.logits, y);
    })([x, xf]);
  });
  const main = Float64Array.from(gMain.dataSync()), second = Float64Array.from(gFed.dataSync());
  tf.dispose([gMain, gFed]);
  // The first step's proximal anchor: the feasibility solution at the unperturbed input.
  const s = {
    ...initial,
    U: nearestEtf(referenceForward(raw, LABELS_1, initial, "ema", fed).Y, { solver: "closed-form" })
      .U,
  };
  const central = (f: (x: Float64Array) => number, x0: Float64Array) => {
    const g = new Float64Array(x0.length), x = x0.slice(), h = 1e-6;
    for (let i = 0; i < x0.length; i++) {
      x[i] = x0[i] + h;
      const up = f(x);
      x[i] = x0[i] - h;
      g[i] = (up - f(x)) / (2 * h);
      x[i] = x0[i];
    }
    return g;
  };
  const fdMain = central((x) => referenceLoss(x, LABELS_1, s, "ema", fed), raw);
  const fdFed = central(
    (x) => referenceLoss(raw, LABELS_1, s, "ema", { raw: x, labels: LABELS_F }),
    fedRaw,
  );
  assertAtMost(relativeError(main, fdMain), 1e-4, "gradient w.r.t. the training batch");
  assertAtMost(relativeError(second, fdFed), 1e-4, "gradient w.r.t. the second batch");
  assert(Math.hypot(...second) > 1e-3, "the second batch gets a gradient (through U⋆)");
  // The committed average is the second batch's (class 2 is absent from the first).
  head.afterStep();
  const ref = referenceForward(raw, LABELS_1, initial, "ema", fed).next;
  const st = head.getState();
  assertEquals(Array.from(st.average.seen.dataSync(), (v) => v > 0), [true, true, true]);
  assertAtMost(
    relativeError(Float64Array.from(st.average.running.dataSync()), ref.running),
    1e-5,
    "running average vs the reference fed by the second batch",
  );
  head.dispose();
});
