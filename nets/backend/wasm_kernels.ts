/**
 * Training kernels that tfjs-backend-wasm 4.22.0 lacks, registered for the `wasm` backend.
 *
 * Found by `tests/support/backend_probe.ts` (a forward + backward through every op the networks, heads,
 * losses and optimisers use, with the kernels each one dispatches recorded on the cpu backend and
 * looked up for wasm, and every result compared with cpu): missing are `Conv2DBackpropFilter`
 * (the filter gradient of every convolution) and `UnsortedSegmentSum` (the gradient of
 * `tf.gather`); wrong is the shipped `MaxPoolGrad` (it loses the gradient of border windows
 * whose inputs are all negative); slow is the shipped `Conv2DBackpropInput` (a direct loop, ≈ 10×
 * slower per multiply-add than XNNPACK's forward convolution: 941 ms of a ResNet18 training step
 * at batch 64, its largest cost). Everything else the training step dispatches (`AvgPoolGrad`,
 * `Step`, `FusedBatchNorm`, …) is native and agrees with cpu.
 *
 * - **Conv2DBackpropFilter** is a convolution on transposed tensors, so XNNPACK's convolution does
 *   the work: `dW[a,b,ci,co] = Σ_{n,y,x} xpad[n, y·sh+a, x·sw+b, ci] · dy[n,y,x,co]` is the
 *   stride-1 convolution of `X' = xpadᵀ` (`[Cin, H, W, N]`: input channels as the batch, the batch
 *   as channels) with the filter `F' = dy` transposed to `[Ho, Wo, N, Cout]`, dilated by the
 *   strides, whose `kh×kw` output is `[Cin, kh, kw, Cout]`. The padding is tfjs's own (computed by
 *   `backend_util.computeConv2DInfo` from `pad`, `strides`, `dimRoundingMode` and `filterShape`
 *   exactly as the cpu kernel does): the forward's top/left padding, and bottom/right padding
 *   (or cropping, for `valid`) so that the output is exactly `kh×kw`. The batch is processed in
 *   chunks (see {@link CONV_FILTER_GRAD_CHUNK_ELEMENTS}) and the chunks' results are summed.
 *   NCHW inputs are transposed to NHWC first; dilations other than 1 are not part of the kernel's
 *   attributes (tfjs's conv2d gradient refuses them itself).
 * - **Conv2DBackpropInput** is, for NHWC, the polyphase decomposition of
 *   `./wasm_kernel_conv2d_input.ts`: stride-1 XNNPACK convolutions of `dy` with the 180°-rotated,
 *   channel-swapped sub-filters (one per stride phase), interleaved into `dx`. It replaces the
 *   native kernel where that is faster (enough batch × output positions per filter element: see
 *   `COMPOSITE_MIN_MACS_PER_FILTER_ELEMENT`); tiny batches of 1×1/2×2 maps and NCHW stay native.
 *   ResNet18 at batch 64, one thread, native → composite: 3×3 s1 at 8×8×64 103 → 11 ms, 4×4×128
 *   91 → 12, 2×2×256 55 → 16, 1×1×512 13 → 4; 3×3 s2 56 → 7, 45 → 9, 28 → 8; 1×1 s2 8.8 → 1.1,
 *   7.9 → 1.2, 7.1 → 2.1; 7×7 s2 stem 115 → 31 (the 19 calls of a step ≈ 1040 → 165 ms).
 * - **UnsortedSegmentSum** is a direct loop over the wasm heap (ids outside `[0, numSegments)`
 *   are dropped, as in TensorFlow and the cpu kernel).
 * - **MaxPoolGrad** is a direct loop over the wasm heap with the cpu kernel's semantics (the
 *   first maximum of each window, among unpadded inputs, receives the gradient).
 *
 * @module
 */
import { tf } from "../tf.ts";
import { conv2dInputGradNhwc, useCompositeInputGrad } from "./wasm_kernel_conv2d_input.ts";

