/**
 * Times one training step per model, method and backend (issue 3): K = 10 unless
 * `--num_classes`, the method's default optimiser (AGD; SGD for the UFM), a random 32×32×3
 * batch with class-stratified labels, one warm-up step excluded, median over `--steps`.
 * Prints one JSON line `{"backend", "model", "method", "batchSize", "medianStepSeconds", …}`.
 *
 *   deno task bench:step --model resnet18 --method implicit --batch_size 256 --backend wasm --steps 3
 *
 * @module
 */
import { isInputError } from "../core/errors.ts";
import { parseArgs } from "node:util";
import { applyLibraryPaths, parseBackendName, selectBackend } from "../nets/backend/select.ts";
import { checkBatchLabels, createTrainingSetup } from "../nets/training/setup.ts";
import { tf } from "../nets/tf.ts";
import { trainStep } from "../nets/training/train_step.ts";

const HELP = `deno task bench:step [flags]
  --model NAME         resnet18 | resnet34 | resnet50 | mlp | ufm (default resnet18)
  --method NAME        standard | fixed | implicit (default implicit)
  --batch_size N       default 256
  --backend NAME       auto | webgpu | native | wasm | cpu (default auto)
  --threads N          native: oneDNN's and OpenBLAS's threads (default: the cores);
                       wasm: XNNPACK's (default 1); not for webgpu or cpu
  --blas_library P     the OpenBLAS file (else NC_BLAS_LIBRARY, else the usual places)
  --dnnl_library P     the oneDNN 2.x file (else NC_DNNL_LIBRARY, else the usual places)
  --steps N            timed steps after one warm-up step (default 3)
  --num_classes K      default 10
  --resnet_width N     ResNet base width (default 64)
  --width N, --depth N MLP hidden width (1024) and depth (6)
  --optimiser NAME     default: AGD (SGD for the UFM)
  --etf_solver NAME    trust-regions | closed-form (default trust-regions)
  --etf_backward NAME  ddn | closed-form | none (default ddn)
  --seed N             default 0
  --profile            after the timed steps, one more step under tf.profile: milliseconds per
                       kernel (summed over its calls), largest first, on stderr and as "profile"`;

function fail(message: string): never {
  console.error(`bench:step: ${message}`);
  Deno.exit(2);
}

function integer(name: string, value: string | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) {
    fail(`--${name}: got ${JSON.stringify(value)}, allowed: an integer ≥ ${min}`);
  }
  return n;
}

