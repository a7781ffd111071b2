/**
 * oneDNN's max-pooling gradient (nets/backend/onednn_pool.ts) against the definition tfjs's cpu
 * kernel implements, written here: each output gradient goes to the first strict maximum of its
 * window in row-major order, among inputs inside the image (padding never wins). Inputs with many
 * ties (ReLU's zeros, a few distinct values) and all-negative windows beside padded borders;
 * window sizes 1–3, strides 1–3, same/valid/explicit padding, batch 1. The sums are of at most a
 * few float32 values, added in the same order: the results must be exactly equal, with a slack of
 * one rounding per added gradient for the order of overlapping windows. Ignored without oneDNN
 * 2.x or --allow-ffi.
 */
import { assert, assertEquals } from "./assert.ts";
import { tf } from "../nets/tf.ts";
import { loadDnnl } from "../nets/backend/onednn.ts";
import {
  maxPoolBackward,
  type PoolGeometry,
  releasePoolPlans,
} from "../nets/backend/onednn_pool.ts";
import { Rng } from "../core/random.ts";

const { dnnl } = loadDnnl();
const ignore = dnnl === null;

/** The cpu kernel's rule, from its definition, accumulated in float64. */
function reference(
  g: PoolGeometry,
  x: Float32Array,
  dy: Float32Array,
): { dx: Float64Array; abs: Float64Array } {
  const { batchSize: N, inHeight: H, inWidth: W, inChannels: C, outHeight: Ho, outWidth: Wo } = g;
  const dx = new Float64Array(x.length), abs = new Float64Array(x.length);
  for (let n = 0; n < N; n++) {
    for (let oy = 0; oy < Ho; oy++) {
      for (let ox = 0; ox < Wo; ox++) {
        for (let c = 0; c < C; c++) {
          let best = -Infinity, at = -1;
          for (let ky = 0; ky < g.filterHeight; ky++) {
            const iy = oy * g.strideHeight - g.padInfo.top + ky;
            if (iy < 0 || iy >= H) continue;
            for (let kx = 0; kx < g.filterWidth; kx++) {
              const ix = ox * g.strideWidth - g.padInfo.left + kx;
              if (ix < 0 || ix >= W) continue;
              const i = ((n * H + iy) * W + ix) * C + c;
              if (x[i] > best) {
                best = x[i];
                at = i;
              }
            }
          }
          if (at < 0) continue;
          const d = dy[((n * Ho + oy) * Wo + ox) * C + c];
          dx[at] += d;
          abs[at] += Math.abs(d);
        }
      }
    }
  }
  return { dx, abs };
}

type Case = {
  x: [number, number, number, number];
  k: number | [number, number];
  s: number | [number, number];
  pad: "same" | "valid" | number;
};

const CASES: Case[] = [
  { x: [2, 16, 16, 8], k: 3, s: 2, pad: 1 }, // ResNet's stem pooling
  { x: [1, 7, 9, 3], k: 3, s: 2, pad: "same" },
  { x: [2, 8, 8, 5], k: 2, s: 2, pad: "valid" }, // VGG's pooling
  { x: [2, 9, 7, 4], k: 3, s: 1, pad: "same" }, // overlapping windows
  { x: [1, 10, 11, 2], k: [3, 2], s: [3, 2], pad: "valid" },
  { x: [3, 5, 5, 6], k: 1, s: 1, pad: "valid" },
  { x: [1, 4, 4, 17], k: 3, s: 3, pad: "same" }, // windows mostly padding
];

Deno.test({
  name: "oneDNN max-pooling gradient: the first maximum of each window, as tfjs's cpu kernel",
  ignore,
  fn() {
    const rng = new Rng(5);
    for (const c of CASES) {
      const g = tf.backend_util.computePool2DInfo(c.x, c.k, c.s, 1, c.pad);
      const what = `x ${c.x} k ${c.k} s ${c.s} pad ${c.pad}`;
      const size = c.x.reduce((a, b) => a * b);
      for (const kind of ["relu", "few", "negative"] as const) {
        const x = Float32Array.from({ length: size }, () => {
          const v = rng.normal();
          if (kind === "relu") return Math.max(0, v);
          if (kind === "few") return Math.round(v);
          return -Math.abs(v) - 1;
        });
        const dy = Float32Array.from(
          { length: g.batchSize * g.outHeight * g.outWidth * g.inChannels },
          () => rng.normal(),
        );
        const dx = new Float32Array(size).fill(NaN);
        assert(maxPoolBackward(dnnl!, g, x, dy, dx), `${what}: refused`);
        const want = reference(g, x, dy);
        // At most ⌈k/s⌉² windows add into one input: that many roundings of Σ|dy|.
        const overlap = Math.ceil(g.filterHeight / g.strideHeight) *
          Math.ceil(g.filterWidth / g.strideWidth);
        let worst = 0;
        for (let i = 0; i < size; i++) {
          if (want.abs[i] === 0) {
            assertEquals(dx[i], 0, `${what} (${kind}): element ${i} gets no gradient`);
          } else {
            const bound = overlap * 2 ** -24 * want.abs[i];
            worst = Math.max(worst, Math.abs(dx[i] - want.dx[i]) / bound);
          }
        }
        assert(worst <= 1, `${what} (${kind}): off by ${worst.toFixed(2)}× the bound`);
      }
    }
    releasePoolPlans();
  },
});
