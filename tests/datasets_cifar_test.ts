/**
 * CIFAR-10/100 loading: the minimal unpickler and the binary records on generated files with known
 * contents, CHW → HWC conversion, class names, both directory layouts, corrupt files, and the tar
 * reader (including unsafe paths and truncation).
 */
import { join } from "node:path";
import { assert, assertEquals, assertThrows } from "./assert.ts";
import { DatasetError } from "../data/dataset.ts";
import { chwToHwc, parseCifarBinary, parseCifarMeta, parseCifarPickle } from "../data/cifar.ts";
import {
  encodeCifarBinary,
  encodeCifarMeta,
  encodeCifarPickle,
  encodeTar,
  gzip,
} from "../data/fixtures.ts";
import { loadDataset } from "../data/load.ts";
import { type NdArray, pyString, unpickle } from "../data/pickle.ts";
import { extractTarGz, readTar } from "../data/tar.ts";

/** n CHW images whose byte (i, c, y, x) is (i + 5c + 3y + x) mod 256. */
function knownChw(n: number): Uint8Array {
  const out = new Uint8Array(n * 3072);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 3; c++) {
      for (let y = 0; y < 32; y++) {
        for (let x = 0; x < 32; x++) {
          out[i * 3072 + c * 1024 + y * 32 + x] = (i + 5 * c + 3 * y + x) % 256;
        }
      }
    }
  }
  return out;
}

/** The HWC byte of image i, row y, column x, channel c. */
function hwcAt(images: Uint8Array, i: number, y: number, x: number, c: number): number {
  return images[((i * 32 + y) * 32 + x) * 3 + c];
}

Deno.test("cifar: CHW planes become HWC", () => {
  const chw = Uint8Array.from({ length: 2 * 2 * 3 }, (_, i) => i); // one 2×2 image, 3 planes
  assertEquals(Array.from(chwToHwc(chw, 1, 2, 2, 3)), [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]);
});

Deno.test("pickle: a Python 2 cPickle CIFAR batch with known contents", () => {
  const chw = knownChw(3);
  const bytes = encodeCifarPickle(chw, [7, 0, 9]);
  const entry = unpickle(bytes, "b") as Map<string, unknown>;
  assertEquals(
    [...entry.keys()].sort(),
    ["batch_label", "data", "filenames", "labels"],
  );
  const data = entry.get("data") as NdArray;
  assertEquals([data.shape, data.dtype], [[3, 3072], "u1"]);
  assertEquals(Array.from(data.data), Array.from(chw));
  assertEquals(pyString((entry.get("filenames") as Uint8Array[])[2]), "image_2.png");
  const part = parseCifarPickle(bytes, "b", 10);
  assertEquals(Array.from(part.labels), [7, 0, 9]);
  for (const [i, y, x, c] of [[0, 0, 0, 0], [1, 5, 7, 2], [2, 31, 31, 1]]) {
    assertEquals(hwcAt(part.images, i, y, x, c), (i + 5 * c + 3 * y + x) % 256);
  }
  const meta = encodeCifarMeta(["airplane", "automobile", "bird"]);
  assertEquals(parseCifarMeta(meta, "m"), ["airplane", "automobile", "bird"]);
  // more than 1000 labels: several APPENDS batches, BININT2 counts
  const many = Array.from({ length: 2100 }, (_, i) => i % 100);
  const big = parseCifarPickle(
    encodeCifarPickle(new Uint8Array(2100 * 3072), many, "fine_labels"),
    "big",
    100,
  );
  assertEquals(Array.from(big.labels), many);
});