/**
 * The batch is split into chunks of at most this many input elements (N·H·W·C of `x`) in the
 * composite Conv2DBackpropFilter. Measured on x [256,32,32,64], dy [256,32,32,64], 3×3 filter,
 * one thread: 2.0 s unchunked, 1.5 s in chunks of 64 samples, 1.35 s in chunks of 128 (this
 * value); layers with fewer elements per sample run in one chunk.
 *
 * @example
 * ```ts
 * Math.floor(CONV_FILTER_GRAD_CHUNK_ELEMENTS / (32 * 32 * 64)); // 128 samples per chunk
 * ```
 */
export const CONV_FILTER_GRAD_CHUNK_ELEMENTS = 1 << 23;

type TensorInfo = tf.TensorInfo;
// deno-lint-ignore no-explicit-any
type Backend = any;
type KernelArgs = {
  inputs: Record<string, TensorInfo>;
  backend: Backend;
  attrs?: Record<string, unknown>;
};

/**
 * Wraps a kernel input as a tensor: a new reference to the same data, counted in the backend's
 * reference count so that disposing the wrapper (at the end of the kernel's tidy) leaves the
 * input alive.
 */
function asTensor(info: TensorInfo, backend: Backend): tf.Tensor {
  const t = tf.engine().makeTensorFromTensorInfo(info, backend);
  backend.incRef(info.dataId);
  return t;
}

/** The attributes tfjs passes to both convolution gradient kernels. */
type ConvGradientAttrs = {
  strides: number | [number, number];
  pad: "valid" | "same" | number | tf.backend_util.ExplicitPadding;
  dataFormat: "NHWC" | "NCHW";
  dimRoundingMode?: "floor" | "round" | "ceil";
};

/**
 * The filter gradient of a 2-D convolution on the wasm backend (tfjs's `Conv2DBackpropFilter`
 * kernel: inputs `x`, `dy`; attributes `strides`, `pad`, `dataFormat`, `dimRoundingMode`,
 * `filterShape`), as a convolution on transposed tensors.
 *
 * @example
 * ```ts
 * import { tf } from "../tf.ts";
 * const x = tf.randomNormal<tf.Rank.R4>([2, 8, 8, 3]);
 * const filter = tf.randomNormal<tf.Rank.R4>([3, 3, 3, 4]);
 * // Called by tfjs's conv2d gradient once registerWasmTrainingKernels() has run:
 * const g = tf.grad((f) => tf.conv2d(x, f as tf.Tensor4D, 2, "same").sum())(filter);
 * ```
 */
export function conv2DBackpropFilterWasm({ inputs, backend, attrs }: KernelArgs): tf.Tensor {
  const { x, dy } = inputs;
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs as ConvGradientAttrs & {
    filterShape: [number, number, number, number];
  };
  const channelsLast = tf.backend_util.convertConv2DDataFormat(dataFormat) === "channelsLast";
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filterShape,
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    channelsLast ? "channelsLast" : "channelsFirst",
  );
  return tf.tidy(() => {
    let xt = asTensor(x, backend) as tf.Tensor4D;
    let dyt = asTensor(dy, backend) as tf.Tensor4D;
    if (!channelsLast) {
      xt = tf.transpose(xt, [0, 2, 3, 1]);
      dyt = tf.transpose(dyt, [0, 2, 3, 1]);
    }
    return filterGradNhwc(xt, dyt, info);
  });
}

