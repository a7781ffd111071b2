/**
 * What the fuzzer feeds, format by format: a corpus of small valid files (generated here, as the
 * tests' fixtures are), the byte offsets of each file's length fields (the mutations' preferred
 * spots), an optional repair of checksums (so that half the mutated cases get past the CRC or
 * header checksum and reach the parser's deeper checks), and the parser to run. A case passes
 * when the parser returns or throws the project's `InputError` (the one error class for bad
 * input); anything else is a bug.
 *
 * @module
 */
import { join } from "node:path";
import pngjs from "npm:pngjs@7.0.0";
import jpeg from "npm:jpeg-js@0.4.4";
import { readRecords } from "../analysis/records.ts";
import { InputError } from "../core/errors.ts";
import { parseCifarBinary, parseCifarMeta, parseCifarPickle } from "../data/cifar.ts";
import {
  encodeCifarBinary,
  encodeCifarMeta,
  encodeCifarPickle,
  encodeIdxImages,
  encodeIdxLabels,
  encodeMat,
  encodeTar,
  encodeZip,
  gzip,
} from "../data/fixtures.ts";
import { decodeImage } from "../data/folder.ts";
import { useTurboJpeg } from "../data/turbojpeg.ts";
import { gunzipStream } from "../data/gzip.ts";
import { gunzip, parseIdxImages, parseIdxLabels } from "../data/idx.ts";
import { readMat } from "../data/mat.ts";
import { crc32, zipEntries, zipEntryData } from "../data/zip.ts";
import { unpickle } from "../data/pickle.ts";
import { readTar } from "../data/tar.ts";
import { checkStoredConfig } from "../train/config.ts";
import { RunDirectory } from "../train/run_dir.ts";
import { decodeSafetensors, encodeSafetensors } from "../train/safetensors.ts";

/**
 * One fuzzed format.
 *
 * @example
 * ```ts
 * const t = TARGETS.find((t) => t.name === "idx")!;
 * const corpus = await t.corpus();
 * await t.run(corpus[0]); // a valid file parses
 * ```
 */
export type FuzzTarget = {
  /** The format's name (`--format`, the regression folder). */
  name: string;
  /** Small valid files of the format. */
  corpus(): Promise<Uint8Array[]>;
  /** Byte offsets of a file's length (and other size) fields. */
  fields(file: Uint8Array): number[];
  /** Recomputes checksums in place (applied to half the cases), where the format has them. */
  repair?(bytes: Uint8Array): void;
  /** Parses the bytes as the toolkit does; returns, or throws an `InputError` for bad input. */
  run(bytes: Uint8Array): unknown | Promise<unknown>;
};

const rgbaImage = (w: number, h: number) => {
  const data = new Uint8Array(w * h * 4);
  for (let i = 0; i < data.length; i++) data[i] = (i * 37) & 0xff;
  return { width: w, height: h, data };
};

function stream(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return new Blob([bytes as Uint8Array<ArrayBuffer>]).stream();
}

/** Offsets where a byte `op` is followed by a 4-byte length (pickle's BINUNICODE, BINBYTES…). */
function after(bytes: Uint8Array, ops: number[]): number[] {
  const out: number[] = [];
  for (let i = 0; i < bytes.length && out.length < 64; i++) {
    if (ops.includes(bytes[i])) out.push(i + 1);
  }
  return out;
}

/** The tar header blocks (ustar magic at 257) of an archive. */
function tarHeaders(bytes: Uint8Array): number[] {
  const out: number[] = [];
  for (let at = 0; at + 512 <= bytes.length; at += 512) {
    if (bytes[at + 257] === 0x75 && bytes[at + 258] === 0x73) out.push(at); // "us"tar
  }
  return out;
}

/** PNG chunk starts (the length field of each chunk after the signature). */
function pngChunks(bytes: Uint8Array): number[] {
  const out: number[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let at = 8; at + 12 <= bytes.length && out.length < 64;) {
    out.push(at);
    at += 12 + view.getUint32(at, false);
  }
  return out;
}

let scratch: RunDirectory | null = null;
/** One temporary run directory for the run-file targets, reused case after case. */
async function scratchRun(): Promise<RunDirectory> {
  if (scratch === null) {
    const dir = await Deno.makeTempDir({ prefix: "nc-fuzz-run-" });
    globalThis.addEventListener("unload", () => {
      try {
        Deno.removeSync(dir, { recursive: true });
      } catch { /* gone */ }
    });
    await Deno.writeTextFile(join(dir, "config.json"), '{"config": {}}\n');
    scratch = await RunDirectory.open(dir);
  }
  return scratch;
}

const text = (s: string) => new TextEncoder().encode(s);

/** A JPEG target: an 8×6 jpeg-js-encoded corpus; fields are the bytes after each marker. */
function jpegTarget(name: string, run: (bytes: Uint8Array) => unknown): FuzzTarget {
  return {
    name,
    corpus: () => Promise.resolve([new Uint8Array(jpeg.encode(rgbaImage(8, 6), 90).data)]),
    fields: (f) => {
      const out: number[] = [];
      for (let i = 0; i + 1 < f.length; i++) if (f[i] === 0xff && f[i + 1] !== 0) out.push(i + 2);
      return out.slice(0, 32);
    },
    run,
  };
}