Deno.test("pickle: anything but the CIFAR contents is a clear DatasetError", () => {
  // protocol 2 `os.system("…")`: a global outside the allowed numpy names
  const evil = new Uint8Array([0x80, 2, 0x63, ...new TextEncoder().encode("os\nsystem\n"), 0x2e]);
  assertThrows(() => unpickle(evil, "/x/evil"), DatasetError, "/x/evil", "global os.system");
  assertThrows(() => unpickle(new Uint8Array([0x80, 2, 0xff]), "f"), DatasetError, "opcode 0xff");
  const good = encodeCifarPickle(knownChw(1), [1]);
  assertThrows(() => unpickle(good.subarray(0, 200), "f"), DatasetError, "unexpected end of data");
  assertThrows(
    () => parseCifarPickle(encodeCifarMeta(["a"]), "m", 10),
    DatasetError,
    "no numpy array",
  );
  assertThrows(
    () => parseCifarPickle(encodeCifarPickle(knownChw(2), [3, 10]), "/c/data_batch_1", 10),
    DatasetError,
    "/c/data_batch_1",
    "label 10 at index 1 is out of range [0, 10)",
  );
});

Deno.test("cifar binary: records of CIFAR-10 and CIFAR-100, wrong lengths, bad labels", () => {
  const chw = knownChw(2);
  const ten = parseCifarBinary(encodeCifarBinary(chw, [4, 2], 1), "b", 1, 10);
  assertEquals(Array.from(ten.labels), [4, 2]);
  assertEquals(hwcAt(ten.images, 1, 2, 3, 2), (1 + 10 + 6 + 3) % 256);
  const hundred = parseCifarBinary(encodeCifarBinary(chw, [99, 42], 2), "b", 2, 100);
  assertEquals(Array.from(hundred.labels), [99, 42]); // the fine label, not the coarse one
  assertEquals(Array.from(hundred.images), Array.from(ten.images));
  assertThrows(
    () =>
      parseCifarBinary(encodeCifarBinary(chw, [4, 2], 1).subarray(1), "/c/test_batch.bin", 1, 10),
    DatasetError,
    "/c/test_batch.bin",
    "wrong length: 6145 bytes is not a whole number of 3073-byte CIFAR records",
  );
  assertThrows(
    () => parseCifarBinary(encodeCifarBinary(chw, [4, 12], 1), "b", 1, 10),
    DatasetError,
    "label 12 at index 1",
  );
});

