/**
 * The datasets API: loaders for the paper's datasets (torchvision's files, downloads with their
 * checksums, offline MNIST), synthetic features for the UFM, class-per-folder images, and the
 * input pipeline (the paper's transforms on whole batches, seeded epoch plans).
 *
 * @example
 * ```ts
 * import { BatchTransform, batches, loadDataset } from "./mod.ts";
 * const { train } = await loadDataset("mnist", { dataDir: "~/data" });
 * const transform = new BatchTransform(train, { train: true });
 * const options = { batchSize: 256, seed: 1, epoch: 0, transform };
 * for (const { x, shape, labels } of batches(train, options)) {
 *   // … tf.tensor(x, shape) …
 * }
 * ```
 *
 * @module
 */
export { type Dataset, DatasetError, type DatasetSplit } from "./dataset.ts";
export {
  DATASET_NAMES,
  type DatasetName,
  expandHome,
  loadDataset,
  type LoadOptions,
} from "./load.ts";
export {
  type Batch,
  batches,
  epochPlan,
  forwardBatches,
  type PipelineOptions,
} from "./pipeline.ts";
export { type EpochOptions, type EpochPlan, planEpoch } from "./batches.ts";
export {
  BatchTransform,
  channelStats,
  type DatasetKind,
  datasetKind,
  NORMALISATION,
  type Normalisation,
  type Recipe,
  recipeFor,
  type TransformOptions,
} from "./transforms.ts";
export { syntheticDataset, type SyntheticOptions } from "./synthetic.ts";
export { type FolderListing, type FolderOptions, listFolder, loadFolder } from "./folder.ts";
export { loadImagenet } from "./imagenet.ts";
export { decodeImage, MAX_IMAGE_PIXELS, type RgbImage } from "./image_decode.ts";
export { type TurboJpeg, turboJpeg, useTurboJpeg } from "./turbojpeg.ts";
export { DownloadError, type DownloadOptions, type LogFn } from "./download.ts";
export type { DatasetSource, SourceFile } from "./sources.ts";
