/**
 * The paper's input transforms (docs/method.md section 9) on whole batches, in typed-array loops over
 * uint8 images, seeded from the project's {@link Rng}.
 *
 * The geometric steps reproduce what torchvision does on the PIL images its datasets return,
 * integer for integer:
 *
 * - **Resize** (`transforms.Resize(32)`, bilinear): Pillow's `Image.resize(…, BILINEAR)` — a
 *   separable triangle filter on pixel centres (output pixel x samples the input at
 *   `(x + 0.5)·in/out`, i.e. half-pixel centres, `align_corners=False`), taps outside the image
 *   dropped and the rest renormalised (equivalent to edge clamping when upsampling), weights in
 *   22-bit fixed point, horizontal pass first, each pass rounded to uint8 (round half up) and
 *   clamped. Downsampling widens the filter by the scale factor (antialiasing), as Pillow does.
 *   It differs from a float `F.interpolate(…, mode="bilinear", align_corners=False)` only by that
 *   uint8 rounding (≤ 1/255 per pass).
 * - **Rotation** (`transforms.RandomRotation(25)`: NEAREST, fill 0, about the centre, no expand):
 *   Pillow's `Image.rotate(angle)`: angle in degrees counter-clockwise as displayed (y down),
 *   taken modulo 360; 0, 180 and (for square images) 90/270 are exact transposes; otherwise the
 *   inverse affine map (matrix entries rounded to 15 decimals, centre (w/2, h/2)) is applied to
 *   output pixel centres (x + ½, y + ½) in Pillow's 16.16 fixed point and the source pixel is the
 *   floor of the result; sources outside the image give 0.
 * - **Random crop with padding p, horizontal flip** (`RandomCrop(32, padding=4)`,
 *   `RandomHorizontalFlip()`): zero padding, offsets (top, left) uniform in {0..2p}, flip with
 *   probability ½; fused with normalisation in one gather.
 * - **ToTensor + Normalize**: `((v/255) − mean)/std` in float32 arithmetic, exactly as torch
 *   computes it (a 256-entry table per channel).
 *
 * Random draws per image, in batch order, from the batch's generator: rotation angle
 * `−r + 2r·u`; crop top, crop left (`⌊9u⌋` each for padding 4) and flip (`u < ½`) in the order the
 * recipe applies them. (Only the generator differs from torch's, so the augmentation has the same
 * distribution, not torch's draws.)
 *
 * @module
 */
import { InvalidArgumentError } from "../core/errors.ts";
import type { Rng } from "../core/random.ts";
import { DatasetError, type DatasetSplit } from "./dataset.ts";
import { decodeImage } from "./image_decode.ts";

/**
 * Per-channel normalisation `(x − mean)/std` of x in [0, 1]; one entry applies to every channel.
 *
 * @example
 * ```ts
 * const norm: Normalisation = { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] };
 * ```
 */
export type Normalisation = { mean: readonly number[]; std: readonly number[] };

/**
 * The paper's normalisations (docs/method.md section 9).
 *
 * @example
 * ```ts
 * NORMALISATION.cifar10.mean; // [0.4914, 0.4822, 0.4465]
 * ```
 */
export const NORMALISATION: Readonly<
  Record<
    | "mnist"
    | "fashion-mnist"
    | "cifar10"
    | "cifar100"
    | "stl10"
    | "svhn"
    | "tiny-imagenet"
    | "imagenet"
    | "emnist",
    Normalisation
  >
