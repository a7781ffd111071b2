/**
 * SVHN (cropped digits), as torchvision stores it: `<dataDir>/train_32x32.mat` and
 * `test_32x32.mat`, MATLAB 5 files (data/mat.ts) with `X` (32 × 32 × 3 × N uint8, column-major)
 * and `y` (N × 1, labels 1–10, where 10 means the digit 0). Downloaded from torchvision's source
 * with its MD5s when missing.
 *
 * @module
 */
import { join } from "node:path";
import { ensurePublished } from "./archive.ts";
import { DatasetError, type DatasetSplit } from "./dataset.ts";
import type { Dataset } from "./dataset.ts";
import { DownloadError, type DownloadOptions, type LogFn } from "./download.ts";
import { exists } from "./fs.ts";
import { matNumbers, readMat } from "./mat.ts";
import { type DatasetSource, sourceUrls, SVHN_SOURCE } from "./sources.ts";

/**
 * One SVHN split from a MAT-file's variables: HWC images from `X` (32×32×3×N, column-major) and
 * labels from `y` (1–10, 10 → 0). Throws {@link DatasetError} naming `path` for anything else.
 *
 * @example
 * ```ts
 * const path = "/home/me/data/test_32x32.mat";
 * const { images, labels } = await parseSvhn(await Deno.readFile(path), path);
 * ```
 */
export async function parseSvhn(
  bytes: Uint8Array,
  path: string,
): Promise<{ images: Uint8Array; labels: Int32Array }> {
  const vars = await readMat(bytes, path);
  const X = vars.get("X"), y = vars.get("y");
  if (X === undefined || y === undefined) {
    throw new DatasetError(
      path,
      `needs variables X and y, found ${[...vars.keys()].join(", ") || "none"}`,
    );
  }
  const [h, w, c, n] = X.dims;
  if (X.dims.length !== 4 || h !== 32 || w !== 32 || c !== 3 || !(X.data instanceof Uint8Array)) {
    throw new DatasetError(
      path,
      `X must be 32×32×3×N uint8, got ${X.className} ${X.dims.join("×")}`,
    );
  }
  const labelsIn = matNumbers(y);
  if (labelsIn.length !== n) {
    throw new DatasetError(path, `y holds ${labelsIn.length} labels but X holds ${n} images`);
  }
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const v = labelsIn[i];
    if (!Number.isInteger(v) || v < 1 || v > 10) {
      throw new DatasetError(path, `y(${i + 1}) = ${v}, expected a label 1–10 (10 is the digit 0)`);
    }
    labels[i] = v === 10 ? 0 : v;
  }
  const x = X.data, images = new Uint8Array(n * 32 * 32 * 3);
  for (let k = 0; k < n; k++) {
    for (let ch = 0; ch < 3; ch++) {
      for (let col = 0; col < 32; col++) {
        for (let row = 0; row < 32; row++) {
          images[((k * 32 + row) * 32 + col) * 3 + ch] = x[row + 32 * (col + 32 * (ch + 3 * k))];
        }
      }
    }
  }
  return { images, labels };
}

/**
 * Options of {@link loadSvhn} (resolved by `loadDataset`).
 *
 * @example
 * ```ts
 * const o: SvhnOptions = { dataDir: "/home/me/data", download: false, log: () => {} };
 * ```
 */
export type SvhnOptions = {
  dataDir: string;
  download: boolean;
  log: LogFn;
  source?: DatasetSource;
  downloadOptions?: DownloadOptions;
};

/**
 * Loads SVHN's train (73,257) and test (26,032) splits, downloading the MAT-files (MD5-checked)
 * when missing and downloads are enabled; a file already there is read only when its MD5 is the
 * published one.
 *
 * @example
 * ```ts
 * const { train, test } = await loadSvhn({ dataDir: "/home/me/data", download: true, log: console.log });
 * ```
 */
export async function loadSvhn(options: SvhnOptions): Promise<Dataset> {
  const source = options.source ?? SVHN_SOURCE;
  const split = async (s: "train" | "test"): Promise<DatasetSplit> => {
    const file = source.files.find((f) => f.name === `${s}_32x32.mat`);
    if (file === undefined) throw new DatasetError(options.dataDir, `no source for ${s}_32x32.mat`);
    const path = join(options.dataDir, file.name);
    const byHand = `To fetch it by hand, download ${
      source.files.map((f) => `${sourceUrls(source, f.name)[0]} (MD5 ${f.md5})`).join(" and ")
    } into ${options.dataDir}.`;
    if (!options.download && !(await exists(path))) {
      throw new DatasetError(path, `svhn not found. Downloads are disabled. ${byHand}`);
    }
    try {
      await ensurePublished(source, file, options.dataDir, options);
    } catch (e) {
      if (!(e instanceof DownloadError)) throw e;
      throw new DatasetError(path, `svhn not found. Download failed: ${e.message}. ${byHand}`);
    }
    const { images, labels } = await parseSvhn(await Deno.readFile(path), path);
    return {
      name: "svhn",
      split: s,
      length: labels.length,
      sampleShape: [32, 32, 3],
      images,
      features: null,
      labels,
      numClasses: 10,
      classNames: ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"],
    };
  };
  return { train: await split("train"), test: await split("test") };
}
