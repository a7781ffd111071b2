/**
 * `deno task etf-distance`: the ETF-distance analysis ({@link etfDistances}, docs/method.md
 * section 8) of a run's measured epochs. It reads the W and H̄ that `deno task nc` saved
 * (`<run>/nc/<split>/epoch-NNNN.safetensors`), so it needs no forward pass, and writes
 * `<run>/etf-distance/<split>.jsonl` (one record per epoch) and
 * `<run>/etf-distance/<split>.safetensors` (`E_W.epoch-NNNN` and `E_H.epoch-NNNN`, d×K float64),
 * both atomically. Every run recomputes every epoch: the trust-region solves are chained from
 * epoch to epoch, and deterministic for a fixed `--seed`.
 *
 * @module
 */
import { join } from "node:path";
import { type Flag, flagHelp, parseFlags } from "../core/cli.ts";
import { InvalidArgumentError } from "../core/errors.ts";
import { exists } from "../data/fs.ts";
import { type Matrix, matrix } from "../solver/matrix.ts";
import { ETF_SOLVERS, type EtfSolver } from "../solver/nearest_etf.ts";
import { atomicWriteFile } from "../train/atomic_write.ts";
import { encodeSafetensors, readSafetensors, type TensorEntry } from "../train/safetensors.ts";
import { type EtfDistanceInput, etfDistances } from "./etf_distance.ts";
import { formatDuration } from "../train/progress.ts";
import { type SplitName, SPLITS } from "./nc_task.ts";
import { readRecords } from "./records.ts";
import { readTrainedRun, RUN_FLAGS, runPathOf } from "./trained_run.ts";

/** Flags of `deno task etf-distance`. */
export const ETF_DISTANCE_FLAGS = {
  ...RUN_FLAGS,
  split: {
    kind: "string",
    default: "both",
    allowed: ["train", "test", "both"],
    help: "train | test | both (both: every split `deno task nc` measured)",
  },
  etf_solver: {
    kind: "string",
    default: "trust-regions",
    allowed: ETF_SOLVERS,
    help: "trust-regions (the paper's) | closed-form (exact)",
  },
  max_iterations: { kind: "int", default: 500, min: 1, help: "trust-region iterations per solve" },
  ref_epoch: {
    kind: "int",
    default: null,
    help: "the reference epoch of wToRef/hToRef (default: the first measured)",
  },
  seed: { kind: "int", default: 0, min: 0, help: "seed of the first epoch's Haar-random start" },
} as const satisfies Record<string, Flag>;

/** The `--help` text. */
export const ETF_DISTANCE_HELP: string = flagHelp(
  "deno task etf-distance (--uid UID [--storage DIR] | --run DIR) [flags]",
  ETF_DISTANCE_FLAGS,
) + "\n\nReads <run>/nc/<split>/epoch-NNNN.safetensors (run `deno task nc` first); writes" +
  "\n<run>/etf-distance/<split>.jsonl and <split>.safetensors.";

/**
 * A parsed, validated `deno task etf-distance` command line.
 *
 * @example
 * ```ts
 * const r = await parseEtfDistanceArgs(["--uid", "mnist-resnet18-implicit-seed1"]);
 * ```
 */
export type EtfDistanceRequest = {
  runPath: string;
  /** Per split, the measured epochs and their nc files (absolute paths). */
  splits: { split: SplitName; epochs: { epoch: number; file: string }[] }[];
  solver: EtfSolver;
  maxIterations: number;
  refEpoch: number | null;
  seed: number;
  given: ReadonlySet<string>;
};

/**
 * Parses the command line against the run's `nc` records: a split without records, a missing
 * epoch file or a `--ref_epoch` that was not measured is an InvalidArgumentError (nothing is
 * written).
 *
 * @example
 * ```ts
 * const r = await parseEtfDistanceArgs(["--run", "runs/r", "--etf_solver", "closed-form"]);
 * ```
 */
