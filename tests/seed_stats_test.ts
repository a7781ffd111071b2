/**
 * Seed statistics (analysis/seed_stats.ts and the table of analysis/seed_stats_task.ts):
 *
 * - `seedStatistics`: mean, std with ddof 1 (divide by n − 1), median (the mean of the two
 *   middle values for an even count, whatever the input order), min, max, against numbers worked
 *   out by hand; the input is not reordered; fewer than two values is an InvalidArgumentError
 *   naming "values"; one non-finite value makes every statistic NaN.
 * - `seriesStatistics`: `values[run][epoch]` gives per-epoch arrays, checked entry by entry.
 * - `lastEpochTable`: the header names the split, the last epoch and the run count; one row per
 *   series in insertion order with the last epoch's "mean ± std", median, min, max; non-finite
 *   values print as "—" and 0 as "0".
 *
 * Tolerances: means, medians, min and max of small integers and halves are exact in float64 and
 * compared exactly; a std involves a rounded mean and a square root, so it is compared to 1e-15
 * relative (a few ulps). Table cells are parsed back and compared to the 4 significant digits the
 * table shows.
 */
import { assert, assertAlmostEquals, assertEquals, assertThrows } from "./assert.ts";
import { InvalidArgumentError } from "../core/errors.ts";
import { seedStatistics, seriesStatistics } from "../analysis/seed_stats.ts";
import { lastEpochTable, type SplitSeedStats } from "../analysis/seed_stats_task.ts";

/** A std to a few ulps. */
function assertStd(actual: number, expected: number, what: string): void {
  assertAlmostEquals(actual, expected, 1e-15 * Math.max(1, expected), what);
}

Deno.test("seedStatistics of [1, 2, 4]: mean 7/3, std sqrt(7/3), median 2", () => {
  const s = seedStatistics([1, 2, 4]);
  assertEquals(Object.keys(s).sort(), ["max", "mean", "median", "min", "std"]);
  assertEquals(s.mean, 7 / 3); // 7 exactly, then one correctly rounded division
  // Deviations −4/3, −1/3, 5/3: squares sum to 42/9 = 14/3; / (n − 1 = 2) = 7/3.
  assertStd(s.std, Math.sqrt(7 / 3), "std");
  assertAlmostEquals(s.std, 1.5275252316519468, 1e-15, "std (decimal)");
  assertEquals([s.median, s.min, s.max], [2, 1, 4]);
});

Deno.test("seedStatistics of two values [3, 1]: std sqrt(2) (ddof 1), median 2", () => {
  const s = seedStatistics([3, 1]);
  // ddof 0 would give 1; ddof 1 gives sqrt((1 + 1)/1).
  assertEquals(s, { mean: 2, std: Math.SQRT2, median: 2, min: 1, max: 3 });
});

Deno.test("seedStatistics: even count, unsorted input → median of the two middle values", () => {
  const values = [5, 1, 4, 2];
  const s = seedStatistics(values);
  assertEquals(values, [5, 1, 4, 2], "the input is not reordered");
  // Sorted 1, 2, 4, 5: median (2 + 4)/2 = 3; mean 12/4 = 3; deviations 2, −2, 1, −1 → 10/3.
  assertEquals([s.mean, s.median, s.min, s.max], [3, 3, 1, 5]);
  assertStd(s.std, Math.sqrt(10 / 3), "std");

  // Six values, middle pair 2.5 and 7 (not adjacent in the input): median 4.75.
  const t = seedStatistics([10, 7, -3, 2.5, 8, 0]);
  assertEquals([t.median, t.min, t.max], [4.75, -3, 10]);
  // mean 24.5/6; Σ(v − mean)² = Σv² − (Σv)²/n = 228.25 − 600.25/6 = 769.25/6; / 5.
  assertAlmostEquals(t.mean, 24.5 / 6, 1e-15, "mean");
  assertStd(t.std, Math.sqrt(769.25 / 30), "std");
});

