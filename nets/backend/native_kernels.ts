/**
 * The float32 kernels of the native CPU backend (issue: train at PyTorch's CPU speed): the wasm
 * backend with its heaviest kernels replaced by calls into system libraries through Deno's FFI,
 * directly on the wasm heap (Deno passes views of the heap's SharedArrayBuffer without a copy).
 * Everything else stays wasm's (XNNPACK, SIMD; one thread under native, see `./select.ts`).
 *
 * - **Conv2D, Conv2DBackpropInput, Conv2DBackpropFilter** (NHWC): oneDNN 2.x's primitives
 *   (`./onednn_conv.ts`; Debian's libdnnl2, the library PyTorch's CPU convolutions run on) where
 *   it loads. Measured on ResNet18 at batch 256, 2 threads, a training step took 0.42 s with them
 *   against 0.82 s with the OpenBLAS paths below (`deno task bench:step`, `NC_DNNL=off` for the
 *   second). Without oneDNN, or for a geometry it refuses:
 *   - Conv2D: a 1×1 stride-1 unpadded convolution is one OpenBLAS sgemm of the input itself
 *     ([N·H·W, Cin] × [Cin, Cout]); any other is im2col into a buffer of at most
 *     {@link IM2COL_MAX_FLOATS} floats ({@link setIm2colLimit}) (whole images per chunk; kernel
 *     rows copied as contiguous runs when the dilation is 1) times the HWIO filter, which is
 *     already the [kh·kw·Cin, Cout] matrix, written into the output in place;
 *   - Conv2DBackpropFilter: dW = Σ over im2col chunks of colᵀ · dy (one sgemm per chunk,
 *     accumulating), the pointwise case xᵀ · dy;
 *   - Conv2DBackpropInput: wasm's composite (nets/backend/wasm_kernels.ts: stride-1 convolutions
 *     of dy, one per stride phase) over the Conv2D above; a direct dy · Wᵀ + col2im measured
 *     slower (2.18 vs 1.90 s a step, side by side).
 * - **MaxPoolGrad**: oneDNN's pooling backward (`./onednn_pool.ts`), else wasm's TypeScript loop.
 * - **Batch normalisation without scale and shift** (the paper's default): two kernels of this
 *   backend's own, `NcBatchNormTraining` (x → x̂, batch mean, biased variance) and
 *   `NcBatchNormTrainingGrad` (dx), on oneDNN (`./onednn_norm.ts`); {@link nativeBatchNorm} says
 *   where they run, and `nets/models/batch_norm.ts` uses them there (a ResNet18 step: 15 ms
 *   against about 120 ms for the XNNPACK elementwise chain; 0.49 → 0.36 s).
 * - **BatchMatMul / _FusedMatMul**: one OpenBLAS sgemm per batch item (outer batch dimensions
 *   equal, or one side's batch of 1 broadcast), transposes passed to sgemm; `_FusedMatMul`'s bias
 *   (a vector over the last dimension, or a scalar) and `linear`/`relu` activation applied after.
 * - **Sum / Mean** over every axis but the last (BatchNorm's statistics): one sgemv with ones.
 * - Anything else (NCHW, other fused activations, a PReLU weight, broadcasting of unequal batch
 *   shapes) runs the wasm kernel it replaced.
 *
 * {@link registerNativeKernels} installs them on the `wasm` backend (idempotent) and
 * {@link unregisterNativeKernels} restores wasm's; both need OpenBLAS (`libopenblas0-pthread`, or
 * `NC_BLAS_LIBRARY`) and `--allow-ffi`; oneDNN is optional ({@link preferOneDnn} turns it off in
 * a process, `NC_DNNL=off` for all). Parity with tfjs's cpu backend on both paths:
 * `tests/native_kernels_test.ts`; oneDNN's kernels against float64: `tests/onednn_conv_test.ts`,
 * `tests/onednn_pool_test.ts`.
 *
 * @module
 */
