/**
 * EMNIST, the balanced split (47 classes: digits, upper-case letters and the lower-case letters
 * that differ from their capitals), as torchvision stores it: gzipped (or plain) IDX files
 * `<dataDir>/EMNIST/raw/emnist-balanced-{train,test}-{images-idx3,labels-idx1}-ubyte[.gz]`. The
 * images are stored transposed (column by column) and are read upright. When missing, NIST's
 * `gzip.zip` is downloaded into `EMNIST/raw/` (torchvision's URL and MD5; an archive already there
 * is used only with that MD5) and the four balanced files are taken from it (data/zip.ts).
 *
 * @module
 */
import { join } from "node:path";
import { ensurePublished } from "./archive.ts";
import { DatasetError, type DatasetSplit } from "./dataset.ts";
import type { Dataset } from "./dataset.ts";
import { DownloadError, type DownloadOptions, type LogFn, writeFileAtomic } from "./download.ts";
import { exists } from "./fs.ts";
import { findIdxFile, parseIdxPair, readMaybeGzip } from "./idx.ts";
import { type DatasetSource, EMNIST_SOURCE, sourceUrls } from "./sources.ts";
import { zipEntries, zipEntryData } from "./zip.ts";

const FILES = [
  "emnist-balanced-train-images-idx3-ubyte",
  "emnist-balanced-train-labels-idx1-ubyte",
  "emnist-balanced-test-images-idx3-ubyte",
  "emnist-balanced-test-labels-idx1-ubyte",
];

/**
 * The balanced split's 47 class names, in label order (torchvision's `EMNIST.classes_split_dict`).
 *
 * @example
 * ```ts
 * EMNIST_BALANCED_CLASSES[36]; // "a"
 * ```
 */
export const EMNIST_BALANCED_CLASSES = [
  ..."0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ".split(""),
  ..."abdefghnqrt".split(""),
];

/**
 * Transposes each of `n` square `side`×`side` images (EMNIST stores them column by column).
 *
 * @example
 * ```ts
 * transposeImages(new Uint8Array([1, 2, 3, 4]), 1, 2); // [1, 3, 2, 4]
 * ```
 */
export function transposeImages(images: Uint8Array, n: number, side: number): Uint8Array {
  const out = new Uint8Array(images.length), area = side * side;
  for (let k = 0; k < n; k++) {
    for (let r = 0; r < side; r++) {
      for (let c = 0; c < side; c++) out[k * area + r * side + c] = images[k * area + c * side + r];
    }
  }
  return out;
}

/**
 * Options of {@link loadEmnist} (resolved by `loadDataset`).
 *
 * @example
 * ```ts
 * const o: EmnistOptions = { dataDir: "/home/me/data", download: false, log: () => {} };
 * ```
 */
export type EmnistOptions = {
  dataDir: string;
  download: boolean;
  log: LogFn;
  source?: DatasetSource;
  downloadOptions?: DownloadOptions;
};

/**
 * Loads EMNIST balanced (112,800 train, 18,800 test images, 28×28, 47 classes).
 *
 * @example
 * ```ts
 * const { train } = await loadEmnist({ dataDir: "/home/me/data", download: true, log: console.log });
 * ```
 */
export async function loadEmnist(options: EmnistOptions): Promise<Dataset> {
  const raw = join(options.dataDir, "EMNIST", "raw");
  const source = options.source ?? EMNIST_SOURCE;
  let paths = await Promise.all(FILES.map((f) => findIdxFile(raw, f)));
  if (paths.some((p) => p === null)) {
    const file = source.files[0];
    const zip = join(raw, file.name);
    const byHand = `Expected ${FILES.map((f) => `${f}[.gz]`).join(", ")} in ${raw}, or NIST's ` +
      `${file.name} there to take them from: to fetch it by hand, download ${
        sourceUrls(source, file.name)[0]
      } (MD5 ${file.md5}) into ${raw}.`;
    if (!options.download && !(await exists(zip))) {
      throw new DatasetError(
        raw,
        `emnist files missing. Downloads are disabled. ${byHand}`,
      );
    }
    try {
      await ensurePublished(source, file, raw, options);
    } catch (e) {
      if (!(e instanceof DownloadError)) throw e;
      throw new DatasetError(raw, `emnist files missing. Download failed: ${e.message}. ${byHand}`);
    }
    options.log(`Extracting the balanced split from ${zip}`);
    const bytes = await Deno.readFile(zip);
    const entries = zipEntries(bytes, zip);
    for (const name of FILES) {
      const entry = entries.find((e) => e.name.endsWith(`/${name}.gz`) || e.name === `${name}.gz`);
      if (entry === undefined) throw new DatasetError(zip, `holds no ${name}.gz`);
      await writeFileAtomic(join(raw, `${name}.gz`), await zipEntryData(bytes, entry, zip));
    }
    paths = await Promise.all(FILES.map((f) => findIdxFile(raw, f)));
  }
  const read = async (i: number) => ({ path: paths[i]!, bytes: await readMaybeGzip(paths[i]!) });
  const [ti, tl, vi, vl] = await Promise.all([0, 1, 2, 3].map(read));
  const split = (
    images: { path: string; bytes: Uint8Array },
    labels: { path: string; bytes: Uint8Array },
    s: "train" | "test",
  ): DatasetSplit => {
    const part = parseIdxPair(images.bytes, images.path, labels.bytes, labels.path, 47);
    if (part.rows !== part.cols) {
      throw new DatasetError(images.path, `images are ${part.rows}×${part.cols}, expected square`);
    }
    return {
      name: "emnist",
      split: s,
      length: part.labels.length,
      sampleShape: [part.rows, part.cols, 1],
      images: transposeImages(part.images, part.labels.length, part.rows),
      features: null,
      labels: part.labels,
      numClasses: 47,
      classNames: EMNIST_BALANCED_CLASSES,
    };
  };
  return { train: split(ti, tl, "train"), test: split(vi, vl, "test") };
}
