/**
 * SVHN and the MATLAB 5 reader (data/svhn.ts, data/mat.ts): MAT-files written by scipy
 * (`scipy.io.savemat`, compressed and not — an independent writer; ignored without scipy) and by
 * the tests' own encoder read back to the same arrays; X (32×32×3×N, column-major) becomes HWC
 * images on a pattern that tells rows, columns and channels apart, label 10 becomes the digit 0;
 * files the reader does not read (v7.3, big-endian, char, complex, lying sizes) are errors naming
 * the file and the variable; `loadDataset("svhn")` checks the MD5 of files already there; the
 * paper's transforms (rotation ±25°, normalisation (0.4377, 0.4438, 0.4728) / (0.1980, 0.2010,
 * 0.1970)); and the training task refuses files that are not the published ones.
 */
import { trainScript } from "./support/train_script.ts";
import { assert, assertEquals } from "./assert.ts";
import { join } from "node:path";
import { DatasetError } from "../data/dataset.ts";
import { md5Bytes } from "../data/download.ts";
import { encodeMat } from "../data/fixtures.ts";
import { loadDataset } from "../data/load.ts";
import { readMat } from "../data/mat.ts";
import { parseSvhn } from "../data/svhn.ts";
import { NORMALISATION, recipeFor } from "../data/transforms.ts";

const PYTHON = "/usr/bin/python3";
const hasScipy = await new Deno.Command(PYTHON, { args: ["-c", "import scipy.io, numpy"] }).output()
  .then((o) => o.success, () => false);
if (!hasScipy) {
  console.warn("datasets_svhn_test: no scipy for /usr/bin/python3; the scipy cases are ignored");
}

/** X[row, col, ch, k] (0-based) of the test pattern. */
const pixel = (row: number, col: number, ch: number, k: number) =>
  (row * 5 + col * 11 + ch * 67 + k * 29) & 0xff;

function svhnX(n: number): Uint8Array {
  const x = new Uint8Array(32 * 32 * 3 * n);
  for (let k = 0; k < n; k++) {
    for (let ch = 0; ch < 3; ch++) {
      for (let col = 0; col < 32; col++) {
        for (let row = 0; row < 32; row++) {
          x[row + 32 * (col + 32 * (ch + 3 * k))] = pixel(row, col, ch, k);
        }
      }
    }
  }
  return x;
}

function checkImages(images: Uint8Array, n: number): void {
  for (const [k, row, col, ch] of [[0, 0, 1, 0], [0, 1, 0, 0], [n - 1, 31, 2, 2], [1, 13, 27, 1]]) {
    assertEquals(
      images[((k * 32 + row) * 32 + col) * 3 + ch],
      pixel(row, col, ch, k),
      `${k},${row},${col},${ch}`,
    );
  }
}

