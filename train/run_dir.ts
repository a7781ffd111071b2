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
import { InvalidArgumentError } from "../core/errors.ts";
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

  /** Reads a JSON file of the run. */
  async readJson<T>(name: string): Promise<T> {
    return JSON.parse(await Deno.readTextFile(this.file(name))) as T;
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

  /** The last complete checkpoint, or null when there is none yet. */
  async latest(): Promise<LatestCheckpoint | null> {
    if (!(await exists(this.file("latest.json")))) return null;
    return await this.readJson<LatestCheckpoint>("latest.json");
  }

  /** Checkpoint file names for an epoch (relative to the run directory). */
  static checkpointNames(epoch: number): { model: string; state: string } {
    const n = String(epoch).padStart(4, "0");
    return {
      model: `checkpoints/model-epoch-${n}.safetensors`,
      state: `checkpoints/state-epoch-${n}.safetensors`,
    };
  }

  /** Keeps only the lines of a .jsonl file whose `epoch` ≤ `epoch` (before resuming). */
  async truncateJsonLines(name: string, epoch: number): Promise<void> {
    if (!(await exists(this.file(name)))) return;
    const lines = (await Deno.readTextFile(this.file(name))).split("\n").filter((l) =>
      l.trim() !== ""
    );
    const kept = lines.filter((l) => (JSON.parse(l) as { epoch: number }).epoch <= epoch);
    await atomicWriteFile(this.file(name), kept.map((l) => l + "\n").join(""));
  }
}
