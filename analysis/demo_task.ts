/**
 * `deno task demo`: the paper's claim, measured here in minutes. Two experiments through the
 * whole pipeline (`deno task paper`: three methods × `--seeds`, training, `nc`, `etf-distance`,
 * `seed-stats`, `plot` and the report):
 *
 * - UFM-10 (unconstrained features, d = 512, N = 1000, K = 10, the paper's SGD recipe), cut to
 *   300 iterations from the paper's 2000 (all three methods reach 100 % train accuracy and
 *   NC1 ≤ 1e-2 by about 260), measured every 50;
 * - the quick MNIST preset (ResNet18 width 16, 100 images per class, 18 epochs).
 *
 * It ends with a table per experiment — per method: the first measured epoch (iteration) at which
 * every seed's clean train accuracy is 100 %, the final NC1, NC3, WH-equinorm and test top-1
 * (medians over seeds), and the seeds' spread of the final NC1 (min–max) — read from the seed
 * statistics the pipeline wrote, and the paths of the reports. Whatever it shows is what this run
 * measured. `--ci` runs every stage at a reduced size (seconds).
 *
 * @module
 */
import { join, resolve } from "node:path";
import { type Flag, flagHelp, parseFlags } from "../core/cli.ts";
import { expandHome } from "../data/load.ts";
import { type PaperPlan, parsePaperArgs, runPaper } from "./paper_task.ts";
import type { SplitSeedStats } from "./seed_stats_task.ts";
import { readJsonFile } from "../train/run_dir.ts";

/** Flags of `deno task demo`. */
export const DEMO_FLAGS = {
  storage: { kind: "string", default: "runs/demo", help: "where the demo's runs and figures go" },
  seeds: { kind: "list", default: ["1", "2"], help: "the seeds (at least 2)" },
  backend: {
    kind: "string",
    default: null,
    help: "auto | webgpu | native | wasm | cpu (default auto)",
  },
  ci: { kind: "bool", default: false, help: "every stage at a reduced size (seconds, for tests)" },
} as const satisfies Record<string, Flag>;

/** The `--help` text. */
export const DEMO_HELP: string = flagHelp("deno task demo [flags]", DEMO_FLAGS) +
  "\n\nUFM-10 (300 iterations) and the quick MNIST preset, three methods × the seeds, through" +
  "\n`deno task paper`; prints a table per experiment and the reports' paths.";

/** The two experiments' pipeline flags, full or reduced (`ci`). */
function experiments(
  ci: boolean,
): { name: string; model: string; dataset: string; args: string[] }[] {
  const ufm = ci
    ? [
      "--dataset_size",
      "40",
      "--num_classes",
      "4",
      "--feature_dim",
      "8",
      "--epochs",
      "20",
      "--checkpoint_every",
      "10",
    ]
    : ["--epochs", "300", "--checkpoint_every", "50"];
  const mnist = ci
    ? [
      "--preset",
      "quick",
      "--sample_size",
      "10",
      "--resnet_width",
      "4",
      "--batch_size",
      "20",
      "--epochs",
      "4",
      "--checkpoint_every",
      "2",
      "--data_dir",
      "/nonexistent-data-dir",
    ]
    : ["--preset", "quick"];
  return [
    {
      name: "UFM-10",
      model: "ufm",
      dataset: "synthetic",
      args: ["--model", "ufm", "--dataset", "synthetic", ...ufm],
    },
    {
      name: "MNIST (quick preset)",
      model: "resnet18",
      dataset: "mnist",
      args: ["--model", "resnet18", "--dataset", "mnist", ...mnist],
    },
  ];
}

/**
 * One row of the demo's table, from a method's seed statistics.
 *
 * @example
 * ```ts
 * import type { SplitSeedStats } from "./seed_stats_task.ts";
 * declare const train: SplitSeedStats;
 * const row = demoRow(train, null);
 * ```
 */
export type DemoRow = {
  method: string;
  /** First measured epoch at which every seed's clean train top-1 is 100 % (null: never). */
  epochsTo100: number | null;
  nc1: number;
  nc3: number;
  whEquinorm: number;
  /** Median test top-1 (%), null without a test split (the UFM). */
  testTop1: number | null;
  nc1Min: number;
  nc1Max: number;
};