import { tf } from "../tf.ts";
import { ffiAllowed, openLibrary } from "../../core/ffi.ts";
import { BLAS_CANDIDATES } from "../../solver/blas.ts";
import { loadDnnl } from "./onednn.ts";
import { convBackwardData, convBackwardWeights, convForward } from "./onednn_conv.ts";
import { maxPoolBackward } from "./onednn_pool.ts";
import { batchNormBackward, batchNormForward, batchNormSupported } from "./onednn_norm.ts";

const SYMBOLS = {
  openblas_set_num_threads: { parameters: ["i32"], result: "void", optional: true },
  cblas_sgemv: {
    parameters: [
      "i32",
      "i32",
      "i32",
      "i32",
      "f32",
      "buffer",
      "i32",
      "buffer",
      "i32",
      "f32",
      "buffer",
      "i32",
    ],
    result: "void",
  },
  cblas_sgemm: {
    parameters: [
      "i32",
      "i32",
      "i32",
      "i32",
      "i32",
      "i32",
      "f32",
      "buffer",
      "i32",
      "buffer",
      "i32",
      "f32",
      "buffer",
      "i32",
    ],
    result: "void",
  },
} as const;

const ROW_MAJOR = 101, NO_TRANS = 111, TRANS = 112;

/**
 * The largest im2col buffer of a Conv2D, in floats (8 Mi: 32 MiB); whole images per chunk, at
 * least one.
 *
 * @example
 * ```ts
 * IM2COL_MAX_FLOATS; // 8388608
 * ```
 */
export const IM2COL_MAX_FLOATS = 1 << 23;

let im2colLimit = IM2COL_MAX_FLOATS;

/**
 * Sets the im2col buffer's limit in floats (default {@link IM2COL_MAX_FLOATS}): less memory, or
 * small chunks in tests; returns the previous limit.
 *
 * @example
 * ```ts
 * const previous = setIm2colLimit(1024); // chunks of whole images of at most 1024 floats
 * setIm2colLimit(previous);
 * ```
 */
export function setIm2colLimit(floats: number): number {
  if (!(Number.isSafeInteger(floats) && floats >= 1)) {
    throw new RangeError(`im2col limit: got ${floats}, allowed: a positive integer`);
  }
  const previous = im2colLimit;
  im2colLimit = floats;
  return previous;
}

type Sgemm = (
  transA: boolean,
  transB: boolean,
  m: number,
  n: number,
  k: number,
  a: Float32Array,
  lda: number,
  b: Float32Array,
  ldb: number,
  c: Float32Array,
  ldc: number,
  beta?: number,
) => void;

/** y = alpha·Aᵀ·x for a row-major m×n A (so y has n entries): column sums when x is all ones. */
type ColumnSums = (
  m: number,
  n: number,
  alpha: number,
  a: Float32Array,
  x: Float32Array,
  y: Float32Array,
) => void;

let sgemmCached:
  | {
    library: string;
    sgemm: Sgemm;
    columnSums: ColumnSums;
    setThreads: ((n: number) => void) | null;
  }
  | null
  | undefined;

/**
 * OpenBLAS's `cblas_sgemm` as `C = op(A)·op(B) + beta·C` (row-major, beta default 0), or null
 * without `--allow-ffi` or the
 * library (`NC_BLAS=off` turns it off too).
 *
 * @example
 * ```ts
 * const blas = nativeSgemm();
 * const c = new Float32Array(4);
 * blas?.sgemm(false, false, 2, 2, 1, Float32Array.of(1, 2), 1, Float32Array.of(3, 4), 2, c, 2);
 * // c = [3, 4, 6, 8]
 * ```
 */
