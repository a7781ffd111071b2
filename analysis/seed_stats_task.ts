/**
 * `deno task seed-stats`: statistics over the seeds of an experiment ({@link seriesStatistics})
 * of every series `deno task nc` and `deno task etf-distance` wrote, per split and epoch.
 *
 * The runs: `--uid PREFIX` (every run directory under `--storage` whose name starts with it,
 * e.g. `mnist-resnet18-implicit-seed`), or `--runs DIR,DIR,…`. Writes
 * `<out>/<split>.json` (per series and epoch: mean, std (ddof 1), median, min, max) and
 * `<out>/<split>.md` (a Markdown table of the last epoch, also printed on stdout), `<out>` being
 * `--out`, by default `<storage>/<prefix>-seed-stats` (with `--runs`: beside the first run). Runs that differ in K, in their splits, in their measured
 * epochs or in the series they have are an error naming the runs.
 *
 * @module
 */
import { basename, dirname, join, resolve } from "node:path";
import { type Flag, flagHelp, parseFlags } from "../core/cli.ts";
import { InvalidArgumentError } from "../core/errors.ts";
import { exists } from "../data/fs.ts";
import { expandHome } from "../data/load.ts";
import { atomicWriteFile } from "../train/atomic_write.ts";
import { readSafetensors } from "../train/safetensors.ts";
import { NC_RECORD_KEYS, type SplitName, SPLITS } from "./nc_task.ts";
import { type EpochRecord, readRecords } from "./records.ts";
import { seriesStatistics } from "./seed_stats.ts";
import { readTrainedRun, type TrainedRun } from "./trained_run.ts";

/** The ETF-distance series (keys of `<run>/etf-distance/<split>.jsonl`). */
export const ETF_DISTANCE_KEYS = [
  "etfWH",
  "wToEtf",
  "hToEtf",
  "whToM",
  "wToRef",
  "hToRef",
] as const;

/** Flags of `deno task seed-stats`. */
export const SEED_STATS_FLAGS = {
  uid: {
    kind: "string",
    default: null,
    help: "uid prefix: every run under --storage whose name starts with it",
  },
  storage: { kind: "string", default: "runs", help: "directory holding run directories" },
  runs: { kind: "list", default: [], help: "the run directories (comma-separated or repeated)" },
  out: {
    kind: "string",
    default: null,
    help: "output directory (default <storage>/<prefix>-seed-stats)",
  },
} as const satisfies Record<string, Flag>;

/** The `--help` text. */
export const SEED_STATS_HELP: string = flagHelp(
  "deno task seed-stats (--uid PREFIX [--storage DIR] | --runs DIR,DIR…) [--out DIR]",
  SEED_STATS_FLAGS,
) + "\n\nReads <run>/nc/<split>.jsonl and <run>/etf-distance/<split>.jsonl of every run; writes" +
  "\n<out>/<split>.json and <out>/<split>.md.";

/**
 * One split's statistics, as `<out>/<split>.json` stores them.
 *
 * @example
 * ```ts
 * declare const s: SplitSeedStats;
 * s.series.nc1.median[s.epochs.length - 1]; // the median NC1 at the last epoch
 * ```
 */
export type SplitSeedStats = {
  /** A split of `nc`, or "training" (the trainer's epochs.jsonl: loss and batch top-1). */
  split: SplitName | "training";
  /** What the runs share (checked). */
  experiment: { dataset: string; model: string; method: string; numClasses: number };
  runs: string[];
  uids: string[];
  epochs: number[];
  series: Record<string, ReturnType<typeof seriesStatistics>>;
  /** Which file each series comes from. */
  source: Record<string, "nc" | "etf-distance" | "epochs" | "steps">;
  /**
   * The sorted cosine margins of the last epoch, at evenly spaced ranks (fractions 0…1 of the
   * samples), with their statistics over the runs at each rank (nc splits only).
   */
  lastEpochMargins?: { ranks: number[] } & ReturnType<typeof seriesStatistics>;
};

/**
 * A validated request: the runs, the output directory, and every split's statistics (computed
 * here, so a mismatch fails before anything is written).
 *
 * @example
 * ```ts
 * const r = await parseSeedStatsArgs(["--uid", "mnist-resnet18-implicit-seed"]);
 * ```
 */
export type SeedStatsRequest = { out: string; stats: SplitSeedStats[] };

