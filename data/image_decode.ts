/**
 * Image decoding for the image-folder datasets (`folder`, `tiny-imagenet`, `imagenet`): PNG
 * (pure-JS `pngjs`) and JPEG (the system's libjpeg-turbo through FFI when it can be loaded —
 * Pillow's own decoder, so Pillow's pixels — else pure-JS `jpeg-js`, whose pixels may differ from
 * Pillow's by a few levels) to RGB, with the size of a hostile file checked before anything is
 * allocated.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import pngjs from "npm:pngjs@7.0.0";
import jpeg from "npm:jpeg-js@0.4.4";
import { DatasetError } from "./dataset.ts";
import { turboJpeg } from "./turbojpeg.ts";

/**
 * An RGB image: `data` is height×width×3 uint8, row-major.
 *
 * @example
 * ```ts
 * const img: RgbImage = { width: 2, height: 1, data: new Uint8Array([255, 0, 0, 0, 0, 255]) };
 * ```
 */
export type RgbImage = { width: number; height: number; data: Uint8Array };

/**
 * The largest image decoded, in pixels (64 megapixels, e.g. 8192×8192: ImageNet's largest are
 * under 20 MP). A PNG's declared size is read from its IHDR chunk and checked before decoding,
 * and jpeg-js is given the same bound, so a tiny file declaring a huge image allocates nothing.
 *
 * @example
 * ```ts
 * MAX_IMAGE_PIXELS; // 67108864
 * ```
 */
export const MAX_IMAGE_PIXELS = 64 * 2 ** 20;

/**
 * A PNG's declared size, checked before anything is decoded: IHDR's width × height against
 * {@link MAX_IMAGE_PIXELS}, and the raw image data it implies against what its IDAT chunks can
 * hold — deflate expands at most 1032:1, so a file whose compressed data is far smaller than its
 * declared image is corrupt or hostile (a few bytes declaring a gigapixel), and is refused
 * without allocating the image.
 */