/**
 * A method's row: from its train split statistics (and the test split's, if any).
 *
 * @example
 * ```ts
 * import type { SplitSeedStats } from "./seed_stats_task.ts";
 * declare const train: SplitSeedStats, test: SplitSeedStats;
 * demoRow(train, test).nc1; // the median final NC1
 * ```
 */
export function demoRow(train: SplitSeedStats, test: SplitSeedStats | null): DemoRow {
  const last = train.epochs.length - 1;
  const min = train.series.top1.min;
  const at = min.findIndex((v) => v === 100);
  return {
    method: train.experiment.method,
    epochsTo100: at < 0 ? null : train.epochs[at],
    nc1: train.series.nc1.median[last],
    nc3: train.series.nc3.median[last],
    whEquinorm: train.series.whEquinormDiff.median[last],
    testTop1: test === null ? null : test.series.top1.median[test.epochs.length - 1],
    nc1Min: train.series.nc1.min[last],
    nc1Max: train.series.nc1.max[last],
  };
}

const sci = (v: number) => (Number.isFinite(v) ? v.toExponential(2) : "—");

/**
 * The table as printed (Markdown).
 *
 * @example
 * ```ts
 * console.log(demoTable("UFM-10", "iterations", []));
 * ```
 */
export function demoTable(name: string, unit: string, rows: DemoRow[]): string {
  const lines = [
    `${name} (medians over seeds, at the last measured ${
      unit === "iterations" ? "iteration" : "epoch"
    })`,
    "",
    `| method | ${unit} to 100% train | NC1 | NC3 | WH-equinorm | test top-1 | NC1 seed range |`,
    "|---|---|---|---|---|---|---|",
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.method} | ${r.epochsTo100 ?? "not reached"} | ${sci(r.nc1)} | ${sci(r.nc3)} | ${
        sci(r.whEquinorm)
      } | ` +
        `${r.testTop1 === null ? "—" : `${r.testTop1.toFixed(2)}%`} | ${sci(r.nc1Min)}–${
          sci(r.nc1Max)
        } |`,
    );
  }
  return lines.join("\n");
}

/**
 * Runs the demo; returns its exit code.
 *
 * @example
 * ```ts
 * await runDemo(["--ci"], { log: console.error, print: console.log });
 * ```
 */
export async function runDemo(
  args: string[],
  io: { log: (line: string) => void; print: (text: string) => void },
): Promise<number> {
  const parsed = parseFlags(args, DEMO_FLAGS);
  if (parsed === "help") {
    io.print(DEMO_HELP);
    return 0;
  }
  const { values: v } = parsed;
  const storage = resolve(expandHome(v.storage!));
  const plans: { name: string; plan: PaperPlan; unit: string }[] = [];
  for (const e of experiments(v.ci)) {
    // Every plan is validated before the first step runs.
    const plan = parsePaperArgs([
      ...e.args,
      "--storage",
      storage,
      "--seeds",
      v.seeds.join(","),
      ...(v.backend !== null ? ["--backend", v.backend] : []),
    ]);
    if (plan === "help") return 0;
    plans.push({ name: e.name, plan, unit: e.model === "ufm" ? "iterations" : "epochs" });
  }
  const started = performance.now();
  for (const { name, plan } of plans) {
    io.log(`demo: ${name}: ${plan.runs.length} runs`);
    const code = await runPaper(plan, io);
    if (code !== 0) return code;
  }
  const tables: string[] = [];
  for (const { name, plan, unit } of plans) {
    const rows: DemoRow[] = [];
    for (const dir of plan.seedStats.map((c) => c[c.indexOf("--out") + 1])) {
      const read = async (split: string) => {
        const path = join(dir, `${split}.json`);
        return await Deno.stat(path).then(
          () => readJsonFile<SplitSeedStats>(path),
          () => null,
        );
      };
      const train = await read("train");
      if (train !== null) rows.push(demoRow(train, await read("test")));
    }
    tables.push(
      demoTable(name, unit, rows) +
        `\n\nreport: ${join(plan.figures, "report.html")}; figures: ${plan.figures}/`,
    );
  }
  io.print(tables.join("\n\n"));
  io.log(`demo: done in ${((performance.now() - started) / 60000).toFixed(1)} min`);
  return 0;
}
