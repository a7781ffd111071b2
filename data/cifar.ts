/**
 * CIFAR-10 and CIFAR-100 from the layouts users already have:
 *
 * - torchvision's python version: `cifar-10-batches-py/{data_batch_1..5, test_batch,
 *   batches.meta}`, `cifar-100-python/{train, test, meta}` (pickled dicts; read by
 *   {@link unpickle});
 * - the official binary version: `cifar-10-batches-bin/{data_batch_1..5, test_batch}.bin` with
 *   `batches.meta.txt` (records of 1 label byte + 3072 image bytes), `cifar-100-binary/{train,
 *   test}.bin` with `fine_label_names.txt` (records of coarse byte, fine byte, 3072 image bytes).
 *
 * Images are stored as three 32×32 planes (R, G, B); they are returned as HWC uint8. CIFAR-100
 * labels are the 100 fine labels. When neither layout is present the python tarball is
 * downloaded (see `sources.ts`) and extracted.
 *
 * @module
 */
import { join } from "node:path";
import { DatasetError, type DatasetSplit } from "./dataset.ts";
import { fetchArchives } from "./archive.ts";
import { DownloadError, type DownloadOptions, type LogFn } from "./download.ts";
import { type NdArray, pyString, type PyValue, unpickle } from "./pickle.ts";
import { CIFAR100_SOURCE, CIFAR10_SOURCE, type DatasetSource, sourceUrls } from "./sources.ts";
import { exists } from "./fs.ts";

/**
 * Bytes per CIFAR image (3 planes of 32×32).
 *
 * @example
 * ```ts
 * const data = new Uint8Array(2 * CIFAR_IMAGE_BYTES); // e.g. a batch's `data` array
 * const n = data.length / CIFAR_IMAGE_BYTES;
 * ```
 */
export const CIFAR_IMAGE_BYTES = 3072;

/**
 * Parsed CIFAR images and labels: `images` HWC uint8 (N×32×32×3).
 *
 * @example
 * ```ts
 * import { encodeCifarBinary } from "./fixtures.ts";
 * const path = "data_batch_1.bin";
 * const bytes = encodeCifarBinary(new Uint8Array(2 * 3072), [3, 5], 1); // two records
 * const { images, labels } = parseCifarBinary(bytes, path, 1, 10);
 * ```
 */
export type CifarPart = { images: Uint8Array; labels: Int32Array };

/**
 * Converts N images from CHW planes (3×32×32) to HWC (32×32×3).
 *
 * @example
 * ```ts
 * const chw = new Uint8Array(10000 * 3072); // one batch's planes
 * const hwc = chwToHwc(chw, 10000);
 * ```
 */
export function chwToHwc(chw: Uint8Array, n: number, h = 32, w = 32, c = 3): Uint8Array {
  const out = new Uint8Array(n * h * w * c);
  const plane = h * w, size = plane * c;
  for (let i = 0; i < n; i++) {
    const base = i * size;
    if (c === 3) {
      const r = chw.subarray(base, base + plane);
      const g = chw.subarray(base + plane, base + 2 * plane);
      const b = chw.subarray(base + 2 * plane, base + size);
      for (let p = 0, o = base; p < plane; p++, o += 3) {
        out[o] = r[p];
        out[o + 1] = g[p];
        out[o + 2] = b[p];
      }
      continue;
    }
    for (let ch = 0; ch < c; ch++) {
      const src = base + ch * plane;
      for (let p = 0; p < plane; p++) out[base + p * c + ch] = chw[src + p];
    }
  }
  return out;
}

function checkLabels(labels: ArrayLike<number>, numClasses: number, path: string): Int32Array {
  const out = new Int32Array(labels.length);
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i];
    if (!Number.isInteger(label) || label < 0 || label >= numClasses) {
      throw new DatasetError(
        path,
        `label ${label} at index ${i} is out of range [0, ${numClasses})`,
      );
    }
    out[i] = label;
  }
  return out;
}

/**
 * Parses a CIFAR binary batch: records of `labelBytes` label bytes (1 for CIFAR-10; 2 for
 * CIFAR-100, coarse then fine — the fine label is used) followed by 3072 image bytes (CHW).
 * Throws {@link DatasetError} naming `path` on a length that is not a whole number of records or
 * a label out of range.
 *
 * @example
 * ```ts
 * const p = "/home/me/data/cifar-10-batches-bin/data_batch_1.bin";
 * const part = parseCifarBinary(await Deno.readFile(p), p, 1, 10);
 * ```
 */
