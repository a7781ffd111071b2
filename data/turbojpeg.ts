/**
 * JPEG decoding by the system's libjpeg-turbo (its TurboJPEG API) through Deno's FFI: the
 * library Pillow itself decodes with, so the pixels are Pillow's (the default islow DCT and
 * fancy upsampling), and 5–10× faster than the pure-JS jpeg-js — what keeps ImageNet's input
 * pipeline off a step's critical path. Optional: without `--allow-ffi`, outside Deno, without
 * the library, or for CMYK/YCCK files, {@link turboJpeg} returns null (or `decode` returns null)
 * and `decodeImage` uses jpeg-js.
 *
 * The library: `$NC_TURBOJPEG_LIBRARY` if set (a path to libturbojpeg), else Debian's
 * (`libturbojpeg0`: /usr/lib/x86_64-linux-gnu/libturbojpeg.so.0, or /usr/lib/aarch64-linux-gnu/…),
 * Homebrew's (/opt/homebrew/opt/jpeg-turbo/lib/libturbojpeg.dylib, /usr/local/opt/jpeg-turbo/…),
 * then `libturbojpeg.so.0` on the loader's path. `NC_TURBOJPEG=off` disables it.
 *
 * @module
 */
import { DatasetError } from "./dataset.ts";
import { ffiAllowed, openLibrary } from "../core/ffi.ts";

const SYMBOLS = {
  tjInitDecompress: { parameters: [], result: "pointer" },
  tjDecompressHeader3: {
    parameters: ["pointer", "buffer", "usize", "buffer", "buffer", "buffer", "buffer"],
    result: "i32",
  },
  tjDecompress2: {
    parameters: ["pointer", "buffer", "usize", "buffer", "i32", "i32", "i32", "i32", "i32"],
    result: "i32",
  },
  tjGetErrorStr2: { parameters: ["pointer"], result: "pointer" },
  tjGetErrorCode: { parameters: ["pointer"], result: "i32" },
} as const;

const CANDIDATES = [
  "/usr/lib/x86_64-linux-gnu/libturbojpeg.so.0",
  "/usr/lib/aarch64-linux-gnu/libturbojpeg.so.0",
  "/opt/homebrew/opt/jpeg-turbo/lib/libturbojpeg.dylib",
  "/usr/local/opt/jpeg-turbo/lib/libturbojpeg.dylib",
  "libturbojpeg.so.0",
];

const TJPF_RGB = 0, TJCS_CMYK = 3, TJCS_YCCK = 4, TJERR_WARNING = 0;

/**
 * The TurboJPEG decoder: `decode(bytes, path, maxPixels)` gives height×width×3 RGB, or null for
 * a file it leaves to jpeg-js (CMYK, YCCK); a file it cannot read is a {@link DatasetError}
 * naming `path`, and one declaring more than `maxPixels` is refused before anything is allocated.
 *
 * @example
 * ```ts
 * const img = turboJpeg()?.decode(await Deno.readFile("cat.jpg"), "cat.jpg", 2 ** 26);
 * ```
 */
export type TurboJpeg = {
  /** The library file loaded. */
  library: string;
  decode(
    bytes: Uint8Array,
    path: string,
    maxPixels: number,
  ): { width: number; height: number; data: Uint8Array } | null;
};

let cached: TurboJpeg | null | undefined;
let enabled = true;

/**
 * Turns the library off (or on again) for this process: tests compare both decoders.
 *
 * @example
 * ```ts
 * useTurboJpeg(false); // jpeg-js from here on
 * ```
 */
export function useTurboJpeg(on: boolean): void {
  enabled = on;
}

/**
 * The system's TurboJPEG decoder, or null (no permission, no library, or turned off). An
 * explicit `NC_TURBOJPEG_LIBRARY` that cannot be loaded is an error naming it.
 *
 * @example
 * ```ts
 * console.log(turboJpeg()?.library ?? "jpeg-js");
 * ```
 */
export function turboJpeg(): TurboJpeg | null {
  if (!enabled) return null;
  if (cached !== undefined) return cached;
  cached = null;
  if (!ffiAllowed("NC_TURBOJPEG")) return null;
  const opened = openLibrary("NC_TURBOJPEG_LIBRARY", CANDIDATES, SYMBOLS);
  const handle = opened?.library.symbols.tjInitDecompress() ?? null;
  if (opened !== null && handle !== null) {
    cached = decoder(opened.path, opened.library.symbols, handle);
  }
  return cached;
}

function decoder(
  library: string,
  s: Deno.DynamicLibrary<typeof SYMBOLS>["symbols"],
  handle: Deno.PointerObject,
): TurboJpeg {
  const header = new Int32Array(4); // width, height, subsampling, colour space
  const field = (i: number) => new Uint8Array(header.buffer, 4 * i, 4);
  const message = () => {
    const p = s.tjGetErrorStr2(handle);
    return p === null ? "unknown error" : new Deno.UnsafePointerView(p).getCString();
  };
  return {
    library,
    decode(bytes, path, maxPixels) {
      header.fill(0); // a header the library could not read leaves them unset
      if (
        s.tjDecompressHeader3(
          handle,
          bytes,
          BigInt(bytes.length),
          field(0),
          field(1),
          field(2),
          field(3),
        ) !== 0
      ) {
        throw new DatasetError(path, `unreadable image (${message()})`);
      }
      const [width, height, , colourSpace] = header;
      if (!(width > 0 && height > 0)) {
        throw new DatasetError(path, `unreadable image (JPEG declares ${width}×${height})`);
      }
      if (width * height > maxPixels) {
        throw new DatasetError(
          path,
          `JPEG declares ${width}×${height} pixels, over the ${maxPixels}-pixel limit: refused`,
        );
      }
      if (colourSpace === TJCS_CMYK || colourSpace === TJCS_YCCK) return null;
      const data = new Uint8Array(width * height * 3);
      const r = s.tjDecompress2(
        handle,
        bytes,
        BigInt(bytes.length),
        data,
        width,
        0,
        height,
        TJPF_RGB,
        0,
      );
      // A warning (say, extraneous bytes before a marker) still decodes the image, as libjpeg
      // does for Pillow; a file cut short is refused, as Pillow refuses it ("truncated").
      if (r !== 0) {
        const why = message();
        if (s.tjGetErrorCode(handle) !== TJERR_WARNING || /premature end/i.test(why)) {
          throw new DatasetError(path, `unreadable image (${why})`);
        }
      }
      return { width, height, data };
    },
  };
}

/**
 * The JPEG decoder `decodeImage` uses in this process: "libjpeg-turbo" when {@link turboJpeg}
 * loads, else "jpeg-js" (recorded in a run's config.json; a resume with another one says so).
 *
 * @example
 * ```ts
 * jpegDecoderName(); // "libjpeg-turbo" with --allow-ffi and libturbojpeg0
 * ```
 */
export function jpegDecoderName(): "libjpeg-turbo" | "jpeg-js" {
  return turboJpeg() !== null ? "libjpeg-turbo" : "jpeg-js";
}
