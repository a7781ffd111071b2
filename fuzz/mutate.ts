/**
 * A seeded mutation fuzzer's mutations: from a corpus of valid files, each case applies one to
 * three of bit flips, byte overwrites with boundary values, truncations, length-field edits (a
 * 1-, 2-, 4- or 8-byte little- or big-endian integer overwritten with a boundary value, at one of
 * the target's known length fields or anywhere), insertions and deletions of byte runs,
 * duplicated runs, and splices of two corpus files. The same seed gives the same cases.
 *
 * @module
 */
import { Rng } from "../core/random.ts";

/** Boundary integers written into length fields. */
const INTERESTING = [
  0,
  1,
  2,
  7,
  8,
  0x7f,
  0x80,
  0xff,
  0x100,
  0x7fff,
  0x8000,
  0xffff,
  0x10000,
  0x7fffffff,
  0x80000000,
  0xffffffff,
  2 ** 32,
  2 ** 40,
  2 ** 53 - 1,
];

/**
 * The mutation names, as recorded with each case.
 *
 * @example
 * ```ts
 * MUTATIONS.includes("truncate"); // true
 * ```
 */
export const MUTATIONS = [
  "bit-flip",
  "byte-set",
  "truncate",
  "length-field",
  "insert",
  "delete",
  "duplicate",
  "splice",
] as const;

/**
 * One of {@link MUTATIONS}.
 *
 * @example
 * ```ts
 * const m: Mutation = "splice";
 * ```
 */
export type Mutation = typeof MUTATIONS[number];

/**
 * Draws integers in [0, n) from an {@link Rng}.
 *
 * @example
 * ```ts
 * const pick = picker(new Rng(1));
 * const i = pick(10); // 0 … 9
 * ```
 */
export function picker(rng: Rng): (n: number) => number {
  return (n: number) => Math.min(n - 1, Math.floor(rng.uniform() * n));
}

function writeInteger(out: Uint8Array, at: number, width: number, value: number, big: boolean) {
  let v = BigInt(Math.floor(value)) & ((1n << BigInt(8 * width)) - 1n);
  for (let k = 0; k < width && at + k < out.length; k++) {
    const pos = big ? at + width - 1 - k : at + k;
    if (pos < out.length) out[pos] = Number(v & 0xffn);
    v >>= 8n;
  }
}

/**
 * One mutation of `input` (a new array; `input` is not modified). `fields` are byte offsets of
 * the format's length fields (preferred by "length-field"); `other` is a second corpus file for
 * "splice".
 *
 * @example
 * ```ts
 * const rng = new Rng(7);
 * const out = mutate(new Uint8Array(64), "length-field", picker(rng), [0], new Uint8Array(8));
 * ```
 */
export function mutate(
  input: Uint8Array,
  kind: Mutation,
  pick: (n: number) => number,
  fields: readonly number[],
  other: Uint8Array,
): Uint8Array {
  const n = input.length;
  const at = n === 0 ? 0 : pick(n);
  switch (kind) {
    case "bit-flip": {
      const out = input.slice();
      if (n > 0) out[at] ^= 1 << pick(8);
      return out;
    }
    case "byte-set": {
      const out = input.slice();
      if (n > 0) out[at] = [0, 0xff, 0x7f, 0x80, 0x2e, 0x00][pick(6)];
      return out;
    }
    case "truncate":
      return input.slice(0, at);
    case "length-field": {
      const out = input.slice();
      const where = fields.length > 0 && pick(4) > 0 ? fields[pick(fields.length)] : at;
      const value = INTERESTING[pick(INTERESTING.length)] + [0, 1, -1][pick(3)];
      writeInteger(out, where, [1, 2, 4, 8][pick(4)], Math.max(0, value), pick(2) === 0);
      return out;
    }
    case "insert": {
      const run = new Uint8Array(1 + pick(64));
      const fill = pick(2) === 0 ? pick(256) : -1;
      for (let i = 0; i < run.length; i++) run[i] = fill < 0 ? pick(256) : fill;
      return concat(input.subarray(0, at), run, input.subarray(at));
    }
    case "delete": {
      const len = 1 + pick(Math.max(1, Math.min(512, n - at)));
      return concat(input.subarray(0, at), input.subarray(at + len));
    }
    case "duplicate": {
      const len = 1 + pick(Math.max(1, Math.min(1024, n - at)));
      const run = input.subarray(at, at + len);
      return concat(input.subarray(0, at + len), run, input.subarray(at + len));
    }
    case "splice": {
      const cut = other.length === 0 ? 0 : pick(other.length);
      return concat(input.subarray(0, at), other.subarray(cut));
    }
  }
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) (out.set(p, at), at += p.length);
  return out;
}

/**
 * Case `index` of a format's fuzzing from `seed`: a corpus file mutated one to three times; the
 * same (seed, index) always gives the same bytes.
 *
 * @example
 * ```ts
 * const corpus = [new Uint8Array([1, 2, 3])];
 * const { bytes, mutations } = fuzzCase(corpus, [], 42, 0);
 * ```
 */
export function fuzzCase(
  corpus: readonly Uint8Array[],
  fields: (file: Uint8Array) => readonly number[],
  seed: number,
  index: number,
): { bytes: Uint8Array; mutations: Mutation[]; source: number } {
  const rng = new Rng(seed * 1_000_003 + index);
  const pick = picker(rng);
  const source = pick(corpus.length);
  let bytes = corpus[source];
  const offsets = fields(bytes);
  const mutations: Mutation[] = [];
  for (let k = 1 + pick(3); k > 0; k--) {
    const kind = MUTATIONS[pick(MUTATIONS.length)];
    mutations.push(kind);
    bytes = mutate(bytes, kind, pick, offsets, corpus[pick(corpus.length)]);
  }
  return { bytes, mutations, source };
}
