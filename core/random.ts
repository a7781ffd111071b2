/**
 * A small seeded random number generator (xoshiro128**, seeded through splitmix32), so every
 * random matrix in the toolkit is reproducible from an integer seed.
 *
 * @module
 */
import { type Matrix, matrix } from "../solver/matrix.ts";

/**
 * A deterministic generator of uniform and standard normal numbers.
 *
 * @example
 * ```ts
 * const rng = new Rng(1);
 * const x = rng.normal();
 * ```
 */
export class Rng {
  #s = new Uint32Array(4);
  #spare: number | null = null;

  /** Seeds the generator from any safe integer. */
  constructor(seed: number) {
    if (!Number.isSafeInteger(seed)) {
      throw new RangeError(`Rng: seed must be a safe integer, got ${seed}`);
    }
    let x = (seed >>> 0) ^ Math.floor(seed / 2 ** 32);
    for (let i = 0; i < 4; i++) {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      this.#s[i] = (z ^ (z >>> 16)) >>> 0;
    }
    if (this.#s.every((v) => v === 0)) this.#s[0] = 1;
  }

  /** The next 32 random bits as an unsigned integer. */
  nextUint32(): number {
    const s = this.#s;
    const result = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** A uniform number in [0, 1) with 53 random bits. */
  uniform(): number {
    const hi = this.nextUint32() >>> 5, lo = this.nextUint32() >>> 6;
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** A standard normal number (Box–Muller; the second value of each pair is kept for the next call). */
  normal(): number {
    if (this.#spare !== null) {
      const v = this.#spare;
      this.#spare = null;
      return v;
    }
    let u = 0;
    while (u === 0) u = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u)), theta = 2 * Math.PI * this.uniform();
    this.#spare = r * Math.sin(theta);
    return r * Math.cos(theta);
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/**
 * A rows×cols matrix of independent standard normal entries.
 *
 * @example
 * ```ts
 * const G = randomNormal(new Rng(0), 512, 10);
 * ```
 */
export function randomNormal(rng: Rng, rows: number, cols: number): Matrix {
  const out = matrix(rows, cols);
  for (let i = 0; i < out.data.length; i++) out.data[i] = rng.normal();
  return out;
}
