/**
 * A writer and a validating reader of the safetensors format
 * (https://github.com/huggingface/safetensors, "Format"):
 *
 * - 8 bytes: N, an unsigned little-endian 64-bit integer, the size of the header;
 * - N bytes: a UTF-8 JSON object that begins with `{` and may be padded at the end with spaces
 *   (0x20): `{"NAME": {"dtype": "F32", "shape": [2, 3], "data_offsets": [BEGIN, END]}, …}`, with
 *   an optional `"__metadata__"` entry holding a string-to-string map;
 * - the rest of the file: the byte buffer. Offsets are relative to its start, END is one past
 *   the last byte; tensors are packed (no strides), row-major ('C' order), little-endian.
 *
 * The writer pads the header to a multiple of 8 bytes (as the reference implementation does) and
 * lays the data out by decreasing element size, so every tensor starts at an offset aligned to
 * its element size; header keys keep the caller's order. The reader checks everything the
 * specification requires and throws a {@link SafetensorsError} naming the file and the problem:
 * the header length against the file size, UTF-8, JSON, the leading `{`, duplicate keys, entry
 * fields, known dtypes, non-negative integer shapes, each tensor's byte size against its dtype and
 * shape, offsets within the buffer, no overlaps and no holes (the buffer must be entirely
 * indexed), and metadata values being strings.
 *
 * @example
 * ```ts
 * const chunks = encodeSafetensors(
 *   new Map([["w", { dtype: "F32", shape: [2], data: new Float32Array([1, 2]) }]]),
 *   { format: "pt" },
 * );
 * const { tensors, metadata } = decodeSafetensors(concatBytes(chunks), "w.safetensors");
 * ```
 *
 * @module
 */
import { InputError } from "../core/errors.ts";

/** The safetensors dtypes this module reads and writes. */
export const SAFETENSORS_DTYPES = [
  "BOOL",
  "U8",
  "I8",
  "F8_E5M2",
  "F8_E4M3",
  "I16",
  "U16",
  "F16",
  "BF16",
  "I32",
  "U32",
  "F32",
  "F64",
  "I64",
  "U64",
] as const;

/**
 * One of {@link SAFETENSORS_DTYPES}.
 *
 * @example
 * ```ts
 * const dtype: SafetensorsDtype = "F32";
 * ```
 */
export type SafetensorsDtype = typeof SAFETENSORS_DTYPES[number];

/**
 * The typed array holding a tensor's elements: Float32Array for F32, Float64Array for F64,
 * BigInt64Array for I64, BigUint64Array for U64, Int32Array for I32, Uint32Array for U32,
 * Int16Array for I16, Int8Array for I8, Uint16Array for U16 and the raw 16-bit F16 and BF16,
 * Uint8Array for U8, BOOL (0 or 1) and the raw 8-bit F8 formats.
 *
 * @example
 * ```ts
 * const data: TensorData = new Float32Array([1, 2, 3]);
 * ```
 */
export type TensorData =
  | Float32Array
  | Float64Array
  | BigInt64Array
  | BigUint64Array
  | Int32Array
  | Uint32Array
  | Int16Array
  | Uint16Array
  | Int8Array
  | Uint8Array;

/**
 * A tensor as stored: dtype, shape (row-major) and its elements.
 *
 * @example
 * ```ts
 * const t: TensorEntry = { dtype: "I64", shape: [], data: new BigInt64Array([3n]) };
 * ```
 */
export interface TensorEntry {
  /** Element type. */
  dtype: SafetensorsDtype;
  /** Dimensions, outermost first; `[]` for a scalar. */
  shape: readonly number[];
  /** The elements, row-major; its class must match `dtype` (see {@link TensorData}). */
  data: TensorData;
}

/**
 * A malformed safetensors file or an invalid tensor to write: the message starts with the file
 * (or `"<bytes>"`) and says what is wrong.
 *
 * @example
 * ```ts
 * try { await readSafetensors("bad.safetensors"); } catch (e) {
 *   if (e instanceof SafetensorsError) console.error(e.message); // "bad.safetensors: …"
 * }
 * ```
 */
export class SafetensorsError extends InputError {
  /** The file at fault, as given (or `"<bytes>"`). */
  readonly file: string;

  /** `problem` is prefixed with the file name. */
  constructor(file: string, problem: string) {
    super(`${file}: ${problem}`);
    this.file = file;
  }
}

type ArrayClass = {
  new (buffer: ArrayBuffer, byteOffset?: number, length?: number): TensorData;
  readonly BYTES_PER_ELEMENT: number;
  readonly name: string;
};