Deno.test("cifar10/cifar100: python and binary layouts in dataDir", async () => {
  const root = await Deno.makeTempDir();
  try {
    const py = join(root, "cifar-10-batches-py");
    await Deno.mkdir(py);
    const names = [
      "airplane",
      "automobile",
      "bird",
      "cat",
      "deer",
      "dog",
      "frog",
      "horse",
      "ship",
      "truck",
    ];
    for (let b = 1; b <= 5; b++) {
      await Deno.writeFile(join(py, `data_batch_${b}`), encodeCifarPickle(knownChw(2), [b, b + 1]));
    }
    await Deno.writeFile(join(py, "test_batch"), encodeCifarPickle(knownChw(3), [0, 5, 9]));
    await Deno.writeFile(join(py, "batches.meta"), encodeCifarMeta(names));
    const c10 = await loadDataset("cifar10", { dataDir: root, download: false });
    assertEquals([c10.train.length, c10.test.length], [10, 3]);
    assertEquals(Array.from(c10.train.labels), [1, 2, 2, 3, 3, 4, 4, 5, 5, 6]);
    assertEquals([c10.train.sampleShape, c10.train.numClasses], [[32, 32, 3], 10]);
    assertEquals(c10.test.classNames, names);
    assertEquals(hwcAt(c10.train.images!, 3, 4, 5, 1), (1 + 5 + 12 + 5) % 256); // batch 2, image 1

    const bin = join(root, "cifar-100-binary");
    await Deno.mkdir(bin);
    await Deno.writeFile(join(bin, "train.bin"), encodeCifarBinary(knownChw(4), [0, 50, 99, 7], 2));
    await Deno.writeFile(join(bin, "test.bin"), encodeCifarBinary(knownChw(1), [42], 2));
    const fine = Array.from({ length: 100 }, (_, i) => `class_${i}`);
    await Deno.writeFile(
      join(bin, "fine_label_names.txt"),
      new TextEncoder().encode(fine.join("\n") + "\n"),
    );
    const c100 = await loadDataset("cifar100", { dataDir: root, download: false });
    assertEquals(Array.from(c100.train.labels), [0, 50, 99, 7]);
    assertEquals([c100.test.length, c100.test.numClasses, c100.test.classNames![99]], [
      1,
      100,
      "class_99",
    ]);
    assertEquals(Array.from(c100.train.images!), Array.from(chwToHwc(knownChw(4), 4)));

    // cifar-100-python takes precedence over the binary layout
    const py100 = join(root, "cifar-100-python");
    await Deno.mkdir(py100);
    await Deno.writeFile(
      join(py100, "train"),
      encodeCifarPickle(knownChw(2), [3, 98], "fine_labels"),
    );
    await Deno.writeFile(join(py100, "test"), encodeCifarPickle(knownChw(1), [11], "fine_labels"));
    await Deno.writeFile(join(py100, "meta"), encodeCifarMeta(fine, "fine_label_names"));
    const c100py = await loadDataset("cifar100", { dataDir: root, download: false });
    assertEquals(Array.from(c100py.train.labels), [3, 98]);
    assertEquals(c100py.train.classNames![3], "class_3");

    // a corrupt batch names its file
    await Deno.writeFile(join(py, "data_batch_3"), new Uint8Array([0x80, 2, 0x7d, 0x2e]));
    try {
      await loadDataset("cifar10", { dataDir: root, download: false });
      throw new Error("expected a DatasetError");
    } catch (e) {
      assert(e instanceof DatasetError, String(e));
      assertEquals(e.path, join(py, "data_batch_3"));
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("tar: reads, extracts atomically, rejects unsafe paths and truncation", async () => {
  const files = {
    "top/a.bin": Uint8Array.from({ length: 1000 }, (_, i) => i % 251),
    "top/sub/b.txt": new TextEncoder().encode("hello"),
    "top/empty": new Uint8Array(0),
  };
  const tar = encodeTar(files);
  const seen: string[] = [];
  await readTar(new Blob([tar as Uint8Array<ArrayBuffer>]).stream(), "t.tar", (e) => {
    seen.push(`${e.type}:${e.path}:${e.size}`);
    return false;
  });
  assertEquals(seen, [
    "directory:top:0",
    "file:top/a.bin:1000",
    "directory:top/sub:0",
    "file:top/sub/b.txt:5",
    "file:top/empty:0",
  ]);
  const root = await Deno.makeTempDir();
  try {
    const archive = join(root, "x.tar.gz");
    await Deno.writeFile(archive, await gzip(tar));
    const out = join(root, "out");
    const extracted = await extractTarGz(archive, out);
    assertEquals(extracted.sort(), Object.keys(files).sort());
    assertEquals(
      Array.from(await Deno.readFile(join(out, "top/a.bin"))),
      Array.from(files["top/a.bin"]),
    );
    assertEquals(await Deno.readTextFile(join(out, "top/sub/b.txt")), "hello");
    assertEquals([...Deno.readDirSync(out)].map((e) => e.name), ["top"]); // no temp dir left

    const gz = await gzip(tar);
    await Deno.writeFile(archive, gz.subarray(0, Math.floor(gz.length / 2)));
    const out2 = join(root, "out2");
    try {
      await extractTarGz(archive, out2);
      throw new Error("expected a DatasetError");
    } catch (e) {
      assert(e instanceof DatasetError, String(e));
      assertEquals(e.path, archive);
    }
    assertEquals([...Deno.readDirSync(out2)].length, 0); // nothing partial

    await Deno.writeFile(archive, encodeTar({ "../evil": new Uint8Array(1) }));
    try {
      await extractTarGz(archive, out2);
      throw new Error("expected a DatasetError");
    } catch (e) {
      assert(e instanceof DatasetError && e.message.includes("unsafe path"), String(e));
    }
    assertEquals([...Deno.readDirSync(out2)].length, 0);
    assert(!(await Deno.stat(join(root, "evil")).catch(() => null)));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