Deno.test("seedStatistics: odd count, unsorted input with negatives → the middle value", () => {
  const s = seedStatistics([9, -1, 4, 0, 2]);
  // Sorted −1, 0, 2, 4, 9: median 2. mean 14/5 = 2.8; deviations 6.2, −3.8, 1.2, −2.8, −0.8,
  // squares 38.44 + 14.44 + 1.44 + 7.84 + 0.64 = 62.8; / 4 = 15.7.
  assertEquals([s.median, s.min, s.max], [2, -1, 9]);
  assertAlmostEquals(s.mean, 2.8, 1e-15, "mean");
  assertStd(s.std, Math.sqrt(15.7), "std");
});

Deno.test("seedStatistics of constant values: std 0", () => {
  assertEquals(seedStatistics([2.5, 2.5, 2.5]), {
    mean: 2.5,
    std: 0,
    median: 2.5,
    min: 2.5,
    max: 2.5,
  });
  assertEquals(seedStatistics([-4, -4]).std, 0);
  // 0.1 is inexact: the mean may be off by an ulp, so the std is 0 to rounding.
  const s = seedStatistics([0.1, 0.1, 0.1, 0.1]);
  assertAlmostEquals(s.std, 0, 1e-16, "std of 0.1s");
  assertEquals([s.median, s.min, s.max], [0.1, 0.1, 0.1]);
});

Deno.test("seedStatistics: fewer than two values throw InvalidArgumentError naming values", () => {
  for (const values of [[], [1], [NaN]]) {
    const e = assertThrows(() => seedStatistics(values), InvalidArgumentError, "values");
    assertEquals(e.argument, "values");
  }
});

Deno.test("seedStatistics: any non-finite value makes every statistic NaN", () => {
  for (const values of [[1, NaN, 3], [1, Infinity], [-Infinity, 2, 3], [NaN, NaN]]) {
    const s = seedStatistics(values);
    for (const [key, v] of Object.entries(s)) {
      assert(Number.isNaN(v), `${JSON.stringify(values.map(String))}: ${key} = ${v}`);
    }
    assertEquals(Object.keys(s).length, 5);
  }
});

Deno.test("seriesStatistics: values[run][epoch] → per-epoch statistics, entry by entry", () => {
  // Three runs, two epochs. Epoch 0: [1, 2, 4]; epoch 1: [10, 30, 20].
  const s = seriesStatistics([[1, 10], [2, 30], [4, 20]]);
  assertEquals(Object.keys(s).sort(), ["max", "mean", "median", "min", "std"]);
  assertEquals(s.mean, [7 / 3, 20]);
  assertEquals(s.median, [2, 20]);
  assertEquals(s.min, [1, 10]);
  assertEquals(s.max, [4, 30]);
  assertEquals(s.std.length, 2);
  assertStd(s.std[0], Math.sqrt(7 / 3), "std epoch 0");
  // Deviations −10, 10, 0: (100 + 100)/2 = 100.
  assertStd(s.std[1], 10, "std epoch 1");

  // A non-finite value affects only its own epoch.
  const t = seriesStatistics([[1, 5, NaN], [3, 7, 2]]);
  assertEquals(t.mean.slice(0, 2), [2, 6]);
  assertEquals(t.std.slice(0, 2), [Math.SQRT2, Math.SQRT2]);
  assertEquals(t.median.slice(0, 2), [2, 6]);
  for (const k of ["mean", "std", "median", "min", "max"] as const) {
    assertEquals(t[k].length, 3);
    assert(Number.isNaN(t[k][2]), `epoch 2 ${k}`);
  }

  // One run is too few.
  const e = assertThrows(() => seriesStatistics([[1, 2, 3]]), InvalidArgumentError, "values");
  assertEquals(e.argument, "values");
});

/** A series with the given last-epoch statistics, and decoy values at the earlier epochs. */
function series(last: { mean: number; std: number; median: number; min: number; max: number }) {
  const decoy = 777;
  return {
    mean: [decoy, decoy, last.mean],
    std: [decoy, decoy, last.std],
    median: [decoy, decoy, last.median],
    min: [decoy, decoy, last.min],
    max: [decoy, decoy, last.max],
  };
}