const ARRAY_CLASS: Record<SafetensorsDtype, ArrayClass> = {
  BOOL: Uint8Array,
  U8: Uint8Array,
  I8: Int8Array,
  F8_E5M2: Uint8Array,
  F8_E4M3: Uint8Array,
  I16: Int16Array,
  U16: Uint16Array,
  F16: Uint16Array,
  BF16: Uint16Array,
  I32: Int32Array,
  U32: Uint32Array,
  F32: Float32Array,
  F64: Float64Array,
  I64: BigInt64Array,
  U64: BigUint64Array,
};

/**
 * Bytes per element of a dtype.
 *
 * @example
 * ```ts
 * dtypeSize("I64"); // 8
 * ```
 */
export function dtypeSize(dtype: SafetensorsDtype): number {
  return ARRAY_CLASS[dtype].BYTES_PER_ELEMENT;
}

/** The header key that holds the string-to-string metadata. */
export const METADATA_KEY = "__metadata__";
/** The largest header accepted (the reference implementation's limit, 100 MB). */
export const MAX_HEADER_BYTES = 100_000_000;

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function isDtype(s: unknown): s is SafetensorsDtype {
  return typeof s === "string" && Object.hasOwn(ARRAY_CLASS, s);
}

function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const s of shape) n *= s;
  return n;
}

/** Little-endian bytes of `data` (a copy on big-endian hosts, a view otherwise). */
function littleEndianBytes(data: TensorData): Uint8Array {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return LITTLE_ENDIAN || data.BYTES_PER_ELEMENT === 1
    ? bytes
    : swapped(bytes, data.BYTES_PER_ELEMENT);
}

function swapped(bytes: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i += size) {
    for (let k = 0; k < size; k++) out[i + k] = bytes[i + size - 1 - k];
  }
  return out;
}

function checkEntry(file: string, name: string, t: TensorEntry): void {
  if (t === null || typeof t !== "object") {
    throw new SafetensorsError(file, `tensor "${name}": expected {dtype, shape, data}, got ${t}`);
  }
  if (!isDtype(t.dtype)) {
    throw new SafetensorsError(
      file,
      `tensor "${name}": unknown dtype ${JSON.stringify(t.dtype)}; expected one of ${
        SAFETENSORS_DTYPES.join(", ")
      }`,
    );
  }
  if (
    !Array.isArray(t.shape) || !t.shape.every((s) => Number.isSafeInteger(s) && s >= 0)
  ) {
    throw new SafetensorsError(
      file,
      `tensor "${name}": shape must be an array of non-negative integers, got ${
        JSON.stringify(t.shape)
      }`,
    );
  }
  const cls = ARRAY_CLASS[t.dtype];
  if (!(t.data instanceof cls)) {
    throw new SafetensorsError(
      file,
      `tensor "${name}": dtype ${t.dtype} needs its data as a ${cls.name}, got ${
        (t.data as object)?.constructor?.name ?? t.data
      }`,
    );
  }
  const n = elementCount(t.shape);
  if (t.data.length !== n) {
    throw new SafetensorsError(
      file,
      `tensor "${name}": shape [${
        t.shape.join(", ")
      }] has ${n} elements but data has ${t.data.length}`,
    );
  }
  if (t.dtype === "BOOL" && (t.data as Uint8Array).some((v) => v > 1)) {
    throw new SafetensorsError(file, `tensor "${name}": BOOL data must hold only 0 and 1`);
  }
}

/**
 * Serialises tensors and metadata into safetensors bytes, as a list of chunks (header, then each
 * tensor's bytes; on little-endian hosts the tensor chunks are views of the callers' arrays, so
 * large checkpoints are not copied). Concatenate them, or pass them to `atomicWriteFile`.
 * `file` only names the destination in error messages.
 *
 * @example
 * ```ts
 * const chunks = encodeSafetensors(
 *   new Map([["step", { dtype: "I64", shape: [], data: new BigInt64Array([42n]) }]]),
 *   { format: "pt" },
 * );
 * ```
 */
