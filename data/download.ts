/**
 * Downloads with mirrors, progress, MD5 verification and atomic writes.
 *
 * A download streams into a temporary file in the destination directory
 * (`.<name>.<pid>-<random>.part`), hashing as it goes; only a complete file with the expected
 * MD5 is renamed onto the destination, so the destination is either absent or whole. On any
 * failure the temporary file is removed; on Ctrl-C (SIGINT) or SIGTERM during a download it is
 * removed before the process exits with status 130 / 143. Temporary files left by a killed
 * process (SIGKILL, power loss) are removed by the next download of the same file once they are
 * ten minutes old.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { basename, dirname, join } from "node:path";
import { DatasetError } from "./dataset.ts";

/**
 * A line-oriented progress sink (the training task passes its logger).
 *
 * @example
 * ```ts
 * const log: LogFn = (line) => console.error(line);
 * ```
 */
export type LogFn = (line: string) => void;

/**
 * Options of {@link downloadFile}.
 *
 * @example
 * ```ts
 * const options: DownloadOptions = { log: console.log, idleTimeoutMs: 30_000 };
 * ```
 */
export type DownloadOptions = {
  /** Progress lines: the URL, then bytes, percentage and rate about once a second. */
  log?: LogFn;
  /** Abort when no bytes arrive for this long (default 60 000 ms). */
  idleTimeoutMs?: number;
  /** Minimum milliseconds between progress lines (default 1000). */
  progressIntervalMs?: number;
  /** Remove the temporary file and exit on SIGINT/SIGTERM during the download (default true). */
  handleSignals?: boolean;
};

/**
 * A failed download: `path` is the destination file, `attempts` lists every URL tried with what
 * went wrong (HTTP status, truncation, checksum mismatch, network error).
 *
 * @example
 * ```ts
 * import { MNIST_SOURCE, sourceUrls } from "./sources.ts";
 * const urls = sourceUrls(MNIST_SOURCE, "t10k-labels-idx1-ubyte.gz");
 * const dest = "/home/me/data/MNIST/raw/t10k-labels-idx1-ubyte.gz";
 * const md5 = "ec29112dd5afa0611ce80d1b7f02629c";
 * try { await downloadFile(urls, dest, md5); } catch (e) {
 *   if (e instanceof DownloadError) console.log(e.attempts.map((a) => a.url));
 * }
 * ```
 */
export class DownloadError extends DatasetError {
  /** Each URL tried and why it failed. */
  readonly attempts: { url: string; reason: string }[];
  /** `message` summarises every attempt. */
  constructor(path: string, attempts: { url: string; reason: string }[], options?: ErrorOptions) {
    super(
      path,
      `download failed: ${attempts.map((a) => `${a.url}: ${a.reason}`).join("; ")}`,
      options,
    );
    this.name = "DownloadError";
    this.attempts = attempts;
  }
}

/**
 * The MD5 of a byte array as 32 lowercase hex digits.
 *
 * @example
 * ```ts
 * md5Bytes(new TextEncoder().encode("")); // "d41d8cd98f00b204e9800998ecf8427e"
 * ```
 */
export function md5Bytes(bytes: Uint8Array): string {
  return createHash("md5").update(bytes).digest("hex");
}

/**
 * The MD5 of a file, streamed (constant memory).
 *
 * @example
 * ```ts
 * const sum = await md5File("/data/MNIST/raw/train-images-idx3-ubyte.gz");
 * ```
 */
export async function md5File(path: string): Promise<string> {
  const hash = createHash("md5");
  using file = await Deno.open(path, { read: true });
  for await (const chunk of file.readable) hash.update(chunk);
  return hash.digest("hex");
}

/**
 * Formats a byte count in binary units.
 *
 * @example
 * ```ts
 * formatBytes(1536); // "1.5 KiB"
 * ```
 */
