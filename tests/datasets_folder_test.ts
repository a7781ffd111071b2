/**
 * The `folder` dataset (tiny PNG/JPEG files written here) and the `synthetic` dataset: resize
 * (PIL's bilinear) and centre crop on hand-made images, class order, the deterministic split,
 * train/test subfolders, errors; synthetic shapes, balance and determinism.
 */
import { join } from "node:path";
import pngjs from "npm:pngjs@7.0.0";
import jpeg from "npm:jpeg-js@0.4.4";
import { assert, assertAlmostEquals, assertEquals } from "./assert.ts";
import { DatasetError } from "../data/dataset.ts";
import { decodeImage, resizeAndCentreCrop, resizeBilinear, type RgbImage } from "../data/folder.ts";
import { loadDataset } from "../data/load.ts";
import { InvalidArgumentError } from "../core/errors.ts";

/** A grey image from rows of values. */
function grey(rows: number[][]): RgbImage {
  const height = rows.length, width = rows[0].length;
  const data = new Uint8Array(width * height * 3);
  rows.flat().forEach((v, i) => data.fill(v, 3 * i, 3 * i + 3));
  return { width, height, data };
}

/** The first channel of each pixel, as rows. */
function channel0(img: RgbImage): number[][] {
  return Array.from(
    { length: img.height },
    (_, y) => Array.from({ length: img.width }, (_, x) => img.data[(y * img.width + x) * 3]),
  );
}

function png(img: RgbImage, colorType: 0 | 2 | 6 = 2): Uint8Array {
  const rgba = new Uint8Array(img.width * img.height * 4);
  for (let p = 0; p < img.width * img.height; p++) {
    rgba.set(img.data.subarray(3 * p, 3 * p + 3), 4 * p);
    rgba[4 * p + 3] = 255;
  }
  const out = pngjs.PNG.sync.write(
    { width: img.width, height: img.height, data: rgba } as unknown as Parameters<
      typeof pngjs.PNG.sync.write
    >[0],
    { colorType },
  );
  return new Uint8Array(out);
}

function solidJpeg(width: number, height: number, rgb: [number, number, number]): Uint8Array {
  const data = new Uint8Array(width * height * 4);
  for (let p = 0; p < width * height; p++) data.set([...rgb, 255], 4 * p);
  return new Uint8Array(jpeg.encode({ width, height, data }, 95).data);
}

async function rejects(fn: () => Promise<unknown>, ...includes: string[]): Promise<DatasetError> {
  try {
    await fn();
  } catch (e) {
    assert(e instanceof DatasetError, `expected DatasetError, got ${e}`);
    for (const s of includes) assert(e.message.includes(s), `"${e.message}" lacks "${s}"`);
    return e;
  }
  throw new Error("expected a DatasetError");
}

Deno.test("folder: resize (PIL bilinear) and centre crop on hand-made images", () => {
  // shrinking 4→2 widens the triangle filter to 2 pixels: weights 3/7, 3/7, 1/7 at the edges
  const ramp = grey([[0, 70, 140, 210], [0, 70, 140, 210], [0, 70, 140, 210], [0, 70, 140, 210]]);
  assertEquals(channel0(resizeAndCentreCrop(ramp, 2)), [[50, 160], [50, 160]]);
  // enlarging 2→4: plain bilinear, edges clamped
  assertEquals(channel0(resizeBilinear(grey([[0, 100]]), 4, 1)), [[0, 25, 75, 100]]);
  // the shorter side is already the size: only the crop; offset round((5-2)/2) = round(1.5) = 2
  const wide = grey([[1, 2, 3, 4, 5], [6, 7, 8, 9, 10]]);
  assertEquals(channel0(resizeAndCentreCrop(wide, 2)), [[3, 4], [8, 9]]);
  // round((6-2)/2) = 2, and round((3-2)/2) = round(0.5) = 0 vertically (halves to even)
  const tall = grey([[1, 2], [3, 4], [5, 6]]);
  assertEquals(channel0(resizeAndCentreCrop(tall, 2)), [[1, 2], [3, 4]]);
  // 8×4 → shorter side 2 gives 4×2 (each output pixel averages a 2×2 block, ± the wider filter),
  // then columns 1…2 are kept
  const block = grey([
    [0, 0, 40, 40, 80, 80, 120, 120],
    [0, 0, 40, 40, 80, 80, 120, 120],
    [0, 0, 40, 40, 80, 80, 120, 120],
    [0, 0, 40, 40, 80, 80, 120, 120],
  ]);
  // horizontal weights at x=1: pixels 1..4 with 1/8, 3/8, 3/8, 1/8 → (0 + 120 + 120 + 80) / 8 = 40
  assertEquals(channel0(resizeAndCentreCrop(block, 2)), [[40, 80], [40, 80]]);
});

