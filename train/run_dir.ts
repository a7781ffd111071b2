/**
 * The run directory, self-describing (documented in the README):
 *
 *   <storage>/<uid>/
 *     config.json          resolved configuration, versions, backend (written atomically)
 *     log.txt              the human log
 *     steps.jsonl          one JSON object per training step
 *     epochs.jsonl         one JSON object per epoch
 *     checkpoints/
 *       model-epoch-NNNN.safetensors   parameters and buffers, PyTorch names and layouts
 *       state-epoch-NNNN.safetensors   optimiser, head state and classifier W, b (resume)
 *     latest.json          the last complete checkpoint (written after both files)
 *
 * @module
 */
import { join } from "node:path";
import { atomicWriteFile } from "./atomic_write.ts";
import { InputError, InvalidArgumentError } from "../core/errors.ts";
import { exists } from "../data/fs.ts";

/**
 * The last complete checkpoint, as `latest.json` records it.
 *
 * @example
 * ```ts
 * const latest: LatestCheckpoint = { epoch: 5, model: "checkpoints/model-epoch-0005.safetensors", state: "…" };
 * ```
 */
export type LatestCheckpoint = { epoch: number; model: string; state: string };

/**
 * A run file that cannot be read as written (truncated or corrupted, as after a crash or a full
 * disk): the message names the file, the problem and what to do.
 *
 * @example
 * ```ts
 * try { await (await RunDirectory.open("runs/r")).readJson("config.json"); } catch (e) {
 *   if (e instanceof RunFileError) console.error(e.message); // "runs/r/config.json: …"
 * }
 * ```
 */
export class RunFileError extends InputError {
  /** The file at fault. */
  readonly file: string;

  /** `problem` is prefixed with the file. */
  constructor(file: string, problem: string) {
    super(`${file}: ${problem}`);
    this.file = file;
  }
}

/** What to do about a damaged run file, by name. */
const ADVICE: Record<string, string> = {
  "config.json": "the run's configuration is lost: start a new run (--force to overwrite this " +
    "one), or restore config.json from a copy",
  "latest.json": "--resume falls back to the newest checkpoint in checkpoints/ that verifies",
};

/**
 * Reads a JSON object from a file: a file that does not hold one (truncated or corrupt, as after a
 * crash or a full disk) is a {@link RunFileError} naming it and saying what to do (`advice`, by
 * default to restore it or start again). A missing file is `Deno.errors.NotFound`, as from Deno.
 *
 * @example
 * ```ts
 * const stats = await readJsonFile<{ experiment: string }>("runs/stats/test.json");
 * ```
 */
export async function readJsonFile<T>(
  path: string,
  advice = "restore it from a copy, or recreate it with the task that wrote it (--force)",
): Promise<T> {
  let value: unknown;
  try {
    value = JSON.parse(await Deno.readTextFile(path));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw e;
    throw new RunFileError(
      path,
      `not valid JSON (${(e as Error).message}): the file is truncated or corrupt (a crash ` +
        `or a full disk?); ${advice}`,
    );
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new RunFileError(
      path,
      `expected a JSON object, found ${JSON.stringify(value)}; ${advice}`,
    );
  }
  return value as T;
}

/**
 * A run directory: creates it (refusing to overwrite an existing run unless `force`) or opens it
 * to resume, and appends logs and metrics.
 *
 * @example
 * ```ts
 * const run = await RunDirectory.create("runs/mnist-resnet18-implicit-seed1", { force: false });
 * await run.log("epoch 1 done");
 * ```
 */
export class RunDirectory {
  /** The run directory's path. */
  readonly path: string;
  #encoder = new TextEncoder();

  private constructor(path: string) {
    this.path = path;
  }

  /**
   * Throws unless a fresh run may be created at `path`: it must not exist (or be empty), unless
   * `force`. Call it before any expensive set-up; `create` checks again.
   */
  static async checkAvailable(path: string, options: { force: boolean }): Promise<void> {
    if (options.force || !(await exists(path))) return;
    if ([...Deno.readDirSync(path)].length > 0) {
      throw new InvalidArgumentError(
        "--uid",
        `the run directory ${path} already exists; pass --force to overwrite it or --resume to continue it`,
      );
    }
  }

  /** Creates a fresh run directory (replacing an existing one only with `force`). */
  static async create(path: string, options: { force: boolean }): Promise<RunDirectory> {
    await RunDirectory.checkAvailable(path, options);
    if (await exists(path)) await Deno.remove(path, { recursive: true });
    await Deno.mkdir(join(path, "checkpoints"), { recursive: true });
    return new RunDirectory(path);
  }

  /** Opens an existing run directory to resume it (`flag` names the flag in errors). */
  static async open(path: string, flag = "--resume"): Promise<RunDirectory> {
    if (!(await exists(join(path, "config.json")))) {
      throw new InvalidArgumentError(
        flag,
        `no run to resume at ${path} (config.json is missing)`,
      );
    }
    return new RunDirectory(path);
  }