export function nativeSgemm(): {
  library: string;
  sgemm: Sgemm;
  /** `cblas_sgemv` as y = alpha·Aᵀ·x (A row-major m×n). */
  columnSums: ColumnSums;
  /** OpenBLAS's thread count (`openblas_set_num_threads`), null in another BLAS. */
  setThreads: ((n: number) => void) | null;
} | null {
  if (sgemmCached !== undefined) return sgemmCached;
  sgemmCached = null;
  if (!ffiAllowed("NC_BLAS")) return null;
  const opened = openLibrary("NC_BLAS_LIBRARY", BLAS_CANDIDATES, SYMBOLS);
  if (opened === null) return null;
  const f = opened.library.symbols.cblas_sgemm;
  const threads = opened.library.symbols.openblas_set_num_threads;
  const gemv = opened.library.symbols.cblas_sgemv;
  sgemmCached = {
    library: opened.path,
    columnSums: (m, n, alpha, a, x, y) => gemv(ROW_MAJOR, TRANS, m, n, alpha, a, n, x, 1, 0, y, 1),
    setThreads: threads === null ? null : (n: number) => threads(n),
    sgemm: (transA, transB, m, n, k, a, lda, b, ldb, c, ldc, beta = 0) =>
      f(
        ROW_MAJOR,
        transA ? TRANS : NO_TRANS,
        transB ? TRANS : NO_TRANS,
        m,
        n,
        k,
        1,
        a,
        lda,
        b,
        ldb,
        beta,
        c,
        ldc,
      ),
  };
  return sgemmCached;
}

type TensorInfo = tf.TensorInfo;
// deno-lint-ignore no-explicit-any
type Backend = any;
type KernelArgs = {
  inputs: Record<string, TensorInfo | undefined>;
  backend: Backend;
  attrs?: Record<string, unknown>;
};
type KernelFunc = (args: KernelArgs) => TensorInfo;

const product = (dims: readonly number[]) => dims.reduce((a, b) => a * b, 1);

/** The wasm kernels replaced, kept to fall back on and to restore. */
const replaced = new Map<string, ReturnType<typeof tf.getKernel>>();

function fallback(name: string, args: KernelArgs): TensorInfo {
  const k = replaced.get(name);
  if (k === undefined) throw new Error(`native kernels: no wasm ${name} to fall back on`);
  return (k.kernelFunc as unknown as KernelFunc)(args);
}

/** [batch, rows, cols] of a rank ≥ 2 shape, and its outer (batch) dimensions. */
function asBatches(
  shape: readonly number[],
): { outer: number[]; batch: number; r: number; c: number } {
  const outer = shape.slice(0, -2);
  return { outer, batch: product(outer), r: shape[shape.length - 2], c: shape[shape.length - 1] };
}

/** C = op(A)·op(B) per batch item, into a new output; null when the batch shapes do not fit. */
function matMul(
  args: KernelArgs,
  sgemm: Sgemm,
): { out: TensorInfo; m: number; n: number } | null {
  const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
  const transposeA = args.attrs?.transposeA === true, transposeB = args.attrs?.transposeB === true;
  if (a.dtype !== "float32" || b.dtype !== "float32" || a.shape.length < 2 || b.shape.length < 2) {
    return null;
  }
  const A = asBatches(a.shape), B = asBatches(b.shape);
  const sameOuter = A.outer.length === B.outer.length && A.outer.every((d, i) => d === B.outer[i]);
  if (!sameOuter && A.batch !== 1 && B.batch !== 1) return null;
  const m = transposeA ? A.c : A.r, k = transposeA ? A.r : A.c;
  const n = transposeB ? B.r : B.c, kb = transposeB ? B.c : B.r;
  if (k !== kb) return null; // the wasm kernel reports the mismatch
  const outer = A.batch >= B.batch ? A.outer : B.outer;
  const batch = Math.max(A.batch, B.batch);
  const out = args.backend.makeOutput([...outer, m, n], "float32"); // may grow the heap
  const av = args.backend.typedArrayFromHeap(a) as Float32Array;
  const bv = args.backend.typedArrayFromHeap(b) as Float32Array;
  const cv = args.backend.typedArrayFromHeap(out) as Float32Array;
  for (let i = 0; i < batch; i++) {
    const ai = A.batch === 1 ? 0 : i, bi = B.batch === 1 ? 0 : i;
    sgemm(
      transposeA,
      transposeB,
      m,
      n,
      k,
      av.subarray(ai * A.r * A.c, (ai + 1) * A.r * A.c),
      A.c,
      bv.subarray(bi * B.r * B.c, (bi + 1) * B.r * B.c),
      B.c,
      cv.subarray(i * m * n, (i + 1) * m * n),
      n,
    );
  }
  return { out, m, n };
}

function batchMatMul(args: KernelArgs): TensorInfo {
  const blas = nativeSgemm();
  const r = blas === null ? null : matMul(args, blas.sgemm);
  return r === null ? fallback("BatchMatMul", args) : r.out;
}