export function parseCifarBinary(
  bytes: Uint8Array,
  path: string,
  labelBytes: 1 | 2,
  numClasses: number,
): CifarPart {
  const record = labelBytes + CIFAR_IMAGE_BYTES;
  if (bytes.length === 0 || bytes.length % record !== 0) {
    throw new DatasetError(
      path,
      `wrong length: ${bytes.length} bytes is not a whole number of ${record}-byte CIFAR records`,
    );
  }
  const n = bytes.length / record;
  const chw = new Uint8Array(n * CIFAR_IMAGE_BYTES);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const at = i * record;
    labels[i] = bytes[at + labelBytes - 1];
    chw.set(bytes.subarray(at + labelBytes, at + record), i * CIFAR_IMAGE_BYTES);
  }
  return { images: chwToHwc(chw, n), labels: checkLabels(labels, numClasses, path) };
}

/**
 * Parses a CIFAR python batch (a pickled dict with a uint8 `data` array N×3072 and a `labels`
 * or `fine_labels` list). Throws {@link DatasetError} naming `path` for anything else.
 *
 * @example
 * ```ts
 * const p = "/home/me/data/cifar-10-batches-py/data_batch_1";
 * const part = parseCifarPickle(await Deno.readFile(p), p, 10);
 * ```
 */
export function parseCifarPickle(bytes: Uint8Array, path: string, numClasses: number): CifarPart {
  const entry = unpickle(bytes, path);
  if (!(entry instanceof Map)) throw new DatasetError(path, "not a pickled dict (CIFAR batch)");
  const data = entry.get("data") as NdArray | undefined;
  if (!data || typeof data !== "object" || (data as NdArray).kind !== "ndarray") {
    throw new DatasetError(path, "no numpy array 'data' in the CIFAR batch");
  }
  if (data.dtype !== "u1" && data.dtype !== "|u1") {
    throw new DatasetError(path, `'data' has dtype ${data.dtype}, expected uint8`);
  }
  const n = data.shape[0];
  if (data.shape.length !== 2 || data.shape[1] !== CIFAR_IMAGE_BYTES) {
    throw new DatasetError(path, `'data' has shape [${data.shape}], expected [N, 3072]`);
  }
  if (data.data.length !== n * CIFAR_IMAGE_BYTES) {
    throw new DatasetError(
      path,
      `wrong length: 'data' holds ${data.data.length} bytes, expected ${n * CIFAR_IMAGE_BYTES}`,
    );
  }
  const raw = entry.get("labels") ?? entry.get("fine_labels");
  if (!Array.isArray(raw)) throw new DatasetError(path, "no 'labels' or 'fine_labels' list");
  if (raw.length !== n) {
    throw new DatasetError(path, `holds ${n} images but ${raw.length} labels`);
  }
  return {
    images: chwToHwc(data.data, n),
    labels: checkLabels(raw.map((v) => (typeof v === "number" ? v : NaN)), numClasses, path),
  };
}

/**
 * Reads class names from a CIFAR python meta file (`label_names` or `fine_label_names`).
 *
 * @example
 * ```ts
 * const p = "/home/me/data/cifar-10-batches-py/batches.meta";
 * parseCifarMeta(await Deno.readFile(p), p); // ["airplane", "automobile", …]
 * ```
 */
export function parseCifarMeta(bytes: Uint8Array, path: string): string[] {
  const meta = unpickle(bytes, path);
  const names = meta instanceof Map
    ? (meta.get("fine_label_names") ?? meta.get("label_names"))
    : undefined;
  if (!Array.isArray(names)) {
    throw new DatasetError(path, "no 'label_names' or 'fine_label_names' list");
  }
  return (names as PyValue[]).map((v, i) => {
    if (typeof v === "string" || v instanceof Uint8Array) return pyString(v);
    throw new DatasetError(path, `label name ${i} is not a string`);
  });
}

function concat(parts: CifarPart[]): CifarPart {
  if (parts.length === 1) return parts[0];
  const n = parts.reduce((a, p) => a + p.labels.length, 0);
  const images = new Uint8Array(n * CIFAR_IMAGE_BYTES), labels = new Int32Array(n);
  let at = 0;
  for (const p of parts) {
    images.set(p.images, at * CIFAR_IMAGE_BYTES);
    labels.set(p.labels, at);
    at += p.labels.length;
  }
  return { images, labels };
}