  /** Path of a file in the run directory. */
  file(name: string): string {
    return join(this.path, name);
  }

  /** Writes a JSON file atomically. */
  async writeJson(name: string, value: unknown): Promise<void> {
    await atomicWriteFile(this.file(name), JSON.stringify(value, null, 2) + "\n");
  }

  /**
   * Reads a JSON file of the run; a file that is not a JSON object is a {@link RunFileError}
   * naming it and saying what to do.
   */
  readJson<T>(name: string): Promise<T> {
    return readJsonFile<T>(this.file(name), ADVICE[name]);
  }

  /** Appends a line to log.txt (with a timestamp). */
  async log(line: string): Promise<void> {
    await this.#append("log.txt", `${new Date().toISOString()} ${line}\n`);
  }

  /** Appends one JSON object to a .jsonl file. */
  async appendJsonLine(name: string, value: unknown): Promise<void> {
    await this.#append(name, JSON.stringify(value) + "\n");
  }

  async #append(name: string, text: string): Promise<void> {
    const f = await Deno.open(this.file(name), { append: true, create: true });
    try {
      await f.write(this.#encoder.encode(text));
    } finally {
      f.close();
    }
  }

  /**
   * The last complete checkpoint, or null when there is none yet. A damaged `latest.json` (not
   * JSON, or without an integer epoch and two file names) is a {@link RunFileError}.
   */
  async latest(): Promise<LatestCheckpoint | null> {
    if (!(await exists(this.file("latest.json")))) return null;
    const value = await this.readJson<Partial<LatestCheckpoint>>("latest.json");
    if (
      !Number.isInteger(value.epoch) || typeof value.model !== "string" ||
      typeof value.state !== "string"
    ) {
      throw new RunFileError(
        this.file("latest.json"),
        `expected {epoch, model, state}, found ${JSON.stringify(value)}; ${ADVICE["latest.json"]}`,
      );
    }
    return value as LatestCheckpoint;
  }

  /**
   * The checkpoints on disk with both files (model and state), newest first: the candidates
   * when `latest.json` or its checkpoint does not verify.
   */
  async checkpointsOnDisk(): Promise<LatestCheckpoint[]> {
    const dir = this.file("checkpoints");
    if (!(await exists(dir))) return [];
    const names = new Set<string>();
    for await (const e of Deno.readDir(dir)) if (e.isFile) names.add(e.name);
    const out: LatestCheckpoint[] = [];
    for (const name of names) {
      const m = /^model-epoch-(\d{4,})\.safetensors$/.exec(name);
      if (m === null) continue;
      const epoch = Number(m[1]);
      const files = RunDirectory.checkpointNames(epoch);
      if (names.has(files.state.slice("checkpoints/".length))) out.push({ epoch, ...files });
    }
    return out.sort((a, b) => b.epoch - a.epoch);
  }

  /** Checkpoint file names for an epoch (relative to the run directory). */
  static checkpointNames(epoch: number): { model: string; state: string } {
    const n = String(epoch).padStart(4, "0");
    return {
      model: `checkpoints/model-epoch-${n}.safetensors`,
      state: `checkpoints/state-epoch-${n}.safetensors`,
    };
  }

  /**
   * Keeps only the lines of a .jsonl file whose `epoch` ≤ `epoch` (before resuming). A last line
   * cut short (a crash while appending) is dropped and reported in the returned note; any other
   * line that is not a JSON object with an integer epoch is a {@link RunFileError} naming it.
   */
  async truncateJsonLines(name: string, epoch: number): Promise<string | null> {
    const path = this.file(name);
    if (!(await exists(path))) return null;
    const text = await Deno.readTextFile(path);
    const lines = text.split("\n");
    const kept: string[] = [];
    let note: string | null = null;
    for (let i = 0; i < lines.length; i++) {
      if (lines[i].trim() === "") continue;
      let e: unknown;
      try {
        e = (JSON.parse(lines[i]) as { epoch?: unknown }).epoch;
      } catch {
        e = undefined;
      }
      if (!Number.isInteger(e)) {
        const last = lines.slice(i + 1).every((l) => l.trim() === "") && !text.endsWith("\n");
        if (last) {
          note = `${path}: dropped its last line, cut short (${lines[i].length} characters)`;
          continue;
        }
        throw new RunFileError(
          path,
          `line ${i + 1} is not a JSON object with an integer "epoch" (a damaged file: ` +
            "delete the line, or the file: it is a log, the checkpoints hold the run)",
        );
      }
      if ((e as number) <= epoch) kept.push(lines[i]);
    }
    await atomicWriteFile(path, kept.map((l) => l + "\n").join(""));
    return note;
  }
}
