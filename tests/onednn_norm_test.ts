/**
 * oneDNN's batch normalisation without scale and shift (nets/backend/onednn_norm.ts) against
 * float64 from the definition: the batch mean, the biased variance, x̂ = (x − μ)/√(σ² + eps) and
 * the input gradient dx = r·(dy − mean(dy) − x̂·mean(dy·x̂)), r = 1/√(σ² + eps), per channel, for
 * [N, C] and NHWC shapes (one row, odd channel counts, ResNet18's stem width). Bounds are n·u times
 * the size of what is summed (n rows per channel, u = 2⁻²⁴), with a factor for the few chained
 * operations. Ignored without oneDNN 2.x or --allow-ffi.
 */
import { assert } from "./assert.ts";
import { loadDnnl } from "../nets/backend/onednn.ts";
import { batchNormBackward, batchNormForward } from "../nets/backend/onednn_norm.ts";
import { Rng } from "../core/random.ts";

const { dnnl } = loadDnnl();
const U = 2 ** -24;

Deno.test({
  name: "oneDNN batch normalisation: statistics, x̂ and the input gradient equal float64",
  ignore: dnnl === null,
  fn() {
    const rng = new Rng(9);
    for (const shape of [[4, 3], [2, 5], [3, 4, 5, 6], [16, 8, 8, 64], [7, 1, 1, 17]]) {
      const size = shape.reduce((a, b) => a * b), C = shape.at(-1)!, rows = size / C;
      const eps = 1e-5;
      const x = Float32Array.from({ length: size }, () => 1.5 + 2 * rng.normal());
      const dy = Float32Array.from({ length: size }, () => rng.normal());
      const y = new Float32Array(size).fill(NaN), dx = new Float32Array(size).fill(NaN);
      const mean = new Float32Array(C), variance = new Float32Array(C);
      assert(batchNormForward(dnnl!, shape, eps, x, y, mean, variance), `${shape}: forward`);
      assert(
        batchNormBackward(dnnl!, shape, eps, x, dy, mean, variance, dx),
        `${shape}: backward`,
      );
      const at = (r: number, c: number) => r * C + c;
      for (let c = 0; c < C; c++) {
        let m = 0, absX = 0;
        for (let r = 0; r < rows; r++) (m += x[at(r, c)], absX += Math.abs(x[at(r, c)]));
        m /= rows;
        let v = 0;
        for (let r = 0; r < rows; r++) v += (x[at(r, c)] - m) ** 2;
        v /= rows;
        const rs = 1 / Math.sqrt(v + eps);
        let sdy = 0, sdyx = 0, absDy = 0, absDyx = 0;
        for (let r = 0; r < rows; r++) {
          const xh = (x[at(r, c)] - m) * rs, g = dy[at(r, c)];
          (sdy += g, sdyx += g * xh, absDy += Math.abs(g), absDyx += Math.abs(g * xh));
        }
        const what = `${shape} channel ${c}`;
        assert(Math.abs(mean[c] - m) <= 2 * rows * U * (absX / rows) + 1e-30, `${what}: mean`);
        // The variance of float32 data around a float32 mean: relative to itself and to the mean².
        assert(Math.abs(variance[c] - v) <= 8 * rows * U * (v + m * m), `${what}: variance`);
        for (let r = 0; r < rows; r++) {
          const xh = (x[at(r, c)] - m) * rs;
          const scale = 8 * rows * U * (Math.abs(xh) + rs * Math.sqrt(m * m + v));
          assert(Math.abs(y[at(r, c)] - xh) <= scale, `${what}: x̂ of row ${r}`);
          const g = rs * (dy[at(r, c)] - sdy / rows - xh * sdyx / rows);
          const bound = 16 * rows * U * rs *
            (Math.abs(dy[at(r, c)]) + absDy / rows + (1 + Math.abs(xh)) * absDyx / rows) *
            (1 + rs * Math.sqrt(m * m + v));
          assert(Math.abs(dx[at(r, c)] - g) <= bound, `${what}: dx of row ${r}`);
        }
      }
    }
  },
});