/** The files of each CIFAR layout. */
const LAYOUTS = {
  cifar10: {
    python: {
      dir: "cifar-10-batches-py",
      train: [1, 2, 3, 4, 5].map((i) => `data_batch_${i}`),
      test: ["test_batch"],
      meta: "batches.meta",
    },
    binary: {
      dir: "cifar-10-batches-bin",
      train: [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`),
      test: ["test_batch.bin"],
      meta: "batches.meta.txt",
    },
    labelBytes: 1 as const,
    numClasses: 10,
    source: CIFAR10_SOURCE,
  },
  cifar100: {
    python: { dir: "cifar-100-python", train: ["train"], test: ["test"], meta: "meta" },
    binary: {
      dir: "cifar-100-binary",
      train: ["train.bin"],
      test: ["test.bin"],
      meta: "fine_label_names.txt",
    },
    labelBytes: 2 as const,
    numClasses: 100,
    source: CIFAR100_SOURCE,
  },
};

async function allExist(dir: string, files: string[]): Promise<boolean> {
  for (const f of files) if (!(await exists(join(dir, f)))) return false;
  return true;
}

/**
 * Options of {@link loadCifar} (already resolved by `loadDataset`).
 *
 * @example
 * ```ts
 * const o: CifarOptions = { dataDir: "/home/me/data", download: false, log: () => {} };
 * ```
 */
export type CifarOptions = {
  dataDir: string;
  download: boolean;
  log: LogFn;
  source?: DatasetSource;
  downloadOptions?: DownloadOptions;
};

/**
 * Loads CIFAR-10 or CIFAR-100 from `dataDir` (python layout first, then binary), downloading and
 * extracting the python tarball when neither is complete and downloads are enabled.
 *
 * @example
 * ```ts
 * const dataDir = "/home/me/data";
 * const { train, test } = await loadCifar("cifar10", { dataDir, download: true, log: console.log });
 * ```
 */
export async function loadCifar(
  name: "cifar10" | "cifar100",
  options: CifarOptions,
): Promise<{ train: DatasetSplit; test: DatasetSplit }> {
  const layout = LAYOUTS[name];
  const source = options.source ?? layout.source;
  const py = join(options.dataDir, layout.python.dir);
  const bin = join(options.dataDir, layout.binary.dir);
  const pyFiles = [...layout.python.train, ...layout.python.test];
  const binFiles = [...layout.binary.train, ...layout.binary.test];
  let kind: "python" | "binary" | null = (await allExist(py, pyFiles))
    ? "python"
    : (await allExist(bin, binFiles))
    ? "binary"
    : null;
  let downloadFailure = "";
  if (kind === null && options.download) {
    try {
      await fetchArchives(source, options);
      if (await allExist(py, pyFiles)) kind = "python";
      else downloadFailure = ` The downloaded archive did not contain ${layout.python.dir}/.`;
    } catch (e) {
      if (!(e instanceof DatasetError)) throw e;
      downloadFailure = e instanceof DownloadError
        ? ` Download failed: ${e.message}.`
        : ` ${e.message}.`;
    }
  }
  if (kind === null) {
    const urls = source.files.map((f) => `${sourceUrls(source, f.name)[0]} (MD5 ${f.md5})`);
    throw new DatasetError(
      options.dataDir,
      `${name} not found: expected ${pyFiles.map((f) => join(py, f)).join(", ")} ` +
        `(or the binary version in ${bin}).${downloadFailure} ` +
        `${options.download ? "" : "Downloads are disabled. "}To fetch it by hand, download ` +
        `${urls.join(", ")} and extract it into ${options.dataDir}.`,
    );
  }
  const files = layout[kind];
  const dir = kind === "python" ? py : bin;
  const read = async (f: string): Promise<CifarPart> => {
    const path = join(dir, f);
    const bytes = await Deno.readFile(path);
    return kind === "python"
      ? parseCifarPickle(bytes, path, layout.numClasses)
      : parseCifarBinary(bytes, path, layout.labelBytes, layout.numClasses);
  };
  const train = concat(await Promise.all(files.train.map(read)));
  const test = concat(await Promise.all(files.test.map(read)));
  let classNames: string[] | undefined;
  const metaPath = join(dir, files.meta);
  if (await exists(metaPath)) {
    const bytes = await Deno.readFile(metaPath);
    classNames = kind === "python"
      ? parseCifarMeta(bytes, metaPath)
      : new TextDecoder().decode(bytes).split(/\r?\n/).map((s) => s.trim()).filter((s) => s);
    if (classNames.length !== layout.numClasses) {
      throw new DatasetError(
        metaPath,
        `lists ${classNames.length} class names, expected ${layout.numClasses}`,
      );
    }
  }
  const split = (part: CifarPart, s: "train" | "test"): DatasetSplit => ({
    name,
    split: s,
    length: part.labels.length,
    sampleShape: [32, 32, 3],
    images: part.images,
    features: null,
    labels: part.labels,
    numClasses: layout.numClasses,
    ...(classNames ? { classNames } : {}),
  });
  return { train: split(train, "train"), test: split(test, "test") };
}
