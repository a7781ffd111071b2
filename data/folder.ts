/**
 * The `folder` dataset: users' own images, one folder per class (torchvision's `ImageFolder`
 * convention), decoded with the pure-JS `pngjs` and `jpeg-js` packages.
 *
 * - Layout: `root/<class>/**.{png,jpg,jpeg}`, or `root/train/<class>/…` and `root/test/<class>/…`.
 *   Class names are the folder names sorted by code point (Python's `sorted`, as `ImageFolder`);
 *   label k is the k-th name. With `train`/`test` subfolders the classes come from `train`, and
 *   `test` may lack some of them but may not add new ones.
 * - Without `train`/`test` subfolders the split is deterministic and stratified: within each class,
 *   files are sorted by path and every fifth one (positions 4, 9, 14, … counting from 0) goes to
 *   the test split, the rest to the training split (20% test; independent of any seed).
 * - Files are recognised by content (PNG or JPEG signature); other files and hidden files
 *   (starting with `.`) are skipped when their extension is not an image extension, and are an
 *   error when it is (an unreadable image).
 * - Each image becomes RGB (alpha dropped, grey replicated), its shorter side is resized to
 *   `imageSize` with bilinear interpolation (PIL's resampling, which widens the filter when
 *   shrinking: torchvision's `Resize(imageSize)` on PIL images), then centre-cropped to
 *   `imageSize`×`imageSize` (torchvision's `CenterCrop`); images are HWC uint8.
 *
 * @module
 */
import { join, relative } from "node:path";
import { DatasetError, type DatasetSplit } from "./dataset.ts";
import { decodeImage, type RgbImage } from "./image_decode.ts";
import type { LogFn } from "./download.ts";
import { InvalidArgumentError } from "../core/errors.ts";
import { roundHalfEven } from "./transforms.ts";

export { decodeImage, MAX_IMAGE_PIXELS, type RgbImage } from "./image_decode.ts";

const IMAGE_EXTENSIONS = /\.(png|jpe?g)$/i;

const PRECISION_BITS = 22; // PIL: 32 - 8 - 2
const HALF = 2 ** (PRECISION_BITS - 1), ONE = 2 ** PRECISION_BITS;

/**
 * PIL's bilinear resampling coefficients for one axis (ImagingResample's precompute_coeffs and
 * normalize_coeffs_8bpc): fixed-point weights with 22 fractional bits.
 */
function coefficients(
  inSize: number,
  outSize: number,
): { start: Int32Array; weights: Int32Array[] } {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = filterScale; // bilinear support 1, widened when shrinking
  const ss = 1 / filterScale;
  const start = new Int32Array(outSize);
  const weights: Int32Array[] = [];
  for (let x = 0; x < outSize; x++) {
    const center = (x + 0.5) * scale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize);
    const k = new Float64Array(Math.max(xmax - xmin, 0));
    let total = 0;
    for (let i = 0; i < k.length; i++) {
      const t = Math.abs((i + xmin - center + 0.5) * ss);
      k[i] = t < 1 ? 1 - t : 0;
      total += k[i];
    }
    const w = new Int32Array(k.length);
    for (let i = 0; i < k.length; i++) {
      const v = total !== 0 ? k[i] / total : k[i];
      w[i] = Math.trunc(v < 0 ? v * ONE - 0.5 : v * ONE + 0.5);
    }
    start[x] = xmin;
    weights.push(w);
  }
  return { start, weights };
}

