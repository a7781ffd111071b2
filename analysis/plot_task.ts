/**
 * `deno task plot`: the paper's figure panels ({@link PANELS}) from each method's seed
 * statistics, as `<out>/<panel>.svg`, `<out>/<panel>.png` and the Vega-Lite spec
 * `<out>/<panel>.vl.json` (restyle it and render it with any Vega-Lite tool), plus
 * `<out>/figures.json`, the index of what was drawn from which files, and `<out>/report.html`
 * (analysis/report.ts: the figures, tables, solver diagnostics and run configurations).
 *
 * The statistics: `--stats DIR,DIR,…` (directories `deno task seed-stats` wrote, one per
 * method), or by default `<storage>/<dataset>-<model>-<method>-seed-seed-stats` for each of
 * `--methods` (the directories `seed-stats --uid <dataset>-<model>-<method>-seed` writes).
 *
 * @module
 */
import { join, resolve } from "node:path";
import { type Flag, flagHelp, parseFlags } from "../core/cli.ts";
import { InvalidArgumentError } from "../core/errors.ts";
import { exists } from "../data/fs.ts";
import { expandHome } from "../data/load.ts";
import { atomicWriteFile } from "../train/atomic_write.ts";
import { type MethodStats, panelRows, PANELS, panelSpec } from "./figures.ts";
import { renderPng, renderSvg } from "./render.ts";
import { reportHtml } from "./report.ts";
import type { SplitSeedStats } from "./seed_stats_task.ts";
import { readJsonFile } from "../train/run_dir.ts";

const METHODS = ["standard", "fixed", "implicit"];

/** Flags of `deno task plot`. */
export const PLOT_FLAGS = {
  storage: { kind: "string", default: "runs", help: "directory holding run directories" },
  dataset: { kind: "string", default: "mnist", help: "the experiment's dataset (names the stats)" },
  model: { kind: "string", default: "resnet18", help: "the experiment's model (names the stats)" },
  methods: { kind: "list", default: METHODS, help: "the methods to draw" },
  stats: {
    kind: "list",
    default: [],
    help: "seed-stats directories, one per method (instead of --storage/--dataset/--model)",
  },
  split: {
    kind: "string",
    default: "train",
    allowed: ["train", "test"],
    help: "the split of the NC and ETF panels (the paper's figures: train)",
  },
  out: {
    kind: "string",
    default: null,
    help: "output directory (default <storage>/<dataset>-<model>-figures)",
  },
  png_scale: { kind: "int", default: 2, min: 1, help: "PNG pixels per SVG pixel" },
} as const satisfies Record<string, Flag>;

/** The `--help` text. */
export const PLOT_HELP: string = flagHelp(
  "deno task plot [--storage DIR --dataset D --model M --methods A,B,C | --stats DIR,DIR,…] [flags]",
  PLOT_FLAGS,
) + "\n\nWrites <out>/<panel>.svg, .png and .vl.json for every panel, <out>/figures.json and" +
  "\n<out>/report.html (self-contained: the figures, tables, solver diagnostics, configurations).";

/**
 * A validated plot request: each method's statistics, read.
 *
 * @example
 * ```ts
 * const r = await parsePlotArgs(["--storage", "runs", "--dataset", "mnist"]);
 * ```
 */
export type PlotRequest = {
  methods: MethodStats[];
  split: "train" | "test";
  out: string;
  pngScale: number;
  xTitle: string;
  /** The report's title. */
  title: string;
  sources: Record<string, string>;
};

/**
 * Parses the command line and reads the statistics: a missing directory, a directory without
 * statistics, two directories of one method, or methods of different experiments are
 * InvalidArgumentErrors (nothing is written).
 *
 * @example
 * ```ts
 * const r = await parsePlotArgs(["--stats", "runs/a-standard-seed-stats,runs/a-implicit-seed-stats", "--out", "fig"]);
 * ```
 */
