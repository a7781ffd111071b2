/**
 * ImageNet (`--dataset imagenet`, data/imagenet.ts): `imagenet/train/<wnid>/…` and
 * `imagenet/val/<wnid>/…` listed as file-backed splits (nothing decoded at load); the evaluation
 * transform equals Pillow's `Resize(256)` + torchvision's `CenterCrop(224)` + `Normalize` on
 * PNGs (exact float32); a training sample is one of the admissible outcomes of flip, zero-pad 4
 * and a 224 crop of the Pillow-resized image, found by searching them all on an explicitly
 * padded image; missing or unsorted layouts say what is expected.
 */
import { assert, assertEquals, assertRejects } from "./assert.ts";
import { join } from "node:path";
import { DatasetError } from "../data/dataset.ts";
import { loadDataset } from "../data/load.ts";
import { BatchTransform, NORMALISATION, normalisationTable } from "../data/transforms.ts";
import { Rng } from "../core/random.ts";

const PYTHON = "/usr/bin/python3";
/** (width, height) of the test images: long side 341 (odd centre offset 58.5), tall, square. */
const SIZES: [number, number][] = [[500, 375], [260, 300], [256, 256]];

/** Runs Python with Pillow and numpy; `script` sees `d` (the directory). */
async function python(d: string, script: string): Promise<void> {
  const r = await new Deno.Command(PYTHON, {
    args: ["-c", `import numpy as np\nfrom PIL import Image\nd = ${JSON.stringify(d)}\n${script}`],
    stderr: "piped",
  }).output();
  assert(r.success, new TextDecoder().decode(r.stderr));
}

/** Writes PNGs of SIZES into two classes of train/ and one of val/; returns the data dir. */
async function imagenetPngs(root: string): Promise<string> {
  const dataDir = join(root, "data");
  await python(
    dataDir,
    `
import os
rng = np.random.default_rng(5)
sizes = ${JSON.stringify(SIZES)}
for split, classes in (("train", ("n01440764", "n01443537")), ("val", ("n01443537",))):
    for c in classes:
        os.makedirs(os.path.join(d, "imagenet", split, c), exist_ok=True)
        for i, (w, h) in enumerate(sizes):
            x = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            Image.fromarray(x).save(os.path.join(d, "imagenet", split, c, "%s_%d.png" % (c, i)))
`,
  );
  return dataDir;
}

