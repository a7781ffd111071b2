/**
 * The figures (analysis/figures.ts, analysis/render.ts, `deno task plot`), specified on small
 * hand-made seed statistics of three methods:
 *
 * - every panel's data rows are the statistics themselves (median, min, max at each epoch), with
 *   non-finite points and, on log axes, non-positive points left out;
 * - each SVG is well-formed XML with one band (area path) and one line path per method, the axis
 *   titles, the panel title and the legend's method names; each PNG decodes, has the SVG's size
 *   times the scale, and has dark (text) pixels in its title area;
 * - rendering is deterministic (the same input gives the same bytes) and one small panel matches a
 *   golden SVG (tests/fixtures/golden_nc1.svg; regenerate it with `UPDATE_GOLDEN=1`);
 * - `deno task plot` writes every panel from seed-stats directories, and bad input exits 2
 *   writing nothing.
 */
import pngjs from "npm:pngjs@7.0.0";
import { XMLValidator } from "npm:fast-xml-parser@4.5.7";
import { Buffer } from "node:buffer";
import { join } from "node:path";
import { assert, assertEquals } from "./assert.ts";
import { denoTask } from "./support/deno_task.ts";
import { type MethodStats, panelRows, PANELS, panelSpec } from "../analysis/figures.ts";
import { renderPng, renderSvg } from "../analysis/render.ts";
import { handMadeStats } from "./support/seed_stats_fixture.ts";

const GOLDEN = new URL("./fixtures/golden_nc1.svg", import.meta.url);
const METHODS = ["standard", "fixed", "implicit"];

const methods: MethodStats[] = METHODS.map((m, i) => ({
  method: m,
  files: {
    train: handMadeStats(m, "train", i + 1),
    test: handMadeStats(m, "test", i + 1),
    training: handMadeStats(m, "training", i + 1),
  },
}));

Deno.test("figures: a panel's rows are the median and band of each method; bad points are dropped", () => {
  const nc1 = PANELS("train").find((p) => p.id === "nc1")!;
  const rows = panelRows(nc1, methods)!;
  assertEquals(rows.length, 12);
  assertEquals(rows[1], {
    method: "standard",
    x: 10,
    median: 0.1,
    min: 0.09000000000000001,
    max: 0.11000000000000001,
  });
  assertEquals(rows[4].method, "fixed");
  // A non-finite median and, on a log axis, a zero minimum leave their points out.
  const broken = structuredClone(methods);
  broken[0].files.train!.series.nc1.median[0] = NaN;
  broken[1].files.train!.series.nc1.min[2] = 0;
  assertEquals(panelRows(nc1, broken)!.length, 10);
  // A series no method has: no panel.
  assertEquals(panelRows({ ...nc1, series: "nothing" }, methods), null);
  const margins = panelRows(PANELS("train").find((p) => p.id === "margins")!, methods)!;
  assertEquals(margins.map((r) => r.x).slice(0, 3), [0, 0.5, 1]);
});

Deno.test("figures: each panel's SVG holds one band and one line per method, titles and legend; its PNG has text", async () => {
  for (const panel of PANELS("train")) {
    const rows = panelRows(panel, methods)!;
    const spec = panelSpec(panel, rows, { methods: METHODS, xTitle: "epoch" });
    const svg = await renderSvg(spec);
    assertEquals(XMLValidator.validate(svg), true, `${panel.id}: well-formed`);
    // Vega draws each method's area and line as its own mark group holding one path.
    const groups = (
      kind: string,
    ) => [
      ...svg.matchAll(
        new RegExp(`<g class="mark-${kind} role-mark[^"]*"[^>]*>(<path [^>]*/>)</g>`, "g"),
      ),
    ];
    assertEquals(groups("area").length, 3, `${panel.id}: one band per method`);
    assertEquals(groups("line").length, 3, `${panel.id}: one line per method`);
    // Each method's band and line carry its colour.
    const colours = (kind: string) =>
      groups(kind).map((m) => /(?:fill|stroke)="(#[0-9a-f]{6})"/.exec(m[1])?.[1]);
    assertEquals(new Set(colours("area")).size, 3, `${panel.id}: three band colours`);
    assertEquals(colours("area"), colours("line"), `${panel.id}: band and line colours match`);
    const text = [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);
    for (const want of [panel.title, panel.y, ...METHODS]) {
      const escaped = want.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");
      assert(text.includes(escaped), `${panel.id}: text "${want}" in ${JSON.stringify(text)}`);
    }
    const xTitle = panel.id === "margins" ? "sample rank (fraction, sorted)" : "epoch";
    assert(text.includes(xTitle), `${panel.id}: x title`);
    const png = pngjs.PNG.sync.read(Buffer.from(await renderPng(svg, 2)));
    const w = Number(/<svg[^>]* width="(\d+)"/.exec(svg)![1]),
      h = Number(/<svg[^>]* height="(\d+)"/.exec(svg)![1]);
    assertEquals([png.width, png.height], [2 * w, 2 * h], `${panel.id}: PNG size`);
    // The title is at the top: some dark pixels in the top 15 % (text), on a white background.
    let dark = 0;
    for (let y = 0; y < Math.floor(png.height * 0.15); y++) {
      for (let x = 0; x < png.width; x++) {
        const i = 4 * (y * png.width + x);
        if (png.data[i] < 100 && png.data[i + 1] < 100 && png.data[i + 2] < 100) dark++;
      }
    }
    assert(dark > 50, `${panel.id}: ${dark} dark pixels in the title area`);
  }
});

