/**
 * A bounded reader of zip archives (EMNIST's `gzip.zip`): the end-of-central-directory record,
 * the central directory, and each entry's local header and data, stored or deflated (inflated
 * within `GZIP_LIMITS`, then checked against the recorded size and CRC-32). Every offset and size
 * is checked against the file before anything is read; entry names with `..` or an absolute
 * path, duplicate names, encrypted entries, zip64 archives and other compression methods are
 * refused with a {@link DatasetError} naming the archive and the entry.
 *
 * @module
 */
import { DatasetError } from "./dataset.ts";
import { gunzip } from "./gzip.ts";

/**
 * One file of a zip archive, as {@link zipEntries} lists it.
 *
 * @example
 * ```ts
 * const e: ZipEntry = { name: "gzip/emnist-balanced-test-labels-idx1-ubyte.gz", size: 18800, compressedSize: 9381, method: 8, crc32: 0, dataOffset: 64 };
 * ```
 */
export type ZipEntry = {
  name: string;
  size: number;
  compressedSize: number;
  /** 0 stored, 8 deflated. */
  method: number;
  crc32: number;
  /** Where the entry's data starts in the archive. */
  dataOffset: number;
};

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/**
 * The CRC-32 (IEEE, as zip and gzip use it) of `bytes`.
 *
 * @example
 * ```ts
 * crc32(new TextEncoder().encode("123456789")).toString(16); // "cbf43926"
 * ```
 */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/**
 * The entries of a zip archive held in `bytes` (directories excluded). Throws
 * {@link DatasetError} naming `archive` for anything refused (see the module documentation).
 *
 * @example
 * ```ts
 * const path = "/home/me/data/EMNIST/raw/gzip.zip";
 * const names = zipEntries(await Deno.readFile(path), path).map((e) => e.name);
 * ```
 */
export function zipEntries(bytes: Uint8Array, archive: string): ZipEntry[] {
  const fail = (what: string): never => {
    throw new DatasetError(archive, `not a readable zip archive: ${what}`);
  };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // The end-of-central-directory record: 22 bytes plus a comment of at most 65,535 bytes.
  let eocd = -1;
  for (let at = bytes.length - 22; at >= 0 && at >= bytes.length - 22 - 0xffff; at--) {
    if (view.getUint32(at, true) === 0x06054b50) {
      eocd = at;
      break;
    }
  }
  if (eocd < 0) fail("no end-of-central-directory record");
  const count = view.getUint16(eocd + 10, true);
  const cdSize = view.getUint32(eocd + 12, true), cdOffset = view.getUint32(eocd + 16, true);
  if (count === 0xffff || cdOffset === 0xffffffff) fail("a zip64 archive");
  if (cdOffset + cdSize > eocd) fail("the central directory runs past its end record");
  const entries: ZipEntry[] = [];
  const names = new Set<string>();
  let at = cdOffset;
  for (let i = 0; i < count; i++) {
    if (at + 46 > cdOffset + cdSize || view.getUint32(at, true) !== 0x02014b50) {
      fail(`central directory entry ${i} is corrupt`);
    }
    const flags = view.getUint16(at + 8, true), method = view.getUint16(at + 10, true);
    const crc = view.getUint32(at + 16, true);
    const compressedSize = view.getUint32(at + 20, true), size = view.getUint32(at + 24, true);
    const nameLength = view.getUint16(at + 28, true);
    const extra = view.getUint16(at + 30, true), comment = view.getUint16(at + 32, true);
    const local = view.getUint32(at + 42, true);
    if (at + 46 + nameLength > cdOffset + cdSize) fail(`central directory entry ${i} is corrupt`);
    const name = new TextDecoder().decode(bytes.subarray(at + 46, at + 46 + nameLength));
    at += 46 + nameLength + extra + comment;
    if (name.endsWith("/")) continue; // a directory
    if (name.startsWith("/") || name.split(/[\\/]/).includes("..") || /^[a-zA-Z]:/.test(name)) {
      fail(`unsafe entry name "${name}"`);
    }
    if (names.has(name)) fail(`entry "${name}" appears twice`);
    names.add(name);
    if (flags & 1) fail(`entry "${name}" is encrypted`);
    if (method !== 0 && method !== 8) fail(`entry "${name}" uses compression method ${method}`);
    if (size === 0xffffffff || compressedSize === 0xffffffff) fail(`entry "${name}" is zip64`);
    if (local + 30 > bytes.length || view.getUint32(local, true) !== 0x04034b50) {
      fail(`entry "${name}": its local header at ${local} is missing`);
    }
    const dataOffset = local + 30 + view.getUint16(local + 26, true) +
      view.getUint16(local + 28, true);
    if (dataOffset + compressedSize > cdOffset) {
      fail(`entry "${name}": ${compressedSize} bytes at ${dataOffset} run past the entries`);
    }
    entries.push({ name, size, compressedSize, method, crc32: crc, dataOffset });
  }
  return entries;
}

/**
 * The uncompressed bytes of one entry, checked against its recorded size and CRC-32.
 *
 * @example
 * ```ts
 * const path = "/home/me/data/EMNIST/raw/gzip.zip";
 * const bytes = await Deno.readFile(path);
 * const [first] = zipEntries(bytes, path);
 * const data = await zipEntryData(bytes, first, path);
 * ```
 */
export async function zipEntryData(
  bytes: Uint8Array,
  entry: ZipEntry,
  archive: string,
): Promise<Uint8Array> {
  const raw = bytes.subarray(entry.dataOffset, entry.dataOffset + entry.compressedSize);
  const data = entry.method === 0 ? raw : await gunzip(raw, archive, undefined, "deflate-raw");
  if (data.length !== entry.size || crc32(data) !== entry.crc32) {
    throw new DatasetError(
      archive,
      `entry "${entry.name}" does not match its recorded size and CRC-32 (corrupt archive)`,
    );
  }
  return data;
}
