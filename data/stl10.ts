/**
 * STL10, the labelled splits, from torchvision's binary layout `<dataDir>/stl10_binary/`:
 * `train_X.bin` (5,000 images) and `test_X.bin` (8,000), each image 3 × 96 × 96 uint8 stored
 * channel by channel in column-major order (MATLAB's), `train_y.bin` / `test_y.bin` one label byte
 * per image, 1–10 (read as 0–9), and `class_names.txt`. Downloaded as torchvision does
 * (`stl10_binary.tar.gz`, MD5-checked) when missing; the 100,000 unlabelled images in the archive
 * are not extracted.
 *
 * @module
 */
import { join } from "node:path";
import { fetchArchives } from "./archive.ts";
import { DatasetError, type DatasetSplit } from "./dataset.ts";
import { DownloadError, type DownloadOptions, type LogFn } from "./download.ts";
import { exists } from "./fs.ts";
import { type DatasetSource, sourceUrls, STL10_SOURCE } from "./sources.ts";
import type { Dataset } from "./dataset.ts";

/** STL10's image side. */
const SIDE = 96;
const IMAGE_BYTES = 3 * SIDE * SIDE;
/** The files read, in `stl10_binary/`. */
const FILES = ["train_X.bin", "train_y.bin", "test_X.bin", "test_y.bin"];

/**
 * One STL10 binary split: images (HWC, from the column-major channel planes) and labels (0–9, from
 * the stored 1–10). Throws {@link DatasetError} naming the file on a length that is not whole
 * images, a count mismatch or a label outside 1–10.
 *
 * @example
 * ```ts
 * const x = new Uint8Array(2 * 3 * 96 * 96), y = new Uint8Array([1, 10]);
 * const { images, labels } = parseStl10(x, "train_X.bin", y, "train_y.bin"); // labels [0, 9]
 * ```
 */
export function parseStl10(
  x: Uint8Array,
  xPath: string,
  y: Uint8Array,
  yPath: string,
): { images: Uint8Array; labels: Int32Array } {
  if (x.length === 0 || x.length % IMAGE_BYTES !== 0) {
    throw new DatasetError(
      xPath,
      `wrong length: ${x.length} bytes is not a whole number of 3×96×96 STL10 images`,
    );
  }
  const n = x.length / IMAGE_BYTES;
  if (y.length !== n) {
    throw new DatasetError(yPath, `holds ${y.length} labels but ${xPath} holds ${n} images`);
  }
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    if (y[i] < 1 || y[i] > 10) {
      throw new DatasetError(yPath, `label ${y[i]} at index ${i} is outside 1–10`);
    }
    labels[i] = y[i] - 1;
  }
  const images = new Uint8Array(n * IMAGE_BYTES);
  const plane = SIDE * SIDE;
  for (let i = 0; i < n; i++) {
    const src = i * IMAGE_BYTES, dst = i * IMAGE_BYTES;
    for (let c = 0; c < 3; c++) {
      for (let col = 0; col < SIDE; col++) {
        for (let row = 0; row < SIDE; row++) {
          images[dst + (row * SIDE + col) * 3 + c] = x[src + c * plane + col * SIDE + row];
        }
      }
    }
  }
  return { images, labels };
}

/**
 * Options of {@link loadStl10} (resolved by `loadDataset`).
 *
 * @example
 * ```ts
 * const o: Stl10Options = { dataDir: "/home/me/data", download: false, log: () => {} };
 * ```
 */
export type Stl10Options = {
  dataDir: string;
  download: boolean;
  log: LogFn;
  source?: DatasetSource;
  downloadOptions?: DownloadOptions;
};

/**
 * Loads STL10's labelled train (5,000) and test (8,000) splits from `dataDir`, downloading and
 * extracting the archive when they are missing and downloads are enabled.
 *
 * @example
 * ```ts
 * const { train, test } = await loadStl10({ dataDir: "/home/me/data", download: true, log: console.log });
 * ```
 */
export async function loadStl10(options: Stl10Options): Promise<Dataset> {
  const source = options.source ?? STL10_SOURCE;
  const dir = join(options.dataDir, "stl10_binary");
  const complete = async () => {
    for (const f of FILES) if (!(await exists(join(dir, f)))) return false;
    return true;
  };
  let failure = "";
  if (!(await complete()) && options.download) {
    try {
      // Only the labelled files and the class names; the unlabelled 2.7 GB are read past.
      await fetchArchives(source, options, (p) => !p.endsWith("unlabeled_X.bin"));
      if (!(await complete())) failure = " The archive did not contain stl10_binary/.";
    } catch (e) {
      if (!(e instanceof DatasetError)) throw e;
      failure = e instanceof DownloadError ? ` Download failed: ${e.message}.` : ` ${e.message}.`;
    }
  }
  if (!(await complete())) {
    const urls = source.files.map((f) => `${sourceUrls(source, f.name)[0]} (MD5 ${f.md5})`);
    throw new DatasetError(
      options.dataDir,
      `stl10 not found: expected ${FILES.map((f) => join(dir, f)).join(", ")}.${failure} ` +
        `${options.download ? "" : "Downloads are disabled. "}To fetch it by hand, download ` +
        `${urls.join(", ")} and extract it into ${options.dataDir}.`,
    );
  }
  const read = (f: string) => Deno.readFile(join(dir, f));
  const names = join(dir, "class_names.txt");
  const classNames = (await exists(names))
    ? new TextDecoder().decode(await Deno.readFile(names)).split(/\r?\n/).map((s) => s.trim())
      .filter((s) => s)
    : undefined;
  if (classNames !== undefined && classNames.length !== 10) {
    throw new DatasetError(names, `lists ${classNames.length} class names, expected 10`);
  }
  const split = async (s: "train" | "test"): Promise<DatasetSplit> => {
    const { images, labels } = parseStl10(
      await read(`${s}_X.bin`),
      join(dir, `${s}_X.bin`),
      await read(`${s}_y.bin`),
      join(dir, `${s}_y.bin`),
    );
    return {
      name: "stl10",
      split: s,
      length: labels.length,
      sampleShape: [SIDE, SIDE, 3],
      images,
      features: null,
      labels,
      numClasses: 10,
      ...(classNames ? { classNames } : {}),
    };
  };
  return { train: await split("train"), test: await split("test") };
}
