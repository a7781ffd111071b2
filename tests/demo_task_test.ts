/**
 * `deno task demo --ci` (analysis/demo_task.ts): every stage of the demo at a reduced size — two
 * experiments through `deno task paper`, three methods × two seeds — exits 0, writes both reports,
 * and prints tables whose every value equals what the seed statistics it reads hold (recomputed
 * here from the JSON: the first epoch at which every seed's clean train top-1 is 100 %, the
 * medians and the min–max of the last epoch).
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { assert, assertEquals } from "./assert.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

Deno.test("demo --ci: every stage runs, and the printed tables are the seed statistics' values", async () => {
  const storage = await Deno.makeTempDir({ prefix: "nc-demo-test-" });
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["task", "-q", "demo", "--ci", "--storage", storage],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(out.stdout),
    stderr = new TextDecoder().decode(out.stderr);
  assertEquals(out.code, 0, stderr);
  const sci = (v: number) => v.toExponential(2);
  for (
    const [prefix, title] of [["synthetic-ufm", "UFM-10"], [
      "mnist-resnet18",
      "MNIST (quick preset)",
    ]]
  ) {
    assert(stdout.includes(title), `${title} table`);
    assert(
      Deno.statSync(join(storage, `${prefix}-figures`, "report.html")).isFile,
      `${prefix} report`,
    );
    for (const method of ["standard", "fixed", "implicit"]) {
      const dir = join(storage, `${prefix}-${method}-seed-seed-stats`);
      const train = JSON.parse(Deno.readTextFileSync(join(dir, "train.json")));
      const last = train.epochs.length - 1;
      const first = train.epochs.find((_: number, i: number) => train.series.top1.min[i] === 100);
      let test = "—";
      try {
        const t = JSON.parse(Deno.readTextFileSync(join(dir, "test.json")));
        test = `${t.series.top1.median[t.epochs.length - 1].toFixed(2)}%`;
      } catch {
        assertEquals(prefix, "synthetic-ufm", "only the UFM has no test split");
      }
      const s = train.series;
      const row =
        `| ${method} | ${first ?? "not reached"} | ${sci(s.nc1.median[last])} | ${
          sci(s.nc3.median[last])
        } | ` +
        `${sci(s.whEquinormDiff.median[last])} | ${test} | ${sci(s.nc1.min[last])}–${
          sci(s.nc1.max[last])
        } |`;
      assert(stdout.includes(row), `${prefix} ${method}: expected row\n${row}\nin\n${stdout}`);
    }
  }
});
