/**
 * 2-D convolutions through oneDNN (`./onednn.ts`) on plain float32 arrays in tfjs's layouts:
 * activations NHWC, filters HWIO (`[kh, kw, Cin, Cout]`). The forward pass, the input gradient and
 * the filter gradient, each one oneDNN primitive chosen by oneDNN for this machine (on AVX-512:
 * `brgconv`/`jit` kernels, the ones PyTorch's CPU convolutions run).
 *
 * Activations are handed to oneDNN in place (NHWC is one of its plain layouts). Filters are
 * reordered, each call, into the blocked layout the primitive asks for (and the filter gradient
 * back from it): measured on ResNet18's layers at batch 256, primitives on HWIO itself fall back to
 * oneDNN's gemm path, 2–9× slower than the blocked kernels plus the reorders. The reordered
 * filter lives in one scratch buffer shared by every convolution (a call uses it and is done).
 *
 * Primitives are built once per geometry and kept (the {@link PLAN_CACHE_SIZE} most recently used;
 * older ones are released). A geometry oneDNN refuses (its status named in the error) makes the
 * callers fall back to their other path.
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

/**
 * A convolution's geometry: the fields of tfjs's `backend_util.Conv2DInfo` used here (a
 * `Conv2DInfo` is one). Dilations are tfjs's (1: none).
 */
export interface ConvGeometry {
  batchSize: number;
  inHeight: number;
  inWidth: number;
  inChannels: number;
  outHeight: number;
  outWidth: number;
  outChannels: number;
  filterHeight: number;
  filterWidth: number;
  strideHeight: number;
  strideWidth: number;
  dilationHeight: number;
  dilationWidth: number;
  padInfo: { top: number; bottom: number; left: number; right: number };
}

/**
 * How many geometries keep their primitives (a network has a dozen; training and evaluation
 * batch sizes double that).
 *
 * @example
 * ```ts
 * PLAN_CACHE_SIZE; // 64
 * ```
 */
export const PLAN_CACHE_SIZE = 64;

type Pass = { primitive: Primitive; run: (arrays: Float32Array[]) => void };
type PassName = "forward" | "data" | "weights";

/** The primitives of one geometry, built on first use. */
class Plan {
  readonly x: Uint8Array;
  readonly y: Uint8Array;
  readonly wUser: Uint8Array;
  readonly wAny: Uint8Array;
  readonly strides: BigInt64Array;
  readonly dilates: BigInt64Array;
  readonly padL: BigInt64Array;
  readonly padR: BigInt64Array;
  forwardPass?: Pass;
  dataPass?: Pass;
  weightsPass?: Pass;
  /** The passes oneDNN refused, with its reason (not asked again). */
  readonly refused = new Map<PassName, string>();
  readonly owned: { primitives: Primitive[]; memories: Memory[] } = {
    primitives: [],
    memories: [],
  };

  constructor(readonly dnnl: Dnnl, readonly key: string, g: ConvGeometry) {
    const n = g.batchSize, ci = g.inChannels, co = g.outChannels;
    this.x = dnnl.memoryDesc([n, ci, g.inHeight, g.inWidth], DNNL.nhwc);
    this.y = dnnl.memoryDesc([n, co, g.outHeight, g.outWidth], DNNL.nhwc);
    this.wUser = dnnl.memoryDesc([co, ci, g.filterHeight, g.filterWidth], DNNL.hwio);
    this.wAny = dnnl.memoryDesc([co, ci, g.filterHeight, g.filterWidth], DNNL.any);
    const pair = (a: number, b: number) => BigInt64Array.of(BigInt(a), BigInt(b));
    this.strides = pair(g.strideHeight, g.strideWidth);
    this.dilates = pair(g.dilationHeight - 1, g.dilationWidth - 1);
    this.padL = pair(g.padInfo.top, g.padInfo.left);
    this.padR = pair(g.padInfo.bottom, g.padInfo.right);
  }