/** PIL's clip8: the fixed-point sum (offset by a half) shifted down and clamped to 0…255. */
function clip8(ss: number): number {
  const v = Math.floor(ss / ONE);
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/**
 * Resizes an RGB image to `width`×`height` with PIL's bilinear filter (antialiased when
 * shrinking), horizontal pass then vertical, in PIL's fixed-point arithmetic, so the result is
 * the same as `Image.resize((width, height), Image.BILINEAR)`.
 *
 * @example
 * ```ts
 * const img: RgbImage = { width: 64, height: 48, data: new Uint8Array(64 * 48 * 3) };
 * const small = resizeBilinear(img, 32, 24);
 * ```
 */
export function resizeBilinear(img: RgbImage, width: number, height: number): RgbImage {
  let src = img;
  if (width !== img.width) {
    const { start, weights } = coefficients(img.width, width);
    const out = new Uint8Array(width * img.height * 3);
    for (let y = 0; y < img.height; y++) {
      const row = y * img.width * 3;
      for (let x = 0; x < width; x++) {
        const w = weights[x];
        for (let c = 0; c < 3; c++) {
          let s = HALF;
          for (let i = 0; i < w.length; i++) s += w[i] * img.data[row + (start[x] + i) * 3 + c];
          out[(y * width + x) * 3 + c] = clip8(s);
        }
      }
    }
    src = { width, height: img.height, data: out };
  }
  if (height !== src.height) {
    const { start, weights } = coefficients(src.height, height);
    const out = new Uint8Array(width * height * 3);
    const stride = width * 3;
    for (let y = 0; y < height; y++) {
      const w = weights[y];
      for (let p = 0; p < stride; p++) {
        let s = HALF;
        for (let i = 0; i < w.length; i++) s += w[i] * src.data[(start[y] + i) * stride + p];
        out[y * stride + p] = clip8(s);
      }
    }
    src = { width, height, data: out };
  }
  return src === img ? { width, height, data: img.data.slice() } : src;
}

/**
 * torchvision's `Resize(size)` then `CenterCrop(size)`: the shorter side becomes `size` (the
 * longer one ⌊size·long/short⌋), then the central size×size square is kept (offsets rounded
 * half to even, as Python's `round`).
 *
 * @example
 * ```ts
 * const img = decodeImage(await Deno.readFile("cat.png"), "cat.png");
 * const square = resizeAndCentreCrop(img, 32); // 32×32×3
 * ```
 */
export function resizeAndCentreCrop(img: RgbImage, size: number): RgbImage {
  const { width: w, height: h } = img;
  const [newW, newH] = w <= h
    ? [size, Math.floor((size * h) / w)]
    : [Math.floor((size * w) / h), size];
  const resized = w === newW && h === newH ? img : resizeBilinear(img, newW, newH);
  const top = roundHalfEven((newH - size) / 2), left = roundHalfEven((newW - size) / 2);
  const data = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++) {
    const from = ((top + y) * newW + left) * 3;
    data.set(resized.data.subarray(from, from + size * 3), y * size * 3);
  }
  return { width: size, height: size, data };
}

/**
 * Options of {@link loadFolder} (`--data_dir` is the root; `--image_size`).
 *
 * @example
 * ```ts
 * const o: FolderOptions = { root: "/home/me/pets", imageSize: 32 };
 * ```
 */
export type FolderOptions = {
  /** The folder holding one subfolder per class (or `train/` and `test/`). */
  root: string;
  /** Output side length (default 32). */
  imageSize?: number;
  /** Progress lines. */
  log?: LogFn;
  /** The test split's folder name when the root is split (default "test"; Tiny-ImageNet "val"). */
  testDir?: string;
  /** The splits' dataset name (default "folder"; its transforms and normalisation follow it). */
  name?: string;
};

async function isDir(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

async function subdirs(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (entry.name.startsWith(".")) continue;
    if (entry.isDirectory || (entry.isSymlink && await isDir(join(dir, entry.name)))) {
      names.push(entry.name);
    }
  }
  return names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

async function imageFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    for await (const entry of Deno.readDir(d)) {
      if (entry.name.startsWith(".")) continue;
      const full = join(d, entry.name);
      if (entry.isDirectory || (entry.isSymlink && await isDir(full))) await walk(full);
      else if (IMAGE_EXTENSIONS.test(entry.name)) out.push(full);
    }
  };
  await walk(dir);
  return out.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * A class-per-folder dataset's files, listed but not read: each split's `[path, label]` pairs
 * in order (classes sorted, files sorted within a class).
 *
 * @example
 * ```ts
 * const listing: FolderListing = await listFolder({ root: "/home/me/pets" });
 * console.log(listing.classNames, listing.train.length);
 * ```
 */
export type FolderListing = {
  /** The root folder. */
  root: string;
  /** Class names (label k is the k-th). */
  classNames: string[];
  /** Training files and labels. */
  train: [string, number][];
  /** Test files and labels. */
  test: [string, number][];
  /** Whether the root holds train/ and test/ (or `testDir`) subfolders. */
  hasSplits: boolean;
};

/**
 * Lists a class-per-folder image dataset (see the module notes for the layout and split)
 * without reading an image. Throws {@link DatasetError} naming the folder for a missing root, no
 * class folders, an empty class or split, and a test class without a training folder.
 *
 * @example
 * ```ts
 * const { classNames, train, test } = await listFolder({ root: "/data/imagenet", testDir: "val" });
 * ```
 */
