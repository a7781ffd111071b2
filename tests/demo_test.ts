/**
 * The nearest-ETF demo (`deno task etf-demo`, scripts/nearest_etf_demo.ts) run as a subprocess:
 * its JSON summary is self-consistent, the input formats agree (JSON, CSV, and the text files
 * `np.savetxt` writes: space-, comma- or tab-separated, `#` header or a header row), `--output`
 * writes a valid file, and bad flags or inputs exit with code 2 and one line on stderr.
 */
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { assert, assertAlmostEquals, assertAtMost, assertEquals } from "./assert.ts";
import { type Matrix, matrix } from "../solver/matrix.ts";
import { denseCentring, naiveMatmul, orthonormalityGap } from "./helpers.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
/** The etf-demo task's own permissions (deno.json "tasks.etf-demo"). */
const DEMO = ["run", "--allow-read", "--allow-write", "scripts/nearest_etf_demo.ts"];

type Run = { code: number; stdout: string; stderr: string };

async function demo(...args: string[]): Promise<Run> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [...DEMO, ...args],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

// deno-lint-ignore no-explicit-any
type Summary = Record<string, any>;

async function demoJson(...args: string[]): Promise<Summary> {
  const r = await demo(...args, "--json");
  assertEquals(r.code, 0, `demo ${args.join(" ")} failed: ${r.stderr}`);
  const lines = r.stdout.trim().split("\n");
  assertEquals(lines.length, 1, `--json printed ${lines.length} lines`);
  return JSON.parse(lines[0]);
}

/** The summary's numbers agree with each other and with the requested settings. */
function checkSummary(s: Summary, d: number, K: number, minGradientNorm = 1e-6): void {
  assertEquals([s.d, s.K], [d, K]);
  assert(Number.isFinite(s.cost) && s.cost >= 0, `cost ${s.cost}`);
  assert(Number.isFinite(s.gradientNorm), `gradientNorm ${s.gradientNorm}`);
  assertEquals(s.minGradientNorm, minGradientNorm);
  if (s.stoppingReason === "min-gradient-norm") {
    assertAtMost(s.gradientNorm, minGradientNorm, "gradientNorm");
  }
  assert(
    ["min-gradient-norm", "max-iterations", "max-time", "closed-form"].includes(s.stoppingReason),
    `stoppingReason ${s.stoppingReason}`,
  );
  assertAtMost(s.orthonormalityError, 1e-12, "orthonormalityError");
  assertAtMost(s.gramError, 1e-12, "gramError (max|EᵀE − M/(K−1)|)");
  // With Y normalised, f(U) = ‖Y − E‖² = ‖E − Y/‖Y‖‖².
  assert(s.normalised === true);
  assertAlmostEquals(s.etfDistance ** 2, s.cost, 1e-12, "etfDistance² vs cost");
  assertAtMost(Math.abs(s.costDifference), 1e-9, "|cost(TR) − cost(closed form)|");
  assertAlmostEquals(s.cost - s.otherCost, s.costDifference, 1e-15, "costDifference");
  assertAtMost(s.maxDeltaUM, 1e-5, "max|Δ(U·M)|");
  assert(s.seconds >= 0 && s.otherSeconds >= 0);
}

Deno.test("demo: generated 20×4 Y, --json summary is consistent", async () => {
  const s = await demoJson("--d", "20", "--K", "4", "--seed", "3");
  checkSummary(s, 20, 4);
  assertEquals(s.solver, "trust-regions");
  assertEquals(s.otherSolver, "closed-form");
  assertEquals(s.maxIterations, 500);
  assertEquals(s.stoppingReason, "min-gradient-norm");
  assert(s.iterations > 0);
  assertEquals(s.source, "generated: Gaussian, seed 3");

  const cf = await demoJson(
    "--d",
    "20",
    "--K",
    "4",
    "--seed",
    "3",
    "--solver",
    "closed-form",
    "--min-gradient-norm",
    "1e-9",
  );
  checkSummary(cf, 20, 4, 1e-9);
  assertEquals([cf.stoppingReason, cf.iterations, cf.otherSolver], [
    "closed-form",
    0,
    "trust-regions",
  ]);
  assertAlmostEquals(cf.cost, s.cost, 1e-9, "closed-form run vs trust-regions run");
});