export async function parseEtfDistanceArgs(args: string[]): Promise<EtfDistanceRequest | "help"> {
  const parsed = parseFlags(args, ETF_DISTANCE_FLAGS);
  if (parsed === "help") return "help";
  const { values: v, given } = parsed;
  const { path, flag } = runPathOf(v);
  const run = await readTrainedRun(path, flag);
  if (given.has("max_iterations") && v.etf_solver === "closed-form") {
    throw new InvalidArgumentError(
      "--max_iterations",
      "applies to --etf_solver trust-regions only (the closed form does not iterate)",
    );
  }
  if (given.has("seed") && v.etf_solver === "closed-form") {
    throw new InvalidArgumentError(
      "--seed",
      "applies to --etf_solver trust-regions only (the closed form has no random start)",
    );
  }
  const wanted: SplitName[] = v.split === "both" ? [...SPLITS] : [v.split as SplitName];
  const splits: EtfDistanceRequest["splits"] = [];
  for (const split of wanted) {
    const records = await readRecords(join(run.path, "nc", `${split}.jsonl`));
    if (records.length === 0) {
      if (v.split === "both") continue;
      throw new InvalidArgumentError(
        "--split",
        `${split}: the run ${run.uid} has no nc records for it (run \`deno task nc --split ${split}\` first)`,
      );
    }
    const epochs = [];
    for (const r of records) {
      const file = join(run.path, "nc", String(r.file));
      if (typeof r.file !== "string" || !(await exists(file))) {
        throw new InvalidArgumentError(
          flag,
          `${
            join(run.path, "nc", `${split}.jsonl`)
          }: epoch ${r.epoch}'s file ${r.file} is missing (rerun \`deno task nc --force\`)`,
        );
      }
      epochs.push({ epoch: r.epoch, file });
    }
    if (v.ref_epoch !== null && !epochs.some((e) => e.epoch === v.ref_epoch)) {
      throw new InvalidArgumentError(
        "--ref_epoch",
        `got ${v.ref_epoch}, but ${split} was measured at epochs ${
          epochs.map((e) => e.epoch).join(", ")
        }`,
      );
    }
    splits.push({ split, epochs });
  }
  if (splits.length === 0) {
    throw new InvalidArgumentError(
      flag,
      `the run ${run.uid} has no nc records (run \`deno task nc\` first)`,
    );
  }
  return {
    runPath: run.path,
    splits,
    solver: v.etf_solver as EtfSolver,
    maxIterations: v.max_iterations!,
    refEpoch: v.ref_epoch,
    seed: v.seed!,
    given,
  };
}

/**
 * The W and H̄ (K×d) an nc epoch file holds.
 *
 * @example
 * ```ts
 * const { W, Hbar } = await readNcEpoch("runs/r/nc/test/epoch-0005.safetensors");
 * ```
 */
export async function readNcEpoch(path: string): Promise<{ W: Matrix; Hbar: Matrix }> {
  const { tensors } = await readSafetensors(path);
  const get = (name: string) => {
    const t = tensors.get(name);
    if (t === undefined || t.dtype !== "F64" || t.shape.length !== 2) {
      throw new InvalidArgumentError(
        "--uid",
        `${path}: no float64 matrix ${name} (rerun \`deno task nc --force\`)`,
      );
    }
    return matrix(t.shape[0], t.shape[1], t.data as Float64Array);
  };
  return { W: get("W"), Hbar: get("H_bar") };
}

/**
 * Runs `deno task etf-distance` for a parsed request.
 *
 * @example
 * ```ts
 * const r = await parseEtfDistanceArgs(["--uid", "mnist-resnet18-implicit-seed1"]);
 * if (r !== "help") await runEtfDistance(r, { log: console.error });
 * ```
 */
export async function runEtfDistance(
  request: EtfDistanceRequest,
  io: { log: (line: string) => void },
): Promise<void> {
  const outDir = join(request.runPath, "etf-distance");
  for (const { split, epochs } of request.splits) {
    const inputs: EtfDistanceInput[] = [];
    for (const e of epochs) inputs.push({ epoch: e.epoch, ...(await readNcEpoch(e.file)) });
    const started = performance.now();
    const { records, EW, EH } = etfDistances(inputs, {
      solver: request.solver,
      maxIterations: request.maxIterations,
      seed: request.seed,
      ...(request.refEpoch !== null ? { refEpoch: request.refEpoch } : {}),
      onEpoch: (epoch, done, total) => {
        const eta = ((performance.now() - started) / done) * (total - done) / 1000;
        io.log(
          `etf-distance: ${split} epoch ${epoch} (${done}/${total})` +
            (done < total ? `, ETA ${formatDuration(eta)}` : ""),
        );
      },
    });
    await Deno.mkdir(outDir, { recursive: true });
    const tensors = new Map<string, TensorEntry>();
    records.forEach((r, i) => {
      const n = String(r.epoch).padStart(4, "0");
      for (const [name, E] of [["E_W", EW[i]], ["E_H", EH[i]]] as const) {
        tensors.set(`${name}.epoch-${n}`, { dtype: "F64", shape: [E.rows, E.cols], data: E.data });
      }
    });
    const etfFile = join(outDir, `${split}.safetensors`);
    await atomicWriteFile(
      etfFile,
      encodeSafetensors(tensors, {
        split,
        solver: request.solver,
        layout: "E = U M / sqrt(K-1), d x K",
      }, etfFile),
    );
    await atomicWriteFile(
      join(outDir, `${split}.jsonl`),
      records.map((r) => JSON.stringify({ ...r, solver: request.solver }) + "\n").join(""),
    );
    const last = records[records.length - 1];
    io.log(
      `etf-distance: ${split}: ${records.length} epochs in ${
        ((performance.now() - started) / 1000).toFixed(1)
      } s; ` +
        `epoch ${last.epoch}: ‖E_W − E_H‖² ${last.etfWH.toExponential(3)}, ‖E_W − W‖² ${
          last.wToEtf.toExponential(3)
        }, ` +
        `‖E_H − H̄‖² ${last.hToEtf.toExponential(3)}, NC3 ${last.whToM.toExponential(3)} → ${
          join(outDir, `${split}.jsonl`)
        }`,
    );
  }
}
