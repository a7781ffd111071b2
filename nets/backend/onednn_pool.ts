/**
 * The gradient of 2-D max pooling through oneDNN (`./onednn.ts`) on NHWC float32 arrays: oneDNN's
 * pooling backward routes each output gradient to the input its forward chose, recorded in the
 * forward's workspace. tfjs's `MaxPoolGrad` receives the input but not that record, so the
 * forward runs again (training mode, into a scratch output and workspace) before the backward:
 * ResNet's stem pooling at batch 256 (x [256, 16, 16, 64]) takes about 3 ms for both, where the
 * TypeScript loop takes 30–80 ms.
 *
 * Ties go to the first maximum in row-major window order and padding never wins, as in tfjs's cpu
 * kernel (`tests/onednn_pool_test.ts` checks ties, all-negative windows and padded borders). Primitives are kept per
 * geometry as for the convolutions.
 *
 * @module
 */
import {
  DNNL,
  type Dnnl,
  DnnlError,
  type Memory,
  opDesc,
  PlanCache,
  type Primitive,
  scratch,
} from "./onednn.ts";
import type { ConvGeometry } from "./onednn_conv.ts";

/**
 * A pooling's geometry: the fields of tfjs's pooling `Conv2DInfo` used here, the convolution's
 * less its output channels (the input's).
 */
export type PoolGeometry = Omit<ConvGeometry, "outChannels">;

class PoolPlan {
  readonly forward: Primitive;
  readonly backward: Primitive;
  readonly memories: Memory[];
  readonly run: (x: Float32Array, dy: Float32Array, dx: Float32Array) => void;

  constructor(readonly dnnl: Dnnl, g: PoolGeometry) {
    const s = dnnl.symbols;
    const c = g.inChannels, n = g.batchSize;
    const x = dnnl.memoryDesc([n, c, g.inHeight, g.inWidth], DNNL.nhwc);
    const y = dnnl.memoryDesc([n, c, g.outHeight, g.outWidth], DNNL.nhwc);
    const pair = (a: number, b: number) => BigInt64Array.of(BigInt(a), BigInt(b));
    const strides = pair(g.strideHeight, g.strideWidth);
    const kernel = pair(g.filterHeight, g.filterWidth);
    const padL = pair(g.padInfo.top, g.padInfo.left);
    const padR = pair(g.padInfo.bottom, g.padInfo.right);
    const fwdDesc = opDesc(
      "dnnl_pooling_forward_desc_init",
      (d) =>
        s.dnnl_pooling_forward_desc_init(
          d,
          DNNL.forwardTraining,
          DNNL.poolingMax,
          x,
          y,
          strides,
          kernel,
          padL,
          padR,
        ),
    );
    const bwdDesc = opDesc(
      "dnnl_pooling_backward_desc_init",
      (d) =>
        s.dnnl_pooling_backward_desc_init(d, DNNL.poolingMax, x, y, strides, kernel, padL, padR),
    );
    this.forward = dnnl.primitive(fwdDesc, null);
    try {
      this.backward = dnnl.primitive(bwdDesc, this.forward);
    } catch (e) {
      dnnl.destroyPrimitive(this.forward);
      throw e;
    }
    const workspaceMd = dnnl.queryMd(this.forward, DNNL.queryWorkspaceMd);
    const xm = dnnl.memory(x), ym = dnnl.memory(y), dym = dnnl.memory(y), dxm = dnnl.memory(x);
    const ws = dnnl.memory(workspaceMd);
    this.memories = [xm, ym, dym, dxm, ws];
    const yBytes = n * c * g.outHeight * g.outWidth * 4, wsBytes = dnnl.bytes(workspaceMd);
    this.run = (xs, dys, dxs) => {
      dnnl.bind(xm, xs);
      dnnl.bind(ym, scratch(1, yBytes));
      dnnl.bind(ws, scratch(2, wsBytes));
      dnnl.execute(this.forward, [[DNNL.argSrc, xm], [DNNL.argDst, ym], [DNNL.argWorkspace, ws]]);
      dnnl.bind(dym, dys);
      dnnl.bind(dxm, dxs);
      dnnl.execute(this.backward, [[DNNL.argDiffDst, dym], [DNNL.argWorkspace, ws], [
        DNNL.argDiffSrc,
        dxm,
      ]]);
    };
  }

  release(): void {
    this.dnnl.destroyPrimitive(this.forward);
    this.dnnl.destroyPrimitive(this.backward);
    for (const m of this.memories) this.dnnl.destroyMemory(m);
  }
}

const plans = new PlanCache<PoolPlan>(16);

/**
 * dx = the gradient of max pooling `g` of x for the output gradient dy (all NHWC); false, writing
 * nothing, where oneDNN has no primitive for this geometry (a dilated window among them).
 *
 * @example
 * ```ts
 * import { loadDnnl } from "./onednn.ts";
 * const { dnnl } = loadDnnl();
 * const g = { batchSize: 1, inHeight: 1, inWidth: 2, inChannels: 1, outHeight: 1, outWidth: 1,
 *   filterHeight: 1, filterWidth: 2, strideHeight: 1, strideWidth: 1, dilationHeight: 1,
 *   dilationWidth: 1, padInfo: { top: 0, bottom: 0, left: 0, right: 0 } };
 * const dx = new Float32Array(2);
 * if (dnnl) maxPoolBackward(dnnl, g, Float32Array.of(1, 5), Float32Array.of(3), dx); // dx = [0, 3]
 * ```
 */
export function maxPoolBackward(
  dnnl: Dnnl,
  g: PoolGeometry,
  x: Float32Array,
  dy: Float32Array,
  dx: Float32Array,
): boolean {
  const sizes = [g.batchSize, g.inHeight, g.inWidth, g.inChannels, g.outHeight, g.outWidth];
  if (!sizes.every((d) => d > 0) || g.dilationHeight !== 1 || g.dilationWidth !== 1) return false;
  const key = [...sizes, g.filterHeight, g.filterWidth, g.strideHeight, g.strideWidth].concat(
    [g.padInfo.top, g.padInfo.bottom, g.padInfo.left, g.padInfo.right],
  ).join(",");
  const plan = plans.get(key, () => new PoolPlan(dnnl, g));
  if (plan instanceof DnnlError) return false;
  plan.run(x, dy, dx);
  return true;
}

/**
 * Releases every kept pooling primitive.
 *
 * @example
 * ```ts
 * releasePoolPlans();
 * ```
 */
export function releasePoolPlans(): void {
  plans.clear();
}