export function encodeSafetensors(
  tensors: ReadonlyMap<string, TensorEntry>,
  metadata: Readonly<Record<string, string>> = {},
  file = "<bytes>",
): Uint8Array[] {
  if (metadata === null || typeof metadata !== "object" || Array.isArray(metadata)) {
    throw new SafetensorsError(file, `metadata must be a string-to-string object, got ${metadata}`);
  }
  for (const [k, v] of Object.entries(metadata)) {
    if (typeof v !== "string") {
      throw new SafetensorsError(
        file,
        `metadata "${k}" must be a string (the format allows only strings), got ${typeof v}`,
      );
    }
  }
  for (const [name, t] of tensors) {
    if (typeof name !== "string" || name === "" || name === METADATA_KEY) {
      throw new SafetensorsError(file, `invalid tensor name ${JSON.stringify(name)}`);
    }
    checkEntry(file, name, t);
  }
  // Data by decreasing element size (stable), so each tensor is aligned to its element size.
  const order = [...tensors.keys()].map((name, i) => ({ name, i }));
  order.sort((a, b) =>
    dtypeSize(tensors.get(b.name)!.dtype) - dtypeSize(tensors.get(a.name)!.dtype) || a.i - b.i
  );
  const offsets = new Map<string, [number, number]>();
  let offset = 0;
  for (const { name } of order) {
    const bytes = tensors.get(name)!.data.byteLength;
    offsets.set(name, [offset, offset + bytes]);
    offset += bytes;
  }
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header[METADATA_KEY] = { ...metadata };
  for (const [name, t] of tensors) {
    header[name] = { dtype: t.dtype, shape: [...t.shape], data_offsets: offsets.get(name) };
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  const head = new Uint8Array(8 + padded).fill(0x20, 8 + json.length);
  new DataView(head.buffer).setBigUint64(0, BigInt(padded), true);
  head.set(json, 8);
  return [head, ...order.map(({ name }) => littleEndianBytes(tensors.get(name)!.data))];
}

/**
 * Concatenates byte chunks.
 *
 * @example
 * ```ts
 * concatBytes([new Uint8Array([1]), new Uint8Array([2, 3])]); // Uint8Array [1, 2, 3]
 * ```
 */
export function concatBytes(chunks: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((a, c) => a + c.length, 0));
  let at = 0;
  for (const c of chunks) (out.set(c, at), at += c.length);
  return out;
}

/**
 * The keys of every object in a JSON text that appear twice in the same object, found by a
 * small scanner (JSON.parse silently keeps the last one). Assumes `text` is valid JSON.
 */
function duplicateKeys(text: string): string[] {
  const stack: (Set<string> | null)[] = [];
  const duplicates: string[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === "{") (stack.push(new Set()), i++);
    else if (c === "[") (stack.push(null), i++);
    else if (c === "}" || c === "]") (stack.pop(), i++);
    else if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      const literal = text.slice(i, j + 1);
      i = j + 1;
      let k = i;
      while (k < text.length && " \t\r\n".includes(text[k])) k++;
      const keys = stack[stack.length - 1];
      if (text[k] === ":" && keys) {
        const key = JSON.parse(literal) as string;
        if (keys.has(key)) duplicates.push(key);
        keys.add(key);
      }
    } else i++;
  }
  return duplicates;
}

/**
 * What {@link decodeSafetensors} returns: tensors in header order, and the metadata
 * (empty when the file has none).
 *
 * @example
 * ```ts
 * const bytes = await Deno.readFile("run/checkpoints/state_epoch_005.safetensors");
 * const { tensors, metadata }: SafetensorsContents = decodeSafetensors(bytes);
 * ```
 */
export interface SafetensorsContents {
  /** Tensors by name, in the header's order. */
  tensors: Map<string, TensorEntry>;
  /** The `__metadata__` map. */
  metadata: Record<string, string>;
}

/**
 * Parses and validates safetensors bytes (see the module documentation for the checks). Each
 * tensor's data is a fresh, aligned typed array (host byte order). `file` names the source in
 * errors.
 *
 * @example
 * ```ts
 * const { tensors } = decodeSafetensors(await Deno.readFile("model.safetensors"), "model.safetensors");
 * tensors.get("conv1.weight")?.shape; // [64, 3, 7, 7]
 * ```
 */
