/**
 * STL10 (data/stl10.ts): the column-major channel planes of torchvision's binary files become HWC
 * images (checked on a pattern that tells rows from columns and channels apart), labels 1–10
 * become 0–9, malformed files are errors naming them; `loadDataset("stl10")` reads a generated
 * `stl10_binary/` folder, and extracts an archive already in the data directory only when its MD5
 * is the published one, leaving out the unlabelled images; the paper's transforms (flip, then
 * crop 96 with padding 4; normalisation (0.4467, 0.4398, 0.4066) / (0.2603, 0.2566, 0.2713)); and
 * the training task trains on it.
 */
import { trainScript } from "./support/train_script.ts";
import { assert, assertEquals, assertThrows } from "./assert.ts";
import { join } from "node:path";
import { DatasetError } from "../data/dataset.ts";
import { md5Bytes } from "../data/download.ts";
import { encodeTar, gzip } from "../data/fixtures.ts";
import { loadDataset } from "../data/load.ts";
import { parseStl10 } from "../data/stl10.ts";
import { NORMALISATION, recipeFor } from "../data/transforms.ts";

/** A distinct value per (image, channel, column, row), stored as STL10 does (column-major). */
const value = (i: number, c: number, col: number, row: number) =>
  (i * 53 + c * 101 + col * 7 + row * 3) & 0xff;

function stlImages(n: number): Uint8Array {
  const x = new Uint8Array(n * 3 * 96 * 96);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 3; c++) {
      for (let col = 0; col < 96; col++) {
        for (let row = 0; row < 96; row++) {
          x[((i * 3 + c) * 96 + col) * 96 + row] = value(i, c, col, row);
        }
      }
    }
  }
  return x;
}

Deno.test("stl10: column-major planes become HWC; labels 1–10 become 0–9; bad files are named", () => {
  const { images, labels } = parseStl10(
    stlImages(2),
    "train_X.bin",
    new Uint8Array([1, 10]),
    "train_y.bin",
  );
  assertEquals([...labels], [0, 9]);
  for (const [i, row, col, c] of [[0, 0, 1, 0], [0, 1, 0, 0], [1, 95, 3, 2], [1, 17, 88, 1]]) {
    assertEquals(
      images[((i * 96 + row) * 96 + col) * 3 + c],
      value(i, c, col, row),
      `${i},${row},${col},${c}`,
    );
  }
  assertThrows(
    () => parseStl10(new Uint8Array(100), "x.bin", new Uint8Array(0), "y.bin"),
    DatasetError,
    "x.bin",
    "whole number",
  );
  assertThrows(
    () => parseStl10(stlImages(2), "x.bin", new Uint8Array([1]), "y.bin"),
    DatasetError,
    "y.bin",
    "holds 1 labels but x.bin holds 2",
  );
  assertThrows(
    () => parseStl10(stlImages(1), "x.bin", new Uint8Array([11]), "y.bin"),
    DatasetError,
    "label 11 at index 0 is outside 1–10",
  );
});

Deno.test("stl10: the paper's transforms", () => {
  assertEquals(recipeFor("stl10", true), {
    resize: null,
    shorterSide: null,
    cropSize: null,
    rotation: 0,
    flip: true,
    cropPadding: 4,
    flipFirst: true,
  });
  assertEquals(recipeFor("stl10", false), {
    resize: null,
    shorterSide: null,
    cropSize: null,
    rotation: 0,
    flip: false,
    cropPadding: 0,
    flipFirst: false,
  });
  assertEquals(NORMALISATION.stl10, {
    mean: [0.4467, 0.4398, 0.4066],
    std: [0.2603, 0.2566, 0.2713],
  });
});

Deno.test("stl10: loaded from stl10_binary/ or from a verified archive (without the unlabelled images); trains", async () => {
  const root = await Deno.makeTempDir({ prefix: "nc-stl10-" });
  try {
    const names = "airplane bird car cat deer dog horse monkey ship truck".split(" ");
    const files: Record<string, Uint8Array> = {
      "stl10_binary/train_X.bin": stlImages(20),
      "stl10_binary/train_y.bin": Uint8Array.from({ length: 20 }, (_, i) => 1 + (i % 10)),
      "stl10_binary/test_X.bin": stlImages(10),
      "stl10_binary/test_y.bin": Uint8Array.from({ length: 10 }, (_, i) => 10 - i),
      "stl10_binary/class_names.txt": new TextEncoder().encode(names.join("\n") + "\n"),
      "stl10_binary/unlabeled_X.bin": stlImages(3),
    };
    const archive = await gzip(encodeTar(files));
    const dataDir = join(root, "data");
    await Deno.mkdir(dataDir);
    await Deno.writeFile(join(dataDir, "stl10_binary.tar.gz"), archive);
    const source = {
      mirrors: ["http://127.0.0.1:9/"],
      files: [{ name: "stl10_binary.tar.gz", md5: md5Bytes(archive) }],
    };
    const data = await loadDataset("stl10", { dataDir, sources: { stl10: source } });
    assertEquals([data.train.length, data.test.length, data.train.numClasses], [20, 10, 10]);
    assertEquals(data.train.sampleShape, [96, 96, 3]);
    assertEquals([...data.test.labels.subarray(0, 3)], [9, 8, 7]);
    assertEquals(data.train.classNames, names);
    const extracted = [...Deno.readDirSync(join(dataDir, "stl10_binary"))].map((e) => e.name)
      .sort();
    assertEquals(extracted, [
      "class_names.txt",
      "test_X.bin",
      "test_y.bin",
      "train_X.bin",
      "train_y.bin",
    ]);
    // A second load reads the folder; a different archive in a fresh folder is refused by MD5.
    assertEquals((await loadDataset("stl10", { dataDir, download: false })).train.length, 20);
    const other = join(root, "other");
    await Deno.mkdir(other);
    await Deno.writeFile(
      join(other, "stl10_binary.tar.gz"),
      await gzip(encodeTar({ "x.txt": new Uint8Array(1) })),
    );
    try {
      await loadDataset("stl10", { dataDir: other, sources: { stl10: source } });
      throw new Error("expected a DatasetError");
    } catch (e) {
      assert(
        e instanceof DatasetError && e.message.includes("is not the published stl10_binary.tar.gz"),
        String(e),
      );
    }
    const out = await trainScript("fixed", [
      "--dataset",
      "stl10",
      "--data_dir",
      dataDir,
      "--resnet_width",
      "4",
      "--batch_size",
      "10",
      "--epochs",
      "1",
      "--backend",
      "wasm",
      "--storage",
      join(root, "runs"),
      "--uid",
      "stl",
    ]);
    assertEquals(out.code, 0, out.stderr);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
