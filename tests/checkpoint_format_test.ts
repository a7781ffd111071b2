/**
 * The safetensors writer and reader (train/safetensors.ts) and atomic writes
 * (train/atomic_write.ts): round trips of every dtype, scalars and empty tensors, the layout on
 * disk checked by an independent reader (Python's json and struct, when /usr/bin/python3
 * exists), every malformed-file check with the file named in the error, and that an atomic
 * write leaves no temporary file and replaces an existing file only whole.
 */
import { assert, assertEquals, assertThrows } from "./assert.ts";
import {
  concatBytes,
  decodeSafetensors,
  encodeSafetensors,
  readSafetensors,
  SafetensorsError,
  type TensorEntry,
} from "../train/safetensors.ts";
import { atomicWriteFile } from "../train/atomic_write.ts";
import { loadTensors, saveTensors } from "../train/checkpoint.ts";

const PYTHON = "/usr/bin/python3";
const READER = new URL("./fixtures/checkpoint_safetensors_reader.py", import.meta.url).pathname;
const hasPython = await Deno.stat(PYTHON).then(() => true, () => false);
if (!hasPython) {
  console.log(`checkpoint_format_test: ${PYTHON} not found; skipping the Python reader test`);
}

/** Runs the independent Python reader on a file, with value queries. */
async function pythonRead(
  path: string,
  queries: Record<string, number[][]>,
): Promise<{
  metadata: Record<string, string>;
  entries: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  order: string[];
  values: Record<string, number[]>;
}> {
  const out = await new Deno.Command(PYTHON, {
    args: [READER, path, JSON.stringify(queries)],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert(out.success, `python reader failed: ${stderr}`);
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

function sample(): Map<string, TensorEntry> {
  return new Map<string, TensorEntry>([
    ["a.f32", { dtype: "F32", shape: [2, 3], data: new Float32Array([1, -2.5, 3, 0.1, 1e-8, -0]) }],
    ["b.u8", { dtype: "U8", shape: [3], data: new Uint8Array([0, 7, 255]) }],
    ["c.f64", { dtype: "F64", shape: [2], data: new Float64Array([Math.PI, -1e300]) }],
    ["d.i64", { dtype: "I64", shape: [], data: new BigInt64Array([-(2n ** 40n)]) }],
    ["e.i32", { dtype: "I32", shape: [1, 2], data: new Int32Array([-7, 2 ** 31 - 1]) }],
    ["f.empty", { dtype: "F32", shape: [0, 4], data: new Float32Array(0) }],
    ["g.bool", { dtype: "BOOL", shape: [2], data: new Uint8Array([1, 0]) }],
  ]);
}

Deno.test("safetensors: round trip of every common dtype, a scalar, an empty tensor, metadata", () => {
  const tensors = sample();
  const bytes = concatBytes(encodeSafetensors(tensors, { format: "pt", note: "ü ✓" }));
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assertEquals(n % 8, 0, "header padded to a multiple of 8");
  assertEquals(bytes[8], "{".charCodeAt(0));
  const back = decodeSafetensors(bytes);
  assertEquals(back.metadata, { format: "pt", note: "ü ✓" });
  assertEquals([...back.tensors.keys()], [...tensors.keys()], "header keeps the caller's order");
  for (const [name, t] of tensors) {
    const u = back.tensors.get(name)!;
    assertEquals(u.dtype, t.dtype, name);
    assertEquals([...u.shape], [...t.shape], name);
    assertEquals(u.data.constructor, t.data.constructor, name);
    assertEquals(
      [...u.data as Iterable<number | bigint>],
      [...t.data as Iterable<number | bigint>],
      name,
    );
  }
  // No metadata: no __metadata__ entry.
  const plain = concatBytes(encodeSafetensors(new Map()));
  assertEquals(decodeSafetensors(plain).metadata, {});
  assertEquals(new TextDecoder().decode(plain.subarray(8)).trim(), "{}");
});

Deno.test("safetensors: the writer rejects bad tensors and metadata", () => {
  const bad = (t: unknown) => new Map([["x", t as TensorEntry]]);
  assertThrows(
    () => encodeSafetensors(bad({ dtype: "F32", shape: [2], data: new Float64Array(2) })),
    SafetensorsError,
    "F32 needs its data as a Float32Array",
  );
  assertThrows(
    () => encodeSafetensors(bad({ dtype: "F32", shape: [3], data: new Float32Array(2) })),
    SafetensorsError,
    "has 3 elements but data has 2",
  );
  assertThrows(
    () => encodeSafetensors(bad({ dtype: "Q7", shape: [], data: new Float32Array(1) })),
    SafetensorsError,
    "unknown dtype",
  );
  assertThrows(
    () => encodeSafetensors(bad({ dtype: "F32", shape: [-1], data: new Float32Array(0) })),
    SafetensorsError,
    "non-negative integers",
  );
  assertThrows(
    () => encodeSafetensors(new Map(), { epoch: 5 as unknown as string }, "out.safetensors"),
    SafetensorsError,
    "out.safetensors",
    'metadata "epoch" must be a string',
  );
  assertThrows(
    () =>
      encodeSafetensors(
        new Map([["__metadata__", { dtype: "U8", shape: [], data: new Uint8Array(1) }]]),
      ),
    SafetensorsError,
    "invalid tensor name",
  );
});

/** A file from a header (object or raw text), a buffer, and optionally a forged length. */
function forge(header: unknown, buffer: Uint8Array, length?: bigint): Uint8Array {
  const text = typeof header === "string" ? header : JSON.stringify(header);
  const json = new TextEncoder().encode(text);
  const out = new Uint8Array(8 + json.length + buffer.length);
  new DataView(out.buffer).setBigUint64(0, length ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(buffer, 8 + json.length);
  return out;
}

const entry = (dtype: string, shape: number[], begin: number, end: number) => ({
  dtype,
  shape,
  data_offsets: [begin, end],
});

Deno.test("safetensors: malformed files give clear errors naming the file", async () => {
  const buf8 = new Uint8Array(8);
  const cases: [string, Uint8Array, string][] = [
    ["too short", new Uint8Array(5), "shorter than the 8-byte header length"],
    [
      "header length past the end",
      forge({ a: entry("F32", [2], 0, 8) }, buf8, 10_000n),
      "header length 10000 exceeds",
    ],
    ["huge header length", forge({}, new Uint8Array(0), 2n ** 63n), "exceeds"],
    ["bad JSON", forge('{"a": {"dtype": "F32",', buf8), "not valid JSON"],
    ["not an object", forge("[1, 2]  ", new Uint8Array(0)), 'must begin with "{"'],
    ["leading space", forge(' {"a": 1}', new Uint8Array(0)), 'must begin with "{"'],
    ["invalid UTF-8", forge("{}", new Uint8Array(0)).map((b, i) => i === 9 ? 0xff : b), "UTF-8"],
    [
      "duplicate keys",
      forge(
        '{"a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]}, ' +
          '"a": {"dtype": "U8", "shape": [4], "data_offsets": [4, 8]}}',
        buf8,
      ),
      'duplicate keys in the header: "a"',
    ],
    ["unknown dtype", forge({ a: entry("F31", [2], 0, 8) }, buf8), 'unknown dtype "F31"'],
    ["bad shape", forge({ a: entry("U8", [2.5], 0, 8) }, buf8), "shape must be"],
    [
      "bad offsets",
      forge({ a: { dtype: "U8", shape: [8], data_offsets: [0] } }, buf8),
      "data_offsets must be [BEGIN, END]",
    ],
    ["extra field", forge({ a: { ...entry("U8", [8], 0, 8), x: 1 } }, buf8), "unknown fields x"],
    [
      "offsets out of range",
      forge({ a: entry("F32", [4], 0, 16) }, buf8),
      "data_offsets [0, 16] are out of range (the byte buffer has 8 bytes)",
    ],
    ["end before begin", forge({ a: entry("U8", [0], 8, 4) }, buf8), "end before they begin"],
    [
      "size mismatch",
      forge({ a: entry("F32", [3], 0, 8) }, buf8),
      "span 8 bytes but F32 [3] needs 12",
    ],
    [
      "overlapping",
      forge({ a: entry("F32", [2], 0, 8), b: entry("F32", [1], 4, 8) }, buf8),
      'tensors "a" and "b" overlap',
    ],
    [
      "a hole",
      forge({ a: entry("F32", [1], 4, 8) }, buf8),
      "bytes [0, 4) of the byte buffer belong to no tensor",
    ],
    [
      "trailing bytes",
      forge({ a: entry("F32", [1], 0, 4) }, buf8),
      "bytes [4, 8) of the byte buffer belong to no tensor",
    ],
    [
      "non-string metadata",
      forge({ __metadata__: { epoch: 5 } }, new Uint8Array(0)),
      '"__metadata__" value of "epoch" is 5, not a string',
    ],
    [
      "bad BOOL",
      forge({ a: entry("BOOL", [8], 0, 8) }, buf8.map(() => 2)),
      "BOOL data holds a byte other than 0 and 1",
    ],
  ];
  const dir = await Deno.makeTempDir({ prefix: "ckpt_format_" });
  try {
    for (const [what, bytes, message] of cases) {
      assertThrows(() => decodeSafetensors(bytes, "mem.safetensors"), SafetensorsError, message);
      const path = `${dir}/bad.safetensors`;
      await Deno.writeFile(path, bytes);
      let error: unknown = null;
      try {
        await readSafetensors(path);
      } catch (e) {
        error = e;
      }
      assert(error instanceof SafetensorsError, `${what}: expected a SafetensorsError`);
      assert(error.message.startsWith(`${path}: not a valid safetensors file`), error.message);
      assert(error.message.includes(message), `${what}: "${error.message}" lacks "${message}"`);
    }
    // Zero-size tensors may share an offset; a valid file with only empty tensors reads fine.
    const ok = decodeSafetensors(
      forge({ a: entry("F32", [0], 0, 0), b: entry("I64", [2, 0], 0, 0) }, new Uint8Array(0)),
    );
    assertEquals(ok.tensors.get("b")!.shape, [2, 0]);
    let missing: unknown = null;
    await readSafetensors(`${dir}/nope.safetensors`).catch((e) => (missing = e));
    assert(missing instanceof SafetensorsError && missing.message.includes("cannot read"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "safetensors: an independent reader (Python json + struct) agrees on every entry",
  ignore: !hasPython,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "ckpt_format_" });
    try {
      const path = `${dir}/t.safetensors`;
      const tensors = sample();
      await saveTensors(path, tensors, { step: "12" });
      const py = await pythonRead(path, {
        "a.f32": [[0, 1], [1, 1], [1, 0], [1, 2]],
        "c.f64": [[0], [1]],
        "d.i64": [[]],
        "e.i32": [[0, 1]],
        "b.u8": [[2]],
      });
      assertEquals(py.metadata, { step: "12" });
      assertEquals(Object.keys(py.entries), [...tensors.keys()]);
      for (const [name, t] of tensors) {
        assertEquals(py.entries[name].dtype, t.dtype);
        assertEquals(py.entries[name].shape, [...t.shape]);
      }
      // Data laid out by decreasing element size: 8-byte dtypes first.
      assertEquals(py.entries["c.f64"].data_offsets, [0, 16]);
      assertEquals(py.entries["d.i64"].data_offsets, [16, 24]);
      assertEquals(py.entries["a.f32"].data_offsets, [24, 48]);
      assertEquals(py.values["a.f32"], [-2.5, 1e-8, 0.1, -0].map(Math.fround)); // -0 kept
      assertEquals(py.values["c.f64"], [Math.PI, -1e300]);
      assertEquals(py.values["d.i64"], [-(2 ** 40)]);
      assertEquals(py.values["e.i32"], [2 ** 31 - 1]);
      assertEquals(py.values["b.u8"], [255]);
      const back = await loadTensors(path);
      assertEquals([...back.tensors.get("c.f64")!.data as Float64Array], [Math.PI, -1e300]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** Byte chunks whose producer fails after the first chunk. */
function* failingChunks(): Generator<Uint8Array> {
  yield new Uint8Array(1000).fill(7);
  throw new Error("disk on fire");
}

Deno.test("atomic write: no temporary file left, an existing file replaced only whole", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ckpt_atomic_" });
  try {
    const path = `${dir}/state.bin`;
    await atomicWriteFile(path, "first version\n");
    assertEquals(await Deno.readTextFile(path), "first version\n");
    await atomicWriteFile(path, [new Uint8Array([1, 2]), new Uint8Array([3])]);
    assertEquals([...await Deno.readFile(path)], [1, 2, 3]);
    await atomicWriteFile(path, new Uint8Array([9]));
    assertEquals([...await Deno.readFile(path)], [9]);
    const names = async () => (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name);
    assertEquals(await names(), ["state.bin"]);

    // The data source fails half-way: the old file stays whole, no temporary file remains.
    let error: unknown = null;
    await atomicWriteFile(path, failingChunks()).catch((e) => (error = e));
    assert(error instanceof Error && error.message === "disk on fire");
    assertEquals([...await Deno.readFile(path)], [9]);
    assertEquals(await names(), ["state.bin"]);

    // A missing directory fails before anything is written.
    let missing: unknown = null;
    await atomicWriteFile(`${dir}/no/such/dir/x`, "x").catch((e) => (missing = e));
    assert(missing instanceof Deno.errors.NotFound);
    assertEquals(await names(), ["state.bin"]);

    // Concurrent writers to one path: the result is one of them, whole.
    const a = new Uint8Array(100_000).fill(1), b = new Uint8Array(100_000).fill(2);
    await Promise.all([atomicWriteFile(path, a), atomicWriteFile(path, b)]);
    const final = await Deno.readFile(path);
    assertEquals(final.length, 100_000);
    assert(final.every((v) => v === final[0]), "a mix of two writes");
    assertEquals(await names(), ["state.bin"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
