/**
 * The in-memory dataset type shared by the loaders (data/), the input pipeline (transforms,
 * batching) and the training tasks.
 *
 * @module
 */
import { InputError } from "../core/errors.ts";

/**
 * One split of a dataset, held in memory as raw samples.
 *
 * - Image datasets: `images` is uint8, N×H×W×C row-major (C = 1 for MNIST/FashionMNIST as stored,
 *   3 for CIFAR and folders), `sampleShape` = [H, W, C]; the pipeline converts and normalises.
 * - `synthetic` (for the UFM): `features` is float32 N×d, `sampleShape` = [d].
 * - File-backed (`imagenet`): `files` lists each sample's image file, decoded only when a batch
 *   needs it, so memory does not grow with N.
 *
 * @example
 * ```ts
 * import { loadDataset } from "./load.ts";
 * const dataDir = "/home/me/data";
 * const { train } = await loadDataset("mnist", { dataDir });
 * console.log(train.length, train.sampleShape, train.numClasses); // 60000 [28, 28, 1] 10
 * ```
 */
export type DatasetSplit = {
  /** Dataset name as the `--dataset` flag spells it. */
  name: string;
  /** "train" or "test". */
  split: "train" | "test";
  /** Number of samples N. */
  length: number;
  /** One sample's shape. */
  sampleShape: number[];
  /** uint8 images (N×H×W×C), or null for feature datasets and file-backed splits. */
  images: Uint8Array | null;
  /**
   * A file-backed split (ImageNet, which does not fit in memory): one PNG/JPEG path per sample,
   * read and decoded batch by batch by the transform; `images` and `features` are null and
   * `sampleShape` is the transform's output [H, W, 3].
   */
  files?: readonly string[];
  /** float32 features (N×d), or null for image datasets. */
  features: Float32Array | null;
  /** Labels in [0, numClasses). */
  labels: Int32Array;
  /** Number of classes K. */
  numClasses: number;
  /** Class names (folder names, CIFAR label names), when known. */
  classNames?: string[];
};

/**
 * Both splits.
 *
 * @example
 * ```ts
 * import { syntheticDataset } from "./synthetic.ts";
 * const { train, test } = syntheticDataset({ datasetSize: 100, featureDim: 8, numClasses: 4 });
 * const data: Dataset = { train, test };
 * ```
 */
export type Dataset = { train: DatasetSplit; test: DatasetSplit };

/**
 * A dataset file that is missing, corrupt or of the wrong kind: `path` names it and the
 * message says what is wrong and, for missing files, which files and URLs to fetch by hand.
 *
 * @example
 * ```ts
 * throw new DatasetError("/data/MNIST/raw/train-images-idx3-ubyte", "bad magic number 0x00000802, expected 0x00000803");
 * ```
 */
export class DatasetError extends InputError {
  /** The file (or directory) at fault. */
  readonly path: string;
  /** The message is prefixed with the path. */
  constructor(path: string, message: string, options?: ErrorOptions) {
    super(`${path}: ${message}`, options);
    this.path = path;
  }
}