function checkPngSize(bytes: Uint8Array, path: string): void {
  // Signature (8), IHDR length (4), "IHDR" (4), width, height (4 each, big-endian), bit depth,
  // colour type.
  if (bytes.length < 26 || String.fromCharCode(...bytes.subarray(12, 16)) !== "IHDR") {
    throw new DatasetError(path, "unreadable image (PNG without an IHDR chunk first)");
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const width = view.getUint32(16, false), height = view.getUint32(20, false);
  if (width === 0 || height === 0) {
    throw new DatasetError(path, `PNG declares ${width}×${height} pixels: corrupt, refused`);
  }
  if (width * height > MAX_IMAGE_PIXELS) {
    throw new DatasetError(
      path,
      `PNG declares ${width}×${height} pixels, over the ${MAX_IMAGE_PIXELS}-pixel limit: refused`,
    );
  }
  const channels = ({ 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 } as Record<number, number>)[bytes[25]] ?? 4;
  const raw = height * (1 + Math.ceil((width * channels * Math.max(bytes[24], 1)) / 8));
  let compressed = 0;
  for (let at = 8; at + 8 <= bytes.length;) {
    const length = view.getUint32(at, false);
    if (String.fromCharCode(...bytes.subarray(at + 4, at + 8)) === "IDAT") {
      compressed += Math.min(length, bytes.length - at - 8); // what the file really holds
    }
    at += 12 + length;
  }
  // 1032:1 is deflate's bound; Adam7 interlacing (byte 28) adds at most 7 filter bytes a row.
  const interlacing = bytes.length > 28 && bytes[28] !== 0 ? 7 * height : 0;
  if (raw + interlacing > 1032 * compressed + 1024) {
    throw new DatasetError(
      path,
      `PNG declares ${width}×${height} pixels (${raw} bytes of image data) but holds ${compressed} ` +
        "bytes of compressed data, more than deflate can expand: corrupt, refused",
    );
  }
}

/**
 * Decodes a PNG or JPEG (recognised by its signature) to RGB (a JPEG by libjpeg-turbo when
 * data/turbojpeg.ts can load it, else by jpeg-js). Throws {@link DatasetError}
 * naming `path` when the bytes are neither, do not decode, or declare more than
 * {@link MAX_IMAGE_PIXELS} pixels.
 *
 * @example
 * ```ts
 * const img = decodeImage(await Deno.readFile("cat.png"), "cat.png");
 * ```
 */
export function decodeImage(bytes: Uint8Array, path: string): RgbImage {
  let width: number, height: number, rgba: Uint8Array;
  try {
    const kind = imageKind(bytes);
    if (kind === "png") {
      checkPngSize(bytes, path);
      // pngjs reads through Node's Buffer methods: wrap the bytes without copying
      const png = pngjs.PNG.sync.read(
        Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
      );
      width = png.width;
      height = png.height;
      rgba = new Uint8Array(png.data.buffer, png.data.byteOffset, png.data.byteLength);
    } else if (kind === "jpeg") {
      const fast = turboJpeg()?.decode(bytes, path, MAX_IMAGE_PIXELS);
      if (fast) return fast;
      const img = jpeg.decode(bytes, {
        useTArray: true,
        formatAsRGBA: true,
        maxResolutionInMP: MAX_IMAGE_PIXELS / 2 ** 20,
        maxMemoryUsageInMB: 512,
      });
      width = img.width;
      height = img.height;
      rgba = img.data;
    } else {
      throw new DatasetError(path, "not a PNG or JPEG image (unrecognised signature)");
    }
  } catch (e) {
    if (e instanceof DatasetError) throw e;
    throw new DatasetError(path, `unreadable image (${(e as Error).message})`, { cause: e });
  }
  if (!(width > 0 && height > 0) || rgba.length < width * height * 4) {
    throw new DatasetError(path, `unreadable image (decoded ${width}×${height})`);
  }
  const data = new Uint8Array(width * height * 3);
  for (let p = 0, q = 0; p < data.length; p += 3, q += 4) {
    data[p] = rgba[q];
    data[p + 1] = rgba[q + 1];
    data[p + 2] = rgba[q + 2];
  }
  return { width, height, data };
}

/**
 * The image format a file's first bytes announce: "png" (0x89 'P' 'N', 8 bytes at least),
 * "jpeg" (0xFF 0xD8, 3 bytes at least), or null.
 *
 * @example
 * ```ts
 * imageKind(Uint8Array.of(0xff, 0xd8, 0xff, 0xe0)); // "jpeg"
 * ```
 */
export function imageKind(head: Uint8Array): "png" | "jpeg" | null {
  if (head.length >= 8 && head[0] === 0x89 && head[1] === 0x50 && head[2] === 0x4e) return "png";
  if (head.length >= 3 && head[0] === 0xff && head[1] === 0xd8) return "jpeg";
  return null;
}

/**
 * Reads the first bytes of every file (32 at a time) and refuses, with a {@link DatasetError}
 * naming it, one that is not a PNG or JPEG — so that a file-backed split (ImageNet) finds a
 * stray file at load, not hours into training. A file cut short still decodes only when its
 * batch is made. `log` gets a progress line every 2 s.
 *
 * @example
 * ```ts
 * await checkImageSignatures(["/data/imagenet/train/n01440764/a.JPEG"], console.error);
 * ```
 */
export async function checkImageSignatures(
  paths: readonly string[],
  log: (line: string) => void = () => {},
): Promise<void> {
  let next = 0, lastLog = performance.now();
  const worker = async () => {
    const head = new Uint8Array(8);
    while (next < paths.length) {
      const path = paths[next++];
      let n: number | null;
      try {
        using file = await Deno.open(path);
        n = await file.read(head);
      } catch (e) {
        throw new DatasetError(path, `unreadable image (${(e as Error).message})`, { cause: e });
      }
      if (imageKind(head.subarray(0, n ?? 0)) === null) {
        throw new DatasetError(path, "not a PNG or JPEG image (unrecognised signature)");
      }
      if (performance.now() - lastLog > 2000) {
        lastLog = performance.now();
        log(`  checked ${next}/${paths.length} image files`);
      }
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
}
