/**
 * The input transforms against hand-computed small images: Pillow bilinear resize, Pillow nearest
 * rotation, crop with padding, flip, normalisation, and the per-dataset batch transforms.
 */
import { assert, assertAlmostEquals, assertEquals, assertThrows } from "./assert.ts";
import type { DatasetSplit } from "../data/dataset.ts";
import {
  BatchTransform,
  bilinearCoefficients,
  channelStats,
  datasetKind,
  gatherNormalise,
  NORMALISATION,
  normalisationTable,
  recipeFor,
  resizeBilinearU8,
  rotateNearestU8,
  rotationMatrix,
} from "../data/transforms.ts";
import { InvalidArgumentError } from "../core/errors.ts";
import { Rng } from "../core/random.ts";

function split(
  name: string,
  images: Uint8Array,
  shape: number[],
  labels: number[],
  which: "train" | "test" = "train",
): DatasetSplit {
  return {
    name,
    split: which,
    length: labels.length,
    sampleShape: shape,
    images,
    features: null,
    labels: Int32Array.from(labels),
    numClasses: Math.max(...labels) + 1,
  };
}

function randomImages(n: number, size: number, seed: number): Uint8Array {
  const rng = new Rng(seed);
  return Uint8Array.from({ length: n * size }, () => rng.nextUint32() & 255);
}

Deno.test("bilinear taps 28→32: half-pixel centres, clamped edges, 22-bit weights", () => {
  const c = bilinearCoefficients(28, 32);
  assertEquals(c.ksize, 3);
  // Output 0: centre 0.4375 → only input 0 (the tap at −1 falls outside).
  assertEquals(Array.from(c.bounds.slice(0, 2)), [0, 1]);
  assertEquals(c.weights[0], 1 << 22);
  // Output 1: centre 1.3125 → inputs 0, 1 at distances 0.8125, 0.1875 → weights 0.1875, 0.8125.
  assertEquals(Array.from(c.bounds.slice(2, 4)), [0, 2]);
  assertEquals([c.weights[3], c.weights[4]], [0.1875 * 2 ** 22, 0.8125 * 2 ** 22]);
  // Output 31: centre 27.5625 → only input 27.
  assertEquals(Array.from(c.bounds.slice(62, 64)), [27, 1]);
});

Deno.test("resize 28→32: a constant stays constant", () => {
  for (const v of [0, 7, 128, 255]) {
    const out = resizeBilinearU8(new Uint8Array(28 * 28).fill(v), 28, 28, 1, 32, 32);
    assert(out.every((u) => u === v), `constant ${v}`);
  }
  // Three channels, each its own constant.
  const rgb = new Uint8Array(28 * 28 * 3);
  for (let i = 0; i < rgb.length; i += 3) rgb.set([10, 200, 255], i);
  const out = resizeBilinearU8(rgb, 28, 28, 3, 32, 32);
  for (let i = 0; i < out.length; i += 3) {
    assertEquals(Array.from(out.subarray(i, i + 3)), [10, 200, 255]);
  }
});

Deno.test("resize 28→32: ramps by hand", () => {
  // in(y, x) = 8x. Output x samples input position (x + ½)·0.875 − ½ = 0.875x − 0.0625, so the
  // value is 8·(0.875x − 0.0625) = 7x − ½, which rounds half up to 7x, except at the clamped right
  // edge (x = 31 samples input 27 only: 216). Weights are multiples of 1/16, so exact.
  const ramp = new Uint8Array(28 * 28);
  for (let y = 0; y < 28; y++) for (let x = 0; x < 28; x++) ramp[y * 28 + x] = 8 * x;
  const expected = Array.from({ length: 32 }, (_, x) => Math.min(7 * x, 216));
  const out = resizeBilinearU8(ramp, 28, 28, 1, 32, 32);
  for (let y = 0; y < 32; y++) {
    assertEquals(Array.from(out.subarray(y * 32, y * 32 + 32)), expected);
  }
  // The vertical ramp gives the transpose.
  const vramp = new Uint8Array(28 * 28);
  for (let y = 0; y < 28; y++) vramp.fill(8 * y, y * 28, y * 28 + 28);
  const vout = resizeBilinearU8(vramp, 28, 28, 1, 32, 32);
  for (let y = 0; y < 32; y++) {
    assert(vout.subarray(y * 32, y * 32 + 32).every((v) => v === expected[y]));
  }
  // in(y, x) = x: 0.875x − 0.0625 rounded half up = ⌊0.875x + 0.4375⌋, clamped to [0, 27].
  const unit = new Uint8Array(28 * 28);
  for (let y = 0; y < 28; y++) for (let x = 0; x < 28; x++) unit[y * 28 + x] = x;
  const uout = resizeBilinearU8(unit, 28, 28, 1, 32, 32);
  const uexp = Array.from({ length: 32 }, (_, x) => Math.min(27, Math.floor(0.875 * x + 0.4375)));
  assertEquals(Array.from(uout.subarray(0, 32)), uexp);
});

