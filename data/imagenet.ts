/**
 * The `imagenet` dataset (ILSVRC-2012 in torchvision's `ImageFolder` layout):
 * `<dataDir>/imagenet/train/<wnid>/*.JPEG` and `<dataDir>/imagenet/val/<wnid>/*.JPEG`, class
 * names the folder names sorted (label k is the k-th). It is not downloaded (ImageNet's licence
 * requires registration).
 *
 * 1.28 M images do not fit in memory, so the splits are file-backed: loading lists the files
 * (about 100 bytes of path per image), checking that each starts as a PNG or JPEG does, and the
 * transform reads and decodes each image when its batch is made (`DatasetSplit.files`), so
 * memory does not grow with the number of images; a file that is cut short or corrupt inside is
 * found when its batch is made (the run stops, naming it, and resumes from its last checkpoint).
 * The paper's transforms (data/transforms.ts): `Resize(256)`, flip and `RandomCrop(224,
 * padding=4)` for training; `Resize(256)` and `CenterCrop(224)` for evaluation.
 *
 * @module
 */
import { join } from "node:path";
import { DatasetError, type DatasetSplit } from "./dataset.ts";
import type { LogFn } from "./download.ts";
import { listFolder } from "./folder.ts";
import { checkImageSignatures } from "./image_decode.ts";
import { recipeFor } from "./transforms.ts";

/**
 * Lists ImageNet's training and validation folders under `dataDir` as file-backed splits.
 * Throws {@link DatasetError} naming the folder when `imagenet/train` or `imagenet/val` is
 * missing, empty, or `val` has a class that `train` lacks (the val images must be sorted into
 * class folders, as torchvision's `ImageNet` or the usual `valprep.sh` does).
 *
 * @example
 * ```ts
 * const { train, test } = await loadImagenet({ dataDir: "/data", log: console.error });
 * console.log(train.length, train.numClasses, train.files![0]); // 1281167 1000 …/n01440764/…
 * ```
 */
export async function loadImagenet(
  options: { dataDir: string; log?: LogFn },
): Promise<{ train: DatasetSplit; test: DatasetSplit }> {
  const root = join(options.dataDir, "imagenet");
  const log = options.log ?? (() => {});
  let listing;
  try {
    listing = await listFolder({ root, testDir: "val" });
  } catch (e) {
    if (!(e instanceof DatasetError)) throw e;
    throw new DatasetError(
      e.path,
      `${e.message.slice(e.path.length + 2)}; imagenet expects imagenet/train/<wnid>/… and ` +
        "imagenet/val/<wnid>/… (the val images sorted into one folder per class, by the " +
        "devkit's ground truth, as torchvision's ImageNet dataset or the usual valprep.sh does); " +
        "it is not downloaded",
    );
  }
  if (!listing.hasSplits) {
    throw new DatasetError(
      root,
      "imagenet expects train/ and val/ subfolders (class folders of JPEGs in each); it is not " +
        "downloaded",
    );
  }
  // Every file's signature now — 25–55 µs a file measured here (warm cache), so about 30–70 s
  // for ImageNet's 1.33 M files — so that a stray file is found at load, not mid-run.
  await checkImageSignatures([...listing.train, ...listing.test].map(([path]) => path), log);
  const side = recipeFor("imagenet", false).cropSize!;
  const split = (which: "train" | "test", files: [string, number][]): DatasetSplit => ({
    name: "imagenet",
    split: which,
    length: files.length,
    sampleShape: [side, side, 3],
    images: null,
    features: null,
    files: files.map(([path]) => path),
    labels: Int32Array.from(files, ([, k]) => k),
    numClasses: listing.classNames.length,
    classNames: listing.classNames,
  });
  const train = split("train", listing.train), test = split("test", listing.test);
  log(
    `imagenet ${root}: ${listing.classNames.length} classes, ${train.length} train and ` +
      `${test.length} val images (decoded batch by batch)`,
  );
  return { train, test };
}
