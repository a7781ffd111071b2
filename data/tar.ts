/**
 * A minimal streaming reader of (gzipped) tar archives, enough for the CIFAR tarballs: ustar and
 * GNU/old headers, regular files and directories, pax (`x`, `g`) and GNU long-name (`L`) path
 * records. Everything else is refused with a {@link DatasetError} naming the archive and the
 * entry, never skipped: absolute paths and paths with `..`, symbolic and hard links (which could
 * point outside the target), device files and FIFOs, other entry types, a name that appears
 * twice, and path records over {@link MAX_TAR_RECORD} bytes. Gzip is decompressed within
 * `GZIP_LIMITS` (data/gzip.ts), so a decompression bomb is stopped too.
 *
 * @module
 */
import { dirname, join, normalize } from "node:path";
import { DatasetError } from "./dataset.ts";
import { withCleanupOnSignal } from "./download.ts";
import { gunzipStream } from "./gzip.ts";

/**
 * One entry of a tar archive, as {@link readTar} reports it.
 *
 * @example
 * ```ts
 * const entry: TarEntry = { path: "cifar-10-batches-py/data_batch_1", type: "file", size: 31035704 };
 * ```
 */
export type TarEntry = { path: string; type: "file" | "directory"; size: number };

/** Pulls exact byte counts from a stream of chunks. */
class ByteReader {
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #chunk: Uint8Array = new Uint8Array(0);
  #offset = 0;
  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.getReader();
  }
  /** Calls `sink` with consecutive pieces totalling `n` bytes; returns the bytes delivered. */
  async pump(n: number, sink: (piece: Uint8Array) => void | Promise<void>): Promise<number> {
    let done = 0;
    while (done < n) {
      if (this.#offset >= this.#chunk.length) {
        const { value, done: end } = await this.#reader.read();
        if (end) return done;
        this.#chunk = value;
        this.#offset = 0;
        continue;
      }
      const take = Math.min(n - done, this.#chunk.length - this.#offset);
      await sink(this.#chunk.subarray(this.#offset, this.#offset + take));
      this.#offset += take;
      done += take;
    }
    return done;
  }
  async read(n: number): Promise<Uint8Array> {
    const out = new Uint8Array(n);
    let at = 0;
    await this.pump(n, (piece) => {
      out.set(piece, at);
      at += piece.length;
    });
    return at === n ? out : out.subarray(0, at);
  }
  async cancel(): Promise<void> {
    await this.#reader.cancel().catch(() => {});
  }
}

const decoder = new TextDecoder();

/**
 * The largest pax or GNU long-name record read (1 MiB; real ones hold a path of a few hundred
 * bytes): its body is read into memory, so its declared size is bounded first.
 *
 * @example
 * ```ts
 * MAX_TAR_RECORD; // 1048576
 * ```
 */
export const MAX_TAR_RECORD = 2 ** 20;

const REFUSED_TYPES: Record<string, string> = {
  "1": "a hard link",
  "2": "a symbolic link",
  "3": "a character device",
  "4": "a block device",
  "6": "a FIFO",
  K: "a GNU long link name",
};

function field(block: Uint8Array, start: number, length: number): string {
  let end = start;
  while (end < start + length && block[end] !== 0) end++;
  return decoder.decode(block.subarray(start, end));
}

function octal(block: Uint8Array, start: number, length: number, archive: string): number {
  if (block[start] & 0x80) { // GNU base-256
    let n = block[start] & 0x7f;
    for (let i = 1; i < length; i++) n = n * 256 + block[start + i];
    return n;
  }
  const text = field(block, start, length).trim();
  if (text === "") return 0;
  if (!/^[0-7]+$/.test(text)) {
    throw new DatasetError(archive, `corrupt tar header: bad octal field "${text}"`);
  }
  return parseInt(text, 8);
}

function safePath(path: string, archive: string): string {
  const clean = normalize(path).replace(/\\/g, "/").replace(/^\.\//, "").replace(/\/+$/, "");
  if (clean.startsWith("/") || clean.split("/").includes("..") || /^[a-zA-Z]:/.test(clean)) {
    throw new DatasetError(archive, `unsafe path in tar archive: "${path}"`);
  }
  return clean;
}

/**
 * Reads a tar stream, calling `onEntry` for every entry; for files it also receives the body as
 * pieces through `onData` (return false from `onEntry` to skip the body). Throws
 * {@link DatasetError} naming `archive` on a corrupt header, a truncated archive, or an entry the
 * module refuses (see the module documentation).
 *
 * @example
 * ```ts
 * const file = await Deno.open("/home/me/data/cifar-10-python.tar.gz");
 * const stream = file.readable.pipeThrough(new DecompressionStream("gzip"));
 * const names: string[] = [];
 * await readTar(stream, "cifar-10-python.tar.gz", (e) => { names.push(e.path); return false; });
 * ```
 */
export async function readTar(
  stream: ReadableStream<Uint8Array>,
  archive: string,
  onEntry: (entry: TarEntry) => boolean | Promise<boolean>,
  onData: (piece: Uint8Array) => void | Promise<void> = () => {},
): Promise<void> {
  const reader = new ByteReader(stream);
  let longName: string | null = null;
  const seen = new Set<string>();
  try {
    while (true) {
      const block = await reader.read(512);
      if (block.length === 0) return; // no end-of-archive blocks: accept, as tar does
      if (block.length < 512) throw new DatasetError(archive, "truncated tar archive (header)");
      if (block.every((b) => b === 0)) return;
      let sum = 0;
      for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : block[i];
      const stored = octal(block, 148, 8, archive);
      if (stored !== sum) {
        throw new DatasetError(archive, `corrupt tar header: checksum ${stored}, computed ${sum}`);
      }
      const size = octal(block, 124, 12, archive);
      if (!Number.isSafeInteger(size)) {
        throw new DatasetError(archive, `corrupt tar header: entry size ${size}`);
      }
      const type = String.fromCharCode(block[156] || 48);
      const padded = Math.ceil(size / 512) * 512;
      if ((type === "x" || type === "L" || type === "g") && size > MAX_TAR_RECORD) {
        throw new DatasetError(
          archive,
          `tar ${type} record of ${size} bytes, over the ${MAX_TAR_RECORD}-byte limit: refused`,
        );
      }
      if (type === "x" || type === "L" || type === "g") {
        const body = await reader.read(padded);
        if (body.length < padded) throw new DatasetError(archive, "truncated tar archive");
        const text = decoder.decode(body.subarray(0, size));
        if (type === "L") longName = text.replace(/\0+$/, "");
        if (type === "x") {
          const match = /(?:^|\n)\d+ path=([^\n]*)\n/.exec(text);
          if (match) longName = match[1];
        }
        continue;
      }
      let name = field(block, 0, 100);
      const magic = field(block, 257, 6);
      if (magic.startsWith("ustar")) {
        const prefix = field(block, 345, 155);
        if (prefix) name = `${prefix}/${name}`;
      }
      if (longName !== null) {
        name = longName;
        longName = null;
      }
      const path = safePath(name, archive);
      if (type in REFUSED_TYPES) {
        const target = field(block, 157, 100);
        throw new DatasetError(
          archive,
          `tar entry "${path}" is ${REFUSED_TYPES[type]}${target ? ` to "${target}"` : ""}: ` +
            "refused (only regular files and directories are extracted)",
        );
      }
      if (type !== "0" && type !== "7" && type !== "5") {
        throw new DatasetError(
          archive,
          `tar entry "${path}" has type ${JSON.stringify(type)}: refused (only regular files ` +
            "and directories are extracted)",
        );
      }
      const kind: TarEntry["type"] = type === "5" ? "directory" : "file";
      if (seen.has(path)) {
        throw new DatasetError(archive, `tar entry "${path}" appears twice: refused`);
      }
      seen.add(path);
      const entry: TarEntry = { path, type: kind, size };
      const wanted = await onEntry(entry);
      const got = kind === "file" && wanted
        ? await reader.pump(size, onData) + await reader.pump(padded - size, () => {})
        : await reader.pump(padded, () => {});
      if (got < padded) {
        throw new DatasetError(
          archive,
          `truncated tar archive: entry "${entry.path}" ends after ${got} of ${padded} bytes`,
        );
      }
    }
  } finally {
    await reader.cancel();
  }
}

/** Moves `src` onto `dest`, merging directories that already exist (files are replaced). */
async function mergeMove(src: string, dest: string): Promise<void> {
  let destInfo: Deno.FileInfo | null = null;
  try {
    destInfo = await Deno.stat(dest);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  const srcInfo = await Deno.stat(src);
  if (destInfo?.isDirectory && srcInfo.isDirectory) {
    for await (const entry of Deno.readDir(src)) {
      await mergeMove(join(src, entry.name), join(dest, entry.name));
    }
    return;
  }
  if (destInfo?.isDirectory) await Deno.remove(dest, { recursive: true });
  await Deno.rename(src, dest);
}

/**
 * Extracts a .tar.gz (or plain .tar) file into `destDir` (only the entries `keep` accepts; every
 * entry is still read and checked), atomically per file: everything is first
 * written into a temporary directory inside `destDir`, which is merged into place only once the
 * whole archive has been read. A corrupt or truncated archive leaves `destDir` as it was; Ctrl-C
 * removes the temporary directory, and one left by a killed process is removed after 10 minutes.
 *
 * @example
 * ```ts
 * await extractTarGz("/data/cifar-10-python.tar.gz", "/data"); // → /data/cifar-10-batches-py/…
 * ```
 */
export async function extractTarGz(
  archive: string,
  destDir: string,
  keep: (path: string) => boolean = () => true,
): Promise<string[]> {
  await Deno.mkdir(destDir, { recursive: true });
  // temporary folders of extractions killed outright (SIGKILL) over 10 minutes ago
  for await (const entry of Deno.readDir(destDir)) {
    if (!entry.isDirectory || !/^\.extract-.*\.part$/.test(entry.name)) continue;
    const stale = join(destDir, entry.name);
    const mtime = (await Deno.stat(stale)).mtime?.getTime() ?? Date.now();
    if (Date.now() - mtime > 10 * 60_000) await Deno.remove(stale, { recursive: true });
  }
  const tmp = await Deno.makeTempDir({ dir: destDir, prefix: ".extract-", suffix: ".part" });
  const cleanup = () => {
    try {
      Deno.removeSync(tmp, { recursive: true });
    } catch {
      // already gone
    }
  };
  return await withCleanupOnSignal(cleanup, async () => {
    const extracted: string[] = [];
    try {
      const head = new Uint8Array(2);
      {
        using f = await Deno.open(archive, { read: true });
        await f.read(head);
      }
      const file = await Deno.open(archive, { read: true });
      const stream: ReadableStream<Uint8Array> = head[0] === 0x1f && head[1] === 0x8b
        ? gunzipStream(file.readable, archive)
        : file.readable;
      let out: Deno.FsFile | null = null;
      try {
        await readTar(stream, archive, async (entry) => {
          out?.close();
          out = null;
          const target = join(tmp, entry.path);
          if (!keep(entry.path)) return false; // read past, not written
          if (entry.type === "directory") await Deno.mkdir(target, { recursive: true });
          if (entry.type !== "file") return false;
          await Deno.mkdir(dirname(target), { recursive: true });
          out = await Deno.open(target, { write: true, create: true, truncate: true });
          extracted.push(entry.path);
          return true;
        }, async (piece) => {
          let written = 0;
          while (written < piece.length) written += await out!.write(piece.subarray(written));
        });
      } catch (e) {
        if (e instanceof DatasetError) throw e;
        throw new DatasetError(archive, `corrupt archive (${(e as Error).message})`, { cause: e });
      } finally {
        (out as Deno.FsFile | null)?.close();
      }
      for await (const entry of Deno.readDir(tmp)) {
        await mergeMove(join(tmp, entry.name), join(destDir, entry.name));
      }
      return extracted;
    } finally {
      cleanup();
    }
  });
}