function fusedMatMul(args: KernelArgs): TensorInfo {
  const activation = (args.attrs?.activation as string | undefined) ?? "linear";
  const { bias, preluActivationWeights } = args.inputs;
  const blas = nativeSgemm();
  const biasOk = bias === undefined ||
    (bias.dtype === "float32" && (product(bias.shape) === 1 || bias.shape.length === 1));
  if (
    blas === null || preluActivationWeights !== undefined || !biasOk ||
    (activation !== "linear" && activation !== "relu")
  ) return fallback("_FusedMatMul", args);
  const r = matMul(args, blas.sgemm);
  if (r === null) return fallback("_FusedMatMul", args);
  const c = args.backend.typedArrayFromHeap(r.out) as Float32Array;
  const bv = bias === undefined ? null : args.backend.typedArrayFromHeap(bias) as Float32Array;
  if (bv !== null && bv.length !== 1 && bv.length !== r.n) {
    args.backend.disposeData(r.out.dataId);
    return fallback("_FusedMatMul", args);
  }
  const relu = activation === "relu";
  if (bv !== null || relu) {
    for (let i = 0; i < c.length; i += r.n) {
      for (let j = 0; j < r.n; j++) {
        let v = c[i + j];
        if (bv !== null) v += bv.length === 1 ? bv[0] : bv[j];
        c[i + j] = relu && v < 0 ? 0 : v;
      }
    }
  }
  return r.out;
}

/** `x` (NHWC) as im2col rows of whole images `first … first + count − 1`, into `col`. */
function im2col(
  x: Float32Array,
  info: tf.backend_util.Conv2DInfo,
  first: number,
  count: number,
  col: Float32Array,
): void {
  const { inHeight: H, inWidth: W, inChannels: C, outHeight: Ho, outWidth: Wo } = info;
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw } = info;
  const { dilationHeight: dh, dilationWidth: dw } = info;
  const top = info.padInfo.top, left = info.padInfo.left;
  const K = kh * kw * C;
  let r = 0;
  for (let img = first; img < first + count; img++) {
    const base = img * H * W * C;
    for (let oy = 0; oy < Ho; oy++) {
      for (let ox = 0; ox < Wo; ox++, r++) {
        const row = r * K;
        for (let ky = 0; ky < kh; ky++) {
          const iy = oy * sh - top + ky * dh;
          const at = row + ky * kw * C;
          if (iy < 0 || iy >= H) {
            col.fill(0, at, at + kw * C);
            continue;
          }
          const x0 = ox * sw - left;
          if (dw === 1) {
            // The in-bounds kernel columns are one contiguous run of the input row.
            const lo = Math.max(0, -x0), hi = Math.min(kw, W - x0);
            if (lo > 0) col.fill(0, at, at + lo * C);
            if (hi > lo) {
              const from = base + (iy * W + x0 + lo) * C, n = (hi - lo) * C, to = at + lo * C;
              // Short runs by hand: a subarray per run costs more than the copy.
              if (n < 128) { for (let i = 0; i < n; i++) col[to + i] = x[from + i]; }
              else col.set(x.subarray(from, from + n), to);
            }
            if (hi < kw) col.fill(0, at + Math.max(hi, lo) * C, at + kw * C);
          } else {
            for (let kx = 0; kx < kw; kx++) {
              const ix = x0 + kx * dw, to = at + kx * C;
              if (ix < 0 || ix >= W) col.fill(0, to, to + C);
              else col.set(x.subarray(base + (iy * W + ix) * C, base + (iy * W + ix + 1) * C), to);
            }
          }
        }
      }
    }
  }
}

let colBuffer = new Float32Array(0);

let oneDnnPreferred = true;

/**
 * Whether the convolution and max-pooling kernels go to oneDNN when it is loaded (default true);
 * false runs their OpenBLAS / wasm paths (tests compare both). Returns the previous setting.
 *
 * @example
 * ```ts
 * const previous = preferOneDnn(false); // OpenBLAS im2col convolutions from here on
 * preferOneDnn(previous);
 * ```
 */