Deno.test("demo: the text report shows the diagnostics and the trust-region log", async () => {
  const r = await demo("--d", "20", "--K", "4", "--seed", "3");
  assertEquals(r.code, 0, r.stderr);
  assertEquals(r.stderr, "");
  for (
    const s of [
      "Y is 20×4",
      "generated: Gaussian, seed 3",
      "divided Y by its Frobenius norm",
      "stopping reason     min-gradient-norm",
      "max|UᵀU − I|",
      "trust-region log",
      "tCG stop",
      "‖E − Y/‖Y‖‖_F",
      "max|EᵀE − M/(K−1)|",
      "cosines between the columns of E",
      "cosines between the columns of Y·M",
      "comparison with closed-form",
      "max|Δ(U·M)|",
    ]
  ) assert(r.stdout.includes(s), `text output lacks ${JSON.stringify(s)}`);
  const s = await demoJson("--d", "20", "--K", "4", "--seed", "3");
  const logRows = r.stdout.split("\n").filter((l) => /^\s+\d+\s+\S+e[+-]\d+\s/.test(l));
  assertEquals(logRows.length, s.iterations, "one log row per iteration");
  // The E cosine matrix: 1 on the diagonal, −1/(K−1) off it.
  const lines = r.stdout.split("\n");
  const at = lines.findIndex((l) => l.includes("cosines between the columns of E"));
  for (let i = 0; i < 4; i++) {
    const row = lines[at + 1 + i].trim().split(/\s+/).map(Number);
    row.forEach((v, j) => assertAlmostEquals(v, i === j ? 1 : -1 / 3, 1e-6, `cos(${i},${j})`));
  }

  const unnormalised = await demoJson("--d", "20", "--K", "4", "--seed", "3", "--no-normalise");
  assertEquals(unnormalised.normalised, false);
  assert(unnormalised.cost > s.cost, "the unnormalised Y (norm ≈ 9) is farther from the ETFs");
});

