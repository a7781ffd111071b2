/**
 * Training-mode batch normalisation without scale and shift through oneDNN (`./onednn.ts`) on
 * float32 arrays with the channels last ([N, C] or NHWC): the forward (x̂ = (x − μ)/√(σ² + eps)
 * with the batch mean μ and biased variance σ², both returned) and its input gradient
 * (dx from dy, x, μ, σ²). Primitives are kept per shape.
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
} from "./onednn.ts";

const ARG_MEAN = 49, ARG_VARIANCE = 50, BACKWARD_DATA = 160;

class NormPlan {
  readonly forward: Primitive;
  readonly backward: Primitive;
  readonly memories: Memory[];
  readonly x: Memory;
  readonly y: Memory;
  readonly dy: Memory;
  readonly dx: Memory;
  readonly mean: Memory;
  readonly variance: Memory;

  constructor(readonly dnnl: Dnnl, shape: readonly number[], eps: number) {
    const s = dnnl.symbols;
    const c = shape[shape.length - 1], n = shape[0];
    const data = shape.length === 2
      ? dnnl.memoryDesc([n, c], 3 /* nc */)
      : dnnl.memoryDesc([n, c, shape[1], shape[2]], DNNL.nhwc);
    const fwd = opDesc(
      "dnnl_batch_normalization_forward_desc_init",
      (d) => s.dnnl_batch_normalization_forward_desc_init(d, DNNL.forwardTraining, data, eps, 0),
    );
    const bwd = opDesc(
      "dnnl_batch_normalization_backward_desc_init",
      (d) => s.dnnl_batch_normalization_backward_desc_init(d, BACKWARD_DATA, data, data, eps, 0),
    );
    this.forward = dnnl.primitive(fwd, null);
    try {
      this.backward = dnnl.primitive(bwd, this.forward);
    } catch (e) {
      dnnl.destroyPrimitive(this.forward);
      throw e;
    }
    const stats = dnnl.memoryDesc([c], 2 /* a */);
    this.x = dnnl.memory(data);
    this.y = dnnl.memory(data);
    this.dy = dnnl.memory(data);
    this.dx = dnnl.memory(data);
    this.mean = dnnl.memory(stats);
    this.variance = dnnl.memory(stats);
    this.memories = [this.x, this.y, this.dy, this.dx, this.mean, this.variance];
  }

  release(): void {
    this.dnnl.destroyPrimitive(this.forward);
    this.dnnl.destroyPrimitive(this.backward);
    for (const m of this.memories) this.dnnl.destroyMemory(m);
  }
}

const plans = new PlanCache<NormPlan>(64);

function planOf(dnnl: Dnnl, shape: readonly number[], eps: number): NormPlan | null {
  if (!(shape.length === 2 || shape.length === 4) || shape.some((d) => d <= 0)) return null;
  const plan = plans.get(`${shape.join(",")}:${eps}`, () => new NormPlan(dnnl, shape, eps));
  return plan instanceof DnnlError ? null : plan;
}

/**
 * Whether oneDNN has the primitives for this shape and epsilon (building them now).
 *
 * @example
 * ```ts
 * import { loadDnnl } from "./onednn.ts";
 * const { dnnl } = loadDnnl();
 * if (dnnl) batchNormSupported(dnnl, [256, 8, 8, 64], 1e-5); // true
 * ```
 */
export function batchNormSupported(dnnl: Dnnl, shape: readonly number[], eps: number): boolean {
  return planOf(dnnl, shape, eps) !== null;
}

/**
 * x̂, the batch mean and the biased variance of `x` (shape `shape`, channels last); false, writing
 * nothing, where oneDNN has no primitive for it.
 *
 * @example
 * ```ts
 * import { loadDnnl } from "./onednn.ts";
 * const { dnnl } = loadDnnl();
 * const y = new Float32Array(2), mean = new Float32Array(1), variance = new Float32Array(1);
 * if (dnnl) batchNormForward(dnnl, [2, 1], 0, Float32Array.of(1, 3), y, mean, variance);
 * // y = [-1, 1], mean = [2], variance = [1]
 * ```
 */
export function batchNormForward(
  dnnl: Dnnl,
  shape: readonly number[],
  eps: number,
  x: Float32Array,
  y: Float32Array,
  mean: Float32Array,
  variance: Float32Array,
): boolean {
  const p = planOf(dnnl, shape, eps);
  if (p === null) return false;
  dnnl.bind(p.x, x);
  dnnl.bind(p.y, y);
  dnnl.bind(p.mean, mean);
  dnnl.bind(p.variance, variance);
  dnnl.execute(p.forward, [[DNNL.argSrc, p.x], [DNNL.argDst, p.y], [ARG_MEAN, p.mean], [
    ARG_VARIANCE,
    p.variance,
  ]]);
  return true;
}

/**
 * dx of {@link batchNormForward} for the output gradient dy, from x and the saved mean and
 * variance; false where oneDNN has no primitive for it.
 *
 * @example
 * ```ts
 * import { loadDnnl } from "./onednn.ts";
 * const { dnnl } = loadDnnl();
 * const dx = new Float32Array(2);
 * if (dnnl) batchNormBackward(dnnl, [2, 1], 0, Float32Array.of(1, 3), Float32Array.of(1, 1),
 *   Float32Array.of(2), Float32Array.of(1), dx); // dx = [0, 0]
 * ```
 */
export function batchNormBackward(
  dnnl: Dnnl,
  shape: readonly number[],
  eps: number,
  x: Float32Array,
  dy: Float32Array,
  mean: Float32Array,
  variance: Float32Array,
  dx: Float32Array,
): boolean {
  const p = planOf(dnnl, shape, eps);
  if (p === null) return false;
  dnnl.bind(p.x, x);
  dnnl.bind(p.dy, dy);
  dnnl.bind(p.dx, dx);
  dnnl.bind(p.mean, mean);
  dnnl.bind(p.variance, variance);
  dnnl.execute(p.backward, [
    [DNNL.argSrc, p.x],
    [ARG_MEAN, p.mean],
    [ARG_VARIANCE, p.variance],
    [DNNL.argDiffDst, p.dy],
    [DNNL.argDiffSrc, p.dx],
  ]);
  return true;
}