export function preferOneDnn(on: boolean): boolean {
  const previous = oneDnnPreferred;
  oneDnnPreferred = on;
  return previous;
}

/** oneDNN when it is loaded and preferred, else null. */
function dnnlOrNull() {
  return oneDnnPreferred ? loadDnnl().dnnl : null;
}

function conv2D(args: KernelArgs): TensorInfo {
  const { x, filter } = args.inputs as { x: TensorInfo; filter: TensorInfo };
  const attrs = args.attrs ?? {};
  const blas = nativeSgemm();
  if (
    blas === null || attrs.dataFormat === "NCHW" || x.dtype !== "float32" ||
    filter.dtype !== "float32"
  ) return fallback("Conv2D", args);
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filter.shape as [number, number, number, number],
    attrs.strides as [number, number] | number,
    (attrs.dilations as [number, number] | number | undefined) ?? 1,
    attrs.pad as "valid" | "same" | number,
    attrs.dimRoundingMode as "floor" | "round" | "ceil" | undefined,
    false,
    "channelsLast",
  );
  const { batchSize: Nb, outHeight: Ho, outWidth: Wo, outChannels: Co } = info;
  const K = info.filterHeight * info.filterWidth * info.inChannels;
  const out = args.backend.makeOutput([Nb, Ho, Wo, Co], "float32"); // may grow the heap
  const xv = args.backend.typedArrayFromHeap(x) as Float32Array;
  const fv = args.backend.typedArrayFromHeap(filter) as Float32Array;
  const ov = args.backend.typedArrayFromHeap(out) as Float32Array;
  const dnnl = dnnlOrNull();
  if (dnnl !== null && convForward(dnnl, info, xv, fv, ov)) return out;
  if (isPointwise(info)) {
    blas.sgemm(false, false, Nb * Ho * Wo, Co, K, xv, K, fv, Co, ov, Co);
    return out;
  }
  const perImage = Ho * Wo * K;
  const chunk = chunkOf(Nb, perImage);
  if (colBuffer.length < chunk * perImage) colBuffer = new Float32Array(chunk * perImage);
  for (let first = 0; first < Nb; first += chunk) {
    const count = Math.min(chunk, Nb - first);
    im2col(xv, info, first, count, colBuffer);
    const rows = count * Ho * Wo;
    const at = first * Ho * Wo * Co;
    blas.sgemm(
      false,
      false,
      rows,
      Co,
      K,
      colBuffer,
      K,
      fv,
      Co,
      ov.subarray(at, at + rows * Co),
      Co,
    );
  }
  return out;
}

/** The convolution of a gradient kernel's attributes (NHWC), as computeConv2DInfo gives it. */
function gradientInfo(
  xShape: readonly number[],
  filterShape: readonly number[],
  attrs: Record<string, unknown>,
): tf.backend_util.Conv2DInfo {
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides as [number, number] | number,
    1,
    attrs.pad as "valid" | "same" | number,
    attrs.dimRoundingMode as "floor" | "round" | "ceil" | undefined,
    false,
    "channelsLast",
  );
}

/** The whole images per im2col chunk for `perImage` floats each (at least one). */
function chunkOf(images: number, perImage: number): number {
  return Math.max(1, Math.min(images, Math.floor(im2colLimit / perImage)));
}

