/**
 * Benchmark of the nearest-ETF node, forward + backward per call, on a training-like sequence
 * (issue 2): Y₀ random with unit norm, `Y_t = normalise(Y_{t−1} + 0.05·G_t/sqrt(dK))`, each solve
 * started at and proximal to the previous solution, the first from the feasibility solution (by
 * the closed form: the same cost and U·M as trust-regions; unlike a cold trust-region solve at
 * K = 1000 it takes a second).
 *
 *   deno task bench                      # all default cases
 *   deno task bench --case 512x10 --steps 50
 *   deno task bench --case 2048x1000 --method closed-form
 *
 * Each (case, method) runs in its own process, so that its peak RSS (getrusage's maximum) is its own. Prints one
 * line per (case, method) with the median, 10th and 90th percentile seconds per forward+backward
 * call, mean trust-region iterations, the peak RSS, and whether the system BLAS/LAPACK was used
 * (solver/blas.ts: the task passes `--allow-ffi`; `NC_BLAS=off` measures the TypeScript kernels).
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
import { peakRssMiB } from "../core/memory.ts";
import { blas } from "../solver/blas.ts";

type Method = {
  name: string;
  solver: "trust-regions" | "closed-form";
  backward: "ddn" | "closed-form";
};
const METHODS: Method[] = [
  { name: "trust-regions+ddn", solver: "trust-regions", backward: "ddn" },
  { name: "closed-form", solver: "closed-form", backward: "closed-form" },
];
/**
 * The cases. UFM-1000 at the paper's d = 512 has no simplex ETF (St(d, K) needs d ≥ K), so the
 * K = 1000 cases are d = 1024 (the smallest power of two that fits) and ImageNet's d = 2048.
 */
const CASES: Record<string, { d: number; K: number; steps: number; methods: string[] }> = {
  "512x10": { d: 512, K: 10, steps: 50, methods: ["trust-regions+ddn", "closed-form"] },
  "512x100": { d: 512, K: 100, steps: 50, methods: ["trust-regions+ddn", "closed-form"] },
  "1024x1000": { d: 1024, K: 1000, steps: 10, methods: ["trust-regions+ddn", "closed-form"] },
  "2048x1000": { d: 2048, K: 1000, steps: 10, methods: ["trust-regions+ddn", "closed-form"] },
};

const HELP = `deno task bench [--case NAME]... [--method NAME] [--steps N] [--seed S] [--json]
  --case    one of ${Object.keys(CASES).join(", ")} (repeatable; default: all)
  --method  ${METHODS.map((m) => m.name).join(" | ")} (default: both)
  --steps   sequence length (default: 50, and 10 at K = 1000)
  --seed    random seed (default 0)
  --json    one JSON object per line instead of a table
Each (case, method) runs in its own process (its own peak RSS). NC_BLAS=off: TypeScript kernels.`;

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
  let U = nearestEtf(Y, { solver: "closed-form" }).U;
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
    blas: blas()?.library ?? null,
  };
}

type Row = ReturnType<typeof run> & { case: string };

/** Runs one (case, method) in a child process with this process's permissions; its JSON row. */
async function child(name: string, method: string, steps: string | undefined, seed: string) {
  const args = [
    "run",
    "--allow-ffi",
    "--allow-read",
    "--allow-env",
    new URL(import.meta.url).pathname,
    "--child",
    "--case",
    name,
    "--method",
    method,
    "--seed",
    seed,
    ...(steps === undefined ? [] : ["--steps", steps]),
  ];
  const out = await new Deno.Command(Deno.execPath(), { args, stderr: "inherit" }).output();
  if (!out.success) throw new Error(`bench: ${name} ${method} failed (exit ${out.code})`);
  return JSON.parse(new TextDecoder().decode(out.stdout).trim()) as Row;
}

function fail(message: string): never {
  console.error(message);
  Deno.exit(2);
}

if (import.meta.main) {
  const parse = () =>
    parseArgs({
      args: Deno.args,
      options: {
        case: { type: "string", multiple: true },
        method: { type: "string" },
        steps: { type: "string" },
        seed: { type: "string", default: "0" },
        json: { type: "boolean", default: false },
        child: { type: "boolean", default: false },
        help: { type: "boolean", default: false },
      },
    });
  let values: ReturnType<typeof parse>["values"];
  try {
    values = parse().values;
  } catch (e) {
    fail(`${(e as Error).message}\n${HELP}`); // an unknown flag or a missing value
  }
  if (values.help) {
    console.log(HELP);
    Deno.exit(0);
  }
  const names = values.case ?? Object.keys(CASES);
  for (const name of names) {
    if (!(name in CASES)) {
      fail(
        `--case: unknown case ${JSON.stringify(name)}; allowed: ${Object.keys(CASES).join(", ")}`,
      );
    }
  }
  const methodNames = METHODS.map((m) => m.name);
  if (values.method !== undefined && !methodNames.includes(values.method)) {
    fail(`--method: got ${JSON.stringify(values.method)}; allowed: ${methodNames.join(", ")}`);
  }
  const seed = Number(values.seed);
  if (!Number.isInteger(seed)) fail(`--seed: got ${values.seed}, allowed: an integer`);
  const stepsOverride = values.steps === undefined ? undefined : Number(values.steps);
  if (stepsOverride !== undefined && !(Number.isInteger(stepsOverride) && stepsOverride >= 1)) {
    fail(`--steps: got ${values.steps}, allowed: an integer ≥ 1`);
  }
  if (values.child) {
    const c = CASES[names[0]], m = METHODS.find((m) => m.name === values.method)!;
    const r = run(c.d, c.K, stepsOverride ?? c.steps, m, seed);
    console.log(JSON.stringify({ case: names[0], ...r }));
    Deno.exit(0);
  }
  if (!values.json) {
    console.log(
      "case        method              steps  median ms    p10 ms    p90 ms  iters  peak RSS MiB  BLAS",
    );
  }
  for (const name of names) {
    const c = CASES[name];
    for (const m of METHODS.filter((m) => c.methods.includes(m.name))) {
      if (values.method !== undefined && m.name !== values.method) continue;
      const r = await child(name, m.name, values.steps, values.seed);
      if (values.json) console.log(JSON.stringify(r));
      else {
        const ms = (s: number) => (s * 1e3).toFixed(3);
        console.log(
          `${name.padEnd(11)} ${m.name.padEnd(18)} ${String(r.steps).padStart(6)} ` +
            `${ms(r.medianSeconds).padStart(10)} ${ms(r.p10Seconds).padStart(9)} ` +
            `${ms(r.p90Seconds).padStart(9)} ${r.meanIterations.toFixed(2).padStart(6)} ` +
            `${(r.peakRssMiB === null ? "n/a" : r.peakRssMiB.toFixed(0)).padStart(13)}  ` +
            `${r.blas === null ? "no" : "yes"}`,
        );
      }
    }
  }
}
