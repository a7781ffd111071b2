/**
 * The input gradient of a 2-D convolution (tfjs's `Conv2DBackpropInput`) as stride-1
 * convolutions, so that the backend's fast forward convolution (XNNPACK on wasm) does the work.
 *
 * For the forward `y[n,oy,ox,co] = Σ_{a,b,ci} x[n, oy·sh − top + a, ox·sw − left + b, ci] ·
 * W[a,b,ci,co]`, the gradient is `dx[n,i,j,ci] = Σ dy[n,oy,ox,co] · W[a,b,ci,co]` over
 * `i + top = oy·sh + a`, `j + left = ox·sw + b`. Write `u = i + top = q·sh + r` (phase
 * `r = u mod sh`): then `a = r + sh·t` and `oy = q − t`, so the rows of one phase are a stride-1
 * correlation of `dy` with the sub-filter `W[r, r+sh, r+2sh, …]`, flipped. Likewise for columns.
 * This is the polyphase decomposition: `sh·sw` stride-1 convolutions of `dy` with the 180°-rotated
 * sub-filters (in/out channels swapped, `[T_r, T_c, Cout, Cin]`), whose results interleave into
 * `dx`; together they do about the forward's multiply-adds (no zeros inserted into `dy`). At
 * stride 1 it is the single convolution `dx = conv2d(dy, rot180(W)ᵀ)` with padding
 * `kh − 1 − top` before and whatever makes the output `H` rows after.
 *
 * Each phase's padding is derived from the forward's `top`/`left` (tfjs's
 * `backend_util.computeConv2DInfo`, so `same`/`valid`/explicit/numeric padding and
 * `dimRoundingMode` mean what they mean for the forward, including input sizes that are not a
 * multiple of the stride); negative padding crops `dy`. Each phase computes only the rows of `dx`
 * it owns, and keeps only the taps that meet `dy` for one of them (e.g. the centre tap of a 3×3
 * filter on a 1×1 map); phases with no taps (a 1×1 stride-2 filter has one phase of four) stay
 * zero. The sub-filters are gathered and the phases interleaved by block copies on the wasm heap:
 * tfjs-backend-wasm's `Reverse`, `StridedSlice` and rank-5 `Transpose` index each element
 * (20–60 ns a float, more than the convolutions cost at small batches).
 *
 * @module
 */
import { tf } from "../tf.ts";

/**
 * One phase's stride-1 convolution along an axis: the rows `i = (first + j)·stride + phase −
 * pad0` of `dx` for `j < count`.
 */
export type PhasePlan = {
  /** First output (`q`) of the phase and how many. */
  first: number;
  count: number;
  /** Filter taps used: original filter indices `top, top − stride, …` (`taps` of them). */
  top: number;
  taps: number;
  /** Padding before/after `dy` (after cropping). */
  before: number;
  after: number;
  /** Range of `dy` read: `[from, from + length)`. */
  from: number;
  length: number;
};

/**
 * The phases of one axis (`null` where no tap of the filter reaches any row of `dx`): filter size
 * `k`, stride `s`, the forward's leading padding `pad0`, input size `size` (of `x`, = `dx`) and
 * output size `outSize` (of `dy`).
 *
 * @example
 * ```ts
 * planAxis(3, 1, 1, 8, 8); // [{ first: 1, count: 8, top: 2, taps: 3, before: 1, after: 1, from: 0, length: 8 }]
 * ```
 */
export function planAxis(
  k: number,
  s: number,
  pad0: number,
  size: number,
  outSize: number,
): (PhasePlan | null)[] {
  const phases: (PhasePlan | null)[] = [];
  for (let r = 0; r < s; r++) {
    // Rows u = q·s + r of the padded input, u ∈ [pad0, pad0 + size).
    const q0 = Math.ceil((pad0 - r) / s), q1 = Math.floor((pad0 + size - 1 - r) / s);
    const all = r < k ? Math.ceil((k - r) / s) : 0;
    // Output q reads dy[q − all + 1 + t] with the flipped tap t ∈ [0, all) (original filter
    // index r + s·(all − 1 − t)); keep the taps that meet dy for some q.
    const tLo = Math.max(0, all - 1 - q1), tHi = Math.min(all - 1, outSize + all - 2 - q0);
    const taps = tHi - tLo + 1, count = q1 - q0 + 1;
    if (taps <= 0 || count <= 0) {
      phases.push(null);
      continue;
    }
    let before = all - 1 - q0 - tLo;
    let after = count + taps - 1 - before - outSize;
    let from = 0, length = outSize;
    if (before < 0) [from, length, before] = [-before, length + before, 0];
    if (after < 0) [length, after] = [length + after, 0];
    const top = r + s * (all - 1 - tLo);
    phases.push(length > 0 ? { first: q0, count, top, taps, before, after, from, length } : null);
  }
  return phases;
}