  private keep<T extends Primitive | Memory>(x: T): T {
    if ("primitive" in x) this.owned.primitives.push(x);
    else this.owned.memories.push(x);
    return x;
  }

  /** The forward primitive (also the hint both gradients are built from). */
  forward(): Pass {
    if (this.forwardPass) return this.forwardPass;
    const { dnnl } = this, s = dnnl.symbols;
    const desc = opDesc(
      "dnnl_dilated_convolution_forward_desc_init",
      (d) =>
        s.dnnl_dilated_convolution_forward_desc_init(
          d,
          DNNL.forwardTraining,
          DNNL.convolutionDirect,
          this.x,
          this.wAny,
          null,
          this.y,
          this.strides,
          this.dilates,
          this.padL,
          this.padR,
        ),
    );
    this.forwardPass = this.filterInPass(desc, null, [DNNL.argSrc, this.x], [DNNL.argDst, this.y]);
    return this.forwardPass;
  }

  /** The input gradient's primitive: dx from dy and the filter. */
  data(): Pass {
    if (this.dataPass) return this.dataPass;
    const { dnnl } = this, s = dnnl.symbols;
    const hint = this.forward().primitive;
    const desc = opDesc(
      "dnnl_dilated_convolution_backward_data_desc_init",
      (d) =>
        s.dnnl_dilated_convolution_backward_data_desc_init(
          d,
          DNNL.convolutionDirect,
          this.x,
          this.wAny,
          this.y,
          this.strides,
          this.dilates,
          this.padL,
          this.padR,
        ),
    );
    this.dataPass = this.filterInPass(desc, hint, [DNNL.argDiffDst, this.y], [
      DNNL.argDiffSrc,
      this.x,
    ]);
    return this.dataPass;
  }

  /** The filter gradient's primitive: dW from x and dy. */
  weights(): Pass {
    if (this.weightsPass) return this.weightsPass;
    const { dnnl } = this, s = dnnl.symbols;
    const hint = this.forward().primitive;
    const desc = opDesc(
      "dnnl_dilated_convolution_backward_weights_desc_init",
      (d) =>
        s.dnnl_dilated_convolution_backward_weights_desc_init(
          d,
          DNNL.convolutionDirect,
          this.x,
          this.wAny,
          null,
          this.y,
          this.strides,
          this.dilates,
          this.padL,
          this.padR,
        ),
    );
    const primitive = this.keep(dnnl.primitive(desc, hint));
    const x = this.keep(dnnl.memory(this.x)), dy = this.keep(dnnl.memory(this.y));
    const wanted = dnnl.queryMd(primitive, DNNL.queryDiffWeightsMd);
    const user = this.keep(dnnl.memory(this.wUser));
    const direct = dnnl.sameDesc(wanted, Deno.UnsafePointer.of(this.wUser));
    const inner = direct ? user : this.keep(dnnl.memory(wanted));
    const back = direct ? null : this.keep(dnnl.reorder(wanted, Deno.UnsafePointer.of(this.wUser)));
    const bytes = dnnl.bytes(wanted);
    this.weightsPass = {
      primitive,
      run: ([xs, dys, dws]) => {
        dnnl.bind(x, xs);
        dnnl.bind(dy, dys);
        dnnl.bind(user, dws);
        if (!direct) dnnl.bind(inner, scratch(0, bytes));
        dnnl.execute(primitive, [[DNNL.argSrc, x], [DNNL.argDiffDst, dy], [
          DNNL.argDiffWeights,
          inner,
        ]]);
        if (back) dnnl.execute(back, [[DNNL.argSrc, inner], [DNNL.argDst, user]]);
      },
    };
    return this.weightsPass;
  }