export async function parsePlotArgs(args: string[]): Promise<PlotRequest | "help"> {
  const parsed = parseFlags(args, PLOT_FLAGS);
  if (parsed === "help") return "help";
  const { values: v, given } = parsed;
  let dirs: string[];
  const storage = resolve(expandHome(v.storage!));
  if (v.stats.length > 0) {
    for (const f of ["storage", "dataset", "model", "methods"] as const) {
      if (given.has(f)) {
        throw new InvalidArgumentError(
          `--${f}`,
          "given with --stats: the directories name the statistics",
        );
      }
    }
    if (v.out === null) {
      throw new InvalidArgumentError("--out", "missing: with --stats, name the output directory");
    }
    dirs = v.stats.map((d) => resolve(expandHome(d)));
  } else {
    for (const m of v.methods) {
      if (!METHODS.includes(m)) {
        throw new InvalidArgumentError("--methods", `got ${m}, allowed: ${METHODS.join(", ")}`);
      }
    }
    dirs = v.methods.map((m) => join(storage, `${v.dataset}-${v.model}-${m}-seed-seed-stats`));
  }
  const flag = v.stats.length > 0 ? "--stats" : "--storage";
  const methods: MethodStats[] = [];
  const sources: Record<string, string> = {};
  let experiment: SplitSeedStats["experiment"] | null = null;
  for (const dir of dirs) {
    const files: MethodStats["files"] = {};
    for (const split of ["train", "test", "training"] as const) {
      const path = join(dir, `${split}.json`);
      if (await exists(path)) {
        files[split] = await readJsonFile<SplitSeedStats>(path);
      }
    }
    const any = files.train ?? files.test ?? files.training;
    if (any === undefined) {
      throw new InvalidArgumentError(
        flag,
        `${dir} holds no seed statistics (run \`deno task seed-stats\` for that method first)`,
      );
    }
    const e = any.experiment;
    if (e === undefined) {
      throw new InvalidArgumentError(
        flag,
        `${dir}: statistics from an older toolkit (rerun seed-stats)`,
      );
    }
    if (sources[e.method] !== undefined) {
      throw new InvalidArgumentError(flag, `${sources[e.method]} and ${dir} are both ${e.method}`);
    }
    if (
      experiment !== null &&
      (e.dataset !== experiment.dataset || e.model !== experiment.model ||
        e.numClasses !== experiment.numClasses)
    ) {
      throw new InvalidArgumentError(
        flag,
        `${dir} is ${e.dataset}/${e.model} (K = ${e.numClasses}), the others ${experiment.dataset}/${experiment.model} (K = ${experiment.numClasses})`,
      );
    }
    experiment ??= e;
    sources[e.method] = dir;
    methods.push({ method: e.method, files });
  }
  methods.sort((a, b) => METHODS.indexOf(a.method) - METHODS.indexOf(b.method));
  return {
    methods,
    split: v.split as "train" | "test",
    out: v.out !== null
      ? resolve(expandHome(v.out))
      : join(storage, `${v.dataset}-${v.model}-figures`),
    pngScale: v.png_scale!,
    xTitle: experiment!.model === "ufm" ? "iteration" : "epoch",
    title: `${experiment!.dataset} / ${experiment!.model}: ${
      methods.map((m) => m.method).join(", ")
    }`,
    sources,
  };
}

/**
 * Draws every panel that has data; returns the index written to `figures.json`.
 *
 * @example
 * ```ts
 * const r = await parsePlotArgs([]);
 * if (r !== "help") await runPlot(r, { log: console.error });
 * ```
 */
export async function runPlot(
  request: PlotRequest,
  io: { log: (line: string) => void },
): Promise<{ panels: { id: string; title: string; files: string[] }[]; skipped: string[] }> {
  await Deno.mkdir(request.out, { recursive: true });
  const panels: { id: string; title: string; files: string[] }[] = [], skipped: string[] = [];
  const svgs: { id: string; title: string; svg: string }[] = [];
  const started = performance.now();
  for (const panel of PANELS(request.split)) {
    const rows = panelRows(panel, request.methods);
    if (rows === null) {
      skipped.push(panel.id);
      continue;
    }
    // The legend lists the methods this panel has data for (only the implicit head solves).
    const spec = panelSpec(panel, rows, {
      methods: METHODS.filter((m) => rows.some((r) => r.method === m)),
      xTitle: request.xTitle,
    });
    const svg = await renderSvg(spec);
    const png = await renderPng(svg, request.pngScale);
    const files = [`${panel.id}.vl.json`, `${panel.id}.svg`, `${panel.id}.png`];
    await atomicWriteFile(join(request.out, files[0]), JSON.stringify(spec, null, 1) + "\n");
    await atomicWriteFile(join(request.out, files[1]), svg);
    await atomicWriteFile(join(request.out, files[2]), png);
    panels.push({ id: panel.id, title: panel.title, files });
    svgs.push({ id: panel.id, title: panel.title, svg });
  }
  const configs: { path: string; config: unknown }[] = [];
  const runDirs = new Set(
    request.methods.flatMap((m) => Object.values(m.files).flatMap((f) => f?.runs ?? [])),
  );
  for (const run of runDirs) {
    const path = join(run, "config.json");
    if (await exists(path)) {
      configs.push({ path: run, config: await readJsonFile(path) });
    }
  }
  await atomicWriteFile(
    join(request.out, "report.html"),
    reportHtml({ title: request.title, figures: svgs, methods: request.methods, configs }),
  );
  const index = {
    panels,
    skipped,
    report: "report.html",
    methods: request.methods.map((m) => m.method),
    sources: request.sources,
    split: request.split,
  };
  await atomicWriteFile(join(request.out, "figures.json"), JSON.stringify(index, null, 1) + "\n");
  io.log(
    `plot: ${panels.length} panels in ${
      ((performance.now() - started) / 1000).toFixed(1)
    } s → ${request.out}` +
      (skipped.length ? ` (no data for ${skipped.join(", ")})` : ""),
  );
  return { panels, skipped };
}