Deno.test("figures: rendering is deterministic and matches the golden SVG", async () => {
  const panel = PANELS("train").find((p) => p.id === "nc1")!;
  const spec = panelSpec(panel, panelRows(panel, methods)!, { methods: METHODS, xTitle: "epoch" });
  const a = await renderSvg(spec), b = await renderSvg(structuredClone(spec));
  assertEquals(a, b);
  const pa = await renderPng(a), pb = await renderPng(b);
  assertEquals(pa, pb);
  if (Deno.env.get("UPDATE_GOLDEN") === "1") await Deno.writeTextFile(GOLDEN, a);
  assertEquals(a, await Deno.readTextFile(GOLDEN), "golden SVG (UPDATE_GOLDEN=1 rewrites it)");
});

const task = (args: string[]) => denoTask("plot", args);

Deno.test("figures: deno task plot draws every panel from seed-stats directories; bad input exits 2", async () => {
  const storage = await Deno.makeTempDir({ prefix: "nc-plot-test-" });
  for (const m of methods) {
    const dir = join(storage, `mnist-resnet18-${m.method}-seed-seed-stats`);
    Deno.mkdirSync(dir);
    for (const [split, s] of Object.entries(m.files)) {
      Deno.writeTextFileSync(join(dir, `${split}.json`), JSON.stringify(s));
    }
  }
  const r = await task([
    "--storage",
    storage,
    "--dataset",
    "mnist",
    "--model",
    "resnet18",
    "--methods",
    "standard,fixed,implicit",
    "--split",
    "train",
    "--png_scale",
    "1",
  ]);
  assertEquals(r.code, 0, r.stderr);
  const out = join(storage, "mnist-resnet18-figures");
  const index = JSON.parse(Deno.readTextFileSync(join(out, "figures.json")));
  assertEquals(index.panels.length, PANELS("train").length);
  assertEquals(index.methods, METHODS);
  for (const p of index.panels) {
    for (const f of p.files) assert(Deno.statSync(join(out, f)).size > 0, f);
    JSON.parse(Deno.readTextFileSync(join(out, `${p.id}.vl.json`)));
  }
  // --stats with two methods.
  const two = join(storage, "two");
  const s = await task([
    "--stats",
    `${join(storage, "mnist-resnet18-fixed-seed-seed-stats")},${
      join(storage, "mnist-resnet18-implicit-seed-seed-stats")
    }`,
    "--out",
    two,
  ]);
  assertEquals(s.code, 0, s.stderr);
  assertEquals(JSON.parse(Deno.readTextFileSync(join(two, "figures.json"))).methods, [
    "fixed",
    "implicit",
  ]);
  const bad: [string[], string][] = [
    [["--storage", join(storage, "none")], "no seed statistics"],
    [["--methods", "best"], "--methods"],
    [["--stats", join(storage, "mnist-resnet18-fixed-seed-seed-stats")], "--out"],
    [[
      "--stats",
      `${join(storage, "mnist-resnet18-fixed-seed-seed-stats")},${
        join(storage, "mnist-resnet18-fixed-seed-seed-stats")
      }`,
      "--out",
      join(storage, "x"),
    ], "both fixed"],
    [["--split", "val", "--storage", storage], "--split"],
  ];
  for (const [args, needle] of bad) {
    const before = [...Deno.readDirSync(storage)].map((e) => e.name).sort();
    const b = await task(args);
    assertEquals(b.code, 2, `${args.join(" ")}: ${b.stderr}`);
    assert(
      b.stderr.includes(needle) && !b.stderr.trim().includes("\n"),
      `${args.join(" ")}: ${b.stderr}`,
    );
    assertEquals([...Deno.readDirSync(storage)].map((e) => e.name).sort(), before);
  }
});
