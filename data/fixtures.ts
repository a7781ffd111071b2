/**
 * Writers for the file formats the loaders read — IDX, CIFAR (python pickles as Python 2's
 * cPickle writes them, and binary records), tar and gzip — to make small datasets with known
 * contents (the tests use them; so can users packaging their own data in these layouts).
 *
 * @module
 */
import { IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC } from "./idx.ts";
import { crc32 } from "./zip.ts";

/**
 * An IDX image file (magic 0x00000803) of `count` rows×cols uint8 images.
 *
 * @example
 * ```ts
 * const bytes = encodeIdxImages(new Uint8Array(2 * 28 * 28), 2, 28, 28);
 * ```
 */
export function encodeIdxImages(
  data: Uint8Array,
  count: number,
  rows: number,
  cols: number,
): Uint8Array {
  const out = new Uint8Array(16 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, IDX_IMAGES_MAGIC);
  view.setUint32(4, count);
  view.setUint32(8, rows);
  view.setUint32(12, cols);
  out.set(data, 16);
  return out;
}

/**
 * An IDX label file (magic 0x00000801).
 *
 * @example
 * ```ts
 * const bytes = encodeIdxLabels([3, 1, 4]);
 * ```
 */
export function encodeIdxLabels(labels: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(8 + labels.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, IDX_LABELS_MAGIC);
  view.setUint32(4, labels.length);
  for (let i = 0; i < labels.length; i++) out[8 + i] = labels[i];
  return out;
}

/**
 * Gzips bytes with the web-standard `CompressionStream`.
 *
 * @example
 * ```ts
 * const gz = await gzip(new TextEncoder().encode("hello"));
 * ```
 */