Deno.test("folder: PNG (RGB, grey, RGBA) and JPEG decode to RGB; garbage is a DatasetError", () => {
  const img: RgbImage = { width: 2, height: 1, data: new Uint8Array([255, 0, 0, 10, 20, 30]) };
  for (const colorType of [2, 6] as const) {
    assertEquals(Array.from(decodeImage(png(img, colorType), "x.png").data), Array.from(img.data));
  }
  assertEquals(
    Array.from(decodeImage(png(grey([[7, 200]]), 0), "g.png").data),
    [7, 7, 7, 200, 200, 200],
  );
  const j = decodeImage(solidJpeg(8, 8, [200, 100, 50]), "x.jpg");
  assertEquals([j.width, j.height], [8, 8]);
  assertAlmostEquals(j.data[0], 200, 3);
  assertAlmostEquals(j.data[1], 100, 3);
  assertAlmostEquals(j.data[2], 50, 3);
  try {
    decodeImage(new TextEncoder().encode("not an image"), "/d/cat/bad.png");
    throw new Error("expected a DatasetError");
  } catch (e) {
    assert(e instanceof DatasetError && e.message.includes("/d/cat/bad.png"), String(e));
    assert(e.message.includes("not a PNG or JPEG"), e.message);
  }
  const truncated = png(img).subarray(0, 30);
  try {
    decodeImage(truncated, "t.png");
    throw new Error("expected a DatasetError");
  } catch (e) {
    assert(e instanceof DatasetError && e.message.includes("unreadable image"), String(e));
  }
});