  /**
   * A pass that reads the filter (the forward, the input gradient): its arrays are (the input
   * `from`, the filter, the output `to`), each given as (argument number, descriptor).
   */
  private filterInPass(
    desc: Uint8Array,
    hint: Primitive | null,
    from: readonly [number, Uint8Array],
    to: readonly [number, Uint8Array],
  ): Pass {
    const { dnnl } = this;
    const primitive = this.keep(dnnl.primitive(desc, hint));
    const a = this.keep(dnnl.memory(from[1])), b = this.keep(dnnl.memory(to[1]));
    const weights = this.filterIn(dnnl.queryMd(primitive, DNNL.queryWeightsMd));
    return {
      primitive,
      run: ([as, ws, bs]) => {
        const w = weights(ws);
        dnnl.bind(a, as);
        dnnl.bind(b, bs);
        dnnl.execute(primitive, [[from[0], a], [DNNL.argWeights, w], [to[0], b]]);
      },
    };
  }

  /** A function giving the filter in the layout `wanted` (reordered into the scratch buffer). */
  private filterIn(wanted: Deno.PointerValue): (w: Float32Array) => Memory {
    const { dnnl } = this;
    const user = this.keep(dnnl.memory(this.wUser));
    if (dnnl.sameDesc(wanted, Deno.UnsafePointer.of(this.wUser))) {
      return (w) => (dnnl.bind(user, w), user);
    }
    const inner = this.keep(dnnl.memory(wanted));
    const reorder = this.keep(dnnl.reorder(Deno.UnsafePointer.of(this.wUser), wanted));
    const bytes = dnnl.bytes(wanted);
    return (w) => {
      dnnl.bind(user, w);
      dnnl.bind(inner, scratch(0, bytes));
      dnnl.execute(reorder, [[DNNL.argSrc, user], [DNNL.argDst, inner]]);
      return inner;
    };
  }

  release(): void {
    for (const p of this.owned.primitives) this.dnnl.destroyPrimitive(p);
    for (const m of this.owned.memories) this.dnnl.destroyMemory(m);
    this.owned.primitives.length = 0;
    this.owned.memories.length = 0;
  }
}

function keyOf(g: ConvGeometry): string {
  return [
    g.batchSize,
    g.inHeight,
    g.inWidth,
    g.inChannels,
    g.outHeight,
    g.outWidth,
    g.outChannels,
    g.filterHeight,
    g.filterWidth,
    g.strideHeight,
    g.strideWidth,
    g.dilationHeight,
    g.dilationWidth,
    g.padInfo.top,
    g.padInfo.bottom,
    g.padInfo.left,
    g.padInfo.right,
  ].join(",");
}

const plans = new PlanCache<Plan>(PLAN_CACHE_SIZE);

function planOf(dnnl: Dnnl, g: ConvGeometry): Plan | DnnlError | null {
  const sizes = [g.batchSize, g.inHeight, g.inWidth, g.inChannels, g.outHeight, g.outWidth];
  if (!sizes.every((d) => d > 0) || g.outChannels <= 0) return null; // an empty tensor
  const key = keyOf(g);
  return plans.get(key, () => new Plan(dnnl, key, g));
}

/** Runs one pass of `g`'s plan; false (after remembering the refusal) when oneDNN refuses it. */
function run(
  dnnl: Dnnl,
  g: ConvGeometry,
  pass: PassName,
  arrays: Float32Array[],
): boolean {
  const plan = planOf(dnnl, g);
  if (plan === null || plan instanceof DnnlError || plan.refused.has(pass)) return false;
  let p: Pass;
  try {
    p = plan[pass]();
  } catch (e) {
    if (!(e instanceof DnnlError)) throw e;
    plan.refused.set(pass, e.message);
    return false;
  }
  p.run(arrays);
  return true;
}

/**
 * y = conv(x, w) (NHWC x and y, HWIO w); false, writing nothing, where oneDNN has no primitive
 * for this geometry.
 *
 * @example
 * ```ts
 * import { loadDnnl } from "./onednn.ts";
 * const { dnnl } = loadDnnl();
 * const g = { batchSize: 1, inHeight: 1, inWidth: 1, inChannels: 1, outHeight: 1, outWidth: 1,
 *   outChannels: 1, filterHeight: 1, filterWidth: 1, strideHeight: 1, strideWidth: 1,
 *   dilationHeight: 1, dilationWidth: 1, padInfo: { top: 0, bottom: 0, left: 0, right: 0 } };
 * const y = new Float32Array(1);
 * if (dnnl) convForward(dnnl, g, Float32Array.of(2), Float32Array.of(3), y); // y = [6]
 * ```
 */