/**
 * Every fuzzed format: safetensors, IDX (plain and gzip), CIFAR pickles and binaries, tar (plain
 * and gzip), PNG, JPEG, MATLAB 5 MAT-files (SVHN), zip (EMNIST), and the run files: latest.json, config.json (with its fields' types) and
 * the jsonl files (a training log, an analysis record file).
 *
 * @example
 * ```ts
 * TARGETS.map((t) => t.name); // ["safetensors", "idx", …]
 * ```
 */
export const TARGETS: FuzzTarget[] = [
  {
    name: "safetensors",
    corpus: () =>
      Promise.resolve([
        new Map([["w", { dtype: "F32" as const, shape: [2, 3], data: new Float32Array(6) }]]),
        new Map([
          ["step", { dtype: "I64" as const, shape: [], data: new BigInt64Array([42n]) }],
          ["mask", { dtype: "BOOL" as const, shape: [4], data: new Uint8Array([0, 1, 1, 0]) }],
          ["u", { dtype: "F64" as const, shape: [2, 2], data: new Float64Array([1, 0, 0, 1]) }],
        ]),
      ].map((t, i) => {
        const chunks = encodeSafetensors(t, i === 1 ? { format: "pt", epoch: "5" } : {});
        const out = new Uint8Array(chunks.reduce((a, c) => a + c.length, 0));
        let at = 0;
        for (const c of chunks) (out.set(c, at), at += c.length);
        return out;
      })),
    fields: (f) => [0, ...after(f, [0x5b]).slice(0, 16)], // the length, and after each "["
    run: (bytes) => decodeSafetensors(bytes, "fuzz.safetensors"),
  },
  {
    name: "idx",
    corpus: () =>
      Promise.resolve([
        encodeIdxImages(new Uint8Array(3 * 4 * 5).map((_, i) => i), 3, 4, 5),
        encodeIdxLabels([1, 7, 3, 0]),
      ]),
    fields: (f) => [0, 2, 3, 4, 8, 12].filter((o) => o < f.length),
    run: (bytes) =>
      bytes[3] === 1 ? parseIdxLabels(bytes, "fuzz-labels", 10) : parseIdxImages(bytes, "fuzz"),
  },
  {
    name: "idx-gzip",
    corpus: async () => [
      await gzip(encodeIdxImages(new Uint8Array(2 * 28 * 28).map((_, i) => i & 7), 2, 28, 28)),
      await gzip(encodeIdxLabels([4, 2])),
    ],
    fields: (f) => [f.length - 8, f.length - 4, 4],
    run: async (bytes) => {
      const raw = await gunzip(bytes, "fuzz.gz");
      return raw[3] === 1 ? parseIdxLabels(raw, "fuzz.gz", 10) : parseIdxImages(raw, "fuzz.gz");
    },
  },
  {
    name: "cifar-pickle",
    corpus: () =>
      Promise.resolve([
        encodeCifarPickle(new Uint8Array(2 * 3072).map((_, i) => i), [3, 5]),
        encodeCifarPickle(new Uint8Array(1 * 3072), [42], "fine_labels"),
        encodeCifarMeta(["airplane", "cat", "dog"]),
      ]),
    fields: (f) => after(f, [0x58, 0x42, 0x54, 0x55, 0x43, 0x8c, 0x4b, 0x4d, 0x4a, 0x72]),
    run: (bytes) => {
      const v = unpickle(bytes, "fuzz-batch");
      return v instanceof Map && v.has("data")
        ? parseCifarPickle(bytes, "fuzz-batch", 100)
        : parseCifarMeta(bytes, "fuzz-meta");
    },
  },
  {
    name: "cifar-binary",
    corpus: () =>
      Promise.resolve([encodeCifarBinary(new Uint8Array(2 * 3072).map((_, i) => i), [3, 9], 1)]),
    fields: () => [0, 3073],
    run: (bytes) => parseCifarBinary(bytes, "fuzz.bin", 1, 10),
  },
  {
    name: "tar",
    corpus: () =>
      Promise.resolve([
        encodeTar({
          "cifar-10-batches-py/test_batch": text("x".repeat(700)),
          "a/b.txt": text("hi"),
        }),
        encodeTar({ "one.bin": new Uint8Array(1) }),
      ]),
    fields: (f) => tarHeaders(f).flatMap((h) => [h + 124, h + 148, h + 156, h + 100]),
    repair(bytes) {
      for (const h of tarHeaders(bytes)) {
        let sum = 0;
        for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : bytes[h + i];
        bytes.set(text(sum.toString(8).padStart(6, "0") + "\0 "), h + 148);
      }
    },
    run: async (bytes) => {
      let seen = 0;
      await readTar(stream(bytes), "fuzz.tar", () => true, (piece) => void (seen += piece.length));
      return seen;
    },
  },
  {
    name: "tar-gzip",
    corpus: async () => [await gzip(encodeTar({ "d/f.txt": text("content ".repeat(100)) }))],
    fields: (f) => [f.length - 8, f.length - 4],
    run: async (bytes) => {
      let seen = 0;
      await readTar(gunzipStream(stream(bytes), "fuzz.tar.gz"), "fuzz.tar.gz", () => true, (p) => {
        seen += p.length;
      });
      return seen;
    },
  },
  {
    name: "png",
    corpus: () =>
      Promise.resolve(([2, 6, 0] as const).map((colorType) =>
        new Uint8Array(
          pngjs.PNG.sync.write(
            rgbaImage(5, 3) as unknown as Parameters<typeof pngjs.PNG.sync.write>[0],
            { colorType },
          ),
        )
      )),
    fields: (f) => pngChunks(f).flatMap((c) => [c, c + 8, c + 12]),
    repair(bytes) {
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      for (const c of pngChunks(bytes)) {
        const len = view.getUint32(c, false);
        if (c + 12 + len > bytes.length) break;
        view.setUint32(c + 8 + len, crc32(bytes.subarray(c + 4, c + 8 + len)), false);
      }
    },
    run: (bytes) => decodeImage(bytes, "fuzz.png"),
  },
  jpegTarget("jpeg", (bytes) => decodeImage(bytes, "fuzz.jpg")), // libjpeg-turbo where it loads
  jpegTarget("jpeg-js", (bytes) => { // the pure-JS fallback
    useTurboJpeg(false);
    try {
      return decodeImage(bytes, "fuzz.jpg");
    } finally {
      useTurboJpeg(true);
    }
  }),
  {
    name: "mat",
    corpus: async () => [
      await encodeMat([
        {
          name: "X",
          className: "uint8",
          dims: [4, 4, 3, 2],
          data: new Uint8Array(96).map((_, i) => i),
        },
        { name: "y", className: "double", dims: [2, 1], data: new Float64Array([10, 3]) },
      ], false),
      await encodeMat([{
        name: "y",
        className: "double",
        dims: [3, 1],
        data: new Float64Array([1, 2, 3]),
      }], true),
    ],
    // The element tags' size fields: the first variable's, and its matrix's sub-elements.
    fields: (f) => [132, 140, 148, 156, 164, 172].filter((o) => o < f.length),
    run: (bytes) => readMat(bytes, "fuzz.mat"),
  },
  {
    name: "zip",
    corpus: async () => [
      await encodeZip({ "gzip/a.gz": text("alpha ".repeat(40)), "b.txt": text("beta") }, true),
      await encodeZip({ "one.bin": new Uint8Array([1, 2, 3, 4]) }, false),
    ],
    // The end record's count, size and offset, and the first entry's sizes.
    fields: (f) => [f.length - 12, f.length - 10, f.length - 6, 18, 22, 26, 28],
    run: async (bytes) => {
      let total = 0;
      for (const e of zipEntries(bytes, "fuzz.zip")) {
        total += (await zipEntryData(bytes, e, "fuzz.zip")).length;
      }
      return total;
    },
  },
  {
    name: "latest-json",
    corpus: () =>
      Promise.resolve([
        text(
          '{"epoch": 3, "model": "checkpoints/model-epoch-0003.safetensors", "state": "checkpoints/state-epoch-0003.safetensors"}\n',
        ),
      ]),
    fields: () => [],
    run: async (bytes) => {
      const run = await scratchRun();
      await Deno.writeFile(join(run.path, "latest.json"), bytes);
      return await run.latest();
    },
  },
  {
    name: "config-json",
    corpus: () =>
      Promise.resolve([
        text(
          '{"config": {"method": "implicit", "dataset": "mnist", "model": "resnet18", "epochs": 5, "seed": 1, "lr": null, "bias": false}, "versions": {"deno": "2.9.6"}}\n',
        ),
      ]),
    fields: () => [],
    run: async (bytes) => {
      const run = await scratchRun();
      await Deno.writeFile(run.file("config.json"), bytes);
      return checkStoredConfig(await run.readJson("config.json"), run.file("config.json"));
    },
  },
  {
    name: "jsonl",
    corpus: () =>
      Promise.resolve([
        text('{"epoch": 1, "step": 1, "loss": 2.3}\n{"epoch": 2, "step": 2, "loss": 1.1}\n'),
        text('{"epoch": 5, "nc1": 0.12, "top1": 97.5}\n'),
      ]),
    fields: () => [],
    run: async (bytes) => {
      // Both readers of jsonl files, each on its own; refused when either refused.
      const run = await scratchRun();
      let refusal: InputError | null = null;
      for (
        const read of [
          async () => {
            await Deno.writeFile(run.file("steps.jsonl"), bytes);
            return await run.truncateJsonLines("steps.jsonl", 1);
          },
          async () => {
            await Deno.writeFile(run.file("test.jsonl"), bytes);
            return await readRecords(run.file("test.jsonl"));
          },
        ]
      ) {
        try {
          await read();
        } catch (e) {
          if (!(e instanceof InputError)) throw e;
          refusal ??= e;
        }
      }
      if (refusal !== null) throw refusal;
    },
  },
];