Deno.test("imagenet: class folders listed as file-backed splits; layouts it refuses", async () => {
  const root = await Deno.makeTempDir({ prefix: "nc-imagenet-" });
  try {
    const dataDir = await imagenetPngs(root);
    const { train, test } = await loadDataset("imagenet", { dataDir });
    assertEquals([train.length, test.length, train.numClasses], [6, 3, 2]);
    assertEquals(train.classNames, ["n01440764", "n01443537"]);
    assertEquals(Array.from(train.labels), [0, 0, 0, 1, 1, 1]);
    assertEquals(Array.from(test.labels), [1, 1, 1]);
    assertEquals([train.images, train.features, train.sampleShape], [null, null, [224, 224, 3]]);
    assertEquals(train.files![4], join(dataDir, "imagenet/train/n01443537/n01443537_1.png"));
    // A val class without a training folder; then no val/ at all.
    await Deno.mkdir(join(dataDir, "imagenet/val/n99999999"));
    await assertRejects(
      () => loadDataset("imagenet", { dataDir }),
      DatasetError,
      "the val images sorted into one folder per class",
    );
    await Deno.remove(join(dataDir, "imagenet/val"), { recursive: true });
    await assertRejects(
      () => loadDataset("imagenet", { dataDir }),
      DatasetError,
      "imagenet expects train/ and val/ subfolders",
    );
    await assertRejects(
      () => loadDataset("imagenet", { dataDir: join(root, "nowhere") }),
      DatasetError,
      "it is not downloaded",
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("imagenet: evaluation = Pillow Resize(256) + CenterCrop(224) + Normalize, exactly", async () => {
  const root = await Deno.makeTempDir({ prefix: "nc-imagenet-" });
  try {
    const dataDir = await imagenetPngs(root);
    const { test } = await loadDataset("imagenet", { dataDir });
    const { mean, std } = NORMALISATION.imagenet;
    await python(
      root,
      `
import sys
files = ${JSON.stringify(test.files)}
mean = np.asarray(${JSON.stringify(mean)}, dtype=np.float32)
std = np.asarray(${JSON.stringify(std)}, dtype=np.float32)
out = []
for f in files:
    img = Image.open(f).convert("RGB")
    w, h = img.size
    # torchvision Resize(256): the shorter side 256, the longer int(256 * long / short)
    nw, nh = (256, int(256 * h / w)) if w <= h else (int(256 * w / h), 256)
    img = img.resize((nw, nh), Image.BILINEAR)
    top, left = int(round((nh - 224) / 2.0)), int(round((nw - 224) / 2.0))
    img = img.crop((left, top, left + 224, top + 224))
    x = np.asarray(img, dtype=np.float32) / np.float32(255)
    out.append((x - mean) / std)
np.stack(out).astype(np.float32).tofile(d + "/y.f32")
`,
    );
    const expected = new Float32Array((await Deno.readFile(join(root, "y.f32"))).buffer);
    const x = new BatchTransform(test, { train: false }).apply(Int32Array.of(0, 1, 2), null);
    assertEquals(x.length, expected.length);
    let mismatches = 0;
    for (let i = 0; i < x.length; i++) if (x[i] !== expected[i]) mismatches++;
    assertEquals(mismatches, 0);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("imagenet: a training sample is one admissible flip + pad 4 + crop 224 of the resized image", async () => {
  const root = await Deno.makeTempDir({ prefix: "nc-imagenet-" });
  try {
    const dataDir = await imagenetPngs(root);
    const { train } = await loadDataset("imagenet", { dataDir });
    const sample = 3; // 500×375 → 341×256
    await python(
      root,
      `
img = Image.open(${JSON.stringify(train.files![sample])}).convert("RGB")
img.resize((341, 256), Image.BILINEAR).save(d + "/resized.png")
np.asarray(Image.open(d + "/resized.png")).tofile(d + "/resized.u8")
`,
    );
    const resized = await Deno.readFile(join(root, "resized.u8"));
    const [h, w, p, S] = [256, 341, 4, 224];
    // The zero-padded (and optionally flipped) resized image, built explicitly.
    const padded = (flip: boolean) => {
      const P = new Uint8Array((h + 2 * p) * (w + 2 * p) * 3);
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          const sx = flip ? w - 1 - x : x;
          for (let c = 0; c < 3; c++) {
            P[((y + p) * (w + 2 * p) + x + p) * 3 + c] = resized[(y * w + sx) * 3 + c];
          }
        }
      }
      return P;
    };
    const { mean, std } = NORMALISATION.imagenet;
    const tables = [0, 1, 2].map((c) => normalisationTable(mean[c], std[c]));
    const candidates = [padded(false), padded(true)];
    const transform = new BatchTransform(train, { train: true });
    const seen = new Set<string>();
    for (let seed = 0; seed < 12; seed++) {
      const out = transform.apply(Int32Array.of(sample), new Rng(seed));
      let found: string | null = null;
      search: for (let f = 0; f < 2; f++) {
        for (let top = 0; top <= h + 2 * p - S; top++) {
          for (let left = 0; left <= w + 2 * p - S; left++) {
            const P = candidates[f];
            let ok = true;
            for (let y = 0; y < S && ok; y++) {
              for (let x = 0; x < S && ok; x++) {
                const q = ((top + y) * (w + 2 * p) + left + x) * 3, o = (y * S + x) * 3;
                for (let c = 0; c < 3; c++) ok &&= out[o + c] === tables[c][P[q + c]];
              }
            }
            if (ok) {
              found = `${f} ${top} ${left}`;
              break search;
            }
          }
        }
      }
      assert(found !== null, `seed ${seed}: the sample is no flip/crop of the resized image`);
      seen.add(found.split(" ")[0]);
    }
    assertEquals(seen.size, 2, "both flipped and unflipped crops occur over 12 seeds");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
