/**
 * The analysis's per-epoch record files (`<run>/nc/<split>.jsonl`, `<run>/etf-distance/…`):
 * one JSON object per line with an integer `epoch`, kept sorted by epoch, rewritten atomically
 * whenever a record is added or replaced, so an interrupted task leaves the file as it was
 * after its last completed epoch.
 *
 * @module
 */
import { InputError } from "../core/errors.ts";
import { exists } from "../data/fs.ts";
import { atomicWriteFile } from "../train/atomic_write.ts";

/**
 * A record: `epoch` and the values measured at it.
 *
 * @example
 * ```ts
 * const r: EpochRecord = { epoch: 5, nc1: 0.12 };
 * ```
 */
export type EpochRecord = { epoch: number } & Record<string, unknown>;

/**
 * The records of a file (none if it does not exist). A line that is not a JSON object with an
 * integer `epoch` is an InputError naming the file and the line.
 *
 * @example
 * ```ts
 * const done = (await readRecords("runs/r/nc/test.jsonl")).map((r) => r.epoch);
 * ```
 */
export async function readRecords(path: string): Promise<EpochRecord[]> {
  if (!(await exists(path))) return [];
  const out: EpochRecord[] = [];
  const lines = (await Deno.readTextFile(path)).split("\n");
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() === "") continue;
    let value: unknown;
    try {
      value = JSON.parse(lines[i]);
    } catch {
      throw new InputError(
        `${path}: line ${i + 1} is not JSON (a damaged file? delete it, or rerun with --force)`,
      );
    }
    const epoch = (value as { epoch?: unknown })?.epoch;
    if (typeof value !== "object" || value === null || !Number.isInteger(epoch)) {
      throw new InputError(`${path}: line ${i + 1} has no integer "epoch"`);
    }
    out.push(value as EpochRecord);
  }
  return out;
}

/**
 * Adds (or replaces, by epoch) `record` in the file, keeping epoch order; atomic.
 *
 * @example
 * ```ts
 * await upsertRecord("runs/r/nc/test.jsonl", { epoch: 5, nc1: 0.12 });
 * ```
 */
export async function upsertRecord(path: string, record: EpochRecord): Promise<void> {
  const records = (await readRecords(path)).filter((r) => r.epoch !== record.epoch);
  records.push(record);
  records.sort((a, b) => a.epoch - b.epoch);
  await atomicWriteFile(path, records.map((r) => JSON.stringify(r) + "\n").join(""));
}