export async function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(
    new CompressionStream("gzip"),
  );
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Builds a pickle byte by byte. */
class PickleWriter {
  #chunks: Uint8Array[] = [];
  #parts: number[] = [];
  #memo = 0;
  op(...bytes: number[]): this {
    this.#parts.push(...bytes);
    return this;
  }
  raw(bytes: Uint8Array): this {
    this.#chunks.push(Uint8Array.from(this.#parts), bytes);
    this.#parts = [];
    return this;
  }
  u32(n: number): this {
    return this.op(n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff);
  }
  put(): this {
    return this.op(0x71, this.#memo++ & 0xff); // BINPUT
  }
  /** A Python 2 str (SHORT_BINSTRING / BINSTRING). */
  str(s: string | Uint8Array): this {
    const b = typeof s === "string" ? Uint8Array.from(s, (c) => c.charCodeAt(0)) : s;
    if (b.length < 256) this.op(0x55, b.length);
    else this.op(0x54).u32(b.length);
    return this.raw(b).put();
  }
  int(n: number): this {
    if (n >= 0 && n < 256) return this.op(0x4b, n); // BININT1
    if (n >= 0 && n < 65536) return this.op(0x4d, n & 0xff, n >> 8); // BININT2
    return this.op(0x4a).u32(n >>> 0); // BININT
  }
  global(module: string, name: string): this {
    this.op(0x63);
    for (const c of `${module}\n${name}\n`) this.#parts.push(c.charCodeAt(0));
    return this.put();
  }
  /** A list of ints, appended in batches of 1000 as cPickle does. */
  intList(values: ArrayLike<number>): this {
    this.op(0x5d).put(); // EMPTY_LIST
    for (let i = 0; i < values.length; i += 1000) {
      this.op(0x28); // MARK
      for (let j = i; j < Math.min(i + 1000, values.length); j++) this.int(values[j]);
      this.op(0x65); // APPENDS
    }
    return this;
  }
  strList(values: string[]): this {
    this.op(0x5d).put().op(0x28);
    for (const v of values) this.str(v);
    return this.op(0x65);
  }
  /** A 2-D uint8 numpy array, as numpy's __reduce__ pickles it. */
  uint8Array(data: Uint8Array, rows: number, cols: number): this {
    this.global("numpy.core.multiarray", "_reconstruct");
    this.global("numpy", "ndarray");
    this.int(0).op(0x85).put(); // (0,)
    this.str("b").op(0x87).put().op(0x52).put(); // TUPLE3, REDUCE
    this.op(0x28).int(1); // MARK, version 1
    this.int(rows).int(cols).op(0x86).put(); // shape
    this.global("numpy", "dtype").str("u1").int(0).int(1).op(0x87).put().op(0x52).put();
    this.op(0x28).int(3).str("|").op(0x4e, 0x4e, 0x4e).int(-1).int(-1).int(0);
    this.op(0x74).put().op(0x62); // TUPLE, BUILD (dtype state)
    this.op(0x89); // NEWFALSE (not Fortran)
    this.str(data);
    return this.op(0x74).put().op(0x62); // TUPLE, BUILD (array state)
  }
  bytes(): Uint8Array {
    this.raw(new Uint8Array(0));
    const out = new Uint8Array(this.#chunks.reduce((a, c) => a + c.length, 0));
    let at = 0;
    for (const c of this.#chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }
}

/**
 * A CIFAR python batch as Python 2's cPickle (protocol 2) wrote the originals: a dict with
 * `batch_label`, a label list (`labels` for CIFAR-10, `fine_labels` + `coarse_labels` for
 * CIFAR-100), `data` (uint8 numpy array N×3072, CHW planes) and `filenames`.
 *
 * @example
 * ```ts
 * const bytes = encodeCifarPickle(new Uint8Array(2 * 3072), [3, 5], "labels");
 * ```
 */
export function encodeCifarPickle(
  chw: Uint8Array,
  labels: ArrayLike<number>,
  labelKey: "labels" | "fine_labels" = "labels",
): Uint8Array {
  const n = labels.length;
  const w = new PickleWriter().op(0x80, 2).op(0x7d).put().op(0x28); // PROTO 2, EMPTY_DICT, MARK
  w.str("batch_label").str("generated batch");
  w.str(labelKey).intList(labels);
  if (labelKey === "fine_labels") w.str("coarse_labels").intList(Array.from(labels, (l) => l % 20));
  w.str("data").uint8Array(chw, n, 3072);
  w.str("filenames").strList(Array.from({ length: n }, (_, i) => `image_${i}.png`));
  return w.op(0x75, 0x2e).bytes(); // SETITEMS, STOP
}

/**
 * A CIFAR python meta file: `label_names` (CIFAR-10) or `fine_label_names` (CIFAR-100).
 *
 * @example
 * ```ts
 * const bytes = encodeCifarMeta(["cat", "dog"], "label_names");
 * ```
 */
export function encodeCifarMeta(
  names: string[],
  key: "label_names" | "fine_label_names" = "label_names",
): Uint8Array {
  const w = new PickleWriter().op(0x80, 2).op(0x7d).put().op(0x28);
  w.str("num_cases_per_batch").int(10000);
  w.str(key).strList(names);
  w.str("num_vis").int(3072);
  return w.op(0x75, 0x2e).bytes();
}

/**
 * CIFAR binary records: 1 label byte (CIFAR-10) or coarse + fine bytes (CIFAR-100, coarse =
 * fine mod 20 here), then 3072 CHW image bytes.
 *
 * @example
 * ```ts
 * const bytes = encodeCifarBinary(new Uint8Array(2 * 3072), [3, 5], 1);
 * ```
 */
export function encodeCifarBinary(
  chw: Uint8Array,
  labels: ArrayLike<number>,
  labelBytes: 1 | 2,
): Uint8Array {
  const record = labelBytes + 3072;
  const out = new Uint8Array(labels.length * record);
  for (let i = 0; i < labels.length; i++) {
    if (labelBytes === 2) out[i * record] = labels[i] % 20;
    out[i * record + labelBytes - 1] = labels[i];
    out.set(chw.subarray(i * 3072, (i + 1) * 3072), i * record + labelBytes);
  }
  return out;
}

/**
 * A ustar archive of the given files (directories are implied by the paths).
 *
 * @example
 * ```ts
 * const bytes = encodeCifarPickle(new Uint8Array(2 * 3072), [3, 5], "labels");
 * const tar = encodeTar({ "cifar-10-batches-py/test_batch": bytes });
 * ```
 */
export function encodeTar(files: Record<string, Uint8Array>): Uint8Array {
  const blocks: Uint8Array[] = [];
  const enc = new TextEncoder();
  const header = (path: string, size: number, type: string) => {
    const h = new Uint8Array(512);
    const put = (s: string, at: number) => h.set(enc.encode(s), at);
    put(path, 0);
    put(type === "5" ? "0000755\0" : "0000644\0", 100);
    put("0000000\0", 108);
    put("0000000\0", 116);
    put(size.toString(8).padStart(11, "0") + "\0", 124);
    put("00000000000\0", 136);
    put(type, 156);
    put("ustar\0" + "00", 257);
    h.fill(32, 148, 156);
    const sum = h.reduce((a, b) => a + b, 0);
    put(sum.toString(8).padStart(6, "0") + "\0 ", 148);
    return h;
  };
  const dirs = new Set<string>();
  for (const [path, data] of Object.entries(files)) {
    const parts = path.split("/");
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join("/") + "/";
      if (!dirs.has(dir)) {
        dirs.add(dir);
        blocks.push(header(dir, 0, "5"));
      }
    }
    blocks.push(header(path, data.length, "0"));
    const padded = new Uint8Array(Math.ceil(data.length / 512) * 512);
    padded.set(data);
    blocks.push(padded);
  }
  blocks.push(new Uint8Array(1024));
  const out = new Uint8Array(blocks.reduce((a, b) => a + b.length, 0));
  let at = 0;
  for (const b of blocks) {
    out.set(b, at);
    at += b.length;
  }
  return out;
}

/**
 * A little-endian MATLAB 5 MAT-file of numeric arrays (uint8 or double, real), each variable an
 * `miMATRIX` element (wrapped in `miCOMPRESSED` when `compress`), as MATLAB and scipy write them:
 * full tags, 8-byte padding, the name as an `miINT8` element.
 *
 * @example
 * ```ts
 * const mat = await encodeMat([
 *   { name: "y", className: "double", dims: [2, 1], data: new Float64Array([1, 10]) },
 * ], true);
 * ```
 */
export async function encodeMat(
  vars: {
    name: string;
    className: "uint8" | "double";
    dims: number[];
    data: Uint8Array | Float64Array;
  }[],
  compress: boolean,
): Promise<Uint8Array> {
  const element = (type: number, data: Uint8Array): Uint8Array => {
    const padded = Math.ceil(data.length / 8) * 8;
    const out = new Uint8Array(8 + padded);
    const v = new DataView(out.buffer);
    v.setUint32(0, type, true);
    v.setUint32(4, data.length, true);
    out.set(data, 8);
    return out;
  };
  const concat = (parts: Uint8Array[]) => {
    const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
    let at = 0;
    for (const p of parts) (out.set(p, at), at += p.length);
    return out;
  };
  const header = new Uint8Array(128).fill(0x20);
  header.set(new TextEncoder().encode("MATLAB 5.0 MAT-file, written by the tests"));
  header.set([0, 1, 0x49, 0x4d], 124); // version 0x0100, "IM"
  const parts: Uint8Array[] = [header];
  for (const v of vars) {
    const flags = new Uint8Array(8);
    new DataView(flags.buffer).setUint32(0, v.className === "uint8" ? 9 : 6, true);
    const dims = new Uint8Array(4 * v.dims.length);
    v.dims.forEach((d, i) => new DataView(dims.buffer).setInt32(4 * i, d, true));
    const raw = new Uint8Array(v.data.buffer, v.data.byteOffset, v.data.byteLength);
    const matrix = element(
      14,
      concat([
        element(6, flags),
        element(5, dims),
        element(1, new TextEncoder().encode(v.name)),
        element(v.data instanceof Uint8Array ? 2 : 9, raw),
      ]),
    );
    if (!compress) {
      parts.push(matrix);
      continue;
    }
    const z = new Uint8Array(
      await new Response(
        new Blob([matrix as Uint8Array<ArrayBuffer>]).stream().pipeThrough(
          new CompressionStream("deflate"),
        ),
      ).arrayBuffer(),
    );
    const tag = new Uint8Array(8);
    new DataView(tag.buffer).setUint32(0, 15, true);
    new DataView(tag.buffer).setUint32(4, z.length, true);
    parts.push(tag, z);
  }
  return concat(parts);
}

/**
 * A zip archive of the given files (stored, or deflated with `deflate`), with correct CRC-32s, a
 * central directory and its end record, as zip writers produce them.
 *
 * @example
 * ```ts
 * const zip = await encodeZip({ "gzip/a.gz": new Uint8Array([1, 2, 3]) }, true);
 * ```
 */
export async function encodeZip(
  files: Record<string, Uint8Array>,
  deflate: boolean,
): Promise<Uint8Array> {
  const enc = new TextEncoder();
  const locals: Uint8Array[] = [], central: Uint8Array[] = [];
  let offset = 0;
  for (const [name, data] of Object.entries(files)) {
    const body = deflate
      ? new Uint8Array(
        await new Response(
          new Blob([data as Uint8Array<ArrayBuffer>]).stream().pipeThrough(
            new CompressionStream("deflate-raw"),
          ),
        ).arrayBuffer(),
      )
      : data;
    const n = enc.encode(name), crc = crc32(data), method = deflate ? 8 : 0;
    const local = new Uint8Array(30 + n.length + body.length);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, 0x04034b50, true);
    lv.setUint16(4, 20, true);
    lv.setUint16(8, method, true);
    lv.setUint32(14, crc, true);
    lv.setUint32(18, body.length, true);
    lv.setUint32(22, data.length, true);
    lv.setUint16(26, n.length, true);
    local.set(n, 30);
    local.set(body, 30 + n.length);
    const c = new Uint8Array(46 + n.length);
    const cv = new DataView(c.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint16(4, 20, true);
    cv.setUint16(6, 20, true);
    cv.setUint16(10, method, true);
    cv.setUint32(16, crc, true);
    cv.setUint32(20, body.length, true);
    cv.setUint32(24, data.length, true);
    cv.setUint16(28, n.length, true);
    cv.setUint32(42, offset, true);
    c.set(n, 46);
    locals.push(local);
    central.push(c);
    offset += local.length;
  }
  const cdSize = central.reduce((a, c) => a + c.length, 0);
  const end = new Uint8Array(22);
  const ev = new DataView(end.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, central.length, true);
  ev.setUint16(10, central.length, true);
  ev.setUint32(12, cdSize, true);
  ev.setUint32(16, offset, true);
  const parts = [...locals, ...central, end];
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) (out.set(p, at), at += p.length);
  return out;
}
