/**
 * oneDNN's convolutions (nets/backend/onednn_conv.ts) against a direct float64 convolution written
 * here from the definition (tfjs's NHWC/HWIO semantics): the forward pass, the input gradient and
 * the filter gradient, element by element within the float32 bound for sums of K products,
 * |oneDNN − exact| ≤ 2·K·u·Σ|aᵢ||bᵢ| (u = 2⁻²⁴, Σ|aᵢ||bᵢ| in float64 beside the exact sum), over
 * kernel sizes 1–7, strides 1–3, same/valid/asymmetric explicit padding, dilations, batch 1,
 * odd channel counts, non-square maps and the rows a strided `valid` convolution never reads (their
 * input gradient is exactly 0). Ignored without oneDNN 2.x (Debian's libdnnl2) or --allow-ffi.
 */
import { assert, assertEquals } from "./assert.ts";
import { tf } from "../nets/tf.ts";
import { loadDnnl } from "../nets/backend/onednn.ts";
import {
  convBackwardData,
  convBackwardWeights,
  convForward,
  type ConvGeometry,
  convImplementations,
  PLAN_CACHE_SIZE,
  releaseConvPlans,
} from "../nets/backend/onednn_conv.ts";
import { Rng } from "../core/random.ts";

const { dnnl } = loadDnnl();
const ignore = dnnl === null;
const U = 2 ** -24;

/** Exact (float64) y, dx, dw and their Σ|a||b| from the definition of tfjs's convolution. */
function reference(
  g: ConvGeometry,
  x: Float32Array,
  w: Float32Array,
  dy: Float32Array,
) {
  const { batchSize: N, inHeight: H, inWidth: W, inChannels: C, outHeight: Ho, outWidth: Wo } = g;
  const { outChannels: Co, filterHeight: kh, filterWidth: kw } = g;
  const y = new Float64Array(N * Ho * Wo * Co), yAbs = new Float64Array(y.length);
  const dx = new Float64Array(x.length), dxAbs = new Float64Array(x.length);
  const dw = new Float64Array(w.length), dwAbs = new Float64Array(w.length);
  for (let n = 0; n < N; n++) {
    for (let oy = 0; oy < Ho; oy++) {
      for (let ox = 0; ox < Wo; ox++) {
        for (let ky = 0; ky < kh; ky++) {
          const iy = oy * g.strideHeight - g.padInfo.top + ky * g.dilationHeight;
          if (iy < 0 || iy >= H) continue;
          for (let kx = 0; kx < kw; kx++) {
            const ix = ox * g.strideWidth - g.padInfo.left + kx * g.dilationWidth;
            if (ix < 0 || ix >= W) continue;
            for (let ci = 0; ci < C; ci++) {
              const xi = ((n * H + iy) * W + ix) * C + ci;
              for (let co = 0; co < Co; co++) {
                const yi = ((n * Ho + oy) * Wo + ox) * Co + co;
                const wi = ((ky * kw + kx) * C + ci) * Co + co;
                y[yi] += x[xi] * w[wi];
                yAbs[yi] += Math.abs(x[xi] * w[wi]);
                dx[xi] += dy[yi] * w[wi];
                dxAbs[xi] += Math.abs(dy[yi] * w[wi]);
                dw[wi] += x[xi] * dy[yi];
                dwAbs[wi] += Math.abs(x[xi] * dy[yi]);
              }
            }
          }
        }
      }
    }
  }
  return { y, yAbs, dx, dxAbs, dw, dwAbs };
}

function assertWithin(
  got: Float32Array,
  exact: Float64Array,
  abs: Float64Array,
  K: number,
  what: string,
): void {
  assertEquals(got.length, exact.length, what);
  let worst = 0;
  for (let i = 0; i < got.length; i++) {
    const err = Math.abs(got[i] - exact[i]);
    if (abs[i] === 0) {
      assert(got[i] === 0, `${what}: element ${i} should be exactly 0, got ${got[i]}`);
    } else worst = Math.max(worst, err / (2 * K * U * abs[i]));
  }
  assert(worst <= 1, `${what}: the worst element is ${worst.toFixed(3)}× the float32 bound`);
}

type Case = {
  x: [number, number, number, number];
  f: [number, number, number, number];
  strides: number | [number, number];
  pad: "same" | "valid" | number | [[0, 0], [number, number], [number, number], [0, 0]];
  dilations?: number | [number, number];
};

const CASES: Case[] = [
  { x: [2, 9, 9, 3], f: [3, 3, 3, 8], strides: 1, pad: "same" },
  { x: [1, 8, 8, 5], f: [3, 3, 5, 7], strides: 2, pad: "same" },
  { x: [3, 8, 7, 4], f: [3, 3, 4, 6], strides: 2, pad: "valid" }, // a row and column never read
  { x: [2, 11, 10, 3], f: [7, 7, 3, 16], strides: 2, pad: 3 }, // the ResNet stem
  { x: [2, 6, 6, 16], f: [1, 1, 16, 32], strides: 2, pad: "valid" }, // the downsample shortcut
  { x: [2, 5, 5, 17], f: [1, 1, 17, 9], strides: 1, pad: "valid" }, // pointwise
  { x: [2, 9, 8, 3], f: [2, 2, 3, 4], strides: 1, pad: "same" }, // even kernel: asymmetric same
  { x: [2, 10, 9, 2], f: [3, 5, 2, 3], strides: [3, 2], pad: [[0, 0], [2, 0], [1, 3], [0, 0]] },
  { x: [2, 10, 10, 3], f: [3, 3, 3, 4], strides: 1, pad: "same", dilations: 2 },
  { x: [1, 12, 9, 2], f: [3, 2, 2, 5], strides: 1, pad: "valid", dilations: [3, 2] },
  { x: [1, 1, 1, 32], f: [3, 3, 32, 16], strides: 1, pad: "same" }, // ResNet18's last layer at 32×32
  { x: [4, 2, 2, 24], f: [3, 3, 24, 40], strides: 2, pad: "same" },
];

