/**
 * `deno task bench:analysis`: the analysis at scale, on synthetic features (no network):
 *
 *   deno task bench:analysis --case nc --samples 12800 --classes 1000 --dim 2048
 *   deno task bench:analysis --case etf-distance --epochs 40 --classes 10 --dim 512
 *   deno task bench:analysis --case etf-distance --epochs 40 --classes 1000 --dim 1024 --solver closed-form
 *
 * `nc`: an {@link NcAccumulator} fed batches of 256 Gaussian class clusters (float32, as the
 * evaluation unit yields them), rows spilled to a temporary directory (as `deno task nc` does
 * beyond 1 GiB), then `compute`; prints the seconds of the adds and of `compute`, and the
 * largest RSS seen between batches and after `compute` (run it under `/usr/bin/time -v` for the
 * kernel's peak), to show memory independent of N.
 * `etf-distance`: {@link etfDistances} over a drifting sequence of W and H̄ (one epoch's W and
 * H̄ a small random step from the previous), as `deno task etf-distance` runs it.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { sampledRssMiB } from "../core/memory.ts";
import { etfDistances, type Matrix, NcAccumulator, randomNormal, Rng } from "../mod.ts";

const HELP = `deno task bench:analysis --case nc|etf-distance [flags]
  --samples N   nc: samples (default 12800)
  --classes K   default 1000 (nc), 10 (etf-distance)
  --dim d       default 2048 (nc), 512 (etf-distance)
  --epochs E    etf-distance: measured epochs (default 40)
  --solver S    etf-distance: trust-regions (default) | closed-form`;

function benchNc(N: number, K: number, d: number) {
  const rng = new Rng(1);
  const means = randomNormal(rng, K, d);
  const dir = Deno.makeTempDirSync({ prefix: "bench-nc-" });
  const acc = new NcAccumulator({ numClasses: K, dim: d, spillDirectory: `${dir}/rows` });
  let addSeconds = 0;
  try {
    for (let start = 0; start < N; start += 256) {
      const n = Math.min(256, N - start);
      const f = new Float32Array(n * d), y = new Int32Array(n);
      for (let r = 0; r < n; r++) {
        y[r] = (start + r) % K;
        for (let j = 0; j < d; j++) f[r * d + j] = means.data[y[r] * d + j] + 0.5 * rng.normal();
      }
      const t = performance.now();
      acc.add(f, y);
      addSeconds += (performance.now() - t) / 1000;
      sampledRssMiB();
    }
    const W = randomNormal(new Rng(2), K, d);
    const t = performance.now();
    const m = acc.compute(W);
    const computeSeconds = (performance.now() - t) / 1000;
    return {
      case: "nc",
      N,
      K,
      d,
      addSeconds,
      computeSeconds,
      nc1: m.nc1,
      sampledRssMiB: sampledRssMiB(),
    };
  } finally {
    acc.dispose();
    Deno.removeSync(dir, { recursive: true });
  }
}

function benchEtfDistance(
  epochs: number,
  K: number,
  d: number,
  solver: "trust-regions" | "closed-form",
) {
  const rng = new Rng(3);
  const step = (X: Matrix) => {
    const G = randomNormal(rng, X.rows, X.cols);
    return { ...X, data: X.data.map((v, i) => v + 0.05 * G.data[i]) };
  };
  let W = randomNormal(rng, K, d), H = randomNormal(rng, K, d);
  const inputs = [];
  for (let e = 1; e <= epochs; e++) {
    inputs.push({ epoch: 5 * e, W, Hbar: H });
    W = step(W);
    H = step(H);
  }
  const t = performance.now();
  const { records } = etfDistances(inputs, { solver });
  const seconds = (performance.now() - t) / 1000;
  const iterations = records.reduce((a, r) => a + r.wSolve.iterations + r.hSolve.iterations, 0);
  return {
    case: "etf-distance",
    epochs,
    K,
    d,
    solver,
    seconds,
    meanIterations: iterations / (2 * epochs),
    sampledRssMiB: sampledRssMiB(),
  };
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      case: { type: "string" },
      samples: { type: "string" },
      classes: { type: "string" },
      dim: { type: "string" },
      epochs: { type: "string" },
      solver: { type: "string" },
      help: { type: "boolean" },
    },
    strict: true,
  });
  const int = (name: string, v: string | undefined, fallback: number) => {
    const n = v === undefined ? fallback : Number(v);
    if (!Number.isInteger(n) || n < 1) {
      console.error(`bench:analysis: --${name}: got ${v}, allowed: an integer ≥ 1`);
      Deno.exit(2);
    }
    return n;
  };
  if (values.help) {
    console.log(HELP);
  } else if (values.case === "nc") {
    for (const f of ["epochs", "solver"] as const) {
      if (values[f] !== undefined) {
        console.error(`bench:analysis: --${f} applies to --case etf-distance only`);
        Deno.exit(2);
      }
    }
    const r = benchNc(
      int("samples", values.samples, 12800),
      int("classes", values.classes, 1000),
      int("dim", values.dim, 2048),
    );
    console.log(JSON.stringify(r));
  } else if (values.case === "etf-distance") {
    if (values.samples !== undefined) {
      console.error("bench:analysis: --samples applies to --case nc only");
      Deno.exit(2);
    }
    const solver = values.solver ?? "trust-regions";
    if (solver !== "trust-regions" && solver !== "closed-form") {
      console.error(`bench:analysis: --solver: got ${solver}, allowed: trust-regions, closed-form`);
      Deno.exit(2);
    }
    const r = benchEtfDistance(
      int("epochs", values.epochs, 40),
      int("classes", values.classes, 10),
      int("dim", values.dim, 512),
      solver,
    );
    console.log(JSON.stringify(r));
  } else {
    console.error(`bench:analysis: --case: got ${values.case}, allowed: nc, etf-distance\n${HELP}`);
    Deno.exit(2);
  }
}
