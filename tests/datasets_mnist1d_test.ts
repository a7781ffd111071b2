/**
 * MNIST-1D (data/mnist1d.ts): pickles written by Python's own `pickle` with numpy arrays (as the
 * mnist1d package saves them; protocols 2 and 4, float64 x and int64 y, plus the package's other
 * keys) parse to the same numbers; a file with the wrong contents is an error naming it; the
 * missing file says where to put it; and the MLP trains on it. Ignored without python3-numpy.
 */
import { trainScript } from "./support/train_script.ts";
import { assert, assertEquals, assertThrows } from "./assert.ts";
import { join } from "node:path";
import { DatasetError } from "../data/dataset.ts";
import { loadDataset } from "../data/load.ts";
import { mnist1dPath, parseMnist1d } from "../data/mnist1d.ts";

const PYTHON = "/usr/bin/python3";
const hasNumpy = await new Deno.Command(PYTHON, { args: ["-c", "import numpy"] }).output()
  .then((o) => o.success, () => false);
if (!hasNumpy) console.warn("datasets_mnist1d_test: no numpy for /usr/bin/python3; ignored");

/** Writes an MNIST-1D-shaped pickle with Python (N train, M test, d = 40), protocol `p`. */
async function writePickle(path: string, n: number, m: number, protocol: number): Promise<void> {
  const code = `
import pickle, sys, numpy as np
rng = np.random.default_rng(3)
n, m = ${n}, ${m}
data = {"x": rng.normal(size=(n, 40)), "y": np.arange(n) % 10,
        "x_test": rng.normal(size=(m, 40)).astype(np.float64), "y_test": (np.arange(m) * 3) % 10,
        "t": np.linspace(0, 1, 40), "templates": {"x": np.zeros((10, 12)), "y": np.arange(10)}}
with open(sys.argv[1], "wb") as f:
    pickle.dump(data, f, protocol=${protocol})
`;
  const out = await new Deno.Command(PYTHON, { args: ["-c", code, path], stderr: "piped" })
    .output();
  assert(out.success, new TextDecoder().decode(out.stderr));
}

Deno.test({
  name: "mnist1d: Python's pickles (protocols 2 and 4) parse to numpy's numbers",
  ignore: !hasNumpy,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "nc-mnist1d-" });
    try {
      for (const protocol of [2, 4]) {
        const path = join(dir, `p${protocol}.pkl`);
        await writePickle(path, 50, 20, protocol);
        const { train, test } = parseMnist1d(await Deno.readFile(path), path);
        assertEquals([train.length, test.length, train.sampleShape, train.numClasses], [50, 20, [
          40,
        ], 10]);
        assertEquals([...train.labels.subarray(0, 12)], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]);
        assertEquals([...test.labels.subarray(0, 4)], [0, 3, 6, 9]);
        // numpy's own values, printed as float32 by numpy, against ours.
        const check = await new Deno.Command(PYTHON, {
          args: [
            "-c",
            `import pickle, sys, json, numpy as np; d = pickle.load(open(sys.argv[1], "rb")); print(json.dumps([float(np.float32(v)) for v in d["x"][7, :5]] + [float(np.float32(d["x_test"][19, 39]))]))`,
            path,
          ],
          stdout: "piped",
        }).output();
        const expected = JSON.parse(new TextDecoder().decode(check.stdout)) as number[];
        assertEquals([
          ...train.features!.subarray(7 * 40, 7 * 40 + 5),
          test.features![19 * 40 + 39],
        ], expected);
      }
      assertThrows(
        () => parseMnist1d(new Uint8Array([0x80, 2, 0x5d, 0x2e]), "list.pkl"),
        DatasetError,
        "list.pkl",
        "not a pickled dict",
      );
      // x with 39 features, x_test with 40: refused naming the file, not at evaluation.
      const odd = join(dir, "odd.pkl");
      const code = `import pickle, sys, numpy as np
pickle.dump({"x": np.zeros((4, 39)), "y": np.arange(4), "x_test": np.zeros((2, 40)), "y_test": np.arange(2)}, open(sys.argv[1], "wb"))`;
      const w = await new Deno.Command(PYTHON, { args: ["-c", code, odd] }).output();
      assert(w.success);
      assertThrows(
        () => parseMnist1d(Deno.readFileSync(odd), odd),
        DatasetError,
        odd,
        '"x" has 39 features per sample but "x_test" has 40',
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "mnist1d: loaded from synthetic/MNIST1D/; a missing file says where; the MLP trains on it",
  ignore: !hasNumpy,
  fn: async () => {
    const root = await Deno.makeTempDir({ prefix: "nc-mnist1d-" });
    try {
      const dataDir = join(root, "data");
      try {
        await loadDataset("mnist1d", { dataDir });
        throw new Error("expected a DatasetError");
      } catch (e) {
        assert(
          e instanceof DatasetError && e.message.includes("synthetic/MNIST1D/mnist1d_data.pkl"),
          String(e),
        );
        assert(e.message.includes("github.com/greydanus/mnist1d"), e.message);
      }
      await Deno.mkdir(join(dataDir, "synthetic", "MNIST1D"), { recursive: true });
      await writePickle(mnist1dPath(dataDir), 100, 30, 4);
      const data = await loadDataset("mnist1d", { dataDir });
      assertEquals(data.train.features!.length, 100 * 40);
      const out = await trainScript("implicit", [
        "--model",
        "mlp",
        "--width",
        "16",
        "--depth",
        "2",
        "--dataset",
        "mnist1d",
        "--data_dir",
        dataDir,
        "--batch_size",
        "20",
        "--epochs",
        "1",
        "--backend",
        "wasm",
        "--storage",
        join(root, "runs"),
        "--uid",
        "m1d",
      ]);
      assertEquals(out.code, 0, out.stderr);
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});
