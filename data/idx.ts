/**
 * The IDX format of MNIST and FashionMNIST (as LeCun published it and torchvision stores it under
 * `MNIST/raw`, `FashionMNIST/raw`), gzipped or not.
 *
 * An IDX file starts with a big-endian magic number `0x0000TTNN` (TT = element type, 0x08 for
 * unsigned bytes; NN = number of dimensions), then NN big-endian uint32 dimensions, then the
 * elements. Images are `0x00000803` (N×rows×cols), labels `0x00000801` (N). The file length must
 * be exactly header + product of the dimensions.
 *
 * @module
 */
import { join } from "node:path";
import { DatasetError } from "./dataset.ts";
import { gunzip } from "./gzip.ts";

/**
 * Magic number of an IDX file of uint8 images (3 dimensions).
 *
 * @example
 * ```ts
 * import { encodeIdxImages } from "./fixtures.ts";
 * const bytes = encodeIdxImages(new Uint8Array(2 * 28 * 28), 2, 28, 28);
 * new DataView(bytes.buffer).getUint32(0) === IDX_IMAGES_MAGIC;
 * ```
 */
export const IDX_IMAGES_MAGIC = 0x00000803;
/**
 * Magic number of an IDX file of uint8 labels (1 dimension).
 *
 * @example
 * ```ts
 * import { encodeIdxLabels } from "./fixtures.ts";
 * const bytes = encodeIdxLabels([3, 1, 4]);
 * new DataView(bytes.buffer).getUint32(0) === IDX_LABELS_MAGIC;
 * ```
 */
export const IDX_LABELS_MAGIC = 0x00000801;

/**
 * Images parsed from an IDX file: `data` is N×rows×cols uint8, row-major.
 *
 * @example
 * ```ts
 * import { encodeIdxImages } from "./fixtures.ts";
 * const bytes = encodeIdxImages(new Uint8Array(2 * 28 * 28), 2, 28, 28);
 * const { count, rows, cols, data } = parseIdxImages(bytes, "train-images-idx3-ubyte");
 * ```
 */
export type IdxImages = { count: number; rows: number; cols: number; data: Uint8Array };

function hex(n: number): string {
  return "0x" + n.toString(16).padStart(8, "0");
}

function header(bytes: Uint8Array, path: string, magic: number, what: string): number[] {
  const ndim = magic & 0xff;
  const headerLength = 4 + 4 * ndim;
  if (bytes.length < headerLength) {
    throw new DatasetError(
      path,
      `not an IDX ${what} file: ${bytes.length} bytes, shorter than its ${headerLength}-byte header`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const found = view.getUint32(0, false);
  if (found !== magic) {
    throw new DatasetError(
      path,
      `bad magic number ${hex(found)}, expected ${hex(magic)} (IDX ${what})`,
    );
  }
  const dims: number[] = [];
  for (let i = 0; i < ndim; i++) dims.push(view.getUint32(4 + 4 * i, false));
  const expected = headerLength + dims.reduce((a, b) => a * b, 1);
  if (bytes.length !== expected) {
    throw new DatasetError(
      path,
      `wrong length: ${bytes.length} bytes, expected ${expected} for dimensions ${
        dims.join("×")
      } (${bytes.length < expected ? "truncated" : "trailing bytes"})`,
    );
  }
  return dims;
}

/**
 * Parses an IDX image file (magic 0x00000803). Throws {@link DatasetError} naming `path` on a bad
 * magic number or a length that does not match the dimensions. `data` is a view into `bytes`.
 *
 * @example
 * ```ts
 * const path = "/home/me/data/MNIST/raw/train-images-idx3-ubyte.gz";
 * const images = parseIdxImages(await readMaybeGzip(path), path);
 * console.log(images.count, images.rows, images.cols); // 60000 28 28
 * ```
 */
export function parseIdxImages(bytes: Uint8Array, path: string): IdxImages {
  const [count, rows, cols] = header(bytes, path, IDX_IMAGES_MAGIC, "images");
  return { count, rows, cols, data: bytes.subarray(16) };
}

/**
 * Parses an IDX label file (magic 0x00000801); every label must lie in [0, numClasses). Throws
 * {@link DatasetError} naming `path` on a bad magic number, a wrong length or a label out of range.
 *
 * @example
 * ```ts
 * const path = "/home/me/data/MNIST/raw/train-labels-idx1-ubyte.gz";
 * const labels = parseIdxLabels(await readMaybeGzip(path), path, 10); // Int32Array
 * ```
 */
export function parseIdxLabels(bytes: Uint8Array, path: string, numClasses: number): Int32Array {
  const [count] = header(bytes, path, IDX_LABELS_MAGIC, "labels");
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const label = bytes[8 + i];
    if (label >= numClasses) {
      throw new DatasetError(
        path,
        `label ${label} at index ${i} is out of range [0, ${numClasses})`,
      );
    }
    labels[i] = label;
  }
  return labels;
}

/**
 * True when `bytes` starts with the gzip magic bytes 1f 8b.
 *
 * @example
 * ```ts
 * isGzip(new Uint8Array([0x1f, 0x8b, 8])); // true
 * ```
 */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

export { gunzip } from "./gzip.ts";

/**
 * The IDX file `name` in `dir`, plain or gzipped (`name` or `name.gz`, the plain one first), or
 * null when neither is there.
 *
 * @example
 * ```ts
 * const path = await findIdxFile("/home/me/data/MNIST/raw", "train-images-idx3-ubyte");
 * ```
 */
export async function findIdxFile(dir: string, name: string): Promise<string | null> {
  for (const candidate of [join(dir, name), join(dir, name + ".gz")]) {
    try {
      if ((await Deno.stat(candidate)).isFile) return candidate;
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
  return null;
}

/**
 * Reads a file and decompresses it when it is gzipped (by content, whatever its name), within
 * the bounds of `GZIP_LIMITS` (data/gzip.ts: no decompression bombs).
 *
 * @example
 * ```ts
 * const bytes = await readMaybeGzip("/data/MNIST/raw/t10k-labels-idx1-ubyte.gz");
 * ```
 */
export async function readMaybeGzip(path: string): Promise<Uint8Array> {
  const bytes = await Deno.readFile(path);
  return isGzip(bytes) ? await gunzip(bytes, path) : bytes;
}

/**
 * Parses a matching pair of IDX image and label files into HWC uint8 images (C = 1) and labels,
 * checking that both hold the same number of samples.
 *
 * @example
 * ```ts
 * import { encodeIdxImages, encodeIdxLabels } from "./fixtures.ts";
 * const imgPath = "t10k-images-idx3-ubyte", lblPath = "t10k-labels-idx1-ubyte";
 * const imgBytes = encodeIdxImages(new Uint8Array(3 * 28 * 28), 3, 28, 28);
 * const lblBytes = encodeIdxLabels([7, 2, 1]);
 * const { images, labels, rows, cols } = parseIdxPair(imgBytes, imgPath, lblBytes, lblPath, 10);
 * ```
 */
export function parseIdxPair(
  imageBytes: Uint8Array,
  imagePath: string,
  labelBytes: Uint8Array,
  labelPath: string,
  numClasses: number,
): { images: Uint8Array; labels: Int32Array; rows: number; cols: number } {
  const images = parseIdxImages(imageBytes, imagePath);
  const labels = parseIdxLabels(labelBytes, labelPath, numClasses);
  if (images.count !== labels.length) {
    throw new DatasetError(
      imagePath,
      `holds ${images.count} images but ${labelPath} holds ${labels.length} labels`,
    );
  }
  return { images: images.data, labels, rows: images.rows, cols: images.cols };
}