Deno.test({
  name: "svhn: scipy's MAT-files (compressed and not) read back; X becomes HWC; 10 becomes 0",
  ignore: !hasScipy,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "nc-svhn-" });
    try {
      for (const compress of [true, false]) {
        const path = join(dir, `c${compress}.mat`);
        const code = `
import sys, numpy as np, scipy.io
n = 3
X = np.zeros((32, 32, 3, n), dtype=np.uint8)
for r in range(32):
  for c in range(32):
    for ch in range(3):
      for k in range(n):
        X[r, c, ch, k] = (r * 5 + c * 11 + ch * 67 + k * 29) & 255
y = np.array([[10.0], [1.0], [7.0]])
scipy.io.savemat(sys.argv[1], {"X": X, "y": y, "note": np.array([[1.5, 2.5]])}, do_compression=${
          compress ? "True" : "False"
        })
`;
        const out = await new Deno.Command(PYTHON, { args: ["-c", code, path], stderr: "piped" })
          .output();
        assert(out.success, new TextDecoder().decode(out.stderr));
        const vars = await readMat(await Deno.readFile(path), path);
        assertEquals(vars.get("X")!.dims, [32, 32, 3, 3]);
        assertEquals([vars.get("y")!.className, ...vars.get("y")!.dims], ["double", 3, 1]);
        assertEquals([...(vars.get("note")!.data as Float64Array)], [1.5, 2.5]);
        const { images, labels } = await parseSvhn(await Deno.readFile(path), path);
        assertEquals([...labels], [0, 1, 7]);
        checkImages(images, 3);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("mat: what the reader does not read is an error naming the file and the variable", async () => {
  const good = await encodeMat([{
    name: "X",
    className: "uint8",
    dims: [2, 2],
    data: new Uint8Array(4),
  }], false);
  const rejects = async (bytes: Uint8Array, ...parts: string[]) => {
    try {
      await readMat(bytes, "evil.mat");
    } catch (e) {
      assert(e instanceof DatasetError, String(e));
      for (const p of parts) assert(e.message.includes(p), `"${e.message}" lacks "${p}"`);
      assert(e.message.startsWith("evil.mat: "), e.message);
      return;
    }
    throw new Error(`not refused: ${parts}`);
  };
  const v73 = good.slice();
  v73.set(new TextEncoder().encode("MATLAB 7.3 MAT-file"));
  await rejects(v73, "v7.3 (HDF5)");
  const big = good.slice();
  big.set([0x4d, 0x49], 126);
  await rejects(big, "big-endian");
  await rejects(good.subarray(0, 100), "shorter than the 128-byte header");
  await rejects(good.subarray(0, good.length - 8), "runs past the end");
  // A char array (class 4) and a complex one (flag 0x0800).
  const char = good.slice(), flagsAt = 128 + 8 + 8; // the array flags' first word
  new DataView(char.buffer).setUint32(flagsAt, 4, true);
  await rejects(char, 'variable "X" is a char array');
  const complex = good.slice();
  new DataView(complex.buffer).setUint32(flagsAt, 9 | 0x0800, true);
  await rejects(complex, 'variable "X" is complex');
  // Dimensions that say more than the data holds (1000 × 1000 over 4 bytes): nothing allocated.
  const liar = good.slice();
  new DataView(liar.buffer).setInt32(flagsAt + 8 + 8, 1000, true);
  new DataView(liar.buffer).setInt32(flagsAt + 8 + 12, 1000, true);
  await rejects(liar, 'variable "X" of dimensions 1000×1000 needs 1000000 bytes of data, has 4');
  const vars = await readMat(
    await encodeMat([{
      name: "y",
      className: "double",
      dims: [1, 2],
      data: new Float64Array([3, 4]),
    }], true),
    "ok.mat",
  );
  assertEquals([...(vars.get("y")!.data as Float64Array)], [3, 4]);
});

Deno.test("svhn: transforms; files already there are read only with the published MD5 (the task refuses others)", async () => {
  assertEquals(recipeFor("svhn", true), {
    resize: null,
    shorterSide: null,
    cropSize: null,
    rotation: 25,
    flip: false,
    cropPadding: 0,
    flipFirst: false,
  });
  assertEquals(recipeFor("svhn", false).rotation, 0);
  assertEquals(NORMALISATION.svhn, {
    mean: [0.4377, 0.4438, 0.4728],
    std: [0.1980, 0.2010, 0.1970],
  });
  const root = await Deno.makeTempDir({ prefix: "nc-svhn-" });
  try {
    const dataDir = join(root, "data");
    await Deno.mkdir(dataDir);
    const mat = (n: number) =>
      encodeMat([
        { name: "X", className: "uint8", dims: [32, 32, 3, n], data: svhnX(n) },
        {
          name: "y",
          className: "double",
          dims: [n, 1],
          data: Float64Array.from({ length: n }, (_, i) => 1 + (i % 10)),
        },
      ], true);
    const train = await mat(20), test = await mat(10);
    await Deno.writeFile(join(dataDir, "train_32x32.mat"), train);
    await Deno.writeFile(join(dataDir, "test_32x32.mat"), test);
    const source = {
      mirrors: ["http://127.0.0.1:9/"],
      files: [{ name: "train_32x32.mat", md5: md5Bytes(train) }, {
        name: "test_32x32.mat",
        md5: md5Bytes(test),
      }],
    };
    try {
      await loadDataset("svhn", { dataDir: join(root, "empty"), download: false });
      throw new Error("expected a DatasetError");
    } catch (e) {
      assert(e instanceof DatasetError, String(e));
      for (const f of ["train_32x32.mat", "test_32x32.mat", "e26dedcc434d2e4c54c9b2d4a06d8373"]) {
        assert(e.message.includes(f), `names ${f}: ${e.message}`);
      }
    }
    const data = await loadDataset("svhn", { dataDir, sources: { svhn: source } });
    assertEquals([data.train.length, data.test.length, data.train.numClasses], [20, 10, 10]);
    assertEquals([...data.train.labels.subarray(8, 11)], [9, 0, 1]);
    checkImages(data.train.images!, 20);
    // The published MD5s (torchvision's) refuse these generated files: they are not SVHN.
    try {
      await loadDataset("svhn", { dataDir, download: false });
      throw new Error("expected a DatasetError");
    } catch (e) {
      assert(
        e instanceof DatasetError && e.message.includes("is not the published train_32x32.mat"),
        String(e),
      );
    }
    // The training task uses the published MD5s: generated files are refused, in one line.
    const out = await trainScript("fixed", [
      "--dataset",
      "svhn",
      "--data_dir",
      dataDir,
      "--resnet_width",
      "4",
      "--epochs",
      "1",
      "--backend",
      "wasm",
      "--storage",
      join(root, "runs"),
      "--uid",
      "svhn",
    ]);
    const err = out.stderr;
    assertEquals(out.code, 2, err);
    assert(err.includes("is not the published train_32x32.mat") && err.includes("delete it"), err);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