> = {
  mnist: { mean: [0.1307], std: [0.3081] },
  "fashion-mnist": { mean: [0.2860], std: [0.3530] },
  cifar10: { mean: [0.4914, 0.4822, 0.4465], std: [0.2023, 0.1994, 0.2010] },
  cifar100: { mean: [0.5071, 0.4865, 0.4409], std: [0.2673, 0.2564, 0.2762] },
  stl10: { mean: [0.4467, 0.4398, 0.4066], std: [0.2603, 0.2566, 0.2713] },
  svhn: { mean: [0.4377, 0.4438, 0.4728], std: [0.1980, 0.2010, 0.1970] },
  "tiny-imagenet": { mean: [0.4802, 0.4481, 0.3975], std: [0.2770, 0.2691, 0.2821] },
  imagenet: { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
  emnist: { mean: [0.1751], std: [0.3332] },
};

/**
 * Dataset kinds the transforms know.
 *
 * @example
 * ```ts
 * import { syntheticDataset } from "./synthetic.ts";
 * const { train: split } = syntheticDataset({ datasetSize: 100, featureDim: 8, numClasses: 4 });
 * const kind: DatasetKind = datasetKind(split.name);
 * ```
 */
export type DatasetKind =
  | "mnist"
  | "fashion-mnist"
  | "cifar10"
  | "cifar100"
  | "stl10"
  | "svhn"
  | "tiny-imagenet"
  | "imagenet"
  | "emnist"
  | "mnist1d"
  | "folder"
  | "synthetic";

/**
 * The dataset kind of a `--dataset` name (case-insensitive; `fashionmnist`, `fmnist`,
 * `cifar-10`, `cifar-100` accepted), or an {@link InvalidArgumentError}.
 *
 * @example
 * ```ts
 * datasetKind("FashionMNIST"); // "fashion-mnist"
 * ```
 */
export function datasetKind(name: string): DatasetKind {
  const n = name.toLowerCase().replace(/_/g, "-");
  switch (n) {
    case "mnist":
    case "synthetic":
    case "folder":
    case "stl10":
    case "svhn":
    case "tiny-imagenet":
    case "imagenet":
    case "emnist":
    case "mnist1d":
      return n;
    case "fashion-mnist":
    case "fashionmnist":
    case "fmnist":
      return "fashion-mnist";
    case "cifar10":
    case "cifar-10":
      return "cifar10";
    case "cifar100":
    case "cifar-100":
      return "cifar100";
  }
  throw new InvalidArgumentError(
    "dataset",
    `unknown dataset "${name}" (known: mnist, fashion-mnist, cifar10, cifar100, stl10, svhn, emnist, tiny-imagenet, imagenet, mnist1d, folder, synthetic)`,
  );
}

/**
 * What a transform does to each image, in this order: resize, rotate, crop/flip, normalise.
 *
 * @example
 * ```ts
 * import { loadDataset } from "./load.ts";
 * const data = await loadDataset("cifar10", { dataDir: "~/data" });
 * const noFlip: Recipe = { ...recipeFor("cifar10", true), flip: false };
 * new BatchTransform(data.train, { recipe: noFlip });
 * ```
 */
export type Recipe = {
  /** Side of the square output of a Pillow bilinear resize, or null to keep the stored size. */
  resize: number | null;
  /**
   * torchvision's `Resize(n)` on an image of any size: the shorter side becomes n, the longer
   * ⌊n·long/short⌋ (Pillow bilinear), or null for none. ImageNet's 256.
   */
  shorterSide: number | null;
  /**
   * Side of the square crop that is the output: random when `cropPadding` > 0 (offsets uniform
   * over the zero-padded image, torchvision's `RandomCrop(n, padding)`), central otherwise
   * (`CenterCrop(n)`, offsets rounded half to even); null keeps the image's size. ImageNet's 224.
   */
  cropSize: number | null;
  /** Maximum rotation in degrees (angle uniform in [−r, r]); 0 for none. */
  rotation: number;
  /** Random horizontal flip with probability ½. */
  flip: boolean;
  /** Zero padding of a random crop (to `cropSize`, else back to the same size); 0 for none. */
  cropPadding: number;
  /** Flip before the crop (FashionMNIST's order) instead of after it (CIFAR's). */
  flipFirst: boolean;
};

/**
 * The recipe of docs/method.md section 9 for a dataset and split. Test sets (and `train: false`) only
 * resize (MNIST-like: 28 → 32) and normalise.
 *
 * @example
 * ```ts
 * recipeFor("mnist", true); // { resize: 32, rotation: 25, flip: false, cropPadding: 0, flipFirst: false }
 * ```
 */
export function recipeFor(name: string, train: boolean): Recipe {
  const kind = datasetKind(name);
  const none: Recipe = {
    resize: null,
    shorterSide: null,
    cropSize: null,
    rotation: 0,
    flip: false,
    cropPadding: 0,
    flipFirst: false,
  };
  switch (kind) {
    case "mnist":
      return { ...none, resize: 32, rotation: train ? 25 : 0 };
    case "fashion-mnist":
      return train
        ? { ...none, resize: 32, flip: true, cropPadding: 4, flipFirst: true }
        : { ...none, resize: 32 };
    case "cifar10":
    case "cifar100":
    case "folder":
      return train ? { ...none, flip: true, cropPadding: 4 } : none;
    case "svhn": // rotation ±25°, no flip (digits), no crop
      return { ...none, rotation: train ? 25 : 0 };
    case "emnist": // grey → 3 channels (as every grey dataset) and resize 32, train and test alike
      return { ...none, resize: 32 };
    case "tiny-imagenet": // flip, then crop 64 with padding 8
      return train ? { ...none, flip: true, cropPadding: 8, flipFirst: true } : none;
    case "stl10": // the order: flip, then crop 96 with padding 4
      return train ? { ...none, flip: true, cropPadding: 4, flipFirst: true } : none;
    case "imagenet": // Resize(256), then flip and RandomCrop(224, padding=4) / CenterCrop(224)
      return train
        ? { ...none, shorterSide: 256, cropSize: 224, flip: true, cropPadding: 4, flipFirst: true }
        : { ...none, shorterSide: 256, cropSize: 224 };
    case "synthetic":
    case "mnist1d":
      return none;
  }
}

// ---------------------------------------------------------------------------------------------
// Pillow bilinear resize.

const PRECISION_BITS = 22; // Pillow: 32 − 8 − 2
const HALF = 1 << (PRECISION_BITS - 1);

/**
 * Pillow's per-output taps for one axis: first input index, tap count, fixed-point weights.
 *
 * @example
 * ```ts
 * const { bounds, weights, ksize }: ResizeCoefficients = bilinearCoefficients(28, 32);
 * ```
 */
export type ResizeCoefficients = {
  inSize: number;
  outSize: number;
  /** Taps per output (stride of `weights`). */
  ksize: number;
  /** For output i: `bounds[2i]` first input index, `bounds[2i+1]` number of taps. */
  bounds: Int32Array;
  /** Weights ×2^22, rounded half away from zero; each output's taps sum to about 2^22. */
  weights: Int32Array;
};

const coefficientCache = new Map<string, ResizeCoefficients>();

/**
 * Pillow's `precompute_coeffs` + `normalize_coeffs_8bpc` for the bilinear filter (support 1,
 * scaled by in/out when downsampling): output i is centred at input coordinate (i + ½)·in/out.
 *
 * @example
 * ```ts
 * const c = bilinearCoefficients(28, 32);
 * c.bounds.slice(0, 2); // [0, 1]: output 0 copies input 0
 * ```
 */
export function bilinearCoefficients(inSize: number, outSize: number): ResizeCoefficients {
  const key = `${inSize}:${outSize}`;
  const cached = coefficientCache.get(key);
  if (cached) return cached;
  if (!Number.isInteger(inSize) || !Number.isInteger(outSize) || inSize < 1 || outSize < 1) {
    throw new InvalidArgumentError(
      "size",
      `sizes must be positive integers, got ${inSize}→${outSize}`,
    );
  }
  const scale = inSize / outSize;
  const filterscale = scale < 1 ? 1 : scale;
  const support = 1 * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const weights = new Int32Array(outSize * ksize);
  const k = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const ss = 1 / filterscale;
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      let t = (x + xmin - center + 0.5) * ss;
      if (t < 0) t = -t;
      const w = t < 1 ? 1 - t : 0;
      k[x] = w;
      ww += w;
    }
    for (let x = 0; x < xmax; x++) {
      const v = ww !== 0 ? k[x] / ww : k[x];
      weights[xx * ksize + x] = v < 0
        ? Math.trunc(-0.5 + v * (1 << PRECISION_BITS))
        : Math.trunc(0.5 + v * (1 << PRECISION_BITS));
    }
    bounds[2 * xx] = xmin;
    bounds[2 * xx + 1] = xmax;
  }
  const c = { inSize, outSize, ksize, bounds, weights };
  coefficientCache.set(key, c);
  return c;
}