export async function listFolder(
  options: Pick<FolderOptions, "root" | "testDir">,
): Promise<FolderListing> {
  const root = options.root;
  if (!(await isDir(root))) {
    throw new DatasetError(root, "folder dataset root not found (expected a directory)");
  }
  const testDir = options.testDir ?? "test";
  const hasSplits = (await isDir(join(root, "train"))) && (await isDir(join(root, testDir)));
  const trainRoot = hasSplits ? join(root, "train") : root;
  const classNames = await subdirs(trainRoot);
  if (classNames.length === 0) {
    throw new DatasetError(
      trainRoot,
      "no class folders: expected one subfolder of PNG/JPEG images per class",
    );
  }
  const trainFiles: [string, number][] = [], testFiles: [string, number][] = [];
  for (let k = 0; k < classNames.length; k++) {
    const files = await imageFiles(join(trainRoot, classNames[k]));
    if (files.length === 0) {
      throw new DatasetError(
        join(trainRoot, classNames[k]),
        "class folder holds no PNG/JPEG images",
      );
    }
    files.forEach((f, i) => (!hasSplits && i % 5 === 4 ? testFiles : trainFiles).push([f, k]));
  }
  if (hasSplits) {
    const testRoot = join(root, testDir);
    for (const name of await subdirs(testRoot)) {
      const k = classNames.indexOf(name);
      if (k < 0) {
        throw new DatasetError(
          join(testRoot, name),
          `test class "${name}" has no training folder (classes: ${classNames.join(", ")})`,
        );
      }
      for (const f of await imageFiles(join(testRoot, name))) testFiles.push([f, k]);
    }
  }
  if (testFiles.length === 0) {
    throw new DatasetError(
      hasSplits ? join(root, testDir) : root,
      hasSplits
        ? "the test split holds no PNG/JPEG images"
        : "too few images for a test split (every fifth image of a class is held out): " +
          "add images or train/ and test/ subfolders",
    );
  }
  return { root, classNames, train: trainFiles, test: testFiles, hasSplits };
}

/**
 * Loads a class-per-folder image dataset (see the module notes for the layout, split and
 * preprocessing). Throws {@link DatasetError} naming the folder for a missing root, no class
 * folders, an empty class or split, and naming the file for an unreadable image.
 *
 * @example
 * ```ts
 * const { train, test } = await loadFolder({ root: "/home/me/pets", imageSize: 32 });
 * console.log(train.classNames, train.sampleShape); // ["cat", "dog"] [32, 32, 3]
 * ```
 */
export async function loadFolder(options: FolderOptions): Promise<{
  train: DatasetSplit;
  test: DatasetSplit;
}> {
  const size = options.imageSize ?? 32;
  if (!Number.isSafeInteger(size) || size < 1) {
    throw new InvalidArgumentError("--image_size", `must be a positive integer, got ${size}`);
  }
  const { root, classNames, train: trainFiles, test: testFiles, hasSplits } = await listFolder(
    options,
  );
  const log = options.log ?? (() => {});
  const load = async (
    files: [string, number][],
    which: "train" | "test",
  ): Promise<DatasetSplit> => {
    const images = new Uint8Array(files.length * size * size * 3);
    const labels = new Int32Array(files.length);
    let lastLog = performance.now();
    for (let i = 0; i < files.length; i++) {
      const [path, k] = files[i];
      let bytes: Uint8Array;
      try {
        bytes = await Deno.readFile(path);
      } catch (e) {
        throw new DatasetError(path, `unreadable image (${(e as Error).message})`, { cause: e });
      }
      images.set(resizeAndCentreCrop(decodeImage(bytes, path), size).data, i * size * size * 3);
      labels[i] = k;
      if (performance.now() - lastLog > 2000) {
        lastLog = performance.now();
        log(`  ${which}: ${i + 1}/${files.length} images (${relative(root, path)})`);
      }
    }
    return {
      name: options.name ?? "folder",
      split: which,
      length: files.length,
      sampleShape: [size, size, 3],
      images,
      features: null,
      labels,
      numClasses: classNames.length,
      classNames,
    };
  };
  const train = await load(trainFiles, "train");
  const test = await load(testFiles, "test");
  log(
    `folder ${root}: ${classNames.length} classes, ${train.length} train and ${test.length} test ` +
      `images${hasSplits ? "" : " (every fifth image of each class held out for test)"}`,
  );
  return { train, test };
}
