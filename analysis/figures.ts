/**
 * The paper's figure panels as Vega-Lite specifications, from the seed statistics
 * (`deno task seed-stats`) of each method: one panel per metric, every method in each panel as
 * its median over seeds (a line) inside its min–max band, epochs on the x-axis (iterations for
 * the UFM, whose epoch is one full-batch step), a log y-axis where the paper uses one. Pure: the
 * specs are plain JSON (analysis/render.ts draws them).
 *
 * @module
 */
import type { SplitSeedStats } from "./seed_stats_task.ts";

/**
 * One panel: which statistics file and series it shows, and how.
 *
 * @example
 * ```ts
 * const p: Panel = { id: "nc1", title: "NC1", split: "train", series: "nc1", y: "NC1", log: true };
 * ```
 */
export type Panel = {
  /** File name of the figure (`<id>.svg`). */
  id: string;
  title: string;
  /** Which statistics file: a split of `nc` or the trainer's per-epoch record. */
  split: "train" | "test" | "training";
  /** The series key, or "margins" for the last epoch's sorted cosine margins. */
  series: string;
  /** The y-axis title. */
  y: string;
  /** A log y-axis (non-positive values are left out of it). */
  log: boolean;
};

/**
 * The panels, in the paper's order (`split` is where the NC metrics come from: the train split
 * by default, as the paper's figures).
 *
 * @example
 * ```ts
 * PANELS("train").map((p) => p.id); // ["train-top1", "test-top1", "loss", "nc1", …]
 * ```
 */
export function PANELS(split: "train" | "test"): Panel[] {
  const s = split;
  return [
    {
      id: "train-top1",
      title: "Train top-1 accuracy",
      split: "train",
      series: "top1",
      y: "top-1 (%)",
      log: false,
    },
    {
      id: "test-top1",
      title: "Test top-1 accuracy",
      split: "test",
      series: "top1",
      y: "top-1 (%)",
      log: false,
    },
    { id: "loss", title: "Training loss", split: "training", series: "loss", y: "loss", log: true },
    { id: "nc1", title: `NC1 (${s})`, split: s, series: "nc1", y: "tr(Σ_W Σ_B⁺)/K", log: true },
    { id: "nc2", title: `NC2: W to a simplex ETF`, split: s, series: "nc2", y: "NC2", log: true },
    { id: "nc3", title: `NC3: self-duality (${s})`, split: s, series: "nc3", y: "NC3", log: true },
    {
      id: "nc4",
      title: `NC4: bias collapse (${s})`,
      split: s,
      series: "nc4",
      y: "‖Wμ_G + b‖",
      log: true,
    },
    {
      id: "wh-equinorm",
      title: `WH-equinorm (${s})`,
      split: s,
      series: "whEquinormDiff",
      y: "|W-equinorm − H-equinorm|",
      log: true,
    },
    {
      id: "cos-margin",
      title: `Average cosine margin (${s})`,
      split: s,
      series: "avgCosMargin",
      y: "mean margin",
      log: false,
    },
    {
      id: "margins",
      title: `Sorted cosine margins, last epoch (${s})`,
      split: s,
      series: "margins",
      y: "cosine margin",
      log: false,
    },
    {
      id: "etf-wh",
      title: `‖E_W − E_H‖² (${s})`,
      split: s,
      series: "etfWH",
      y: "‖E_W − E_H‖²",
      log: true,
    },
    {
      id: "etf-w",
      title: "W to its nearest ETF",
      split: s,
      series: "wToEtf",
      y: "‖E_W − Wᵀ/‖W‖‖²",
      log: true,
    },
    {
      id: "etf-h",
      title: `H̄ to its nearest ETF (${s})`,
      split: s,
      series: "hToEtf",
      y: "‖E_H − H̄/‖H̄‖‖²",
      log: true,
    },
    {
      id: "solver-iterations",
      title: "Nearest-ETF solver: iterations per step",
      split: "training",
      series: "solverIterations",
      y: "trust-region iterations (epoch mean)",
      log: false,
    },
    {
      id: "solver-seconds",
      title: "Nearest-ETF solver: seconds per step",
      split: "training",
      series: "solverSeconds",
      y: "seconds (epoch mean)",
      log: true,
    },
    {
      id: "etf-w-ref",
      title: `E_W to the reference epoch's (${s})`,
      split: s,
      series: "wToRef",
      y: "‖E_W − E_W(ref)‖²",
      log: false,
    },
    {
      id: "etf-h-ref",
      title: `E_H to the reference epoch's (${s})`,
      split: s,
      series: "hToRef",
      y: "‖E_H − E_H(ref)‖²",
      log: false,
    },
  ];
}