function clip8(ss: number): number {
  const v = ss >> PRECISION_BITS;
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/**
 * Resizes one uint8 image (h×w×c, row-major, channels interleaved) to outH×outW exactly as
 * Pillow's `Image.resize((outW, outH), Image.BILINEAR)`: horizontal pass into `tmp` (h×outW×c,
 * rounded to uint8), then vertical pass into `dst`. A pass whose size does not change is skipped
 * (as in Pillow).
 *
 * @example
 * ```ts
 * const out = resizeBilinearU8(new Uint8Array(28 * 28).fill(7), 28, 28, 1, 32, 32); // all 7
 * ```
 */
export function resizeBilinearU8(
  src: Uint8Array,
  h: number,
  w: number,
  c: number,
  outH: number,
  outW: number,
  dst: Uint8Array = new Uint8Array(outH * outW * c),
  tmp?: Uint8Array,
): Uint8Array {
  let cur = src, curW = w;
  if (outW !== w) {
    const t = tmp && tmp.length >= h * outW * c ? tmp : new Uint8Array(h * outW * c);
    const { bounds, weights, ksize } = bilinearCoefficients(w, outW);
    const target = outH === h ? dst : t;
    for (let y = 0; y < h; y++) {
      const row = y * w * c, orow = y * outW * c;
      for (let xx = 0; xx < outW; xx++) {
        const xmin = bounds[2 * xx], n = bounds[2 * xx + 1], kb = xx * ksize;
        if (c === 3) { // the three channels in one pass over the taps (same sums, 2× faster)
          let s0 = HALF, s1 = HALF, s2 = HALF;
          for (let x = 0, q = row + xmin * 3; x < n; x++, q += 3) {
            const wt = weights[kb + x];
            s0 += src[q] * wt;
            s1 += src[q + 1] * wt;
            s2 += src[q + 2] * wt;
          }
          const o = orow + xx * 3;
          target[o] = clip8(s0);
          target[o + 1] = clip8(s1);
          target[o + 2] = clip8(s2);
          continue;
        }
        for (let ch = 0; ch < c; ch++) {
          let ss = HALF;
          for (let x = 0; x < n; x++) ss += src[row + (xmin + x) * c + ch] * weights[kb + x];
          target[orow + xx * c + ch] = clip8(ss);
        }
      }
    }
    cur = target;
    curW = outW;
  }
  if (outH !== h) {
    const { bounds, weights, ksize } = bilinearCoefficients(h, outH);
    const rowLen = curW * c;
    // Row by row into integer sums (< 2^31: exact), each input row read contiguously.
    const sums = new Int32Array(rowLen);
    for (let yy = 0; yy < outH; yy++) {
      const ymin = bounds[2 * yy], n = bounds[2 * yy + 1], kb = yy * ksize;
      const orow = yy * rowLen;
      sums.fill(HALF);
      for (let y = 0; y < n; y++) {
        const wt = weights[kb + y], irow = (ymin + y) * rowLen;
        for (let i = 0; i < rowLen; i++) sums[i] += cur[irow + i] * wt;
      }
      for (let i = 0; i < rowLen; i++) dst[orow + i] = clip8(sums[i]);
    }
  } else if (cur === src) {
    dst.set(src.subarray(0, h * w * c));
  }
  return dst;
}

// ---------------------------------------------------------------------------------------------
// Pillow nearest-neighbour rotation.

/** Python's `round(v, 15)` (correctly rounded to 15 decimals; exact ties do not occur here). */
function round15(v: number): number {
  return Number(v.toFixed(15));
}

/**
 * The inverse affine map `[a, b, c, d, e, f]` Pillow's `Image.rotate(angle)` applies: output
 * point (x, y) samples input (a·x + b·y + c, d·x + e·y + f), angle counter-clockwise in degrees
 * about (w/2, h/2).
 *
 * @example
 * ```ts
 * rotationMatrix(90, 32, 32); // [0, -1, 32, 1, 0, 0]
 * ```
 */
export function rotationMatrix(angleDeg: number, w: number, h: number): number[] {
  let angle = angleDeg % 360;
  if (angle < 0) angle += 360;
  const a = -(angle * (Math.PI / 180));
  const m = [
    round15(Math.cos(a)),
    round15(Math.sin(a)),
    0,
    round15(-Math.sin(a)),
    round15(Math.cos(a)),
    0,
  ];
  const cx = w / 2, cy = h / 2;
  m[2] = m[0] * -cx + m[1] * -cy + m[2];
  m[5] = m[3] * -cx + m[4] * -cy + m[5];
  m[2] += cx;
  m[5] += cy;
  return m;
}

/**
 * Rotates one uint8 image (h×w×c) by `angleDeg` degrees counter-clockwise about its centre,
 * nearest neighbour, fill 0, same size — Pillow's `Image.rotate(angle, NEAREST)` (as
 * torchvision's `RandomRotation` calls it), including its 16.16 fixed-point sampling of output
 * pixel centres and its exact transposes for 0, 90, 180 and 270 degrees.
 *
 * @example
 * ```ts
 * const img = Uint8Array.of(1, 2, 3, 4); // 2×2: [[1, 2], [3, 4]]
 * rotateNearestU8(img, 2, 2, 1, 90); // [[2, 4], [1, 3]]
 * ```
 */
export function rotateNearestU8(
  src: Uint8Array,
  h: number,
  w: number,
  c: number,
  angleDeg: number,
  dst: Uint8Array = new Uint8Array(h * w * c),
): Uint8Array {
  if (!Number.isFinite(angleDeg)) {
    throw new InvalidArgumentError("angle", `must be finite, got ${angleDeg}`);
  }
  let angle = angleDeg % 360;
  if (angle < 0) angle += 360;
  if (angle === 0) {
    dst.set(src.subarray(0, h * w * c));
    return dst;
  }
  if (angle === 180 || ((angle === 90 || angle === 270) && w === h)) {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        // ROTATE_180: (h−1−y, w−1−x); ROTATE_90 (counter-clockwise): (x, w−1−y); ROTATE_270: (h−1−x, y)
        const sy = angle === 180 ? h - 1 - y : angle === 90 ? x : h - 1 - x;
        const sx = angle === 180 ? w - 1 - x : angle === 90 ? w - 1 - y : y;
        const o = (y * w + x) * c, s = (sy * w + sx) * c;
        for (let ch = 0; ch < c; ch++) dst[o + ch] = src[s + ch];
      }
    }
    return dst;
  }
  if (w > 16384 || h > 16384) {
    throw new InvalidArgumentError("image", `rotation supports sides up to 16384, got ${w}×${h}`);
  }
  const m = rotationMatrix(angle, w, h);
  const fix = (v: number) => Math.floor(v * 65536 + 0.5);
  const a0 = fix(m[0]), a1 = fix(m[1]), a3 = fix(m[3]), a4 = fix(m[4]);
  let a2 = fix(m[2] + m[0] * 0.5 + m[1] * 0.5);
  let a5 = fix(m[5] + m[3] * 0.5 + m[4] * 0.5);
  let o = 0;
  for (let y = 0; y < h; y++) {
    let xx = a2, yy = a5;
    for (let x = 0; x < w; x++) {
      const xin = xx >> 16, yin = yy >> 16;
      if (xin >= 0 && xin < w && yin >= 0 && yin < h) {
        const s = (yin * w + xin) * c;
        for (let ch = 0; ch < c; ch++) dst[o + ch] = src[s + ch];
      } else {
        for (let ch = 0; ch < c; ch++) dst[o + ch] = 0;
      }
      o += c;
      xx += a0;
      yy += a3;
    }
    a2 += a1;
    a5 += a4;
  }
  return dst;
}