async function main(): Promise<void> {
  const names = [
    "model",
    "method",
    "batch_size",
    "backend",
    "threads",
    "blas_library",
    "dnnl_library",
    "steps",
    "num_classes",
    "resnet_width",
    "width",
    "depth",
    "optimiser",
    "etf_solver",
    "etf_backward",
    "seed",
  ];
  const options: Record<string, { type: "string" | "boolean" }> = {
    help: { type: "boolean" },
    profile: { type: "boolean" },
  };
  for (const name of names) options[name] = { type: "string" };
  let values: Record<string, unknown>;
  try {
    values = parseArgs({ args: Deno.args, strict: true, options }).values;
  } catch (e) {
    fail((e as Error).message);
  }
  if (values.help) {
    console.log(HELP);
    return;
  }
  const str = (k: string) => values[k] as string | undefined;
  const batchSize = integer("batch_size", str("batch_size"), 256, 1);
  const steps = integer("steps", str("steps"), 3, 1);
  const K = integer("num_classes", str("num_classes"), 10, 2);
  const model = str("model") ?? "resnet18", method = str("method") ?? "implicit";
  try {
    const backendName = parseBackendName(str("backend") ?? "auto", "--backend");
    const threads = str("threads") === undefined
      ? undefined
      : integer("threads", str("threads"), 1, 1);
    if (str("dnnl_library") !== undefined && backendName !== "native" && backendName !== "auto") {
      fail("--dnnl_library: applies to the native backend (--backend native or auto) only");
    }
    applyLibraryPaths({
      blasLibrary: str("blas_library") ?? null,
      dnnlLibrary: str("dnnl_library") ?? null,
    });
    const info = await selectBackend(backendName, { threads, log: (line) => console.error(line) });
    const { setup, resolved, dispose } = createTrainingSetup({
      model,
      method,
      numClasses: K,
      optimiser: str("optimiser"),
      etfSolver: str("etf_solver"),
      etfBackward: str("etf_backward"),
      resnetWidth: integer("resnet_width", str("resnet_width"), 64, 1),
      width: integer("width", str("width"), 1024, 1),
      depth: integer("depth", str("depth"), 6, 1),
      numSamples: model === "ufm" ? batchSize : undefined,
      seed: integer("seed", str("seed"), 0, 0),
    });
    const labels = Array.from({ length: batchSize }, (_, i) => i % K);
    checkBatchLabels(labels, K, { method: resolved.method, stratified: true });
    const x = model === "ufm"
      ? tf.tensor1d(Array.from({ length: batchSize }, (_, i) => i), "int32")
      : tf.randomNormal([batchSize, 32, 32, 3], 0, 1, "float32", 1);
    const y = tf.tensor1d(labels, "int32");
    const seconds: number[] = [];
    for (let step = 0; step <= steps; step++) {
      const t0 = performance.now();
      await trainStep(setup, x, y);
      if (step > 0) seconds.push((performance.now() - t0) / 1000);
      console.error(
        `step ${step}${step === 0 ? " (warm-up)" : ""}: ${
          ((performance.now() - t0) / 1000).toFixed(3)
        } s`,
      );
    }
    const profile = values.profile ? await kernelProfile(() => trainStep(setup, x, y)) : null;
    seconds.sort((a, b) => a - b);
    const median = seconds.length % 2
      ? seconds[(seconds.length - 1) / 2]
      : (seconds[seconds.length / 2 - 1] + seconds[seconds.length / 2]) / 2;
    console.log(JSON.stringify({
      backend: info.name,
      model: resolved.model,
      method: resolved.method,
      batchSize,
      medianStepSeconds: median,
      numClasses: K,
      optimiser: resolved.optimiser,
      steps,
      threads: info.threads ?? null,
      adapter: info.adapter ?? null,
      ...(profile !== null ? { profile } : {}),
    }));
    tf.dispose([x, y]);
    dispose();
  } catch (e) {
    if (isInputError(e)) fail(e.message);
    throw e;
  }
}

if (import.meta.main) await main();

/**
 * One call of `step` under `tf.profile`: per kernel name, its calls and summed milliseconds
 * (largest first), also printed to stderr with each kernel's share of the total.
 */
async function kernelProfile(
  step: () => Promise<unknown>,
): Promise<{ kernel: string; calls: number; ms: number }[]> {
  const info = await tf.profile(async () => {
    await step();
    return [];
  });
  const byName = new Map<string, { calls: number; ms: number }>();
  for (const k of info.kernels) {
    const ms = await k.kernelTimeMs;
    const t = typeof ms === "number" ? ms : 0;
    const e = byName.get(k.name) ?? { calls: 0, ms: 0 };
    byName.set(k.name, { calls: e.calls + 1, ms: e.ms + t });
  }
  const rows = [...byName].map(([kernel, v]) => ({ kernel, ...v })).sort((a, b) => b.ms - a.ms);
  const total = rows.reduce((a, r) => a + r.ms, 0);
  console.error(`kernels (one step, ${total.toFixed(0)} ms in kernels):`);
  for (const r of rows) {
    console.error(
      `  ${r.kernel.padEnd(28)} ${String(r.calls).padStart(5)} calls ${
        r.ms.toFixed(1).padStart(9)
      } ms ` +
        `${(100 * r.ms / total).toFixed(1).padStart(5)}%`,
    );
  }
  return rows;
}