/**
 * Parses the command line, reads every run's records and computes the statistics. Fewer than two
 * runs, runs of different K, splits, epochs or series, and a run without `nc` records are
 * InvalidArgumentErrors naming the runs.
 *
 * @example
 * ```ts
 * const r = await parseSeedStatsArgs(["--runs", "runs/a-seed1,runs/a-seed2", "--out", "stats"]);
 * ```
 */
export async function parseSeedStatsArgs(args: string[]): Promise<SeedStatsRequest | "help"> {
  const parsed = parseFlags(args, SEED_STATS_FLAGS);
  if (parsed === "help") return "help";
  const { values: v, given } = parsed;
  const storage = resolve(expandHome(v.storage!));
  let paths: string[], prefix: string;
  if (v.runs.length > 0) {
    if (v.uid !== null) {
      throw new InvalidArgumentError("--runs", "given with --uid: name the runs one way");
    }
    if (given.has("storage")) {
      throw new InvalidArgumentError(
        "--storage",
        "given with --runs: the runs are named by their directories (use --out for the output)",
      );
    }
    paths = v.runs.map((r) => resolve(expandHome(r)));
    const twice = paths.find((p, i) => paths.indexOf(p) !== i);
    if (twice !== undefined) {
      throw new InvalidArgumentError("--runs", `${twice} is given twice: each run counts once`);
    }
    prefix = commonPrefix(paths.map((p) => basename(p)));
    if (v.out === null && prefix === "") {
      throw new InvalidArgumentError(
        "--out",
        "missing: the runs' names share no prefix to name the output by",
      );
    }
  } else {
    if (v.uid === null) {
      throw new InvalidArgumentError(
        "--uid",
        "missing: give a uid prefix (--uid) or the runs (--runs)",
      );
    }
    prefix = v.uid;
    paths = [];
    if (await exists(storage)) {
      for (const e of Deno.readDirSync(storage)) {
        if (
          e.isDirectory && e.name.startsWith(prefix) &&
          (await exists(join(storage, e.name, "config.json")))
        ) {
          paths.push(join(storage, e.name));
        }
      }
    }
    paths.sort();
  }
  const flag = v.runs.length > 0 ? "--runs" : "--uid";
  if (paths.length < 2) {
    throw new InvalidArgumentError(
      flag,
      `found ${paths.length} run${paths.length === 1 ? "" : "s"} (${
        paths.join(", ") || `none named ${prefix}* in ${storage}`
      }); seed statistics need at least 2`,
    );
  }
  const runs: TrainedRun[] = [];
  for (const p of paths) runs.push(await readTrainedRun(p, flag));
  checkSame(flag, runs, (r) => r.dataset.numClasses, "K (classes)");
  checkSame(flag, runs, (r) => r.config.method, "method");
  checkSame(flag, runs, (r) => r.config.model, "model");
  checkSame(flag, runs, (r) => r.config.dataset, "dataset");
  const experiment = {
    dataset: runs[0].config.dataset,
    model: runs[0].config.model,
    method: runs[0].config.method,
    numClasses: runs[0].dataset.numClasses,
  };
  const stats: SplitSeedStats[] = [];
  // Each run's nc records per split, read once.
  const ncRecords = await Promise.all(
    runs.map(async (r) => {
      const bySplit = new Map<SplitName, EpochRecord[]>();
      for (const split of SPLITS) {
        const records = await readRecords(join(r.path, "nc", `${split}.jsonl`));
        if (records.length) bySplit.set(split, records);
      }
      return bySplit;
    }),
  );
  const present = ncRecords.map((m) => [...m.keys()]);
  checkSame(flag, runs, (_, i) => present[i].join(",") || "none", "nc splits");
  if (present[0].length === 0) {
    throw new InvalidArgumentError(
      flag,
      `the runs have no nc records (run \`deno task nc\` on each first)`,
    );
  }
  for (const split of present[0]) {
    const nc = ncRecords.map((m) => m.get(split)!);
    const etf = await Promise.all(
      runs.map((r) => readRecords(join(r.path, "etf-distance", `${split}.jsonl`))),
    );
    checkSame(flag, runs, (_, i) => nc[i].map((r) => r.epoch).join(","), `${split} nc epochs`);
    checkSame(
      flag,
      runs,
      (_, i) => etf[i].map((r) => r.epoch).join(",") || "none",
      `${split} etf-distance epochs`,
    );
    checkSame(
      flag,
      runs,
      (_, i) =>
        etf[i].length
          ? `--etf_solver ${etf[i][0].solver} --ref_epoch ${etf[i][0].refEpoch}`
          : "none",
      `${split} etf-distance settings`,
    );
    const series: SplitSeedStats["series"] = {}, source: SplitSeedStats["source"] = {};
    const add = (
      records: EpochRecord[][],
      keys: readonly string[],
      from: "nc" | "etf-distance",
    ) => {
      for (const key of keys) {
        series[key] = seriesStatistics(records.map((rs) => rs.map((r) => valueOf(r, key))));
        source[key] = from;
      }
    };
    add(nc, NC_RECORD_KEYS, "nc");
    if (etf[0].length > 0) add(etf, ETF_DISTANCE_KEYS, "etf-distance");
    const lastEpochMargins = await marginQuantiles(
      flag,
      runs,
      runs.map((r, i) => join(r.path, "nc", String(nc[i][nc[i].length - 1].file))),
    );
    stats.push({
      split,
      experiment,
      lastEpochMargins,
      runs: runs.map((r) => r.path),
      uids: runs.map((r) => r.uid),
      epochs: nc[0].map((r) => r.epoch),
      series,
      source,
    });
  }
  stats.push(await trainingStats(flag, runs, experiment));
  // By default beside the runs: <storage>/<prefix>-seed-stats, or the first run's parent.
  const home = v.runs.length > 0 ? dirname(paths[0]) : storage;
  return {
    out: v.out !== null ? resolve(expandHome(v.out)) : join(home, `${prefix}-seed-stats`),
    stats,
  };
}

