/**
 * A reader of MATLAB level-5 MAT-files (the format of SVHN's `train_32x32.mat`), enough for
 * numeric arrays: the 128-byte header (little-endian files, "IM"), data elements (full and small
 * tags, 8-byte padding), `miCOMPRESSED` elements (zlib, decompressed within `GZIP_LIMITS`) and
 * `miMATRIX` arrays of the numeric classes (double, single, int8–int64, uint8–uint64), real only,
 * stored in any numeric type (MATLAB stores a double array of small integers as uint8). Every size
 * is checked against the bytes that hold it, and a matrix's dimensions against its data, before
 * anything is allocated; anything else (cell, struct, sparse, char, complex or object arrays, a
 * big-endian file, v7.3 HDF5 files) is a {@link DatasetError} naming the file and the variable.
 *
 * @module
 */
import { DatasetError } from "./dataset.ts";
import { gunzip } from "./gzip.ts";

/**
 * A numeric MATLAB array: `dims` (MATLAB's order, column-major data) and its elements as stored,
 * in a typed array of the storage type (`Uint8Array` for uint8 data, `Float64Array` for double…).
 *
 * @example
 * ```ts
 * const a: MatArray = { name: "y", className: "double", dims: [3, 1], data: new Uint8Array([1, 10, 5]) };
 * ```
 */
export type MatArray = {
  name: string;
  /** The MATLAB class: "double", "single", "int8", …, "uint64". */
  className: string;
  dims: number[];
  data:
    | Uint8Array
    | Int8Array
    | Uint16Array
    | Int16Array
    | Uint32Array
    | Int32Array
    | Float32Array
    | Float64Array
    | BigInt64Array
    | BigUint64Array;
};

const MI_MATRIX = 14, MI_COMPRESSED = 15;
/** Storage types: element size and typed-array constructor. */
const STORAGE: Record<number, { size: number; make: (b: ArrayBuffer) => MatArray["data"] }> = {
  1: { size: 1, make: (b) => new Int8Array(b) },
  2: { size: 1, make: (b) => new Uint8Array(b) },
  3: { size: 2, make: (b) => new Int16Array(b) },
  4: { size: 2, make: (b) => new Uint16Array(b) },
  5: { size: 4, make: (b) => new Int32Array(b) },
  6: { size: 4, make: (b) => new Uint32Array(b) },
  7: { size: 4, make: (b) => new Float32Array(b) },
  9: { size: 8, make: (b) => new Float64Array(b) },
  12: { size: 8, make: (b) => new BigInt64Array(b) },
  13: { size: 8, make: (b) => new BigUint64Array(b) },
};
const CLASSES: Record<number, string> = {
  6: "double",
  7: "single",
  8: "int8",
  9: "uint8",
  10: "int16",
  11: "uint16",
  12: "int32",
  13: "uint32",
  14: "int64",
  15: "uint64",
};
const OTHER_CLASSES: Record<number, string> = {
  1: "cell",
  2: "struct",
  3: "object",
  4: "char",
  5: "sparse",
};

/** One data element: its type and the bytes of its data (a view). */
type Element = { type: number; data: Uint8Array; end: number };