/**
 * The composite's fixed cost (gathering, transposing and XNNPACK's packing of the sub-filters)
 * grows with the filter taps it uses, its convolutions with the multiply-adds; the native kernel
 * has no fixed cost but runs ≈ 10× slower per multiply-add. So the composite is used when the
 * multiply-adds per used filter element (batch × output positions per phase) reach this value.
 * Measured (one thread, ms native → composite): ratio 4: 1.1 → 3.3, 1.7 → 5.5 (native); 16:
 * 0.4 → 0.4, 2.5 → 3.4, 3.3 → 5.5, 7.0 → 6.7, 3.5 → 3.1 (even); 64: 5.2 → 1.8, 3.3 → 1.4,
 * 13.8 → 7.7 (composite); ResNet18 at batch 64 (ratios 64–4096): composite 3–10× faster.
 *
 * @example
 * ```ts
 * COMPOSITE_MIN_MACS_PER_FILTER_ELEMENT; // 32
 * ```
 */
export const COMPOSITE_MIN_MACS_PER_FILTER_ELEMENT = 32;

/**
 * Whether {@link conv2dInputGradNhwc} is expected to beat tfjs-backend-wasm's native
 * `Conv2DBackpropInput` for this convolution (see {@link COMPOSITE_MIN_MACS_PER_FILTER_ELEMENT}).
 *
 * @example
 * ```ts
 * import { tf } from "../tf.ts";
 * const info = tf.backend_util.computeConv2DInfo([64, 8, 8, 64], [3, 3, 64, 64], 1, 1, 1);
 * useCompositeInputGrad(info); // true (ResNet18's first stage at batch 64)
 * ```
 */
export function useCompositeInputGrad(info: tf.backend_util.Conv2DInfo): boolean {
  const rows = planAxis(
    info.filterHeight,
    info.strideHeight,
    info.padInfo.top,
    info.inHeight,
    info.outHeight,
  );
  const cols = planAxis(
    info.filterWidth,
    info.strideWidth,
    info.padInfo.left,
    info.inWidth,
    info.outWidth,
  );
  let macs = 0, taps = 0;
  for (const p of rows) {
    for (const q of cols) {
      if (p === null || q === null) continue;
      taps += p.taps * q.taps;
      macs += info.batchSize * p.count * p.taps * q.count * q.taps;
    }
  }
  return macs >= COMPOSITE_MIN_MACS_PER_FILTER_ELEMENT * taps;
}

// deno-lint-ignore no-explicit-any
type Backend = any;

/** A new float32 tensor of `shape` on the wasm backend, owning fresh (uninitialised) heap memory. */
function heapTensor(shape: number[], backend: Backend): tf.Tensor {
  return tf.engine().makeTensorFromTensorInfo(backend.makeOutput(shape, "float32"), backend);
}

/**
 * `dx` (`[N, H, W, Cin]`) from `dy` (`[N, Ho, Wo, Cout]`) and the filter (`[kh, kw, Cin, Cout]`),
 * NHWC, tensors on the wasm backend `backend`, as stride-1 convolutions. Call it inside a tidy:
 * it leaves intermediates. The sub-filters are assembled and the phases interleaved by copies on
 * the wasm heap (tfjs-backend-wasm's `Reverse`, `StridedSlice` and rank-5 `Transpose` index each
 * element: 20–60 ns per float, more than the convolutions at small batches).
 *
 * @example
 * ```ts
 * import { tf } from "../tf.ts";
 * await tf.setBackend("wasm"); // after startWasm()
 * const dy = tf.randomNormal<tf.Rank.R4>([2, 4, 4, 4]); // ∂L/∂y for the stride-2 output
 * const filter = tf.randomNormal<tf.Rank.R4>([3, 3, 3, 4]);
 * const info = tf.backend_util.computeConv2DInfo([2, 7, 7, 3], [3, 3, 3, 4], 2, 1, "same");
 * const dx = tf.tidy(() => conv2dInputGradNhwc(dy, filter, info, tf.backend())); // [2, 7, 7, 3]
 * ```
 */