/** Ranks at which the last epoch's sorted margins are summarised. */
const MARGIN_RANKS = 201;

/** The sorted margins of each run's last epoch at {@link MARGIN_RANKS} evenly spaced ranks. */
async function marginQuantiles(
  flag: string,
  runs: TrainedRun[],
  files: string[],
): Promise<SplitSeedStats["lastEpochMargins"]> {
  const perRun: number[][] = [], sizes: number[] = [];
  for (const file of files) {
    const m = (await readSafetensors(file)).tensors.get("cos_margins");
    if (m === undefined || m.shape.length !== 1 || m.shape[0] < 1) {
      throw new InvalidArgumentError(
        flag,
        `${file}: no cos_margins (rerun \`deno task nc --force\`)`,
      );
    }
    const data = m.data as Float64Array, n = data.length;
    sizes.push(n);
    perRun.push(
      Array.from(
        { length: MARGIN_RANKS },
        (_, q) => data[Math.round((q * (n - 1)) / (MARGIN_RANKS - 1))],
      ),
    );
  }
  checkSame(flag, runs, (_, i) => sizes[i], "samples at the last epoch");
  return {
    ranks: Array.from({ length: MARGIN_RANKS }, (_, q) => q / (MARGIN_RANKS - 1)),
    ...seriesStatistics(perRun),
  };
}

/** Per-epoch means of the solver's per-step diagnostics (series key, steps.jsonl field). */
const SOLVER_SERIES = [
  ["solverIterations", "solverIterations"],
  ["solverSeconds", "solverSeconds"],
  ["stepSeconds", "seconds"],
] as const;

/** The mean of a numeric field over the steps of one epoch (NaN if none). */
function epochMean(steps: EpochRecord[], epoch: number, field: string): number {
  let sum = 0, n = 0;
  for (const r of steps) {
    if (r.epoch !== epoch || typeof r[field] !== "number") continue;
    sum += r[field] as number;
    n++;
  }
  return n === 0 ? NaN : sum / n;
}

/**
 * The trainer's per-epoch loss and batch top-1 (epochs.jsonl) over the runs, and for the
 * implicit head the per-epoch means of its solver's iterations and seconds and of the step's
 * seconds (steps.jsonl).
 */
async function trainingStats(
  flag: string,
  runs: TrainedRun[],
  experiment: SplitSeedStats["experiment"],
): Promise<SplitSeedStats> {
  const records = await Promise.all(runs.map((r) => readRecords(join(r.path, "epochs.jsonl"))));
  checkSame(flag, runs, (_, i) => records[i].map((r) => r.epoch).join(","), "trained epochs");
  const series: SplitSeedStats["series"] = {}, source: SplitSeedStats["source"] = {};
  // Batch top-1 in percent, as nc's top1 (epochs.jsonl holds a fraction).
  for (const [key, field, scale] of [["loss", "loss", 1], ["batchTop1", "top1", 100]] as const) {
    series[key] = seriesStatistics(records.map((rs) => rs.map((r) => scale * valueOf(r, field))));
    source[key] = "epochs";
  }
  // The implicit head's solver per step (steps.jsonl), averaged per epoch: its diagnostics.
  const steps = await Promise.all(runs.map((r) => readRecords(join(r.path, "steps.jsonl"))));
  if (steps.every((rs) => rs.some((r) => typeof r.solverIterations === "number"))) {
    for (const [key, field] of SOLVER_SERIES) {
      series[key] = seriesStatistics(
        steps.map((rs, i) => records[i].map((e) => epochMean(rs, e.epoch, field))),
      );
      source[key] = "steps";
    }
  }
  return {
    split: "training",
    experiment,
    runs: runs.map((r) => r.path),
    uids: runs.map((r) => r.uid),
    epochs: records[0].map((r) => r.epoch),
    series,
    source,
  };
}