function table(): SplitSeedStats {
  return {
    split: "test",
    experiment: { dataset: "mnist", model: "resnet18", method: "implicit", numClasses: 10 },
    runs: ["/r/mnist-seed1", "/r/mnist-seed2", "/r/mnist-seed3"],
    uids: ["mnist-seed1", "mnist-seed2", "mnist-seed3"],
    epochs: [5, 10, 40],
    // Insertion order differs from alphabetical order.
    series: {
      nc3: series({ mean: 0.5, std: 0.25, median: 0.4, min: 0.125, max: 1.5 }),
      etfWH: series({ mean: 12.5, std: 2.75, median: 12, min: 9.5, max: 16 }),
      nc1: series({ mean: NaN, std: NaN, median: NaN, min: NaN, max: Infinity }),
      wToRef: series({ mean: 0, std: 0, median: 0, min: 0, max: 0 }),
    },
    source: { nc3: "nc", etfWH: "etf-distance", nc1: "nc", wToRef: "etf-distance" },
  };
}

/** The cells of the table's body rows, by series name, in row order. */
function bodyRows(md: string): string[][] {
  return md.split("\n")
    .filter((l) => l.startsWith("| ") && !l.startsWith("| series "))
    .map((l) => l.split("|").slice(1, -1).map((c) => c.trim()));
}

/** A shown number is the value to the 4 significant digits shown. */
function assertShown(cell: string, value: number, what: string): void {
  assert(/^-?[0-9.]+(e[-+]?[0-9]+)?$/.test(cell), `${what}: "${cell}" is a number`);
  assertAlmostEquals(Number(cell), value, 5e-5 * Math.abs(value), `${what} ("${cell}")`);
}

Deno.test("lastEpochTable: header with split, last epoch and run count; rows in insertion order", () => {
  const md = lastEpochTable(table());
  assert(md.endsWith("\n"), "ends with a newline");
  const header = md.split("\n")[0];
  assert(header.includes("test"), `header names the split: ${header}`);
  assert(header.includes("epoch 40"), `header names the last epoch: ${header}`);
  assert(!/epoch (5|10)\b/.test(header), `header does not name an earlier epoch: ${header}`);
  assert(header.includes("3 runs"), `header gives the run count: ${header}`);

  const rows = bodyRows(md);
  assertEquals(rows.map((r) => r[0]), ["nc3", "etfWH", "nc1", "wToRef"]);
  for (const r of rows) {
    assertEquals(r.length, 5, `row ${r[0]}: series, mean ± std, median, min, max`);
  }
  assert(!md.includes("777"), "no earlier epoch's value appears");

  const [nc3, etfWH, nc1] = rows;
  const [m, s] = nc3[1].split(" ± ");
  assertShown(m, 0.5, "nc3 mean");
  assertShown(s, 0.25, "nc3 std");
  assertShown(nc3[2], 0.4, "nc3 median");
  assertShown(nc3[3], 0.125, "nc3 min");
  assertShown(nc3[4], 1.5, "nc3 max");
  const [m2, s2] = etfWH[1].split(" ± ");
  assertShown(m2, 12.5, "etfWH mean");
  assertShown(s2, 2.75, "etfWH std");
  assertShown(etfWH[2], 12, "etfWH median");
  assertShown(etfWH[3], 9.5, "etfWH min");
  assertShown(etfWH[4], 16, "etfWH max");
  // Non-finite (NaN and Infinity) show as a dash.
  assertEquals(nc1.slice(1), ["— ± —", "—", "—", "—"]);
});

Deno.test("lastEpochTable: 0 is shown as 0", () => {
  const wToRef = bodyRows(lastEpochTable(table()))[3];
  assertEquals(wToRef, ["wToRef", "0 ± 0", "0", "0", "0"]);
});