/** dW (kh·kw·Cin × Cout) = Σ over chunks of im2col(x)ᵀ · dy. */
function conv2DBackpropFilter(args: KernelArgs): TensorInfo {
  const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
  const attrs = args.attrs ?? {};
  const blas = nativeSgemm();
  if (blas === null || attrs.dataFormat === "NCHW" || x.dtype !== "float32") {
    return fallback("Conv2DBackpropFilter", args);
  }
  const filterShape = attrs.filterShape as number[];
  const info = gradientInfo(x.shape, filterShape, attrs);
  const { batchSize: Nb, outHeight: Ho, outWidth: Wo, outChannels: Co } = info;
  const K = info.filterHeight * info.filterWidth * info.inChannels;
  const out = args.backend.makeOutput(filterShape, "float32"); // may grow the heap
  const xv = args.backend.typedArrayFromHeap(x) as Float32Array;
  const gv = args.backend.typedArrayFromHeap(dy) as Float32Array;
  const ov = args.backend.typedArrayFromHeap(out) as Float32Array;
  const dnnl = dnnlOrNull();
  if (dnnl !== null && convBackwardWeights(dnnl, info, xv, gv, ov)) return out;
  const perImage = Ho * Wo * K;
  if (isPointwise(info)) {
    blas.sgemm(true, false, K, Co, Nb * Ho * Wo, xv, K, gv, Co, ov, Co);
    return out;
  }
  const chunk = chunkOf(Nb, perImage);
  if (colBuffer.length < chunk * perImage) colBuffer = new Float32Array(chunk * perImage);
  for (let first = 0; first < Nb; first += chunk) {
    const count = Math.min(chunk, Nb - first), rows = count * Ho * Wo;
    im2col(xv, info, first, count, colBuffer);
    const g = gv.subarray(first * Ho * Wo * Co, (first + count) * Ho * Wo * Co);
    blas.sgemm(true, false, K, Co, rows, colBuffer, K, g, Co, ov, Co, first === 0 ? 0 : 1);
  }
  return out;
}

/**
 * dx of a convolution (NHWC) through oneDNN; without it (or for a geometry it refuses) the kernel
 * this one replaced (wasm's polyphase composite over the native Conv2D).
 */
function conv2DBackpropInput(args: KernelArgs): TensorInfo {
  const { dy, filter } = args.inputs as { dy: TensorInfo; filter: TensorInfo };
  const attrs = args.attrs ?? {};
  const dnnl = dnnlOrNull();
  if (
    dnnl === null || attrs.dataFormat === "NCHW" || dy.dtype !== "float32" ||
    filter.dtype !== "float32"
  ) return fallback("Conv2DBackpropInput", args);
  const inputShape = attrs.inputShape as number[];
  const info = gradientInfo(inputShape, filter.shape, attrs);
  return intoNewOutput(
    args,
    "Conv2DBackpropInput",
    inputShape,
    [dy, filter],
    ([g, f], out) => convBackwardData(dnnl, info, g, f, out),
  );
}

/** The gradient of max pooling (NHWC) through oneDNN; else wasm's (the TypeScript loop). */
function maxPoolGrad(args: KernelArgs): TensorInfo {
  const { dy, input } = args.inputs as { dy: TensorInfo; input: TensorInfo };
  const attrs = args.attrs ?? {};
  const dnnl = dnnlOrNull();
  if (dnnl === null || input.dtype !== "float32") return fallback("MaxPoolGrad", args);
  const info = tf.backend_util.computePool2DInfo(
    input.shape as [number, number, number, number],
    attrs.filterSize as number | [number, number],
    attrs.strides as number | [number, number],
    1,
    attrs.pad as "valid" | "same" | number,
    attrs.dimRoundingMode as "floor" | "round" | "ceil" | undefined,
  );
  return intoNewOutput(
    args,
    "MaxPoolGrad",
    input.shape,
    [input, dy],
    ([x, g], out) => maxPoolBackward(dnnl, info, x, g, out),
  );
}

/**
 * A new float32 output of `shape` filled by `fill` from the heap views of `inputs` (taken after
 * the output is made: making it may grow the heap); where `fill` declines (false), the output is
 * freed and kernel `name`'s replaced wasm kernel runs instead.
 */
function intoNewOutput(
  args: KernelArgs,
  name: string,
  shape: readonly number[],
  inputs: TensorInfo[],
  fill: (views: Float32Array[], out: Float32Array) => boolean,
): TensorInfo {
  const out = args.backend.makeOutput(shape, "float32");
  const views = inputs.map((t) => args.backend.typedArrayFromHeap(t) as Float32Array);
  if (fill(views, args.backend.typedArrayFromHeap(out) as Float32Array)) return out;
  args.backend.disposeData(out.dataId);
  return fallback(name, args);
}

/** A 1×1, stride-1, unpadded convolution: the input is its own im2col matrix. */
function isPointwise(info: tf.backend_util.Conv2DInfo): boolean {
  return info.filterHeight === 1 && info.filterWidth === 1 && info.strideHeight === 1 &&
    info.strideWidth === 1 && info.padInfo.top === 0 && info.padInfo.left === 0 &&
    info.outHeight === info.inHeight && info.outWidth === info.inWidth;
}