/** The NHWC core of {@link conv2DBackpropFilterWasm}, for tensors already on the wasm backend. */
function filterGradNhwc(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  info: tf.backend_util.Conv2DInfo,
): tf.Tensor4D {
  const { batchSize: N, inHeight: H, inWidth: W, inChannels: C } = info;
  const { outHeight: Ho, outWidth: Wo, outChannels: Cout } = info;
  const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw } = info;
  const top = info.padInfo.top, left = info.padInfo.left;
  // Rows/columns of the padded input the gradient reads: kh + (Ho−1)·sh from the top padding on.
  let bottom = kh + (Ho - 1) * sh - top - H;
  let right = kw + (Wo - 1) * sw - left - W;
  let Hc = H, Wc = W;
  if (bottom < 0) [Hc, bottom] = [H + bottom, 0]; // 'valid'-like: the last rows are never read
  if (right < 0) [Wc, right] = [W + right, 0];
  if (Hc <= 0 || Wc <= 0 || Ho <= 0 || Wo <= 0 || N === 0) return tf.zeros([kh, kw, C, Cout]);
  const xc = Hc === H && Wc === W ? x : tf.slice(x, [0, 0, 0, 0], [N, Hc, Wc, C]);
  const perChunk = Math.max(1, Math.floor(CONV_FILTER_GRAD_CHUNK_ELEMENTS / (Hc * Wc * C)));
  let acc: tf.Tensor4D | undefined;
  for (let n0 = 0; n0 < N; n0 += perChunk) {
    const n = Math.min(perChunk, N - n0);
    const xs = n === N ? xc : tf.slice(xc, [n0, 0, 0, 0], [n, Hc, Wc, C]);
    const ds = n === N ? dy : tf.slice(dy, [n0, 0, 0, 0], [n, Ho, Wo, Cout]);
    const xT = tf.transpose(xs, [3, 1, 2, 0]); // [C, Hc, Wc, n]
    const f = tf.transpose(ds, [1, 2, 0, 3]); // [Ho, Wo, n, Cout]
    const part = tf.conv2d(
      xT,
      f,
      1,
      [[0, 0], [top, bottom], [left, right], [0, 0]],
      "NHWC",
      [Ho > 1 ? sh : 1, Wo > 1 ? sw : 1],
    ); // [C, kh, kw, Cout]
    acc = acc === undefined ? part : tf.add(acc, part);
  }
  return tf.transpose(acc!, [1, 2, 0, 3]);
}

/** The wasm backend's own Conv2DBackpropInput, kept for the cases where it is faster. */
let nativeConv2DBackpropInput: tf.KernelFunc | undefined;

/**
 * The input gradient of a 2-D convolution on the wasm backend (tfjs's `Conv2DBackpropInput`
 * kernel: inputs `dy`, `filter`; attributes `inputShape`, `strides`, `pad`, `dataFormat`,
 * `dimRoundingMode`), replacing the shipped one where that is faster: as stride-1 convolutions
 * through XNNPACK (see `./wasm_kernel_conv2d_input.ts`). NCHW goes to the native kernel.
 *
 * @example
 * ```ts
 * import { tf } from "../tf.ts";
 * const x = tf.randomNormal<tf.Rank.R4>([2, 8, 8, 3]);
 * const filter = tf.randomNormal<tf.Rank.R4>([3, 3, 3, 4]);
 * // Called by tfjs's conv2d gradient once registerWasmTrainingKernels() has run:
 * const g = tf.grad((t) => tf.conv2d(t as tf.Tensor4D, filter, 2, "same").sum())(x);
 * ```
 */
export function conv2DBackpropInputWasm(
  args: KernelArgs,
): tf.Tensor | TensorInfo | TensorInfo[] {
  const { inputs, backend, attrs } = args;
  const { dy, filter } = inputs;
  const { strides, pad, dataFormat, dimRoundingMode, inputShape } = attrs as ConvGradientAttrs & {
    inputShape: [number, number, number, number];
  };
  const channelsLast = tf.backend_util.convertConv2DDataFormat(dataFormat) === "channelsLast";
  const info = tf.backend_util.computeConv2DInfo(
    inputShape,
    filter.shape as [number, number, number, number],
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    channelsLast ? "channelsLast" : "channelsFirst",
  );
  const native = nativeConv2DBackpropInput;
  if (native !== undefined && (!channelsLast || !useCompositeInputGrad(info))) {
    return native(args as unknown as Parameters<tf.KernelFunc>[0]);
  }
  return tf.tidy(() => {
    let dyt = asTensor(dy, backend) as tf.Tensor4D;
    if (!channelsLast) dyt = tf.transpose(dyt, [0, 2, 3, 1]);
    const dx = conv2dInputGradNhwc(dyt, asTensor(filter, backend) as tf.Tensor4D, info, backend);
    return channelsLast ? dx : tf.transpose(dx, [0, 3, 1, 2]);
  });
}