// ---------------------------------------------------------------------------------------------
// Crop/flip + ToTensor + Normalize, fused.

/**
 * The 256 values of `Normalize(mean, std)(ToTensor(v))` for uint8 v, in torch's float32
 * arithmetic: `fround(fround(fround(v/255) − fround(mean)) / fround(std))`.
 *
 * @example
 * ```ts
 * normalisationTable(0.1307, 0.3081)[0]; // ≈ −0.4242
 * ```
 */
export function normalisationTable(mean: number, std: number): Float32Array {
  if (!(std > 0) || !Number.isFinite(mean)) {
    throw new InvalidArgumentError(
      "normalisation",
      `needs finite mean and std > 0, got ${mean}, ${std}`,
    );
  }
  const t = new Float32Array(256), m = Math.fround(mean), s = Math.fround(std);
  for (let v = 0; v < 256; v++) t[v] = Math.fround(Math.fround(v / 255) - m) / s;
  return t;
}

/**
 * Writes one outH×outW image (default h×w) with `outC` channels into `dst` at `offset`: output
 * (y, x) reads source pixel (y + dy, (flip ? outW−1−x : x) + dx) of the h×w×c uint8 `src` (0
 * outside it: zero padding), channel `min(ch, c−1)` (so grayscale is replicated), through
 * `tables[ch]` ({@link normalisationTable}). A crop of padding p at (top, left) of the padded
 * image followed by a flip is dy = top − p, dx = left − p; a flip followed by the crop is
 * dx = w − outW + p − left (p − left for a crop back to the same size).
 *
 * @example
 * ```ts
 * const img = new Uint8Array(32 * 32 * 3).fill(128); // one 32×32 RGB image, h×w×c
 * const t = normalisationTable(0, 1); // plain v/255
 * const out = new Float32Array(32 * 32 * 3);
 * gatherNormalise(img, 32, 32, 3, -4, -4, false, [t, t, t], 3, out, 0); // shift down-right by 4
 * ```
 */
