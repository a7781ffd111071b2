/**
 * Gzip decompression with a bound on what comes out, against decompression bombs (a few KB that
 * expand to gigabytes): the output may exceed {@link GZIP_LIMITS}' `freeBytes` only while it stays
 * within `maxRatio` times the compressed bytes read so far, and never `maxBytes`. Real dataset
 * files are far inside these bounds (MNIST's images expand 4.8×, the CIFAR tarballs 1.1×); a
 * stream that crosses them is stopped at once with a {@link DatasetError} naming the file.
 *
 * @module
 */
import { DatasetError } from "./dataset.ts";

/**
 * Bounds on a gzip stream's output.
 *
 * @example
 * ```ts
 * const limits: GzipLimits = { ...GZIP_LIMITS, maxBytes: 2 ** 30 };
 * ```
 */
export type GzipLimits = {
  /** Output allowed whatever the ratio (small, highly compressible files). */
  freeBytes: number;
  /** Beyond `freeBytes`: the largest output / compressed input ratio. */
  maxRatio: number;
  /** The largest output in any case. */
  maxBytes: number;
};

/**
 * The default bounds: 64 MiB free, then at most 100× the compressed size, and at most 64 GiB.
 *
 * @example
 * ```ts
 * GZIP_LIMITS.maxRatio; // 100
 * ```
 */
export const GZIP_LIMITS: GzipLimits = {
  freeBytes: 64 * 2 ** 20,
  maxRatio: 100,
  maxBytes: 64 * 2 ** 30,
};

const INPUT_PIECE = 16 * 1024;

/**
 * Decompresses a gzip (or, with `format: "deflate"`, a zlib) byte stream, stopping with a {@link DatasetError} naming `path` when the
 * output crosses `limits` or the data is not valid gzip.
 *
 * @example
 * ```ts
 * const file = await Deno.open("/data/cifar-10-python.tar.gz");
 * const plain = gunzipStream(file.readable, "cifar-10-python.tar.gz");
 * ```
 */
export function gunzipStream(
  input: ReadableStream<Uint8Array>,
  path: string,
  limits: GzipLimits = GZIP_LIMITS,
  format: "gzip" | "deflate" | "deflate-raw" = "gzip",
): ReadableStream<Uint8Array> {
  let compressed = 0, out = 0;
  // Fed in pieces of at most 16 KiB, the decompressor emits at most ≈ 16 MiB at a time
  // (deflate expands at most 1032:1), so a bomb is stopped before it is allocated.
  const counted = input.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array<ArrayBuffer>>({
      transform(chunk, controller) {
        for (let at = 0; at < chunk.length; at += INPUT_PIECE) {
          const piece = chunk.subarray(at, at + INPUT_PIECE) as Uint8Array<ArrayBuffer>;
          compressed += piece.length;
          controller.enqueue(piece);
        }
      },
    }),
  );
  const bounded = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      out += chunk.length;
      if (out > limits.maxBytes) {
        controller.error(
          new DatasetError(path, `gzip output exceeds ${limits.maxBytes} bytes: refused`),
        );
        return;
      }
      if (out > limits.freeBytes && out > limits.maxRatio * compressed) {
        controller.error(
          new DatasetError(
            path,
            `gzip expands more than ${limits.maxRatio}× (${out} bytes from ${compressed}): ` +
              "refused as a decompression bomb",
          ),
        );
        return;
      }
      controller.enqueue(chunk);
    },
  });
  // The decompressor's own errors (TypeErrors: a corrupt stream, a bad checksum) become
  // DatasetErrors naming the file, whoever reads the stream.
  const reader = counted.pipeThrough(new DecompressionStream(format)).pipeThrough(bounded)
    .getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { value, done } = await reader.read();
        if (done) controller.close();
        else controller.enqueue(value);
      } catch (e) {
        controller.error(
          e instanceof DatasetError
            ? e
            : new DatasetError(path, `corrupt gzip data (${(e as Error).message})`, { cause: e }),
        );
      }
    },
    cancel: (reason) => reader.cancel(reason),
  });
}

/**
 * Decompresses gzip bytes within `limits` (see {@link gunzipStream}). Throws {@link DatasetError}
 * naming `path` when the data is not valid gzip (corrupt or truncated) or expands too far.
 *
 * @example
 * ```ts
 * const path = "train-images-idx3-ubyte.gz";
 * const raw = await gunzip(await Deno.readFile(path), path);
 * ```
 */
export async function gunzip(
  bytes: Uint8Array,
  path: string,
  limits: GzipLimits = GZIP_LIMITS,
  format: "gzip" | "deflate" | "deflate-raw" = "gzip",
): Promise<Uint8Array> {
  try {
    const stream = gunzipStream(
      new Blob([bytes as Uint8Array<ArrayBuffer>]).stream(),
      path,
      limits,
      format,
    );
    return new Uint8Array(await new Response(stream).arrayBuffer());
  } catch (e) {
    if (e instanceof DatasetError) throw e;
    throw new DatasetError(path, `corrupt gzip data (${(e as Error).message})`, { cause: e });
  }
}
