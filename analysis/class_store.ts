/**
 * Feature rows grouped by class, kept for the second pass of the neural-collapse metrics
 * (the per-sample metrics need the final class means and the classifier): in memory, or spilled
 * to one raw file per class under a directory when N·d does not fit in memory.
 *
 * Rows keep the precision they were given (float32 stays float32: 4 bytes per value); a store
 * holds one precision, fixed by its first rows.
 *
 * @module
 */
import { InvalidArgumentError } from "../core/errors.ts";

/** Rows of one precision (row-major, `dim` values each). */
export type FeatureRows = Float32Array | Float64Array;

/** Bytes buffered in memory for all classes together before a spilling store writes them out. */
const SPILL_BUFFER_BYTES = 64 * 2 ** 20;

/**
 * Class-grouped feature rows: `append` rows of one class, `read` them back in blocks.
 *
 * @example
 * ```ts
 * const store = ClassStore.inMemory(2, 3);
 * store.append(1, new Float32Array([1, 2, 3, 4, 5, 6])); // two rows of class 1
 * for (const block of store.read(1, 1024)) console.log(block.length / 3); // 2
 * store.dispose();
 * ```
 */
export class ClassStore {
  readonly numClasses: number;
  readonly dim: number;
  #kind: "memory" | "spill";
  #directory: string | null;
  #chunks: FeatureRows[][];
  #buffered = 0;
  #rows: Float64Array;
  #float64: boolean | null = null;
  #bufferBytes: number;

  private constructor(
    numClasses: number,
    dim: number,
    directory: string | null,
    bufferBytes = SPILL_BUFFER_BYTES,
  ) {
    this.#bufferBytes = bufferBytes;
    this.numClasses = numClasses;
    this.dim = dim;
    this.#kind = directory === null ? "memory" : "spill";
    this.#directory = directory;
    this.#chunks = Array.from({ length: numClasses }, () => []);
    this.#rows = new Float64Array(numClasses);
  }

  /**
   * A store in memory: N·d values at the rows' precision.
   *
   * @example
   * ```ts
   * const store = ClassStore.inMemory(10, 512);
   * ```
   */
  static inMemory(numClasses: number, dim: number): ClassStore {
    return new ClassStore(numClasses, dim, null);
  }

  /**
   * A store that writes each class's rows to `<directory>/class-NNNNN.f32` (or `.f64`), keeping
   * at most `bufferBytes` (default 64 MiB) buffered; `directory` is created and, by `dispose`,
   * removed.
   *
   * @example
   * ```ts
   * const store = ClassStore.spilling(1000, 2048, await Deno.makeTempDir());
   * ```
   */
  static spilling(
    numClasses: number,
    dim: number,
    directory: string,
    bufferBytes?: number,
  ): ClassStore {
    Deno.mkdirSync(directory, { recursive: true });
    return new ClassStore(numClasses, dim, directory, bufferBytes);
  }

  /** Rows held for class k. */
  rowsOf(k: number): number {
    return this.#rows[k];
  }

  /** Appends rows (a multiple of `dim` values) of class k; a spilling store copies them. */
  append(k: number, rows: FeatureRows): void {
    const is64 = rows instanceof Float64Array;
    this.#float64 ??= is64;
    if (this.#float64 !== is64) {
      throw new InvalidArgumentError(
        "features",
        `got ${is64 ? "Float64Array" : "Float32Array"} after ${
          is64 ? "Float32Array" : "Float64Array"
        } batches; give every batch in one precision`,
      );
    }
    this.#chunks[k].push(rows);
    this.#rows[k] += rows.length / this.dim;
    if (this.#kind === "spill") {
      this.#buffered += rows.byteLength;
      if (this.#buffered > this.#bufferBytes) this.#flushAll();
    }
  }

  /** Class k's rows in order, in blocks of at most `blockRows` rows (each block a fresh array). */
  *read(k: number, blockRows: number): Generator<FeatureRows> {
    const d = this.dim;
    if (this.#kind === "memory") {
      for (const chunk of this.#chunks[k]) {
        for (let start = 0; start < chunk.length; start += blockRows * d) {
          yield chunk.subarray(start, Math.min(chunk.length, start + blockRows * d));
        }
      }
      return;
    }
    this.#flush(k);
    const path = this.#file(k);
    const bytesPerRow = d * (this.#float64 ? 8 : 4);
    const total = this.#rows[k];
    if (total === 0) return;
    const file = Deno.openSync(path, { read: true });
    try {
      for (let done = 0; done < total; done += blockRows) {
        const n = Math.min(blockRows, total - done);
        const bytes = new Uint8Array(n * bytesPerRow);
        let filled = 0;
        while (filled < bytes.length) {
          const got = file.readSync(bytes.subarray(filled));
          if (got === null || got === 0) {
            throw new Error(`${path}: ended after ${done * bytesPerRow + filled} bytes`);
          }
          filled += got;
        }
        yield this.#float64 ? new Float64Array(bytes.buffer) : new Float32Array(bytes.buffer);
      }
    } finally {
      file.close();
    }
  }

  /** Frees the rows (and removes a spilling store's directory). */
  dispose(): void {
    this.#chunks = this.#chunks.map(() => []);
    if (this.#directory !== null) {
      try {
        Deno.removeSync(this.#directory, { recursive: true });
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      }
    }
  }

  #file(k: number): string {
    const name = `class-${String(k).padStart(5, "0")}.${this.#float64 ? "f64" : "f32"}`;
    return `${this.#directory}/${name}`;
  }

  #flushAll(): void {
    for (let k = 0; k < this.numClasses; k++) this.#flush(k);
    this.#buffered = 0;
  }

  #flush(k: number): void {
    const chunks = this.#chunks[k];
    if (chunks.length === 0) return;
    const file = Deno.openSync(this.#file(k), { append: true, create: true });
    try {
      for (const c of chunks) {
        const bytes = new Uint8Array(c.buffer, c.byteOffset, c.byteLength);
        let written = 0;
        while (written < bytes.length) written += file.writeSync(bytes.subarray(written));
        this.#buffered -= c.byteLength;
      }
    } finally {
      file.close();
    }
    this.#chunks[k] = [];
  }
}