export function convForward(
  dnnl: Dnnl,
  g: ConvGeometry,
  x: Float32Array,
  w: Float32Array,
  y: Float32Array,
): boolean {
  return run(dnnl, g, "forward", [x, w, y]);
}

/**
 * dx = the input gradient of conv(x, w) for the output gradient dy (NHWC dy and dx, HWIO w);
 * false where oneDNN has no primitive for this geometry.
 *
 * @example
 * ```ts
 * import { loadDnnl } from "./onednn.ts";
 * const { dnnl } = loadDnnl();
 * const g = { batchSize: 1, inHeight: 1, inWidth: 1, inChannels: 1, outHeight: 1, outWidth: 1,
 *   outChannels: 1, filterHeight: 1, filterWidth: 1, strideHeight: 1, strideWidth: 1,
 *   dilationHeight: 1, dilationWidth: 1, padInfo: { top: 0, bottom: 0, left: 0, right: 0 } };
 * const dx = new Float32Array(1);
 * if (dnnl) convBackwardData(dnnl, g, Float32Array.of(2), Float32Array.of(3), dx); // dx = [6]
 * ```
 */
export function convBackwardData(
  dnnl: Dnnl,
  g: ConvGeometry,
  dy: Float32Array,
  w: Float32Array,
  dx: Float32Array,
): boolean {
  return run(dnnl, g, "data", [dy, w, dx]);
}

/**
 * dw = the filter gradient of conv(x, w) for the output gradient dy (NHWC x and dy, HWIO dw);
 * false where oneDNN has no primitive for this geometry.
 *
 * @example
 * ```ts
 * import { loadDnnl } from "./onednn.ts";
 * const { dnnl } = loadDnnl();
 * const g = { batchSize: 1, inHeight: 1, inWidth: 1, inChannels: 1, outHeight: 1, outWidth: 1,
 *   outChannels: 1, filterHeight: 1, filterWidth: 1, strideHeight: 1, strideWidth: 1,
 *   dilationHeight: 1, dilationWidth: 1, padInfo: { top: 0, bottom: 0, left: 0, right: 0 } };
 * const dw = new Float32Array(1);
 * if (dnnl) convBackwardWeights(dnnl, g, Float32Array.of(2), Float32Array.of(3), dw); // dw = [6]
 * ```
 */
export function convBackwardWeights(
  dnnl: Dnnl,
  g: ConvGeometry,
  x: Float32Array,
  dy: Float32Array,
  dw: Float32Array,
): boolean {
  return run(dnnl, g, "weights", [x, dy, dw]);
}

/**
 * What oneDNN runs for the geometries seen so far: per pass, its implementation's name (e.g.
 * `brgconv:avx512_core`), or why it refused (the callers' other path ran).
 *
 * @example
 * ```ts
 * convImplementations(); // [{ geometry: "256,8,8,64,…", forward: "brgconv:avx512_core", … }]
 * ```
 */
export function convImplementations(): Record<string, string>[] {
  const out: Record<string, string>[] = [];
  for (const plan of plans.plans()) {
    const row: Record<string, string> = { geometry: plan.key };
    for (
      const [name, pass] of [
        ["forward", plan.forwardPass],
        ["data", plan.dataPass],
        ["weights", plan.weightsPass],
      ] as const
    ) {
      const refused = plan.refused.get(name);
      if (pass) row[name] = pass.primitive.impl;
      else if (refused) row[name] = `refused: ${refused}`;
    }
    out.push(row);
  }
  return out;
}

/**
 * Releases every kept primitive (tests; a process that is done with convolutions).
 *
 * @example
 * ```ts
 * releaseConvPlans();
 * ```
 */
export function releaseConvPlans(): void {
  plans.clear();
}