Deno.test("demo: --input as JSON object, nested JSON array and CSV agree", async () => {
  const dir = await Deno.makeTempDir({ prefix: "etf_demo_" });
  try {
    const rows = [[1, 0, 0.5], [0, 1, -0.25], [0.5, -2e-1, 3], [0, 0, 1], [1.5, 2, -1]];
    const d = rows.length, K = rows[0].length;
    const object = join(dir, "means.json"), nested = join(dir, "nested.json");
    const csv = join(dir, "means.csv");
    await Deno.writeTextFile(object, JSON.stringify({ rows: d, cols: K, data: rows.flat() }));
    await Deno.writeTextFile(nested, JSON.stringify(rows, null, 2));
    await Deno.writeTextFile(csv, rows.map((r) => r.join(", ")).join("\r\n") + "\n\n");
    const results = [];
    for (const file of [object, nested, csv]) {
      const s = await demoJson("--input", file);
      checkSummary(s, d, K);
      assertEquals(s.source, `from ${file}`);
      const norm = Math.hypot(...rows.flat());
      assertAlmostEquals(s.inputNorm, norm, 1e-12, "inputNorm");
      results.push(s);
    }
    assertEquals(results[1].cost, results[0].cost);
    assertEquals(results[2].cost, results[0].cost);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** A Python with numpy (the test writes its input files with `np.savetxt`), or null. */
const NUMPY_PYTHON = await (async () => {
  for (const python of ["python3", "/usr/bin/python3"]) {
    const ok = await new Deno.Command(python, {
      args: ["-c", "import numpy"],
      stdout: "null",
      stderr: "null",
    }).output().then((o) => o.success, () => false);
    if (ok) return python;
  }
  return null;
})();
if (NUMPY_PYTHON === null) console.warn("demo_test: no python3 with numpy; skipping savetxt test");

Deno.test({
  name: "demo: --input reads np.savetxt files (spaces, commas, tabs, # header, header row)",
  ignore: NUMPY_PYTHON === null,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "etf_demo_" });
    try {
      // Each call writes the same 6×3 Y (full float64 precision with the default %.18e); the
      // JSON copy is the reference.
      const script = `
import json, sys
import numpy as np
d = sys.argv[1]
Y = np.random.default_rng(5).standard_normal((6, 3)) * 10.0 ** np.arange(-1, 2)
json.dump(Y.tolist(), open(d + "/ref.json", "w"))
np.savetxt(d + "/default.txt", Y)
np.savetxt(d + "/header.txt", Y, header="class means, d = 6, K = 3")
np.savetxt(d + "/comma.csv", Y, delimiter=",")
np.savetxt(d + "/comma_header.csv", Y, delimiter=",", header="class means")
np.savetxt(d + "/comma_names.csv", Y, delimiter=",", header="c0,c1,c2", comments="")
np.savetxt(d + "/space_names.txt", Y, fmt="%.17g", header="class_0 class_1 class_2", comments="")
np.savetxt(d + "/tabs.tsv", Y, delimiter="\\t", header="tab-separated")
`;
      const py = await new Deno.Command(NUMPY_PYTHON!, { args: ["-c", script, dir] }).output();
      assert(py.success, new TextDecoder().decode(py.stderr));
      const ref = await demoJson("--input", join(dir, "ref.json"));
      checkSummary(ref, 6, 3);
      const cases: [string, number | null][] = [
        ["default.txt", null],
        ["header.txt", null],
        ["comma.csv", null],
        ["comma_header.csv", null],
        ["comma_names.csv", 1],
        ["space_names.txt", 1],
        ["tabs.tsv", null],
      ];
      for (const [name, headerLine] of cases) {
        const file = join(dir, name);
        const r = await demo("--input", file, "--json");
        assertEquals(r.code, 0, `${name}: ${r.stderr}`);
        const s = JSON.parse(r.stdout);
        checkSummary(s, 6, 3);
        assertEquals(s.inputNorm, ref.inputNorm, `${name}: the same Y, to the last bit`);
        assertEquals(s.cost, ref.cost, `${name}: cost`);
        if (headerLine === null) assertEquals(r.stderr, "", `${name}: stderr`);
        else {
          const lines = r.stderr.trimEnd().split("\n");
          assertEquals(lines.length, 1, `${name}: one note on stderr:\n${r.stderr}`);
          assert(
            lines[0].includes(`${file}:${headerLine}: skipped a header row`),
            `${name}: ${lines[0]}`,
          );
        }
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

function fromJson(m: { rows: number; cols: number; data: number[] }): Matrix {
  assertEquals(m.data.length, m.rows * m.cols);
  return matrix(m.rows, m.cols, Float64Array.from(m.data));
}

Deno.test("demo: --output writes a valid JSON file, atomically, with orthonormal U", async () => {
  const dir = await Deno.makeTempDir({ prefix: "etf_demo_" });
  try {
    for (const solver of ["trust-regions", "closed-form"]) {
      const path = join(dir, `result-${solver}.json`);
      await Deno.writeTextFile(path, "stale"); // replaced, not appended to
      const s = await demoJson(
        "--d",
        "12",
        "--K",
        "5",
        "--seed",
        "7",
        "--solver",
        solver,
        "--output",
        path,
      );
      const out = JSON.parse(await Deno.readTextFile(path));
      const U = fromJson(out.U), E = fromJson(out.E);
      assertEquals([U.rows, U.cols, E.rows, E.cols], [12, 5, 12, 5]);
      assertAtMost(orthonormalityGap(U), 1e-12, `${solver}: max|UᵀU − I| (naive)`);
      // E = U·M/sqrt(K−1), checked with a dense M and the naive product.
      const UM = naiveMatmul(U, denseCentring(5));
      for (let i = 0; i < E.data.length; i++) {
        assertAlmostEquals(E.data[i], UM.data[i] / 2, 1e-14, `${solver}: E entry ${i}`);
      }
      assertEquals(out.cost, s.cost);
      assertEquals(out.gradientNorm, s.gradientNorm);
      assertEquals(out.iterations, s.iterations);
      assertEquals(out.stoppingReason, s.stoppingReason);
      assert(typeof out.seconds === "number" && out.seconds >= 0);
      assert(Array.isArray(out.log));
      assertEquals(out.log.length, solver === "closed-form" ? 0 : s.iterations);
      if (out.log.length > 0) {
        const last = out.log[out.log.length - 1];
        for (
          const key of [
            "iteration",
            "cost",
            "gradientNorm",
            "radius",
            "rho",
            "innerIterations",
            "tcgStop",
            "accepted",
          ]
        ) assert(key in last, `log entry lacks ${key}`);
        assertEquals(last.gradientNorm, out.gradientNorm);
      }
    }
    // No temporary files are left behind.
    const names = [];
    for await (const e of Deno.readDir(dir)) names.push(e.name);
    assertEquals(names.sort(), ["result-closed-form.json", "result-trust-regions.json"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("demo: bad flags and inputs exit 2 with one line on stderr", async () => {
  const dir = await Deno.makeTempDir({ prefix: "etf_demo_" });
  try {
    const badCsv = join(dir, "bad.csv");
    await Deno.writeTextFile(badCsv, "1,2\n3,4\n5,oops\n");
    const raggedCsv = join(dir, "ragged.csv");
    await Deno.writeTextFile(raggedCsv, "1,2\n3,4,5\n");
    const badJson = join(dir, "bad.json");
    await Deno.writeTextFile(badJson, '{"rows": 3, "cols": 2,\n "data": [1, 2, 3,\n 4, 5 6]}');
    const wideCsv = join(dir, "wide.csv");
    await Deno.writeTextFile(wideCsv, "1,2,3\n4,5,6\n");
    const raggedTxt = join(dir, "ragged.txt");
    await Deno.writeTextFile(raggedTxt, "# means\n1.0 2.0 3.0\n\n4.0 5.0\n");
    const wordTxt = join(dir, "word.txt");
    await Deno.writeTextFile(wordTxt, "a b\n1 2\n3 x\n");
    const emptyCell = join(dir, "empty.csv");
    await Deno.writeTextFile(emptyCell, "1,2\n3,\n");
    const nanTxt = join(dir, "nan.txt");
    await Deno.writeTextFile(nanTxt, "1 2\nnan 4\n");
    const headerOnly = join(dir, "header_only.csv");
    await Deno.writeTextFile(headerOnly, "# comment\na,b\n\n");
    const cases: [string[], string[]][] = [
      [["--K", "1"], ["--K", '"1"']],
      [["--solver", "nope"], ["--solver", "nope", "trust-regions", "closed-form"]],
      [["--input", badCsv], [`${badCsv}:3`, "row 3, column 2", "oops", "not a number"]],
      [["--input", raggedCsv], [`${raggedCsv}:2`, "row 2 has 3 values, expected 2"]],
      [["--input", raggedTxt], [`${raggedTxt}:4`, "row 2 has 2 values", "column 3 is missing"]],
      [["--input", wordTxt], [`${wordTxt}:3`, "row 2, column 2", '"x"', "whitespace-separated"]],
      [["--input", emptyCell], [`${emptyCell}:2`, "row 2, column 2 is empty"]],
      [["--input", nanTxt], [`${nanTxt}:2`, "row 2, column 1", '"nan"', "not a finite number"]],
      [["--input", headerOnly], [`${headerOnly}:2`, "only a header row"]],
      [["--input", badJson], [`${badJson}:3:`]],
      [["--input", wideCsv], ["Y:", "d ≥ K", wideCsv]],
      [["--input", join(dir, "missing.json")], ["--input", "missing.json"]],
      [["--input", join(dir, "means.npy")], ["--input", '".npy"', ".json, .csv, .tsv, .txt"]],
      [["--unknown-flag"], ["--unknown-flag"]],
      [["--d", "3", "--K", "5"], ["--d", "--K"]],
      [["--d", "0"], ["--d"]],
      [["--max-iterations", "2.5"], ["--max-iterations", "2.5"]],
      [["--min-gradient-norm", "abc"], ["--min-gradient-norm", "abc"]],
      [["--seed", "1", "--input", badCsv], ["--seed", "--input"]],
      [["--K"], ["--K"]],
      [["positional"], ["positional"]],
      [["--output", join(dir, "no", "such", "dir.json"), "--d", "4", "--K", "2"], ["--output"]],
    ];
    for (const [args, needles] of cases) {
      const r = await demo(...args);
      const what = `demo ${args.join(" ")}`;
      assertEquals(r.code, 2, `${what}: exit code (stderr: ${r.stderr})`);
      assertEquals(r.stdout, "", `${what}: stdout`);
      const lines = r.stderr.trimEnd().split("\n");
      assertEquals(lines.length, 1, `${what}: stderr has ${lines.length} lines:\n${r.stderr}`);
      assert(!r.stderr.includes("    at "), `${what}: stack trace in stderr`);
      for (const n of needles) assert(lines[0].includes(n), `${what}: "${lines[0]}" lacks ${n}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("demo: --help", async () => {
  const r = await demo("--help");
  assertEquals(r.code, 0, r.stderr);
  for (const flag of ["--input", "--seed", "--solver", "--max-iterations", "--no-normalise"]) {
    assert(r.stdout.includes(flag), `--help lacks ${flag}`);
  }
});