export function gatherNormalise(
  src: Uint8Array,
  h: number,
  w: number,
  c: number,
  dy: number,
  dx: number,
  flip: boolean,
  tables: readonly Float32Array[],
  outC: number,
  dst: Float32Array,
  offset: number,
  outH: number = h,
  outW: number = w,
): void {
  let o = offset;
  const t0 = tables[0], t1 = tables[Math.min(1, tables.length - 1)];
  const t2 = tables[Math.min(2, tables.length - 1)];
  for (let y = 0; y < outH; y++) {
    const sy = y + dy;
    const inside = sy >= 0 && sy < h;
    const row = sy * w;
    for (let x = 0; x < outW; x++) {
      const sx = (flip ? outW - 1 - x : x) + dx;
      const ok = inside && sx >= 0 && sx < w;
      const s = (row + sx) * c;
      if (outC === 3 && c === 1) {
        const v = ok ? src[s] : 0;
        dst[o] = t0[v];
        dst[o + 1] = t1[v];
        dst[o + 2] = t2[v];
        o += 3;
      } else if (outC === 3 && c === 3) {
        if (ok) {
          dst[o] = t0[src[s]];
          dst[o + 1] = t1[src[s + 1]];
          dst[o + 2] = t2[src[s + 2]];
        } else {
          dst[o] = t0[0];
          dst[o + 1] = t1[0];
          dst[o + 2] = t2[0];
        }
        o += 3;
      } else {
        for (let ch = 0; ch < outC; ch++) {
          const v = ok ? src[s + Math.min(ch, c - 1)] : 0;
          dst[o++] = tables[Math.min(ch, tables.length - 1)][v];
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Statistics for folder datasets.

/**
 * Per-channel mean and (population) standard deviation of the pixel values v/255 over every image
 * of a split — the normalisation of `folder` datasets, computed once over the training images
 * (exactly, from per-channel histograms). A constant channel gets std 1 rather than 0 (which
 * torchvision's `Normalize` would reject as a division by zero), so it normalises to 0.
 *
 * @example
 * ```ts
 * import { loadFolder } from "./folder.ts";
 * const data = await loadFolder({ root: "/home/me/pets" });
 * const norm = channelStats(data.train); // { mean: [r, g, b], std: [r, g, b] }
 * ```
 */
export function channelStats(split: DatasetSplit): Normalisation {
  if (!split.images) {
    throw new InvalidArgumentError("split", `${split.name} has no images to take statistics of`);
  }
  const c = split.sampleShape[split.sampleShape.length - 1];
  const hist = Array.from({ length: c }, () => new Float64Array(256));
  const img = split.images;
  for (let i = 0; i < img.length; i += c) {
    for (let ch = 0; ch < c; ch++) hist[ch][img[i + ch]]++;
  }
  const mean: number[] = [], std: number[] = [];
  const count = img.length / c;
  for (let ch = 0; ch < c; ch++) {
    let s = 0;
    for (let v = 0; v < 256; v++) s += hist[ch][v] * v;
    const m = s / count / 255;
    let q = 0;
    for (let v = 0; v < 256; v++) q += hist[ch][v] * (v / 255 - m) ** 2;
    mean.push(m);
    const sd = Math.sqrt(q / count);
    std.push(sd > 0 ? sd : 1);
  }
  return { mean, std };
}

// ---------------------------------------------------------------------------------------------
// The batch transform.

/**
 * Options of {@link BatchTransform}.
 *
 * @example
 * ```ts
 * import { loadFolder } from "./folder.ts";
 * const data = await loadFolder({ root: "/home/me/pets" });
 * const options: TransformOptions = { train: false, normalisation: channelStats(data.train) };
 * new BatchTransform(data.test, options);
 * ```
 */
export type TransformOptions = {
  /** Apply the training augmentation (default: the split is "train"). */
  train?: boolean;
  /**
   * Normalisation override; required for a `folder` test split (pass the training split's
   * {@link channelStats}); a `folder` train split computes its own once when absent.
   */
  normalisation?: Normalisation;
  /** Recipe override (tests, ablations); default {@link recipeFor}. */
  recipe?: Recipe;
};

const folderStats = new WeakMap<DatasetSplit, Normalisation>();

/**
 * Python 3's `round()`: halves to even (torchvision's `CenterCrop` offsets).
 *
 * @example
 * ```ts
 * roundHalfEven(2.5); // 2
 * roundHalfEven(3.5); // 4
 * ```
 */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * The size torchvision's `Resize(n)` gives an h×w image: the shorter side n, the longer
 * ⌊n·long/short⌋, as [height, width].
 *
 * @example
 * ```ts
 * shorterSideSize(375, 500, 256); // [256, 341]
 * ```
 */
export function shorterSideSize(h: number, w: number, n: number): [number, number] {
  return h <= w ? [n, Math.floor((n * w) / h)] : [Math.floor((n * h) / w), n];
}

/**
 * The transform of one split: `apply(indices, rng)` turns those samples into a float32 batch,
 * NHWC [B, H, W, 3] for images (grayscale replicated to 3 channels) or [B, d] features for
 * `synthetic` (copied unchanged), ready for `tf.tensor4d(x, [B, ...sampleShape])`.
 * A file-backed split (`files`) has each image read and decoded here, when its batch is made.
 * Scratch buffers are allocated once per transform (grown to the largest image seen).
 *
 * @example
 * ```ts
 * import { Rng } from "../core/random.ts";
 * import { tf } from "../nets/tf.ts";
 * import { loadDataset } from "./load.ts";
 * const data = await loadDataset("cifar10", { dataDir: "~/data" });
 * const t = new BatchTransform(data.train, { train: true });
 * const x = t.apply(Int32Array.of(0, 1, 2), new Rng(1)); // 3×32×32×3
 * const input = tf.tensor4d(x, [3, ...t.sampleShape] as [number, number, number, number]);
 * ```
 */
export class BatchTransform {
  /** One output sample's shape: [H, W, 3] or [d]. */
  readonly sampleShape: number[];
  /** Floats per output sample. */
  readonly sampleLength: number;
  /**
   * Training mode (augmentation drawn per batch) or evaluation mode (resize and normalise
   * only). The pipeline takes the pass's mode from here: a transform decides it once.
   */
  readonly train: boolean;
  /** The steps applied. */
  readonly recipe: Recipe;
  /** The normalisation applied (null for features). */
  readonly normalisation: Normalisation | null;
  readonly #split: DatasetSplit;
  readonly #tables: Float32Array[] = [];
  readonly #h: number;
  readonly #w: number;
  readonly #c: number;
  /** The output's [height, width]. */
  readonly #out: [number, number];
  /** Scratch: resize's horizontal pass, the square resize, the shorter-side resize, rotation. */
  readonly #scratch: Uint8Array[] = [0, 1, 2, 3].map(() => new Uint8Array(0));

  /** Validates the split and precomputes tables and scratch buffers. */
  constructor(split: DatasetSplit, options: TransformOptions = {}) {
    const kind = datasetKind(split.name);
    const train = options.train ?? split.split === "train";
    this.train = train;
    this.#split = split;
    this.recipe = options.recipe ?? recipeFor(kind, train);
    const files = split.files ?? null;
    if (
      kind === "synthetic" || kind === "mnist1d" || (split.images === null && files === null)
    ) {
      if (!split.features || split.sampleShape.length !== 1) {
        throw new InvalidArgumentError(
          "split",
          `${split.name} needs float32 features N×d with sampleShape [d], got shape [${split.sampleShape}]`,
        );
      }
      this.sampleShape = [split.sampleShape[0]];
      this.sampleLength = split.sampleShape[0];
      this.normalisation = null;
      this.#h = this.#w = this.#c = 0;
      this.#out = [0, 0];
      return;
    }
    if (split.sampleShape.length !== 3) {
      throw new InvalidArgumentError(
        "split",
        `${split.name} images need sampleShape [H, W, C], got [${split.sampleShape}]`,
      );
    }
    const { resize, shorterSide, cropSize } = this.recipe;
    if (files !== null) {
      if (files.length !== split.length || split.labels.length !== split.length) {
        throw new InvalidArgumentError(
          "split",
          `${split.name}: ${files.length} files and ${split.labels.length} labels for ${split.length} samples`,
        );
      }
      if (cropSize === null) {
        throw new InvalidArgumentError(
          "recipe",
          `${split.name} is read from image files of any size: its recipe needs a cropSize`,
        );
      }
      this.#h = this.#w = 0; // per image
      this.#c = 3;
    } else {
      const [h, w, c] = split.sampleShape;
      if (split.images!.length !== split.length * h * w * c) {
        throw new InvalidArgumentError(
          "split",
          `${split.name}: ${
            split.images!.length
          } bytes of images for ${split.length}×${h}×${w}×${c}`,
        );
      }
      this.#h = h;
      this.#w = w;
      this.#c = c;
    }
    // The stored size through the resizes to the output (every in-memory image has one size).
    let [oh, ow] = files !== null ? [0, 0] : [this.#h, this.#w];
    if (resize !== null) [oh, ow] = [resize, resize];
    if (shorterSide !== null && files === null) [oh, ow] = shorterSideSize(oh, ow, shorterSide);
    if (cropSize !== null) [oh, ow] = [cropSize, cropSize];
    this.#out = [oh, ow];
    this.sampleShape = [oh, ow, 3];
    this.sampleLength = oh * ow * 3;
    let norm = options.normalisation;
    if (!norm) {
      if (kind === "folder") {
        if (split.split !== "train") {
          throw new InvalidArgumentError(
            "normalisation",
            "a folder test split is normalised by the training images' statistics: pass normalisation: channelStats(train)",
          );
        }
        norm = folderStats.get(split) ?? channelStats(split);
        folderStats.set(split, norm);
      } else {
        norm = NORMALISATION[kind];
      }
    }
    if (
      norm.mean.length !== norm.std.length || (norm.mean.length !== 1 && norm.mean.length !== 3)
    ) {
      throw new InvalidArgumentError(
        "normalisation",
        `needs 1 or 3 means and as many stds, got ${norm.mean.length} and ${norm.std.length}`,
      );
    }
    this.normalisation = norm;
    for (let ch = 0; ch < 3; ch++) {
      const i = Math.min(ch, norm.mean.length - 1);
      this.#tables.push(normalisationTable(norm.mean[i], norm.std[i]));
    }
  }

  /** Scratch buffer `i`, grown to at least `n` bytes. */
  #buffer(i: number, n: number): Uint8Array {
    if (this.#scratch[i].length < n) this.#scratch[i] = new Uint8Array(n);
    return this.#scratch[i];
  }

  /** Sample `i`'s stored image: [pixels, height, width] (a file-backed one read and decoded). */
  #image(i: number): [Uint8Array, number, number] {
    const files = this.#split.files;
    if (files !== undefined) {
      const path = files[i];
      let bytes: Uint8Array;
      try {
        bytes = Deno.readFileSync(path);
      } catch (e) {
        throw new DatasetError(path, `unreadable image (${(e as Error).message})`, { cause: e });
      }
      const img = decodeImage(bytes, path);
      return [img.data, img.height, img.width];
    }
    const n = this.#h * this.#w * this.#c;
    return [this.#split.images!.subarray(i * n, (i + 1) * n), this.#h, this.#w];
  }

  /**
   * Transforms the samples `indices` into `out` (allocated when absent; length ≥ B·sampleLength),
   * drawing the augmentation from `rng` image by image (required when the recipe is random).
   */
  apply(indices: ArrayLike<number>, rng: Rng | null, out?: Float32Array): Float32Array {
    const B = indices.length, L = this.sampleLength, split = this.#split;
    const x = out ?? new Float32Array(B * L);
    if (x.length < B * L) {
      throw new InvalidArgumentError("out", `holds ${x.length} floats, the batch needs ${B * L}`);
    }
    for (let b = 0; b < B; b++) {
      const i = indices[b];
      if (!(i >= 0 && i < split.length && Number.isInteger(i))) {
        throw new InvalidArgumentError("indices", `sample ${i} is outside [0, ${split.length})`);
      }
    }
    if (split.images === null && split.files === undefined) {
      const f = split.features!;
      for (let b = 0; b < B; b++) x.set(f.subarray(indices[b] * L, (indices[b] + 1) * L), b * L);
      return x;
    }
    const { resize, shorterSide, rotation, flip, cropPadding: p, flipFirst } = this.recipe;
    if ((rotation > 0 || flip || p > 0) && !rng) {
      throw new InvalidArgumentError("rng", "the training augmentation needs a seeded Rng");
    }
    const c = this.#c, [oh, ow] = this.#out;
    for (let b = 0; b < B; b++) {
      let [img, h, w] = this.#image(indices[b]);
      if (resize !== null && (resize !== h || resize !== w)) {
        const dst = this.#buffer(1, resize * resize * c);
        img = resizeBilinearU8(img, h, w, c, resize, resize, dst, this.#buffer(0, h * resize * c));
        h = w = resize;
      }
      if (shorterSide !== null) {
        const [sh, sw] = shorterSideSize(h, w, shorterSide);
        if (sh !== h || sw !== w) {
          const dst = this.#buffer(2, sh * sw * c);
          img = resizeBilinearU8(img, h, w, c, sh, sw, dst, this.#buffer(0, h * sw * c));
          [h, w] = [sh, sw];
        }
      }
      if (rotation > 0) {
        const angle = -rotation + 2 * rotation * rng!.uniform();
        img = rotateNearestU8(img, h, w, c, angle, this.#buffer(3, h * w * c));
      }
      if (h + 2 * p < oh || w + 2 * p < ow) {
        const where = split.files?.[indices[b]] ?? `sample ${indices[b]}`;
        throw new InvalidArgumentError(
          "image",
          `${where}: ${h}×${w} after resizing, smaller than the ${oh}×${ow} crop`,
        );
      }
      let top: number, left: number, flipped = false;
      if (flip && flipFirst) flipped = rng!.uniform() < 0.5;
      if (p > 0) {
        top = Math.floor(rng!.uniform() * (h + 2 * p - oh + 1));
        left = Math.floor(rng!.uniform() * (w + 2 * p - ow + 1));
      } else {
        top = roundHalfEven((h - oh) / 2);
        left = roundHalfEven((w - ow) / 2);
      }
      const beforeCrop = flipped;
      if (flip && !flipFirst) flipped = rng!.uniform() < 0.5;
      const dy = top - p, dx = beforeCrop ? w - ow + p - left : left - p;
      gatherNormalise(img, h, w, c, dy, dx, flipped, this.#tables, 3, x, b * L, oh, ow);
    }
    return x;
  }
}
