/**
 * A dataset's archives (tar or tar.gz): each downloaded into the data directory when missing
 * (from the source's mirrors, checked against its MD5), or, when already there, extracted only if
 * its MD5 is the published one — an archive left by a partial copy, a mirror or anyone else is
 * refused, saying to delete it — then extracted into the data directory (atomically, refusing
 * hostile entries: data/tar.ts).
 *
 * @module
 */
import { join } from "node:path";
import { DatasetError } from "./dataset.ts";
import { downloadFile, type DownloadOptions, type LogFn, md5File } from "./download.ts";
import { exists } from "./fs.ts";
import { type DatasetSource, type SourceFile, sourceUrls } from "./sources.ts";
import { extractTarGz } from "./tar.ts";

/**
 * The path of a source's file in `dir`: downloaded from the source's mirrors (MD5-checked) when
 * missing, and, when already there, verified against the published MD5 — a file left by a
 * partial copy, a mirror or anyone else is refused, saying to delete it. Download failures are
 * `DownloadError`s (callers add what to fetch by hand).
 *
 * @example
 * ```ts
 * import { SVHN_SOURCE } from "./sources.ts";
 * const path = await ensurePublished(SVHN_SOURCE, SVHN_SOURCE.files[1], "/home/me/data", { log: console.log });
 * ```
 */
export async function ensurePublished(
  source: DatasetSource,
  file: SourceFile,
  dir: string,
  options: { log: LogFn; downloadOptions?: DownloadOptions },
): Promise<string> {
  const path = join(dir, file.name);
  if (!(await exists(path))) {
    await downloadFile(sourceUrls(source, file.name), path, file.md5, {
      log: options.log,
      ...options.downloadOptions,
    });
    return path;
  }
  const got = await md5File(path);
  if (got !== file.md5.toLowerCase()) {
    throw new DatasetError(
      path,
      `is not the published ${file.name} (MD5 ${got}, expected ${file.md5}): delete it to ` +
        "download a fresh copy",
    );
  }
  return path;
}

/**
 * Fetches (or verifies) and extracts every archive of `source` into `options.dataDir`; with
 * `keep`, only the entries it accepts are extracted (STL10's 2.7 GB of unlabelled images are not).
 * Throws `DatasetError` (a `DownloadError` for downloads) naming the archive.
 *
 * @example
 * ```ts
 * import { CIFAR10_SOURCE } from "./sources.ts";
 * await fetchArchives(CIFAR10_SOURCE, { dataDir: "/home/me/data", log: console.log });
 * ```
 */
export async function fetchArchives(
  source: DatasetSource,
  options: { dataDir: string; log: LogFn; downloadOptions?: DownloadOptions },
  keep?: (path: string) => boolean,
): Promise<void> {
  for (const file of source.files) {
    const archive = await ensurePublished(source, file, options.dataDir, options);
    options.log(`Extracting ${archive} → ${options.dataDir}`);
    try {
      await extractTarGz(archive, options.dataDir, keep);
    } catch (e) {
      if (!(e instanceof DatasetError)) throw e;
      throw new DatasetError(archive, `refused while extracting: ${e.message}`, { cause: e });
    }
  }
}
