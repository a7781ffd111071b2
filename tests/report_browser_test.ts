/**
 * The HTML report in a real headless browser (Debian's chromium): `deno task plot` writes
 * `report.html` from hand-made seed statistics of three methods; the page refers to nothing
 * outside itself, loads with no console message and no failed resource, and its DOM after load
 * holds every figure as an inline SVG with its marks. A screenshot is saved and its path printed.
 * Ignored when chromium is not installed (`.ci/run` installs it).
 */
import { Buffer } from "node:buffer";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import pngjs from "npm:pngjs@7.0.0";
import { assert, assertEquals } from "./assert.ts";
import { handMadeStats } from "./support/seed_stats_fixture.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => {
  try {
    return Deno.statSync(p).isFile;
  } catch {
    return false;
  }
});
if (!CHROMIUM) console.warn("report_browser_test: no chromium: ignored");

async function chromium(args: string[]) {
  const out = await new Deno.Command(CHROMIUM!, {
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--enable-logging=stderr",
      "--v=0",
      ...args,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test({
  name:
    "report: report.html loads in headless chromium without console errors and shows every figure",
  ignore: !CHROMIUM,
  fn: async () => {
    const storage = await Deno.makeTempDir({ prefix: "nc-report-test-" });
    ["standard", "fixed", "implicit"].forEach((m, i) => {
      const dir = join(storage, `mnist-resnet18-${m}-seed-seed-stats`);
      Deno.mkdirSync(dir);
      for (const split of ["train", "test", "training"] as const) {
        Deno.writeTextFileSync(
          join(dir, `${split}.json`),
          JSON.stringify(handMadeStats(m, split, i + 1)),
        );
      }
    });
    const plot = await new Deno.Command(Deno.execPath(), {
      args: ["task", "-q", "plot", "--storage", storage, "--png_scale", "1"],
      cwd: ROOT,
      stderr: "piped",
    }).output();
    assert(plot.success, new TextDecoder().decode(plot.stderr));
    const out = join(storage, "mnist-resnet18-figures");
    const report = join(out, "report.html");
    const index = JSON.parse(Deno.readTextFileSync(join(out, "figures.json")));
    const html = Deno.readTextFileSync(report);
    // Self-contained: no src or href attribute, no stylesheet or script from elsewhere.
    assertEquals([...html.matchAll(/\s(?:src|href)\s*=/g)].length, 0, "no external references");
    assert(!/<script/i.test(html), "no scripts");

    const dom = await chromium(["--dump-dom", `file://${report}`]);
    assertEquals(dom.code, 0, dom.stderr);
    const figures = [...dom.stdout.matchAll(/<figure id="fig-([a-z0-9-]+)">\s*<svg/g)].map((m) =>
      m[1]
    );
    assertEquals(figures, index.panels.map((p: { id: string }) => p.id), "every figure, inline");
    for (const f of figures) assert(dom.stdout.includes(`id="fig-${f}"`), f);
    assert(
      [...dom.stdout.matchAll(/class="mark-line role-mark/g)].length >= 3 * figures.length - 6,
      "line marks in the DOM",
    );
    // Chromium logs page console messages and failed loads to stderr (with --enable-logging).
    const consoleLines = dom.stderr.split("\n").filter((l) =>
      /CONSOLE|Failed to load|Uncaught|net::ERR/.test(l)
    );
    assertEquals(consoleLines, [], "no console messages or failed loads");

    const shot = join(out, "report.png");
    const s = await chromium([
      "--window-size=1400,3000",
      `--screenshot=${shot}`,
      `file://${report}`,
    ]);
    assertEquals(s.code, 0, s.stderr);
    const png = pngjs.PNG.sync.read(Buffer.from(Deno.readFileSync(shot)));
    assertEquals([png.width, png.height], [1400, 3000]);
    let coloured = 0;
    for (let i = 0; i < png.data.length; i += 4) {
      const [r, g, b] = [png.data[i], png.data[i + 1], png.data[i + 2]];
      if (Math.max(r, g, b) - Math.min(r, g, b) > 60) coloured++;
    }
    assert(coloured > 5000, `the figures' colours are on screen (${coloured} pixels)`);
    console.log(`  screenshot: ${shot}`);
  },
});