Deno.test("resize agrees with float bilinear (align_corners=False) within one grey level", () => {
  const src = randomImages(1, 28 * 28, 5);
  const out = resizeBilinearU8(src, 28, 28, 1, 32, 32);
  const pos = (o: number) => Math.min(27, Math.max(0, (o + 0.5) * 0.875 - 0.5));
  for (let y = 0; y < 32; y++) {
    for (let x = 0; x < 32; x++) {
      const sy = pos(y), sx = pos(x), y0 = Math.floor(sy), x0 = Math.floor(sx);
      const y1 = Math.min(27, y0 + 1), x1 = Math.min(27, x0 + 1), wy = sy - y0, wx = sx - x0;
      const g = (r: number, c: number) => src[r * 28 + c];
      const v = (1 - wy) * ((1 - wx) * g(y0, x0) + wx * g(y0, x1)) +
        wy * ((1 - wx) * g(y1, x0) + wx * g(y1, x1));
      assertAlmostEquals(out[y * 32 + x], v, 1, `(${y}, ${x})`);
    }
  }
});

Deno.test("rotation by 90° is the counter-clockwise transpose, whatever the path", () => {
  const img = Uint8Array.from({ length: 16 }, (_, i) => i + 1); // rows [1..4], [5..8], …
  // Counter-clockwise: the right column becomes the top row.
  const ccw = [4, 8, 12, 16, 3, 7, 11, 15, 2, 6, 10, 14, 1, 5, 9, 13];
  assertEquals(Array.from(rotateNearestU8(img, 4, 4, 1, 90)), ccw);
  assertEquals(Array.from(rotateNearestU8(img, 4, 4, 1, -270)), ccw);
  assertEquals(Array.from(rotateNearestU8(img, 4, 4, 1, 450)), ccw);
  // Just off 90° the general fixed-point path runs and must agree.
  assertEquals(Array.from(rotateNearestU8(img, 4, 4, 1, 90.0001)), ccw);
  assertEquals(Array.from(rotateNearestU8(img, 4, 4, 1, -90)), ccw.slice().reverse());
  assertEquals(Array.from(rotateNearestU8(img, 4, 4, 1, 180)), Array.from(img).reverse());
  assertEquals(Array.from(rotateNearestU8(img, 4, 4, 1, 0)), Array.from(img));
  assertEquals(rotationMatrix(90, 32, 32), [0, -1, 32, 1, 0, 0]);
  // Channels move together.
  const rgb = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12); // 2×2×3
  assertEquals(Array.from(rotateNearestU8(rgb, 2, 2, 3, 90.0001)), [
    4,
    5,
    6,
    10,
    11,
    12,
    1,
    2,
    3,
    7,
    8,
    9,
  ]);
});

Deno.test("rotation by 20° on a 4×4 image, pixel by pixel", () => {
  // Output pixel (x, y) samples input ⌊(2 + c·X − s·Y, 2 + s·X + c·Y)⌋ with X = x − 1.5,
  // Y = y − 1.5, c = cos 20° = 0.9397, s = sin 20° = 0.3420 (counter-clockwise on screen):
  // y=0: (1.103, 0.077) (2.043, 0.419) (2.983, 0.761) (3.923, 1.103) → (1,0) (2,0) (2,0) (3,1)
  // y=1: (0.761, 1.017) (1.701, 1.359) (2.641, 1.701) (3.581, 2.043) → (0,1) (1,1) (2,1) (3,2)
  // y=2: (0.419, 1.957) (1.359, 2.299) (2.299, 2.641) (3.239, 2.983) → (0,1) (1,2) (2,2) (3,2)
  // y=3: (0.077, 2.897) (1.017, 3.239) (1.957, 3.581) (2.897, 3.923) → (0,2) (1,3) (1,3) (2,3)
  // and input (x, y) holds 1 + 4y + x.
  const img = Uint8Array.from({ length: 16 }, (_, i) => i + 1);
  assertEquals(Array.from(rotateNearestU8(img, 4, 4, 1, 20)), [
    2,
    3,
    3,
    8,
    5,
    6,
    7,
    12,
    5,
    10,
    11,
    12,
    9,
    14,
    14,
    15,
  ]);
});