Deno.test("folder: classes sorted, every fifth image held out, train/test subfolders, errors", async () => {
  const root = await Deno.makeTempDir();
  try {
    const flat = join(root, "flat");
    // created out of order; code-point order puts "Zebra" before "cat"
    for (const cls of ["dog", "cat", "Zebra"]) {
      await Deno.mkdir(join(flat, cls), { recursive: true });
    }
    for (let i = 0; i < 6; i++) {
      await Deno.writeFile(
        join(flat, "cat", `img${i}.png`),
        png(grey([[i * 10, i * 10], [i * 10, i * 10]])),
      );
    }
    await Deno.writeFile(join(flat, "dog", "a.jpg"), solidJpeg(4, 4, [0, 255, 0]));
    await Deno.mkdir(join(flat, "dog", "nested"));
    await Deno.writeFile(join(flat, "dog", "nested", "b.png"), png(grey([[9, 9], [9, 9]])));
    await Deno.writeFile(join(flat, "dog", "notes.txt"), new TextEncoder().encode("skipped"));
    await Deno.writeFile(join(flat, "Zebra", "z.png"), png(grey([[1, 2, 3, 4]])));
    const lines: string[] = [];
    const { train, test } = await loadDataset("folder", {
      root: flat,
      imageSize: 2,
      log: (l) => lines.push(l),
    });
    assertEquals(train.classNames, ["Zebra", "cat", "dog"]);
    assertEquals([train.name, train.sampleShape, train.numClasses], ["folder", [2, 2, 3], 3]);
    // cat: img0…img5 sorted, img4 held out; Zebra and dog have too few images for a test one
    assertEquals(Array.from(train.labels), [0, 1, 1, 1, 1, 1, 2, 2]);
    assertEquals(Array.from(test.labels), [1]);
    assertEquals(Array.from(test.images!), new Array(12).fill(40));
    assertEquals(Array.from(train.images!.subarray(0, 12)), [2, 2, 2, 3, 3, 3, 2, 2, 2, 3, 3, 3]);
    assertEquals(Array.from(train.images!.subarray(5 * 12, 6 * 12)), new Array(12).fill(50)); // img5
    const dogJpeg = train.images!.subarray(6 * 12, 7 * 12);
    assertAlmostEquals(dogJpeg[1], 255, 3);
    assertAlmostEquals(dogJpeg[0], 0, 3);
    assertEquals(Array.from(train.images!.subarray(7 * 12)), new Array(12).fill(9)); // nested/b.png
    assert(lines.some((l) => l.includes("every fifth image")), lines.join("\n"));

    // train/ and test/ subfolders; test may lack a class
    const split = join(root, "split");
    for (const p of ["train/a", "train/b", "test/b"]) {
      await Deno.mkdir(join(split, p), { recursive: true });
    }
    await Deno.writeFile(join(split, "train/a/1.png"), png(grey([[1, 1], [1, 1]])));
    await Deno.writeFile(join(split, "train/b/1.png"), png(grey([[2, 2], [2, 2]])));
    await Deno.writeFile(join(split, "test/b/1.png"), png(grey([[3, 3], [3, 3]])));
    const s = await loadDataset("folder", { root: split, imageSize: 2 });
    assertEquals([s.train.length, s.test.length, Array.from(s.test.labels)], [2, 1, [1]]);
    assertEquals(s.test.classNames, ["a", "b"]);

    // errors
    await Deno.mkdir(join(split, "test/c"));
    await rejects(
      () => loadDataset("folder", { root: split }),
      join(split, "test", "c"),
      'test class "c"',
    );
    await Deno.remove(join(split, "test/c"));
    await Deno.mkdir(join(split, "train/empty"));
    await rejects(
      () => loadDataset("folder", { root: split }),
      join(split, "train", "empty"),
      "holds no PNG/JPEG images",
    );
    await Deno.remove(join(split, "train/empty"));
    await Deno.writeFile(
      join(split, "train/a/broken.jpg"),
      new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 1]),
    );
    await rejects(
      () => loadDataset("folder", { root: split }),
      join(split, "train/a/broken.jpg"),
      "unreadable image",
    );
    await rejects(() => loadDataset("folder", { root: join(root, "nope") }), "root not found");
    await Deno.mkdir(join(root, "noclasses"));
    await rejects(
      () => loadDataset("folder", { root: join(root, "noclasses") }),
      "no class folders",
    );
    await rejects(
      () => loadDataset("folder", { root: join(flat, "dog") }), // "nested" is its only class
      "too few images for a test split",
    );
    try {
      await loadDataset("folder", { root: split, imageSize: 0 });
      throw new Error("expected InvalidArgumentError");
    } catch (e) {
      assert(e instanceof InvalidArgumentError && e.argument === "--image_size", String(e));
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("synthetic: shapes, balanced labels, class-dependent means, determinism", async () => {
  const options = { datasetSize: 103, featureDim: 6, numClasses: 4, seed: 7 };
  const a = await loadDataset("synthetic", options);
  const { train, test } = a;
  assertEquals([train.name, train.split, train.length, train.sampleShape], [
    "synthetic",
    "train",
    103,
    [6],
  ]);
  assertEquals([train.images, train.features!.length, train.numClasses], [null, 103 * 6, 4]);
  assert(train.features instanceof Float32Array);
  assertEquals(test.length, 21); // round(103 / 5)
  const counts = [0, 0, 0, 0];
  for (const l of train.labels) counts[l]++;
  assertEquals(counts, [26, 26, 26, 25]);
  assert(
    Array.from(train.labels.subarray(0, 8)).join() !== "0,1,2,3,0,1,2,3",
    "labels are shuffled",
  );
  // identical from the same seed, different from another
  const b = await loadDataset("synthetic", options);
  assertEquals(Array.from(b.train.features!), Array.from(train.features!));
  assertEquals(Array.from(b.test.labels), Array.from(test.labels));
  const c = await loadDataset("synthetic", { ...options, seed: 8 });
  assert(c.train.features![0] !== train.features![0]);
  // class means differ: the train and test class centroids agree (shared means), distinct classes don't
  const big = await loadDataset("synthetic", {
    datasetSize: 4000,
    featureDim: 3,
    numClasses: 2,
    seed: 1,
  });
  const centroid = (split: typeof train, k: number) => {
    const m = [0, 0, 0];
    let n = 0;
    split.labels.forEach((l, i) => {
      if (l !== k) return;
      n++;
      for (let j = 0; j < 3; j++) m[j] += split.features![i * 3 + j];
    });
    return m.map((v) => v / n);
  };
  const dist = (u: number[], v: number[]) => Math.hypot(...u.map((x, i) => x - v[i]));
  const t0 = centroid(big.train, 0), t1 = centroid(big.train, 1), s0 = centroid(big.test, 0);
  assert(dist(t0, s0) < 0.2, `train/test centroids ${t0} ${s0}`);
  assert(dist(t0, t1) > 0.5, `class centroids ${t0} ${t1}`);
  try {
    await loadDataset("synthetic", { numClasses: 1 });
    throw new Error("expected InvalidArgumentError");
  } catch (e) {
    assert(e instanceof InvalidArgumentError && e.argument === "--num_classes", String(e));
  }
});