let ones = new Float32Array(0);

/**
 * `Sum` and `Mean` over every axis but the last (BatchNorm's per-channel statistics and their
 * gradients): the column sums of the [rows, C] matrix, one `sgemv` with a vector of ones
 * (alpha 1/rows for the mean); other reductions run wasm's kernel.
 */
function channelReduction(name: "Sum" | "Mean"): KernelFunc {
  return (args) => {
    const { x } = args.inputs as { x: TensorInfo };
    const blas = nativeSgemm();
    const rank = x.shape.length;
    const axis = args.attrs?.axis as number | number[] | undefined;
    const axes = (axis === undefined ? [] : Array.isArray(axis) ? axis : [axis])
      .map((a) => (a < 0 ? a + rank : a));
    const leading = rank >= 2 && axes.length === rank - 1 &&
      [...axes].sort((a, b) => a - b).every((a, i) => a === i);
    if (blas === null || x.dtype !== "float32" || !leading) return fallback(name, args);
    const C = x.shape[rank - 1], rows = product(x.shape) / C;
    const keepDims = args.attrs?.keepDims === true;
    const out = args.backend.makeOutput(
      keepDims ? [...x.shape.slice(0, -1).map(() => 1), C] : [C],
      "float32",
    ); // may grow the heap
    if (ones.length < rows) ones = new Float32Array(rows).fill(1);
    blas.columnSums(
      rows,
      C,
      name === "Mean" ? 1 / rows : 1,
      args.backend.typedArrayFromHeap(x) as Float32Array,
      ones,
      args.backend.typedArrayFromHeap(out) as Float32Array,
    );
    return out;
  };
}

/**
 * The kernels this module provides, by tfjs kernel name.
 *
 * @example
 * ```ts
 * Object.keys(NATIVE_KERNELS); // ["BatchMatMul", "_FusedMatMul", "Conv2D", "Conv2DBackpropFilter", …]
 * ```
 */
export const NATIVE_KERNELS: Readonly<Record<string, KernelFunc>> = {
  BatchMatMul: batchMatMul,
  _FusedMatMul: fusedMatMul,
  Conv2D: conv2D,
  Conv2DBackpropFilter: conv2DBackpropFilter,
  Conv2DBackpropInput: conv2DBackpropInput,
  MaxPoolGrad: maxPoolGrad,
  Sum: channelReduction("Sum"),
  Mean: channelReduction("Mean"),
};

/**
 * Installs {@link NATIVE_KERNELS} on the `wasm` backend (start it first), keeping wasm's to fall
 * back on; returns false, changing nothing, when OpenBLAS cannot be loaded (no `--allow-ffi`,
 * no library, `NC_BLAS=off`). Idempotent.
 *
 * @example
 * ```ts
 * import { selectBackend } from "./select.ts";
 * await selectBackend("wasm");
 * registerNativeKernels(); // true with --allow-ffi and libopenblas0-pthread
 * ```
 */
export function registerNativeKernels(): boolean {
  if (nativeSgemm() === null) return false;
  for (const [kernelName, kernelFunc] of Object.entries(NATIVE_KERNELS)) {
    const existing = tf.getKernel(kernelName, "wasm");
    if (existing === undefined) {
      throw new Error(`native kernels: the wasm backend has no ${kernelName}: start it first`);
    }
    if (existing.kernelFunc === (kernelFunc as unknown)) continue;
    replaced.set(kernelName, existing);
    tf.unregisterKernel(kernelName, "wasm");
    tf.registerKernel({
      kernelName,
      backendName: "wasm",
      kernelFunc: kernelFunc as unknown as tf.KernelFunc,
      setupFunc: existing.setupFunc, // binds the wasm function kept for the fallback
      disposeFunc: existing.disposeFunc,
    });
  }
  return true;
}

/** The native backend's own kernel names: batch normalisation without scale and shift. */
const NORM_FORWARD = "NcBatchNormTraining", NORM_BACKWARD = "NcBatchNormTrainingGrad";