Deno.test("rotation by 40° on a 5×5 image fills the corners with 0", () => {
  // Centre (2.5, 2.5); the corners sample (2.253, −0.318), (5.318, 2.253), (−0.318, 2.747),
  // (2.747, 5.318): outside, so 0.
  const img = Uint8Array.from({ length: 25 }, (_, i) => i + 1);
  assertEquals(Array.from(rotateNearestU8(img, 5, 5, 1, 40)), [
    0,
    4,
    4,
    10,
    0,
    2,
    8,
    9,
    14,
    20,
    6,
    7,
    13,
    19,
    20,
    6,
    12,
    17,
    18,
    24,
    0,
    16,
    22,
    22,
    0,
  ]);
});

Deno.test("rotation agrees with the float inverse map except at rare rounding ties", () => {
  const n = 32, img = Uint8Array.from({ length: n * n }, (_, i) => (i * 7919) % 251 + 1);
  const rng = new Rng(3);
  let diff = 0, total = 0;
  for (let k = 0; k < 50; k++) {
    const angle = -25 + 50 * rng.uniform();
    const out = rotateNearestU8(img, n, n, 1, angle);
    const t = angle * Math.PI / 180, c = Math.cos(t), s = Math.sin(t);
    for (let y = 0; y < n; y++) {
      for (let x = 0; x < n; x++) {
        const X = x + 0.5 - 16, Y = y + 0.5 - 16;
        const xi = Math.floor(c * X - s * Y + 16), yi = Math.floor(s * X + c * Y + 16);
        const v = xi >= 0 && xi < n && yi >= 0 && yi < n ? img[yi * n + xi] : 0;
        total++;
        if (v !== out[y * n + x]) diff++;
      }
    }
  }
  assert(diff / total < 1e-3, `${diff} of ${total} differ`);
});

Deno.test("normalisation table: torch's float32 (v/255 − mean)/std", () => {
  const t = normalisationTable(0.1307, 0.3081);
  assertAlmostEquals(t[0], -0.1307 / 0.3081, 1e-6);
  assertAlmostEquals(t[255], (1 - 0.1307) / 0.3081, 1e-6);
  assertAlmostEquals(t[128], (128 / 255 - 0.1307) / 0.3081, 1e-6);
  // Exactly the float32 operation sequence.
  const f = Math.fround;
  assertEquals(t[77], f(f(f(77 / 255) - f(0.1307)) / f(0.3081)));
  assertThrows(() => normalisationTable(0, 0), InvalidArgumentError, "std > 0");
});

Deno.test("crop with zero padding and flip, fused with normalisation", () => {
  const id = normalisationTable(0, 1); // v/255
  const img = Uint8Array.from({ length: 9 }, (_, i) => (i + 1) * 10); // 3×3: [10 20 30; 40 50 60; 70 80 90]
  const run = (dy: number, dx: number, flip: boolean) => {
    const out = new Float32Array(9);
    gatherNormalise(img, 3, 3, 1, dy, dx, flip, [id], 1, out, 0);
    return Array.from(out, (v) => Math.round(v * 255));
  };
  assertEquals(run(0, 0, false), [10, 20, 30, 40, 50, 60, 70, 80, 90]);
  // Padding 1, crop at top 0, left 0: shifted down-right, zeros enter at the top and left.
  assertEquals(run(-1, -1, false), [0, 0, 0, 0, 10, 20, 0, 40, 50]);
  // Padding 1, crop at top 2, left 2: shifted up-left.
  assertEquals(run(1, 1, false), [50, 60, 0, 80, 90, 0, 0, 0, 0]);
  // Flip.
  assertEquals(run(0, 0, true), [30, 20, 10, 60, 50, 40, 90, 80, 70]);
  // Crop (top 1, left 0 with padding 1) then flip: dx = left − p = −1 on the flipped column.
  assertEquals(run(0, -1, true), [20, 10, 0, 50, 40, 0, 80, 70, 0]);
  // Grayscale replicated to 3 channels, padding normalised like a 0 pixel.
  const m = normalisationTable(0.5, 0.25);
  const out = new Float32Array(27);
  gatherNormalise(img, 3, 3, 1, -1, 0, false, [m, m, m], 3, out, 0);
  assertEquals(Array.from(out.subarray(0, 3)), [m[0], m[0], m[0]]);
  assertEquals(Array.from(out.subarray(9, 12)), [m[10], m[10], m[10]]);
});