export function conv2dInputGradNhwc(
  dy: tf.Tensor4D,
  filter: tf.Tensor4D,
  info: tf.backend_util.Conv2DInfo,
  backend: Backend,
): tf.Tensor4D {
  const { batchSize: N, inHeight: H, inWidth: W, inChannels: Cin } = info;
  const { outHeight: Ho, outWidth: Wo, outChannels: Cout } = info;
  const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw } = info;
  if (N * H * W * Cin === 0 || Ho * Wo * Cout === 0) return tf.zeros([N, H, W, Cin]);
  const rows = planAxis(kh, sh, info.padInfo.top, H, Ho);
  const cols = planAxis(kw, sw, info.padInfo.left, W, Wo);
  const block = Cin * Cout;
  const parts: { r: number; c: number; y: tf.Tensor4D }[] = [];
  for (let r = 0; r < sh; r++) {
    const p = rows[r];
    for (let c = 0; c < sw; c++) {
      const q = cols[c];
      if (p === null || q === null) continue;
      // The phase's sub-filter rotated 180°: tap (t, u) is W[p.top − sh·t, q.top − sw·u],
      // gathered by block copies, then its channels swapped (a rank-3 transpose, fast).
      const g = heapTensor([p.taps, q.taps, Cin, Cout], backend) as tf.Tensor4D;
      const gv = backend.typedArrayFromHeap(g) as Float32Array;
      const src = backend.typedArrayFromHeap(filter) as Float32Array;
      for (let t = 0; t < p.taps; t++) {
        for (let u = 0; u < q.taps; u++) {
          const from = ((p.top - sh * t) * kw + q.top - sw * u) * block;
          gv.set(src.subarray(from, from + block), (t * q.taps + u) * block);
        }
      }
      const f = tf.transpose(g, [0, 1, 3, 2]);
      const d = p.from === 0 && p.length === Ho && q.from === 0 && q.length === Wo
        ? dy
        : tf.slice(dy, [0, p.from, q.from, 0], [N, p.length, q.length, Cout]);
      const y = tf.conv2d(d, f, 1, [[0, 0], [p.before, p.after], [q.before, q.after], [0, 0]]);
      parts.push({ r, c, y });
    }
  }
  if (sh === 1 && sw === 1 && parts.length === 1) return parts[0].y; // [N, H, W, Cin] already
  // Interleave: phase (r, c) output (n, j, l) is dx[n, (p.first + j)·sh + r − top,
  // (q.first + l)·sw + c − left].
  const dx = heapTensor([N, H, W, Cin], backend) as tf.Tensor4D;
  const out = backend.typedArrayFromHeap(dx) as Float32Array;
  if (parts.length < sh * sw) out.fill(0);
  for (const { r, c, y } of parts) {
    const p = rows[r]!, q = cols[c]!;
    const v = backend.typedArrayFromHeap(y) as Float32Array;
    const i0 = p.first * sh + r - info.padInfo.top, j0 = q.first * sw + c - info.padInfo.left;
    for (let n = 0; n < N; n++) {
      for (let j = 0; j < p.count; j++) {
        const srcRow = (n * p.count + j) * q.count * Cin;
        const dstRow = ((n * H + i0 + j * sh) * W + j0) * Cin;
        if (sw === 1) {
          out.set(v.subarray(srcRow, srcRow + q.count * Cin), dstRow);
          continue;
        }
        for (let l = 0; l < q.count; l++) {
          const from = srcRow + l * Cin;
          out.set(v.subarray(from, from + Cin), dstRow + l * sw * Cin);
        }
      }
    }
  }
  return dx;
}
