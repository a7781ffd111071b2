/**
 * Each class of hostile input, by name (the issue "hostile files"): archives that would escape
 * their target or smuggle links and devices, decompression bombs, pickles that would construct
 * objects, arrays whose header lies about their size, images that declare far more pixels than
 * they hold, IDX headers with absurd dimensions. Each is refused with the project's error naming
 * the file and what is wrong, before anything large is allocated. (Malformed safetensors —
 * header length, overlapping and out-of-range offsets, dtype/shape mismatches, trailing bytes —
 * are in checkpoint_format_test.ts; damaged run files in run_files_test.ts; mutated files of every
 * format in fuzz_test.ts.)
 */
import { assert, assertEquals, assertThrows } from "./assert.ts";
import { join } from "node:path";
import { DatasetError } from "../data/dataset.ts";
import { decodeImage, MAX_IMAGE_PIXELS } from "../data/folder.ts";
import { encodeCifarPickle, gzip } from "../data/fixtures.ts";
import { gunzip } from "../data/gzip.ts";
import { parseIdxImages } from "../data/idx.ts";
import { unpickle } from "../data/pickle.ts";
import { extractTarGz, MAX_TAR_RECORD, readTar } from "../data/tar.ts";
import { peakRssMiB } from "../core/memory.ts";
import { useTurboJpeg } from "../data/turbojpeg.ts";

const enc = new TextEncoder();

/** One ustar header block of the given type (and link target), with a correct checksum. */
function tarHeader(path: string, type: string, size = 0, link = ""): Uint8Array {
  const h = new Uint8Array(512);
  const put = (s: string, at: number) => h.set(enc.encode(s), at);
  put(path, 0);
  put("0000644\0", 100);
  put("0000000\0", 108);
  put("0000000\0", 116);
  put(size.toString(8).padStart(11, "0") + "\0", 124);
  put("00000000000\0", 136);
  put(type, 156);
  put(link, 157);
  put("ustar\0", 257);
  put("00", 263);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : h[i];
  put(sum.toString(8).padStart(6, "0") + "\0 ", 148);
  return h;
}

function archive(...blocks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(blocks.reduce((a, b) => a + b.length, 0) + 1024);
  let at = 0;
  for (const b of blocks) (out.set(b, at), at += b.length);
  return out;
}

async function refusal(bytes: Uint8Array): Promise<string> {
  try {
    await readTar(new Blob([bytes as Uint8Array<ArrayBuffer>]).stream(), "evil.tar", () => true);
  } catch (e) {
    assert(e instanceof DatasetError, `a DatasetError, got ${e}`);
    return (e as Error).message;
  }
  throw new Error("not refused");
}

Deno.test("hostile tar: paths out of the target, links, devices, other types, duplicates and oversized records are refused", async () => {
  const cases: [string, Uint8Array, string][] = [
    ["..", archive(tarHeader("../../etc/cron.d/x", "0")), 'unsafe path in tar archive: "../../etc'],
    [
      "absolute",
      archive(tarHeader("/etc/passwd", "0")),
      'unsafe path in tar archive: "/etc/passwd"',
    ],
    [
      "symlink",
      archive(tarHeader("data/link", "2", 0, "/etc/passwd")),
      'tar entry "data/link" is a symbolic link to "/etc/passwd": refused',
    ],
    [
      "hard link",
      archive(tarHeader("data/hard", "1", 0, "../../secret")),
      'tar entry "data/hard" is a hard link to "../../secret": refused',
    ],
    [
      "device",
      archive(tarHeader("dev/sda", "4")),
      'tar entry "dev/sda" is a block device: refused',
    ],
    ["char device", archive(tarHeader("dev/tty", "3")), "is a character device: refused"],
    ["FIFO", archive(tarHeader("pipe", "6")), 'tar entry "pipe" is a FIFO: refused'],
    ["other type", archive(tarHeader("x", "S")), 'tar entry "x" has type "S": refused'],
    [
      "duplicate",
      archive(tarHeader("a.txt", "0"), tarHeader("a.txt", "0")),
      'tar entry "a.txt" appears twice: refused',
    ],
    [
      "oversized pax record",
      archive(tarHeader("PaxHeader", "x", 2 ** 33)),
      `over the ${MAX_TAR_RECORD}-byte limit: refused`,
    ],
  ];
  for (const [name, bytes, expected] of cases) {
    const message = await refusal(bytes);
    assert(message.startsWith("evil.tar: ") && message.includes(expected), `${name}: ${message}`);
  }
});