function geometry(c: Case): ConvGeometry {
  return tf.backend_util.computeConv2DInfo(
    c.x,
    c.f,
    c.strides,
    c.dilations ?? 1,
    c.pad,
    undefined,
    false,
    "channelsLast",
  );
}

function random(rng: Rng, n: number): Float32Array {
  return Float32Array.from({ length: n }, () => rng.normal());
}

Deno.test({
  name: "oneDNN convolution, input gradient and filter gradient equal float64 within the bound",
  ignore,
  fn() {
    const rng = new Rng(11);
    for (const c of CASES) {
      const g = geometry(c);
      const what = `x ${c.x} f ${c.f} s ${c.strides} pad ${JSON.stringify(c.pad)} d ${
        c.dilations ?? 1
      }`;
      const x = random(rng, c.x.reduce((a, b) => a * b));
      const w = random(rng, c.f.reduce((a, b) => a * b));
      const dy = random(rng, g.batchSize * g.outHeight * g.outWidth * g.outChannels);
      const exact = reference(g, x, w, dy);
      // Outputs start as NaN: every element must be written.
      const y = new Float32Array(dy.length).fill(NaN);
      const dx = new Float32Array(x.length).fill(NaN);
      const dw = new Float32Array(w.length).fill(NaN);
      assert(convForward(dnnl!, g, x, w, y), `${what}: forward refused`);
      assert(convBackwardData(dnnl!, g, dy, w, dx), `${what}: input gradient refused`);
      assert(convBackwardWeights(dnnl!, g, x, dy, dw), `${what}: filter gradient refused`);
      const taps = g.filterHeight * g.filterWidth;
      assertWithin(y, exact.y, exact.yAbs, taps * g.inChannels, `${what}: y`);
      assertWithin(dx, exact.dx, exact.dxAbs, taps * g.outChannels, `${what}: dx`);
      assertWithin(
        dw,
        exact.dw,
        exact.dwAbs,
        g.batchSize * g.outHeight * g.outWidth,
        `${what}: dw`,
      );
    }
    const impls = convImplementations();
    assertEquals(impls.length, CASES.length);
    assert(impls.every((r) => r.forward && r.data && r.weights), JSON.stringify(impls));
  },
});

Deno.test({
  name: "oneDNN convolutions: a geometry oneDNN refuses returns false and writes nothing",
  ignore,
  fn() {
    // tfjs's 'ceil' rounding with a numeric pad: one more output row than the padding gives.
    const g = tf.backend_util.computeConv2DInfo(
      [1, 6, 6, 2],
      [3, 3, 2, 2],
      2,
      1,
      1,
      "ceil",
      false,
      "channelsLast",
    );
    const x = new Float32Array(72).fill(1), w = new Float32Array(36).fill(1);
    const y = new Float32Array(g.outHeight * g.outWidth * 2).fill(7);
    assertEquals(g.outHeight, 4); // where the padding gives floor((6 + 2 − 3) / 2) + 1 = 3
    assertEquals(convForward(dnnl!, g, x, w, y), false);
    assert(y.every((v) => v === 7), "nothing written");
    assert(convImplementations().some((r) => r.forward?.startsWith("refused")));
    // An empty batch: refused before oneDNN is asked.
    const empty = { ...g, batchSize: 0 };
    assertEquals(convForward(dnnl!, empty, new Float32Array(0), w, new Float32Array(0)), false);
  },
});

Deno.test({
  name: "oneDNN convolutions: plans past the cache size are released and rebuilt correctly",
  ignore,
  fn() {
    releaseConvPlans();
    const rng = new Rng(3);
    const w = random(rng, 3 * 3 * 2 * 3);
    const run = (n: number) => {
      const c: Case = { x: [n, 4, 4, 2], f: [3, 3, 2, 3], strides: 1, pad: "same" };
      const g = geometry(c), x = random(rng, n * 32), dy = random(rng, n * 48);
      const y = new Float32Array(n * 48);
      assert(convForward(dnnl!, g, x, w, y));
      const exact = reference(g, x, w, dy);
      assertWithin(y, exact.y, exact.yAbs, 18, `batch ${n}`);
    };
    for (let n = 1; n <= PLAN_CACHE_SIZE + 5; n++) run(n);
    assertEquals(convImplementations().length, PLAN_CACHE_SIZE);
    run(1); // evicted first, built again
    releaseConvPlans();
    assertEquals(convImplementations().length, 0);
  },
});