/** A record's value for a series (a missing or null value — NaN in JSON — reads as NaN). */
function valueOf(r: EpochRecord, key: string): number {
  const v = r[key];
  return typeof v === "number" ? v : NaN;
}

/** Throws unless `f` gives every run the same value, naming the runs that differ. */
function checkSame(
  flag: string,
  runs: TrainedRun[],
  f: (r: TrainedRun, i: number) => unknown,
  what: string,
): void {
  const values = runs.map(f);
  const first = String(values[0]);
  const odd = runs.filter((_, i) => String(values[i]) !== first);
  if (odd.length > 0) {
    throw new InvalidArgumentError(
      flag,
      `the runs differ in ${what}: ${runs[0].path} has ${first}, ` +
        odd.map((r) => `${r.path} has ${values[runs.indexOf(r)]}`).join(", "),
    );
  }
}

/** The longest common prefix of names. */
function commonPrefix(names: string[]): string {
  let p = names[0] ?? "";
  for (const n of names) while (!n.startsWith(p)) p = p.slice(0, -1);
  return p;
}

/**
 * A statistic as the tables show it: 4 decimals between 1e-3 and 1e4, else 4 significant digits
 * in exponent form; 0 as "0"; missing or not finite as "—".
 *
 * @example
 * ```ts
 * formatStatistic(0.12345); // "0.1235"
 * formatStatistic(5.2e-8); // "5.200e-8"
 * ```
 */
export function formatStatistic(v: number | null | undefined): string {
  if (typeof v !== "number" || !Number.isFinite(v)) return "—";
  if (v === 0) return "0";
  return Math.abs(v) >= 1e-3 && Math.abs(v) < 1e4 ? v.toFixed(4) : v.toExponential(3);
}

const fmt = formatStatistic;

/**
 * The Markdown table of the last epoch: one row per series (mean ± std, median, min, max).
 *
 * @example
 * ```ts
 * declare const s: SplitSeedStats;
 * console.log(lastEpochTable(s));
 * ```
 */
export function lastEpochTable(s: SplitSeedStats): string {
  const e = s.epochs.length - 1;
  const lines = [
    `Seed statistics, ${s.split} split, epoch ${s.epochs[e]}, over ${s.uids.length} runs (${
      s.uids.join(", ")
    }); std with ddof 1.`,
    "",
    "| series | mean ± std | median | min | max |",
    "|---|---|---|---|---|",
  ];
  for (const [key, st] of Object.entries(s.series)) {
    lines.push(
      `| ${key} | ${fmt(st.mean[e])} ± ${fmt(st.std[e])} | ${fmt(st.median[e])} | ${
        fmt(st.min[e])
      } | ${fmt(st.max[e])} |`,
    );
  }
  return lines.join("\n") + "\n";
}

/**
 * Writes `<out>/<split>.json` and `<out>/<split>.md` for every split (atomically).
 *
 * @example
 * ```ts
 * const r = await parseSeedStatsArgs(["--uid", "mnist-resnet18-implicit-seed"]);
 * if (r !== "help") await runSeedStats(r, { log: console.error, print: console.log });
 * ```
 */
export async function runSeedStats(
  request: SeedStatsRequest,
  io: { log: (line: string) => void; print?: (text: string) => void },
): Promise<void> {
  await Deno.mkdir(request.out, { recursive: true });
  for (const s of request.stats) {
    await atomicWriteFile(join(request.out, `${s.split}.json`), JSON.stringify(s, null, 1) + "\n");
    const table = lastEpochTable(s);
    await atomicWriteFile(join(request.out, `${s.split}.md`), table);
    (io.print ?? io.log)(table);
    io.log(
      `seed-stats: ${s.split}: ${s.epochs.length} epochs × ${
        Object.keys(s.series).length
      } series → ${join(request.out, `${s.split}.json`)}`,
    );
  }
}