export function decodeSafetensors(bytes: Uint8Array, file = "<bytes>"): SafetensorsContents {
  const fail = (problem: string): never => {
    throw new SafetensorsError(file, `not a valid safetensors file: ${problem}`);
  };
  if (bytes.length < 8) {
    fail(`${bytes.length} bytes, shorter than the 8-byte header length`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = view.getBigUint64(0, true);
  if (n > BigInt(bytes.length - 8)) {
    fail(`header length ${n} exceeds the ${bytes.length - 8} bytes after the length field`);
  }
  if (n > BigInt(MAX_HEADER_BYTES)) fail(`header length ${n} exceeds ${MAX_HEADER_BYTES} bytes`);
  const headerLength = Number(n);
  if (headerLength < 2) fail(`header length ${headerLength} is too small for a JSON object`);
  let text = "";
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + headerLength));
  } catch {
    fail("the header is not valid UTF-8");
  }
  if (text[0] !== "{") fail(`the header must begin with "{", found ${JSON.stringify(text[0])}`);
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    fail(`the header is not valid JSON (${(e as Error).message})`);
  }
  if (header === null || typeof header !== "object" || Array.isArray(header)) {
    fail("the header is not a JSON object");
  }
  const duplicates = duplicateKeys(text);
  if (duplicates.length > 0) {
    fail(`duplicate keys in the header: ${duplicates.map((d) => JSON.stringify(d)).join(", ")}`);
  }
  const bufferStart = 8 + headerLength;
  const bufferLength = bytes.length - bufferStart;
  const metadata: Record<string, string> = {};
  const entries: {
    name: string;
    dtype: SafetensorsDtype;
    shape: number[];
    begin: number;
    end: number;
  }[] = [];
  for (const [name, value] of Object.entries(header as Record<string, unknown>)) {
    if (name === METADATA_KEY) {
      if (value === null || typeof value !== "object" || Array.isArray(value)) {
        fail(`"${METADATA_KEY}" must be a string-to-string object`);
      }
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (typeof v !== "string") {
          fail(`"${METADATA_KEY}" value of "${k}" is ${JSON.stringify(v)}, not a string`);
        }
        metadata[k] = v as string;
      }
      continue;
    }
    const where = `tensor "${name}"`;
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      fail(`${where}: expected {"dtype", "shape", "data_offsets"}, got ${JSON.stringify(value)}`);
    }
    const { dtype, shape, data_offsets: offsets, ...rest } = value as Record<string, unknown>;
    if (Object.keys(rest).length > 0) {
      fail(`${where}: unknown fields ${Object.keys(rest).join(", ")}`);
    }
    if (!isDtype(dtype)) {
      fail(
        `${where}: unknown dtype ${JSON.stringify(dtype)}; this reader knows ${
          SAFETENSORS_DTYPES.join(", ")
        }`,
      );
    }
    if (
      !Array.isArray(shape) ||
      !shape.every((s) => typeof s === "number" && Number.isSafeInteger(s) && s >= 0)
    ) {
      fail(
        `${where}: shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`,
      );
    }
    if (
      !Array.isArray(offsets) || offsets.length !== 2 ||
      !offsets.every((o) => typeof o === "number" && Number.isSafeInteger(o) && o >= 0)
    ) {
      fail(
        `${where}: data_offsets must be [BEGIN, END], two non-negative integers, got ${
          JSON.stringify(offsets)
        }`,
      );
    }
    const [begin, end] = offsets as number[];
    if (end < begin) fail(`${where}: data_offsets [${begin}, ${end}] end before they begin`);
    if (end > bufferLength) {
      fail(
        `${where}: data_offsets [${begin}, ${end}] are out of range (the byte buffer has ${bufferLength} bytes)`,
      );
    }
    const expected = elementCount(shape as number[]) * dtypeSize(dtype as SafetensorsDtype);
    if (end - begin !== expected) {
      fail(
        `${where}: data_offsets [${begin}, ${end}] span ${end - begin} bytes but ${dtype} [${
          (shape as number[]).join(", ")
        }] needs ${expected}`,
      );
    }
    entries.push({
      name,
      dtype: dtype as SafetensorsDtype,
      shape: shape as number[],
      begin,
      end,
    });
  }
  // The buffer must be entirely indexed: sorted by offset, each tensor starts where the previous
  // one ended, and the last ends at the end of the file.
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0;
  for (const e of sorted) {
    if (e.begin < at) {
      const other = sorted.find((o) => o !== e && o.begin < e.end && e.begin < o.end) ??
        sorted[sorted.indexOf(e) - 1];
      fail(
        `tensors "${other.name}" and "${e.name}" overlap (data_offsets [${other.begin}, ${other.end}] and [${e.begin}, ${e.end}])`,
      );
    }
    if (e.begin > at) fail(`bytes [${at}, ${e.begin}) of the byte buffer belong to no tensor`);
    at = e.end;
  }
  if (at !== bufferLength) {
    fail(`bytes [${at}, ${bufferLength}) of the byte buffer belong to no tensor`);
  }
  const tensors = new Map<string, TensorEntry>();
  for (const e of entries) {
    const cls = ARRAY_CLASS[e.dtype];
    const raw = bytes.slice(bufferStart + e.begin, bufferStart + e.end);
    const host = LITTLE_ENDIAN || cls.BYTES_PER_ELEMENT === 1
      ? raw
      : swapped(raw, cls.BYTES_PER_ELEMENT);
    const data = new cls(host.buffer as ArrayBuffer, 0, (e.end - e.begin) / cls.BYTES_PER_ELEMENT);
    if (e.dtype === "BOOL" && (data as Uint8Array).some((v) => v > 1)) {
      fail(`tensor "${e.name}": BOOL data holds a byte other than 0 and 1`);
    }
    tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data });
  }
  return { tensors, metadata };
}

/**
 * Reads and validates a safetensors file.
 *
 * @example
 * ```ts
 * const { tensors, metadata } = await readSafetensors("run/checkpoints/epoch_005.safetensors");
 * ```
 */
export async function readSafetensors(path: string): Promise<SafetensorsContents> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    throw new SafetensorsError(path, `cannot read the file (${(e as Error).message})`);
  }
  return decodeSafetensors(bytes, path);
}