Deno.test("recipes follow docs/method.md section 9", () => {
  assertEquals(recipeFor("mnist", true), {
    resize: 32,
    shorterSide: null,
    cropSize: null,
    rotation: 25,
    flip: false,
    cropPadding: 0,
    flipFirst: false,
  });
  assertEquals(recipeFor("mnist", false).rotation, 0);
  assertEquals(recipeFor("FashionMNIST", true), {
    resize: 32,
    shorterSide: null,
    cropSize: null,
    rotation: 0,
    flip: true,
    cropPadding: 4,
    flipFirst: true,
  });
  assertEquals(recipeFor("cifar100", true), {
    resize: null,
    shorterSide: null,
    cropSize: null,
    rotation: 0,
    flip: true,
    cropPadding: 4,
    flipFirst: false,
  });
  assertEquals(recipeFor("cifar10", false).cropPadding, 0);
  assertEquals(recipeFor("folder", true).cropPadding, 4);
  assertEquals(datasetKind("CIFAR-10"), "cifar10");
  assertThrows(() => datasetKind("imagenet-21k"), InvalidArgumentError, "unknown dataset");
  assertEquals(NORMALISATION["fashion-mnist"], { mean: [0.2860], std: [0.3530] });
});

Deno.test("MNIST: test = resize + normalise to 3 channels; train adds a seeded rotation", () => {
  const images = randomImages(4, 28 * 28, 7);
  const train = split("mnist", images, [28, 28, 1], [0, 1, 2, 3]);
  const test = split("mnist", images, [28, 28, 1], [0, 1, 2, 3], "test");
  const t = new BatchTransform(test);
  assertEquals(t.sampleShape, [32, 32, 3]);
  const x = t.apply(Int32Array.of(2, 0), null);
  assertEquals(x.length, 2 * 32 * 32 * 3);
  const table = normalisationTable(0.1307, 0.3081);
  const r = resizeBilinearU8(images.subarray(2 * 784, 3 * 784), 28, 28, 1, 32, 32);
  for (let p = 0; p < 1024; p++) {
    for (let c = 0; c < 3; c++) assertEquals(x[p * 3 + c], table[r[p]]);
  }
  const tr = new BatchTransform(train, { train: true });
  const a = tr.apply(Int32Array.of(0, 1, 2, 3), new Rng(1));
  const b = tr.apply(Int32Array.of(0, 1, 2, 3), new Rng(1));
  const c = tr.apply(Int32Array.of(0, 1, 2, 3), new Rng(2));
  assertEquals(a, b);
  assert(a.some((v, i) => v !== c[i]), "another seed rotates differently");
  // Image 0 is the resized image rotated by the first angle the generator draws.
  const angle = -25 + 50 * new Rng(1).uniform();
  const r0 = resizeBilinearU8(images.subarray(0, 784), 28, 28, 1, 32, 32);
  const rot = rotateNearestU8(r0, 32, 32, 1, angle);
  for (let p = 0; p < 1024; p++) assertEquals(a[p * 3 + 1], table[rot[p]]);
  assertThrows(() => tr.apply(Int32Array.of(0), null), InvalidArgumentError, "Rng");
  assertThrows(() => tr.apply(Int32Array.of(4), new Rng(1)), InvalidArgumentError, "outside");
});

Deno.test("CIFAR10 train: every image is a padded crop (± flip) of its source; both flips occur", () => {
  const n = 64, images = randomImages(n, 32 * 32 * 3, 11);
  const s = split("cifar10", images, [32, 32, 3], Array.from({ length: n }, (_, i) => i % 10));
  const x = new BatchTransform(s).apply(Int32Array.from({ length: n }, (_, i) => i), new Rng(4));
  const tables = NORMALISATION.cifar10.mean.map((m, c) =>
    normalisationTable(m, NORMALISATION.cifar10.std[c])
  );
  const L = 32 * 32 * 3, candidate = new Float32Array(L);
  let flips = 0;
  const offsets = new Set<string>();
  for (let i = 0; i < n; i++) {
    const got = x.subarray(i * L, (i + 1) * L);
    let found = 0;
    for (let dy = -4; dy <= 4 && !found; dy++) {
      for (let dx = -4; dx <= 4 && !found; dx++) {
        for (const flip of [false, true]) {
          gatherNormalise(
            images.subarray(i * L, (i + 1) * L),
            32,
            32,
            3,
            dy,
            dx,
            flip,
            tables,
            3,
            candidate,
            0,
          );
          if (candidate.every((v, j) => v === got[j])) {
            found = 1;
            if (flip) flips++;
            offsets.add(`${dy},${dx}`);
            break;
          }
        }
      }
    }
    assert(found, `image ${i} is no crop/flip of its source`);
  }
  assert(flips > 10 && flips < 54, `${flips} flips of ${n}`);
  assert(offsets.size > 20, `only ${offsets.size} distinct offsets`);
  // The test split only normalises.
  const xt = new BatchTransform({ ...s, split: "test" }).apply(Int32Array.of(3), null);
  for (let p = 0; p < L; p++) assertEquals(xt[p], tables[p % 3][images[3 * L + p]]);
});

