/**
 * The HTML report of an experiment (`<figures>/report.html`, written by `deno task plot`): one
 * self-contained file that opens offline — every figure inline as SVG, the seed-statistics tables
 * of the last epoch, the nearest-ETF solver's diagnostics (trust-region iterations and seconds per
 * training step) and every run's configuration. No scripts, no external resources.
 *
 * @module
 */
import type { MethodStats } from "./figures.ts";
import { formatStatistic, type SplitSeedStats } from "./seed_stats_task.ts";

/** Escapes text for HTML. */
function esc(s: string): string {
  return s.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll(
    '"',
    "&quot;",
  );
}

const fmt = formatStatistic;

/** The last epoch's statistics of every series of one file, as an HTML table. */
function statsTable(s: SplitSeedStats): string {
  const e = s.epochs.length - 1;
  const rows = Object.entries(s.series).map(([key, st]) =>
    `<tr><td>${esc(key)}</td><td>${fmt(st.mean[e])} ± ${fmt(st.std[e])}</td><td>${
      fmt(st.median[e])
    }</td>` +
    `<td>${fmt(st.min[e])}</td><td>${fmt(st.max[e])}</td></tr>`
  );
  return `<table><caption>${esc(s.experiment.method)}, ${esc(s.split)}, epoch ${s.epochs[e]}, ` +
    `${s.uids.length} runs (${esc(s.uids.join(", "))}); std with ddof 1</caption>` +
    "<thead><tr><th>series</th><th>mean ± std</th><th>median</th><th>min</th><th>max</th></tr></thead>" +
    `<tbody>${rows.join("")}</tbody></table>`;
}

/** Per method: the solver's mean iterations and seconds per step over all epochs and at the last. */
function solverTable(methods: readonly MethodStats[]): string {
  const rows: string[] = [];
  for (const { method, files } of methods) {
    const t = files.training;
    const it = t?.series.solverIterations,
      sec = t?.series.solverSeconds,
      step = t?.series.stepSeconds;
    if (!t || !it || !sec) continue;
    const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
    const last = t.epochs.length - 1;
    rows.push(
      `<tr><td>${esc(method)}</td><td>${fmt(mean(it.median))}</td><td>${
        fmt(it.median[last])
      }</td>` +
        `<td>${fmt(1000 * mean(sec.median))}</td><td>${fmt(1000 * sec.median[last])}</td>` +
        `<td>${step ? fmt(1000 * mean(step.median)) : "—"}</td></tr>`,
    );
  }
  if (rows.length === 0) {
    return "<p>No method solved a nearest-ETF problem per step (only the implicit head does).</p>";
  }
  return "<table><caption>Nearest-ETF solver per training step (medians over seeds of epoch means)</caption>" +
    "<thead><tr><th>method</th><th>TR iterations (all epochs)</th><th>TR iterations (last epoch)</th>" +
    "<th>solver ms (all epochs)</th><th>solver ms (last epoch)</th><th>step ms (all epochs)</th></tr></thead>" +
    `<tbody>${rows.join("")}</tbody></table>`;
}

/**
 * The report's HTML.
 *
 * @example
 * ```ts
 * import type { MethodStats } from "./figures.ts";
 * declare const methods: MethodStats[];
 * const html = reportHtml({ title: "mnist / resnet18", figures: [], methods, configs: [] });
 * ```
 */
export function reportHtml(input: {
  title: string;
  figures: { id: string; title: string; svg: string }[];
  methods: readonly MethodStats[];
  configs: { path: string; config: unknown }[];
}): string {
  const tables = input.methods.flatMap(({ files }) =>
    (["train", "test", "training"] as const).flatMap((s) => files[s] ? [statsTable(files[s]!)] : [])
  );
  const figures = input.figures.map((f) =>
    `<figure id="fig-${esc(f.id)}">${f.svg.replace(/^<\?xml[^>]*>\s*/, "")}<figcaption>${
      esc(f.title)
    }</figcaption></figure>`
  );
  const configs = input.configs.map((c) =>
    `<details><summary>${esc(c.path)}</summary><pre>${
      esc(JSON.stringify(c.config, null, 2))
    }</pre></details>`
  );
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${esc(input.title)}</title>
<style>
body { font-family: "DejaVu Sans", sans-serif; margin: 2em; color: #222; }
.figures { display: flex; flex-wrap: wrap; gap: 1em; }
figure { margin: 0; }
figcaption { font-size: 0.8em; color: #555; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.85em; }
caption { text-align: left; font-weight: bold; padding: 0.3em 0; }
td, th { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: right; }
td:first-child, th:first-child { text-align: left; }
pre { font-size: 0.8em; background: #f6f6f6; padding: 0.5em; }
</style>
</head>
<body>
<h1>${esc(input.title)}</h1>
<p>Medians over seeds as lines, min–max over seeds as bands. Methods: ${
    esc(input.methods.map((m) => m.method).join(", "))
  }.</p>
<h2>Figures</h2>
<div class="figures">
${figures.join("\n")}
</div>
<h2>Solver diagnostics</h2>
${solverTable(input.methods)}
<h2>Seed statistics (last epoch)</h2>
${tables.join("\n")}
<h2>Run configurations</h2>
${configs.join("\n")}
</body>
</html>
`;
}