/**
 * `UnsortedSegmentSum` on the wasm backend (the gradient of `tf.gather`): out[s, …] = Σ over i
 * with segmentIds[i] = s of x[i, …]; ids outside [0, numSegments) are dropped.
 *
 * @example
 * ```ts
 * import { tf } from "../tf.ts";
 * const table = tf.randomNormal([3, 8]); // 3 rows of 8
 * // Called by tfjs's gather gradient once registerWasmTrainingKernels() has run:
 * const g = tf.grad((t: tf.Tensor) => tf.gather(t, tf.tensor1d([0, 2, 0], "int32")).sum())(table);
 * ```
 */
export function unsortedSegmentSumWasm({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const { x, segmentIds } = inputs;
  const numSegments = (attrs as { numSegments: number }).numSegments;
  const segRank = segmentIds.shape.length;
  const outShape = [numSegments, ...x.shape.slice(segRank)];
  const count = tf.util.sizeFromShape(segmentIds.shape);
  const inner = tf.util.sizeFromShape(x.shape.slice(segRank));
  const out = backend.makeOutput(outShape, x.dtype); // may grow the heap: take views afterwards
  const outValues = backend.typedArrayFromHeap(out) as Float32Array | Int32Array;
  const xValues = backend.typedArrayFromHeap(x) as Float32Array | Int32Array;
  const ids = backend.typedArrayFromHeap(segmentIds) as Int32Array;
  outValues.fill(0);
  for (let i = 0; i < count; i++) {
    const s = ids[i];
    if (s < 0 || s >= numSegments) continue;
    const src = i * inner, dst = s * inner;
    for (let j = 0; j < inner; j++) outValues[dst + j] += xValues[src + j];
  }
  return out;
}

/**
 * `MaxPoolGrad` on the wasm backend, replacing the shipped one: tfjs-backend-wasm 4.22.0 drops
 * the gradient of windows at the padded border whose inputs are all negative (it routes it to the
 * padding; found by `tests/support/backend_probe.ts`, checked against a hand computation). Like the cpu
 * kernel, each output's gradient goes to the first maximum of its window in row-major order,
 * among real (unpadded) inputs. A direct loop over the wasm heap, NHWC.
 *
 * @example
 * ```ts
 * import { tf } from "../tf.ts";
 * const x = tf.randomNormal<tf.Rank.R4>([2, 16, 16, 64]);
 * // Called by tfjs's maxPool gradient once registerWasmTrainingKernels() has run:
 * const g = tf.grad((t) => tf.maxPool(t as tf.Tensor4D, 3, 2, "same").sum())(x);
 * ```
 */
export function maxPoolGradWasm({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const { dy, input } = inputs;
  const { filterSize, strides, pad, dimRoundingMode } = attrs as {
    filterSize: number | [number, number];
    strides: number | [number, number];
    pad: "valid" | "same" | number | tf.backend_util.ExplicitPadding;
    dimRoundingMode?: "floor" | "round" | "ceil";
  };
  const info = tf.backend_util.computePool2DInfo(
    input.shape as [number, number, number, number],
    filterSize,
    strides,
    1,
    pad,
    dimRoundingMode,
  );
  const { batchSize: N, inHeight: H, inWidth: W, inChannels: C, outHeight: Ho, outWidth: Wo } =
    info;
  const { strideHeight: sh, strideWidth: sw } = info;
  const kh = info.effectiveFilterHeight, kw = info.effectiveFilterWidth;
  const top = info.padInfo.top, left = info.padInfo.left;
  const dx = backend.makeOutput(input.shape, input.dtype); // may grow the heap: views afterwards
  const dxValues = backend.typedArrayFromHeap(dx) as Float32Array;
  const x = backend.typedArrayFromHeap(input) as Float32Array;
  const g = backend.typedArrayFromHeap(dy) as Float32Array;
  dxValues.fill(0);
  // Per output position, the window is scanned in row-major order with the channels innermost
  // (contiguous in NHWC): the first strict maximum of each channel wins, as in the cpu kernel.
  const best = new Float32Array(C), at = new Int32Array(C);
  for (let n = 0; n < N; n++) {
    for (let oy = 0; oy < Ho; oy++) {
      const y0 = oy * sh - top;
      const yMin = Math.max(0, y0), yMax = Math.min(H, y0 + kh);
      for (let ox = 0; ox < Wo; ox++) {
        const x0 = ox * sw - left;
        const xMin = Math.max(0, x0), xMax = Math.min(W, x0 + kw);
        best.fill(Number.NEGATIVE_INFINITY);
        at.fill(-1);
        for (let iy = yMin; iy < yMax; iy++) {
          for (let ix = xMin; ix < xMax; ix++) {
            const base = ((n * H + iy) * W + ix) * C;
            for (let c = 0; c < C; c++) {
              const v = x[base + c];
              if (v > best[c]) {
                best[c] = v;
                at[c] = base + c;
              }
            }
          }
        }
        const dyBase = ((n * Ho + oy) * Wo + ox) * C;
        for (let c = 0; c < C; c++) if (at[c] >= 0) dxValues[at[c]] += g[dyBase + c];
      }
    }
  }
  return dx;
}

/**
 * The kernels this module supplies, by tfjs kernel name.
 *
 * @example
 * ```ts
 * Object.keys(WASM_TRAINING_KERNELS);
 * // ["Conv2DBackpropFilter", "UnsortedSegmentSum", "MaxPoolGrad", "Conv2DBackpropInput"]
 * ```
 */
export const WASM_TRAINING_KERNELS: Readonly<Record<string, tf.KernelFunc>> = {
  Conv2DBackpropFilter: conv2DBackpropFilterWasm as unknown as tf.KernelFunc,
  UnsortedSegmentSum: unsortedSegmentSumWasm as unknown as tf.KernelFunc,
  MaxPoolGrad: maxPoolGradWasm as unknown as tf.KernelFunc,
  Conv2DBackpropInput: conv2DBackpropInputWasm as unknown as tf.KernelFunc,
};

/**
 * Kernels the wasm backend ships that are replaced: MaxPoolGrad computes something else,
 * Conv2DBackpropInput is slow (the native one is kept and still serves some cases).
 */
const REPLACED = new Set(["MaxPoolGrad", "Conv2DBackpropInput"]);

/**
 * Registers every kernel of {@link WASM_TRAINING_KERNELS} that the wasm backend does not already
 * have, and replaces its MaxPoolGrad and Conv2DBackpropInput (idempotent); returns the names
 * registered by this call.
 *
 * @example
 * ```ts
 * registerWasmTrainingKernels(); // ["Conv2DBackpropFilter", …, "Conv2DBackpropInput"]
 * registerWasmTrainingKernels(); // [] afterwards
 * ```
 */
export function registerWasmTrainingKernels(): string[] {
  const added: string[] = [];
  for (const [kernelName, kernelFunc] of Object.entries(WASM_TRAINING_KERNELS)) {
    const existing = tf.getKernel(kernelName, "wasm");
    if (existing?.kernelFunc === kernelFunc) continue;
    if (existing !== undefined) {
      if (!REPLACED.has(kernelName)) continue;
      if (kernelName === "Conv2DBackpropInput") nativeConv2DBackpropInput = existing.kernelFunc;
      tf.unregisterKernel(kernelName, "wasm");
    }
    // The replaced kernel's setupFunc stays: it binds the native function kept for fallback.
    tf.registerKernel({
      kernelName,
      backendName: "wasm",
      kernelFunc,
      setupFunc: existing?.setupFunc,
      disposeFunc: existing?.disposeFunc,
    });
    added.push(kernelName);
  }
  return added;
}