/** Batch normalisation's forward: x → [x̂, mean, biased variance] (attribute `eps`). */
function normForward(args: KernelArgs): TensorInfo[] {
  const { x } = args.inputs as { x: TensorInfo };
  const eps = args.attrs?.eps as number, C = x.shape[x.shape.length - 1];
  const y = args.backend.makeOutput(x.shape, "float32");
  const mean = args.backend.makeOutput([C], "float32");
  const variance = args.backend.makeOutput([C], "float32");
  const view = (t: TensorInfo) => args.backend.typedArrayFromHeap(t) as Float32Array;
  if (
    !batchNormForward(loadDnnl().dnnl!, x.shape, eps, view(x), view(y), view(mean), view(variance))
  ) {
    throw new Error(`${NORM_FORWARD}: oneDNN refused shape [${x.shape}]`); // checked before
  }
  return [y, mean, variance];
}

/** Batch normalisation's input gradient: (dy, x, mean, variance) → dx (attribute `eps`). */
function normBackward(args: KernelArgs): TensorInfo {
  const { dy, x, mean, variance } = args.inputs as Record<string, TensorInfo>;
  const eps = args.attrs?.eps as number;
  const dx = args.backend.makeOutput(x.shape, "float32");
  const view = (t: TensorInfo) => args.backend.typedArrayFromHeap(t) as Float32Array;
  const ok = batchNormBackward(
    loadDnnl().dnnl!,
    x.shape,
    eps,
    view(x),
    view(dy),
    view(mean),
    view(variance),
    view(dx),
  );
  if (!ok) throw new Error(`${NORM_BACKWARD}: oneDNN refused shape [${x.shape}]`);
  return dx;
}

/**
 * Training-mode batch normalisation without scale and shift as two native kernels, where they can
 * run: the wasm backend active with the native kernels installed, oneDNN loaded and preferred,
 * and a primitive for this shape. Returns the forward (x → x̂, mean, biased variance) and the
 * input gradient, or null (callers compute it with tfjs ops).
 *
 * @example
 * ```ts
 * import { tf } from "../tf.ts";
 * const x = tf.randomNormal([8, 4, 4, 16]);
 * const norm = nativeBatchNorm(x.shape, 1e-5);
 * if (norm) { const [xhat, mean, variance] = norm.forward(x); }
 * ```
 */
export function nativeBatchNorm(shape: readonly number[], eps: number): {
  forward: (x: tf.Tensor) => [tf.Tensor, tf.Tensor1D, tf.Tensor1D];
  backward: (dy: tf.Tensor, x: tf.Tensor, mean: tf.Tensor, variance: tf.Tensor) => tf.Tensor;
} | null {
  if (tf.getBackend() !== "wasm" || replaced.size === 0) return null;
  const dnnl = dnnlOrNull();
  if (dnnl === null || !batchNormSupported(dnnl, shape, eps)) return null;
  for (
    const [kernelName, kernelFunc] of [[NORM_FORWARD, normForward], [
      NORM_BACKWARD,
      normBackward,
    ]] as const
  ) {
    if (tf.getKernel(kernelName, "wasm") === undefined) {
      tf.registerKernel({
        kernelName,
        backendName: "wasm",
        kernelFunc: kernelFunc as unknown as tf.KernelFunc,
      });
    }
  }
  return {
    forward: (x) =>
      tf.engine().runKernel(NORM_FORWARD, { x }, { eps }) as unknown as [
        tf.Tensor,
        tf.Tensor1D,
        tf.Tensor1D,
      ],
    backward: (dy, x, mean, variance) =>
      tf.engine().runKernel(NORM_BACKWARD, { dy, x, mean, variance }, { eps }) as tf.Tensor,
  };
}

/**
 * Puts wasm's own kernels back (after {@link registerNativeKernels}).
 *
 * @example
 * ```ts
 * unregisterNativeKernels();
 * ```
 */
export function unregisterNativeKernels(): void {
  for (const [kernelName, original] of replaced) {
    tf.unregisterKernel(kernelName, "wasm");
    tf.registerKernel(original!);
  }
  replaced.clear();
}