export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${n.toFixed(1)} ${units[i]}`;
}

/**
 * A temporary path next to `path` (same directory, so a rename is atomic), unique to this
 * process and call: `.<name>.<pid>-<random>.part`.
 *
 * @example
 * ```ts
 * tempPathFor("/data/x.gz"); // "/data/.x.gz.4242-1k3j9f.part"
 * ```
 */
export function tempPathFor(path: string): string {
  const rand = crypto.getRandomValues(new Uint32Array(1))[0].toString(36);
  return join(dirname(path), `.${basename(path)}.${Deno.pid}-${rand}.part`);
}

async function removeQuietly(path: string): Promise<void> {
  try {
    await Deno.remove(path, { recursive: true });
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
}

function removeQuietlySync(path: string): void {
  try {
    Deno.removeSync(path, { recursive: true });
  } catch {
    // nothing to clean up
  }
}

/** Removes `.name.*.part` files next to `path` that have not been written for 10 minutes. */
async function removeStaleTemps(path: string): Promise<void> {
  const dir = dirname(path), prefix = `.${basename(path)}.`;
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (!entry.isFile || !entry.name.startsWith(prefix) || !entry.name.endsWith(".part")) {
        continue;
      }
      const full = join(dir, entry.name);
      const info = await Deno.stat(full);
      if (info.mtime && Date.now() - info.mtime.getTime() > 10 * 60_000) await removeQuietly(full);
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
}

/**
 * Runs `body` with SIGINT/SIGTERM listeners that call `cleanup` and exit (130 / 143), so an
 * interrupted download or extraction leaves nothing partial behind.
 *
 * @example
 * ```ts
 * const tmp = tempPathFor("/home/me/data/cifar-10-python.tar.gz");
 * const writeSlowly = (path: string) => Deno.writeFile(path, new Uint8Array(1 << 20));
 * await withCleanupOnSignal(() => Deno.removeSync(tmp), () => writeSlowly(tmp));
 * ```
 */
export async function withCleanupOnSignal<T>(
  cleanup: () => void,
  body: () => Promise<T>,
  enabled = true,
): Promise<T> {
  const listeners: [Deno.Signal, () => void][] = [];
  if (enabled) {
    const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
    for (const signal of signals) {
      const listener = () => {
        cleanup();
        Deno.exit(signal === "SIGINT" ? 130 : 143);
      };
      try {
        Deno.addSignalListener(signal, listener);
        listeners.push([signal, listener]);
      } catch {
        // signals unavailable here: the stale-temp sweep still cleans up later
      }
    }
  }
  try {
    return await body();
  } finally {
    for (const [signal, listener] of listeners) Deno.removeSignalListener(signal, listener);
  }
}

/**
 * Writes `data` to `path` atomically: a temporary file in the same directory, then a rename.
 *
 * @example
 * ```ts
 * import { encodeIdxLabels } from "./fixtures.ts";
 * const labels = encodeIdxLabels([7, 2, 1]);
 * await writeFileAtomic("/data/MNIST/raw/t10k-labels-idx1-ubyte", labels);
 * ```
 */
export async function writeFileAtomic(path: string, data: Uint8Array): Promise<void> {
  await Deno.mkdir(dirname(path), { recursive: true });
  const tmp = tempPathFor(path);
  await withCleanupOnSignal(() => removeQuietlySync(tmp), async () => {
    try {
      await Deno.writeFile(tmp, data, { createNew: true });
      await Deno.rename(tmp, path);
    } catch (e) {
      await removeQuietly(tmp);
      throw e;
    }
  });
}

/** Downloads one URL into `tmp`; returns a failure reason, or null when complete and verified. */
async function fetchInto(
  url: string,
  tmp: string,
  md5: string | null,
  options: DownloadOptions,
): Promise<string | null> {
  const log = options.log ?? (() => {});
  const idleTimeoutMs = options.idleTimeoutMs ?? 60_000;
  const interval = options.progressIntervalMs ?? 1000;
  const controller = new AbortController();
  let timer = setTimeout(() => controller.abort(), idleTimeoutMs);
  const touch = () => {
    clearTimeout(timer);
    timer = setTimeout(() => controller.abort(), idleTimeoutMs);
  };
  let received = 0;
  try {
    let response: Response;
    try {
      response = await fetch(url, { signal: controller.signal });
    } catch (e) {
      if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) {
        return `network access not permitted (${(e as Error).message.split("\n")[0]})`;
      }
      return controller.signal.aborted
        ? `no response within ${idleTimeoutMs} ms`
        : `request failed (${(e as Error).message})`;
    }
    if (!response.ok || response.body === null) {
      await response.body?.cancel();
      return `HTTP ${response.status} ${response.statusText}`.trim();
    }
    const lengthHeader = response.headers.get("content-length");
    const total = lengthHeader !== null && /^\d+$/.test(lengthHeader) ? Number(lengthHeader) : null;
    const hash = createHash("md5");
    const start = performance.now();
    let lastLog = start;
    const progress = () => {
      const seconds = Math.max((performance.now() - start) / 1000, 1e-3);
      const rate = `${formatBytes(received / seconds)}/s`;
      return total !== null
        ? `  ${basename(url)}: ${formatBytes(received)} / ${formatBytes(total)} (${
          Math.floor((100 * received) / Math.max(total, 1))
        }%), ${rate}`
        : `  ${basename(url)}: ${formatBytes(received)}, ${rate}`;
    };
    using file = await Deno.open(tmp, { write: true, createNew: true });
    try {
      for await (const chunk of response.body) {
        touch();
        hash.update(chunk);
        received += chunk.length;
        let written = 0;
        while (written < chunk.length) written += await file.write(chunk.subarray(written));
        const now = performance.now();
        if (now - lastLog >= interval) {
          lastLog = now;
          log(progress());
        }
      }
    } catch (e) {
      return controller.signal.aborted
        ? `no data for ${idleTimeoutMs} ms after ${received} bytes`
        : `connection failed after ${received}${total !== null ? ` of ${total}` : ""} bytes (${
          (e as Error).message
        })`;
    }
    log(progress());
    if (total !== null && received !== total) {
      return `truncated: received ${received} of ${total} bytes`;
    }
    const got = hash.digest("hex");
    if (md5 !== null && got !== md5.toLowerCase()) {
      return `checksum mismatch: MD5 ${got}, expected ${md5.toLowerCase()} (${received} bytes)`;
    }
    return null;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Downloads `dest` from the first of `urls` that serves it whole with MD5 `md5` (null: no check),
 * writing atomically. Throws {@link DownloadError} (a {@link DatasetError}) naming the file and
 * every URL tried when none works; no partial or temporary file is left behind.
 *
 * @example
 * ```ts
 * await downloadFile(
 *   ["https://ossci-datasets.s3.amazonaws.com/mnist/t10k-labels-idx1-ubyte.gz"],
 *   "/home/me/data/MNIST/raw/t10k-labels-idx1-ubyte.gz",
 *   "ec29112dd5afa0611ce80d1b7f02629c",
 *   { log: console.log },
 * );
 * ```
 */
export async function downloadFile(
  urls: string[],
  dest: string,
  md5: string | null,
  options: DownloadOptions = {},
): Promise<void> {
  const log = options.log ?? (() => {});
  await Deno.mkdir(dirname(dest), { recursive: true });
  await removeStaleTemps(dest);
  const attempts: { url: string; reason: string }[] = [];
  for (const url of urls) {
    const tmp = tempPathFor(dest);
    log(`Downloading ${url} → ${dest}`);
    let reason: string | null;
    try {
      reason = await withCleanupOnSignal(
        () => removeQuietlySync(tmp),
        () => fetchInto(url, tmp, md5, options),
        options.handleSignals ?? true,
      );
      if (reason === null) {
        await Deno.rename(tmp, dest);
        return;
      }
    } catch (e) {
      reason = (e as Error).message;
    } finally {
      await removeQuietly(tmp);
    }
    log(`  failed: ${reason}`);
    attempts.push({ url, reason });
  }
  throw new DownloadError(dest, attempts);
}