Deno.test("hostile tar: extraction of a refused archive writes nothing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "nc-hostile-" });
  try {
    const body = new Uint8Array(512);
    body.set(enc.encode("fine"));
    const evil = archive(
      tarHeader("ok/file.txt", "0", 4),
      body,
      tarHeader("ok/escape", "2", 0, "/etc"),
    );
    const path = join(dir, "evil.tar");
    await Deno.writeFile(path, evil);
    let error: unknown = null;
    try {
      await extractTarGz(path, join(dir, "out"));
    } catch (e) {
      error = e;
    }
    assert(error instanceof DatasetError && error.message.includes("symbolic link"), `${error}`);
    assertEquals([...Deno.readDirSync(join(dir, "out"))].map((e) => e.name), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("hostile gzip: a decompression bomb is stopped, in memory and in a tar.gz", async () => {
  const bomb = await gzip(new Uint8Array(200 * 2 ** 20)); // 200 MiB of zeros in ≈ 200 KB
  assert(bomb.length < 300_000, `${bomb.length} bytes`);
  const before = peakRssMiB() ?? 0;
  let message = "";
  try {
    await gunzip(bomb, "bomb.gz");
  } catch (e) {
    assert(e instanceof DatasetError, `${e}`);
    message = (e as Error).message;
  }
  assert(/^bomb\.gz: gzip expands more than 100× .*decompression bomb/.test(message), message);
  const grew = (peakRssMiB() ?? before) - before;
  assert(grew < 150, `stopped before the 200 MiB were allocated (peak grew ${grew} MiB)`);
  const dir = await Deno.makeTempDir({ prefix: "nc-bomb-" });
  try {
    const tarBomb = await gzip(
      archive(tarHeader("zeros.bin", "0", 200 * 2 ** 20), new Uint8Array(200 * 2 ** 20)),
    );
    await Deno.writeFile(join(dir, "bomb.tar.gz"), tarBomb);
    let error: unknown = null;
    try {
      await extractTarGz(join(dir, "bomb.tar.gz"), join(dir, "out"));
    } catch (e) {
      error = e;
    }
    assert(error instanceof DatasetError && /decompression bomb/.test(error.message), `${error}`);
    assertEquals([...Deno.readDirSync(join(dir, "out"))].map((e) => e.name), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("hostile pickle: object-constructing opcodes are refused by name; no global but numpy's", () => {
  const line = (s: string) => [...enc.encode(s)];
  const cases: [string, number[], string][] = [
    ["GLOBAL os.system", [0x80, 2, 0x63, ...line("os\nsystem\n"), 0x2e], "global os.system"],
    [
      "STACK_GLOBAL builtins.eval + REDUCE",
      [0x80, 4, 0x8c, 8, ...line("builtins"), 0x8c, 4, ...line("eval"), 0x93, 0x2e],
      "global builtins.eval",
    ],
    [
      "INST",
      [0x80, 2, 0x69, ...line("os\nsystem\n"), 0x2e],
      "opcode INST (0x69) constructs objects: refused",
    ],
    ["OBJ", [0x80, 2, 0x28, 0x6f, 0x2e], "opcode OBJ (0x6f) constructs objects: refused"],
    [
      "NEWOBJ",
      [0x80, 2, 0x4e, 0x29, 0x81, 0x2e],
      "opcode NEWOBJ (0x81) constructs objects: refused",
    ],
    ["EXT1", [0x80, 2, 0x82, 1, 0x2e], "opcode EXT1 (0x82) constructs objects: refused"],
    ["BINPERSID", [0x80, 2, 0x4e, 0x51, 0x2e], "opcode BINPERSID (0x51) constructs objects"],
    ["REDUCE on data", [0x80, 2, 0x4e, 0x29, 0x52, 0x2e], "REDUCE on None"],
    ["BUILD on data", [0x80, 2, 0x5d, 0x7d, 0x62, 0x2e], "BUILD on list"],
    [
      "a length beyond the file",
      [0x80, 4, 0x8e, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0x2e],
      "length beyond the end of data",
    ],
  ];
  for (const [_case, bytes, expected] of cases) {
    assertThrows(
      () => unpickle(new Uint8Array(bytes), "evil.pkl"),
      DatasetError,
      "evil.pkl",
      expected,
    );
  }
  // A numpy array whose shape says more than its bytes hold (10,000 × 3072 over 2 × 3072 bytes).
  const liar = encodeCifarPickle(new Uint8Array(2 * 3072), [1, 2]);
  const at = liar.indexOf(0x4d, liar.indexOf(0x5f)); // the first BININT2 after "_reconstruct"
  const patched = liar.slice();
  let i = liar.length - 1;
  // Rewrite the array's first dimension (a BININT1 2 right before 0x4d 00 0c = BININT2 3072).
  for (; i > 0; i--) if (liar[i] === 0x4b && liar[i + 1] === 2 && liar[i + 2] === 0x4d) break;
  assert(i > 0 && at > 0, "found the shape in the fixture");
  patched[i + 1] = 200;
  assertThrows(
    () => unpickle(patched, "liar.pkl"),
    DatasetError,
    "array of shape (200, 3072) and dtype u1 needs 614400 bytes, has 6144",
  );
});

Deno.test("hostile images: declared sizes beyond the limit or beyond the data are refused before decoding", () => {
  const png = (w: number, h: number, idat: number) => {
    const b = new Uint8Array(8 + 25 + 12 + idat + 12);
    b.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    const v = new DataView(b.buffer);
    v.setUint32(8, 13);
    b.set(enc.encode("IHDR"), 12);
    v.setUint32(16, w);
    v.setUint32(20, h);
    b.set([8, 2, 0, 0, 0], 24); // 8-bit RGB
    v.setUint32(33, idat);
    b.set(enc.encode("IDAT"), 37);
    b.set(enc.encode("IEND"), 8 + 25 + 12 + idat + 4);
    return b;
  };
  const before = peakRssMiB() ?? 0;
  assertThrows(
    () => decodeImage(png(100_000, 100_000, 10), "huge.png"),
    DatasetError,
    "huge.png",
    `over the ${MAX_IMAGE_PIXELS}-pixel limit: refused`,
  );
  assertThrows(
    () => decodeImage(png(4000, 4000, 40), "liar.png"),
    DatasetError,
    "liar.png",
    "holds 40 bytes of compressed data, more than deflate can expand",
  );
  assertThrows(
    () => decodeImage(png(0, 2 ** 31, 40), "zero.png"),
    DatasetError,
    "zero.png",
    "0×2147483648 pixels: corrupt",
  );
  // A JPEG start-of-frame declaring 60000×60000 (jpeg-js is given the same pixel limit).
  const jpeg = new Uint8Array([
    0xff,
    0xd8,
    0xff,
    0xc0,
    0,
    17,
    8,
    0xea,
    0x60,
    0xea,
    0x60,
    3,
    1,
    0x11,
    0,
    2,
    0x11,
    1,
    3,
    0x11,
    1,
    0xff,
    0xd9,
  ]);
  // jpeg-js checks the declared size; libjpeg-turbo (data/turbojpeg.ts) refuses the header
  // without a scan (tests/turbojpeg_test.ts checks its own pixel limit on a complete file).
  useTurboJpeg(false);
  try {
    assertThrows(
      () => decodeImage(jpeg, "huge.jpg"),
      DatasetError,
      "huge.jpg",
      "maxResolutionInMP limit exceeded",
    );
  } finally {
    useTurboJpeg(true);
  }
  assertThrows(() => decodeImage(jpeg, "huge.jpg"), DatasetError, "huge.jpg", "unreadable image");
  const grew = (peakRssMiB() ?? before) - before;
  assert(grew < 64, `nothing large allocated (peak grew ${grew} MiB)`);
});

Deno.test("hostile IDX: absurd dimensions are checked against the file's length, not allocated", () => {
  const b = new Uint8Array(16 + 10);
  const v = new DataView(b.buffer);
  v.setUint32(0, 0x00000803);
  v.setUint32(4, 0xffffffff);
  v.setUint32(8, 0xffffffff);
  v.setUint32(12, 0xffffffff);
  assertThrows(
    () => parseIdxImages(b, "evil-idx3-ubyte"),
    DatasetError,
    "evil-idx3-ubyte",
    "wrong length: 26 bytes",
    "truncated",
  );
});