/** A method's seed statistics by file (`train`, `test`, `training`; absent files absent). */
export type MethodStats = {
  method: string;
  files: Partial<Record<Panel["split"], SplitSeedStats>>;
};

/** One point of a panel's data: the median and the band at x for a method. */
export type PanelRow = { method: string; x: number; median: number; min: number; max: number };

/**
 * The rows of a panel, or null when no method has the series (the panel is then skipped).
 *
 * @example
 * ```ts
 * declare const stats: MethodStats[];
 * const rows = panelRows(PANELS("train")[3], stats);
 * ```
 */
export function panelRows(panel: Panel, methods: readonly MethodStats[]): PanelRow[] | null {
  const rows: PanelRow[] = [];
  let any = false;
  for (const { method, files } of methods) {
    const s = files[panel.split];
    if (s === undefined) continue;
    let xs: number[], st: { median: number[]; min: number[]; max: number[] } | undefined;
    if (panel.series === "margins") {
      if (s.lastEpochMargins === undefined) continue;
      xs = s.lastEpochMargins.ranks;
      st = s.lastEpochMargins;
    } else {
      xs = s.epochs;
      st = s.series[panel.series];
    }
    if (st === undefined) continue;
    any = true;
    for (let i = 0; i < xs.length; i++) {
      const row = { method, x: xs[i], median: st.median[i], min: st.min[i], max: st.max[i] };
      const values = [row.median, row.min, row.max];
      if (values.some((v) => typeof v !== "number" || !Number.isFinite(v))) continue;
      if (panel.log && values.some((v) => v <= 0)) continue;
      rows.push(row);
    }
  }
  return any ? rows : null;
}

/**
 * The Vega-Lite spec of a panel: a min–max band (area) and a median line per method, colour by
 * method (a fixed order, so a method keeps its colour across panels).
 *
 * @example
 * ```ts
 * const spec = panelSpec(PANELS("train")[3], [{ method: "implicit", x: 5, median: 1, min: 0.5, max: 2 }], {
 *   methods: ["standard", "fixed", "implicit"],
 *   xTitle: "epoch",
 * });
 * ```
 */
export function panelSpec(
  panel: Panel,
  rows: PanelRow[],
  options: { methods: readonly string[]; xTitle: string },
): Record<string, unknown> {
  const margins = panel.series === "margins";
  const x = {
    field: "x",
    type: "quantitative",
    title: margins ? "sample rank (fraction, sorted)" : options.xTitle,
    // Epochs and iterations are whole numbers: no ticks between them.
    ...(margins ? {} : { axis: { tickMinStep: 1, format: "d" } }),
  };
  const y = {
    field: "median",
    type: "quantitative",
    title: panel.y,
    ...(panel.log ? { scale: { type: "log" } } : {}),
  };
  const color = {
    field: "method",
    type: "nominal",
    title: "method",
    scale: { domain: [...options.methods], scheme: "category10" },
  };
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: panel.title,
    width: 360,
    height: 240,
    background: "white",
    config: { font: "DejaVu Sans" },
    data: { values: rows },
    layer: [
      {
        mark: { type: "area", opacity: 0.2 },
        encoding: { x, y: { ...y, field: "min" }, y2: { field: "max" }, color },
      },
      { mark: { type: "line", point: rows.length <= 200 }, encoding: { x, y, color } },
    ],
  };
}
