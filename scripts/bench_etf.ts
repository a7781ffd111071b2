/**
 * Benchmark of the nearest-ETF node, forward + backward per call, on a training-like sequence
 * (issue 2): Y₀ random with unit norm, `Y_t = normalise(Y_{t−1} + 0.05·G_t/sqrt(dK))`, each solve
 * started at and proximal to the previous solution, the first from the feasibility solution.
 *
 *   deno task bench                      # all default cases
 *   deno task bench --case 512x10 --steps 50
 *
 * Prints one line per (case, method) with the median, 10th and 90th percentile seconds per
 * forward+backward call, mean trust-region iterations, and the process's peak RSS.
 *
 * @module
 */
import { parseArgs } from "node:util";
import {
  frobeniusNorm,
  type Matrix,
  nearestEtf,
  nearestEtfVjp,
  randomNormal,
  Rng,
} from "../mod.ts";

type Method = {
  name: string;
  solver: "trust-regions" | "closed-form";
  backward: "ddn" | "closed-form";
};
const METHODS: Method[] = [
  { name: "trust-regions+ddn", solver: "trust-regions", backward: "ddn" },
  { name: "closed-form", solver: "closed-form", backward: "closed-form" },
];
const CASES: Record<string, { d: number; K: number; steps: number; methods: string[] }> = {
  "512x10": { d: 512, K: 10, steps: 50, methods: ["trust-regions+ddn", "closed-form"] },
  "512x100": { d: 512, K: 100, steps: 50, methods: ["trust-regions+ddn", "closed-form"] },
  "1024x1000": { d: 1024, K: 1000, steps: 10, methods: ["trust-regions+ddn", "closed-form"] },
  "2048x1000": { d: 2048, K: 1000, steps: 10, methods: ["trust-regions+ddn", "closed-form"] },
};

const HELP = `deno task bench [--case NAME]... [--steps N] [--seed S] [--json]
  --case   one of ${Object.keys(CASES).join(", ")} (repeatable; default: all)
  --steps  sequence length (default: 50, and 3 for 1024x1000)
  --seed   random seed (default 0)
  --json   one JSON object per line instead of a table`;

function normalise(Y: Matrix): Matrix {
  const n = frobeniusNorm(Y);
  for (let i = 0; i < Y.data.length; i++) Y.data[i] /= n;
  return Y;
}

function quantile(sorted: number[], q: number): number {
  const pos = (sorted.length - 1) * q, lo = Math.floor(pos), hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

function run(d: number, K: number, steps: number, method: Method, seed: number) {
  const rng = new Rng(seed);
  let Y = normalise(randomNormal(rng, d, K));
  let U = nearestEtf(Y, { solver: method.solver, maxIterations: 500 }).U;
  const seconds: number[] = [];
  let iterations = 0;
  for (let t = 1; t <= steps; t++) {
    const G = randomNormal(rng, d, K);
    const next = Y.data.slice();
    const s = 0.05 / Math.sqrt(d * K);
    for (let i = 0; i < next.length; i++) next[i] += s * G.data[i];
    Y = normalise({ rows: d, cols: K, data: next });
    const dU = randomNormal(rng, d, K);
    const t0 = performance.now();
    const r = nearestEtf(Y, { prox: U, start: U, solver: method.solver });
    nearestEtfVjp(Y, r.U, dU, { prox: U, method: method.backward });
    seconds.push((performance.now() - t0) / 1000);
    iterations += r.iterations;
    U = r.U;
  }
  const sorted = [...seconds].sort((a, b) => a - b);
  return {
    d,
    K,
    method: method.name,
    steps,
    medianSeconds: quantile(sorted, 0.5),
    p10Seconds: quantile(sorted, 0.1),
    p90Seconds: quantile(sorted, 0.9),
    meanIterations: iterations / steps,
    peakRssMiB: peakRssMiB(),
  };
}

/** Peak resident set size of this process (VmHWM), or the current RSS where /proc is absent. */
function peakRssMiB(): number {
  try {
    const status = Deno.readTextFileSync("/proc/self/status");
    const m = status.match(/VmHWM:\s+(\d+) kB/);
    if (m) return Number(m[1]) / 1024;
  } catch { /* not Linux */ }
  return Deno.memoryUsage().rss / 2 ** 20;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      case: { type: "string", multiple: true },
      steps: { type: "string" },
      seed: { type: "string", default: "0" },
      json: { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    Deno.exit(0);
  }
  const names = values.case ?? Object.keys(CASES);
  for (const name of names) {
    if (!(name in CASES)) {
      console.error(
        `--case: unknown case ${JSON.stringify(name)}; allowed: ${Object.keys(CASES).join(", ")}`,
      );
      Deno.exit(2);
    }
  }
  const seed = Number(values.seed);
  const stepsOverride = values.steps === undefined ? undefined : Number(values.steps);
  if (stepsOverride !== undefined && !(Number.isInteger(stepsOverride) && stepsOverride >= 1)) {
    console.error(`--steps: got ${values.steps}, allowed: an integer ≥ 1`);
    Deno.exit(2);
  }
  if (!values.json) {
    console.log(
      "case        method              steps  median ms    p10 ms    p90 ms  iters  peak RSS MiB",
    );
  }
  for (const name of names) {
    const c = CASES[name];
    for (const m of METHODS.filter((m) => c.methods.includes(m.name))) {
      const r = run(c.d, c.K, stepsOverride ?? c.steps, m, seed);
      if (values.json) console.log(JSON.stringify({ case: name, ...r }));
      else {
        console.log(
          `${name.padEnd(11)} ${m.name.padEnd(18)} ${String(r.steps).padStart(6)} ` +
            `${(r.medianSeconds * 1e3).toFixed(3).padStart(10)} ${
              (r.p10Seconds * 1e3).toFixed(3).padStart(9)
            } ` +
            `${(r.p90Seconds * 1e3).toFixed(3).padStart(9)} ${
              r.meanIterations.toFixed(2).padStart(6)
            } ` +
            `${r.peakRssMiB.toFixed(0).padStart(13)}`,
        );
      }
    }
  }
}