function readElement(bytes: Uint8Array, at: number, fail: (what: string) => never): Element {
  if (at + 8 > bytes.length) fail(`a data element tag at byte ${at} runs past the end`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const first = view.getUint32(at, true);
  if (first >>> 16 !== 0) { // small data element: 2 bytes size, 2 bytes type, 4 bytes of data
    const size = first >>> 16, type = first & 0xffff;
    if (size > 4) fail(`a small data element of ${size} bytes at byte ${at}`);
    return { type, data: bytes.subarray(at + 4, at + 4 + size), end: at + 8 };
  }
  const size = view.getUint32(at + 4, true);
  if (at + 8 + size > bytes.length) {
    fail(`a data element of ${size} bytes at byte ${at} runs past the end (${bytes.length} bytes)`);
  }
  const padded = first === MI_COMPRESSED ? size : Math.ceil(size / 8) * 8;
  return { type: first, data: bytes.subarray(at + 8, at + 8 + size), end: at + 8 + padded };
}

function parseMatrix(bytes: Uint8Array, fail: (what: string) => never): MatArray {
  const flags = readElement(bytes, 0, fail);
  if (flags.type !== 6 || flags.data.length !== 8) fail("a matrix without its array flags");
  const fv = new DataView(flags.data.buffer, flags.data.byteOffset, 8);
  const word = fv.getUint32(0, true), classId = word & 0xff;
  const dimsEl = readElement(bytes, flags.end, fail);
  if (dimsEl.type !== 5 || dimsEl.data.length % 4 !== 0 || dimsEl.data.length < 8) {
    fail("a matrix without int32 dimensions");
  }
  const dv = new DataView(dimsEl.data.buffer, dimsEl.data.byteOffset, dimsEl.data.length);
  const dims = Array.from({ length: dimsEl.data.length / 4 }, (_, i) => dv.getInt32(4 * i, true));
  const nameEl = readElement(bytes, dimsEl.end, fail);
  if (nameEl.type !== 1) fail("a matrix without a name");
  const name = new TextDecoder().decode(nameEl.data);
  if (!(classId in CLASSES)) {
    fail(
      `variable "${name}" is a ${
        OTHER_CLASSES[classId] ?? `class-${classId}`
      } array; only numeric arrays are read`,
    );
  }
  if (word & 0x0800) fail(`variable "${name}" is complex; only real arrays are read`);
  if (dims.some((d) => d < 0)) fail(`variable "${name}" has negative dimensions ${dims.join("×")}`);
  const real = readElement(bytes, nameEl.end, fail);
  const storage = STORAGE[real.type];
  if (storage === undefined) fail(`variable "${name}" is stored in type ${real.type}, not numeric`);
  const count = dims.reduce((a, b) => a * b, 1);
  if (count * storage.size !== real.data.length) {
    fail(
      `variable "${name}" of dimensions ${dims.join("×")} needs ${count * storage.size} bytes of ` +
        `data, has ${real.data.length}`,
    );
  }
  const copy = real.data.slice(); // aligned
  return { name, className: CLASSES[classId], dims, data: storage.make(copy.buffer) };
}

/**
 * Reads every variable of a level-5 MAT-file (see the module documentation). Throws
 * {@link DatasetError} naming `path` for anything it does not read.
 *
 * @example
 * ```ts
 * const path = "/home/me/data/train_32x32.mat";
 * const vars = await readMat(await Deno.readFile(path), path);
 * vars.get("X")?.dims; // [32, 32, 3, 73257]
 * ```
 */
export async function readMat(bytes: Uint8Array, path: string): Promise<Map<string, MatArray>> {
  const fail = (what: string): never => {
    throw new DatasetError(path, `not a readable MATLAB 5 MAT-file: ${what}`);
  };
  if (bytes.length < 128) fail(`${bytes.length} bytes, shorter than the 128-byte header`);
  const text = new TextDecoder("latin1").decode(bytes.subarray(0, 116));
  if (text.startsWith("MATLAB 7.3")) fail("a v7.3 (HDF5) file; save it with -v7 or -v6");
  if (!text.startsWith("MATLAB 5.0 MAT-file")) fail('no "MATLAB 5.0 MAT-file" header');
  const endian = String.fromCharCode(bytes[126], bytes[127]);
  if (endian === "MI") fail("a big-endian file");
  if (endian !== "IM") fail(`endian indicator "${endian}"`);
  const out = new Map<string, MatArray>();
  for (let at = 128; at < bytes.length;) {
    const el = readElement(bytes, at, fail);
    let matrix = el;
    if (el.type === MI_COMPRESSED) {
      const inner = await gunzip(el.data, path, undefined, "deflate");
      matrix = readElement(inner, 0, fail);
    }
    if (matrix.type !== MI_MATRIX) fail(`a data element of type ${matrix.type} at the top level`);
    const array = parseMatrix(matrix.data, fail);
    if (out.has(array.name)) fail(`variable "${array.name}" appears twice`);
    out.set(array.name, array);
    at = el.end;
  }
  return out;
}

/**
 * A numeric array's elements as numbers (bigint storage converted; exact up to 2^53).
 *
 * @example
 * ```ts
 * matNumbers({ name: "y", className: "double", dims: [2, 1], data: new Uint8Array([3, 10]) }); // [3, 10]
 * ```
 */
export function matNumbers(a: MatArray): Float64Array {
  const out = new Float64Array(a.data.length);
  for (let i = 0; i < out.length; i++) out[i] = Number(a.data[i]);
  return out;
}