Deno.test("FashionMNIST train: flip then crop on the resized image", () => {
  const images = randomImages(8, 28 * 28, 13);
  const s = split("fashion-mnist", images, [28, 28, 1], [0, 1, 2, 3, 4, 5, 6, 7]);
  const x = new BatchTransform(s).apply(Int32Array.of(5), new Rng(9));
  // Replay the draws: flip, then top, then left.
  const rng = new Rng(9);
  const flip = rng.uniform() < 0.5;
  const top = Math.floor(rng.uniform() * 9), left = Math.floor(rng.uniform() * 9);
  const r = resizeBilinearU8(images.subarray(5 * 784, 6 * 784), 28, 28, 1, 32, 32);
  const t = normalisationTable(0.2860, 0.3530);
  for (let y = 0; y < 32; y++) {
    for (let xx = 0; xx < 32; xx++) {
      // flipped(y, x) = r(y, 31 − x); padded crop: out(y, x) = flipped(y + top − 4, x + left − 4).
      const fy = y + top - 4, fx = xx + left - 4;
      const v = fy >= 0 && fy < 32 && fx >= 0 && fx < 32 ? r[fy * 32 + (flip ? 31 - fx : fx)] : 0;
      assertEquals(x[(y * 32 + xx) * 3 + 2], t[v]);
    }
  }
});

Deno.test("folder: channel statistics over the training images; test split needs them", () => {
  // Two 1×2 RGB images: R 0, 255, 255, 255 → mean 0.75, std sqrt(0.1875); G always 51 → 0.2;
  // B 0, 0, 255, 255 → mean 0.5, std 0.5.
  const images = Uint8Array.of(0, 51, 0, 255, 51, 0, 255, 51, 255, 255, 51, 255);
  const train = split("folder", images, [1, 2, 3], [0, 1]);
  const st = channelStats(train);
  assertAlmostEquals(st.mean[0], 0.75, 1e-12);
  assertAlmostEquals(st.std[0], Math.sqrt(0.1875), 1e-12);
  assertAlmostEquals(st.mean[1], 0.2, 1e-12);
  assertEquals(st.std[1], 1); // constant channel: 1, not 0
  assertAlmostEquals(st.mean[2], 0.5, 1e-12);
  assertAlmostEquals(st.std[2], 0.5, 1e-12);
  const test = split("folder", images, [1, 2, 3], [0, 1], "test");
  assertThrows(() => new BatchTransform(test), InvalidArgumentError, "channelStats");
  const norm = { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] };
  const x = new BatchTransform(test, { normalisation: norm }).apply(Int32Array.of(0), null);
  assertEquals(Array.from(x), [
    -1,
    Math.fround(Math.fround(Math.fround(51 / 255) - 0.5) / 0.5),
    -1,
    1,
    Math.fround(Math.fround(Math.fround(51 / 255) - 0.5) / 0.5),
    -1,
  ]);
  assertEquals(new BatchTransform(train, { train: true }).normalisation, st);
});

Deno.test("synthetic: features copied unchanged", () => {
  const features = Float32Array.from({ length: 12 }, (_, i) => i / 3 - 1);
  const s: DatasetSplit = {
    name: "synthetic",
    split: "train",
    length: 3,
    sampleShape: [4],
    images: null,
    features,
    labels: Int32Array.of(0, 1, 0),
    numClasses: 2,
  };
  const t = new BatchTransform(s, { train: true });
  assertEquals(t.sampleShape, [4]);
  assertEquals(Array.from(t.apply(Int32Array.of(2, 0), new Rng(0))), [
    ...features.subarray(8, 12),
    ...features.subarray(0, 4),
  ]);
});
