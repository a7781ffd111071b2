/**
 * `deno task bench:nc-task`: what `deno task nc` costs on one MNIST checkpoint (60,000 train and
 * 10,000 test images) against the forward passes alone, measured side by side in one run: the
 * evaluation unit's forwards (including reading the features back) and the metrics' work
 * (accumulation and `compute`) are timed separately by `measureSplit`, the code `deno task nc`
 * runs. The network is an untrained ResNet18 (the costs do not depend on the weights).
 *
 *   deno task bench:nc-task [--backend wasm] [--threads N] [--resnet_width 64] [--data_dir ~/data]
 *     [--sample_size N]   (the first N images per class of each split: a smoke test)
 *
 * Prints one JSON line per split and a total with the ratio (forward + metrics)/forward (run it
 * under `/usr/bin/time -v` for the peak RSS).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { sampledRssMiB } from "../core/memory.ts";
import { measureSplit } from "../analysis/nc_task.ts";
import { parseBackendName, selectBackend } from "../nets/backend/select.ts";
import { defaultConfig } from "../train/config.ts";
import { createRunSetup, loadRunDataset, runEvaluation } from "../train/open_run.ts";
import { matrix } from "../solver/matrix.ts";

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      backend: { type: "string", default: "wasm" },
      resnet_width: { type: "string", default: "64" },
      data_dir: { type: "string", default: "~/data" },
      threads: { type: "string" },
      sample_size: { type: "string" },
    },
    strict: true,
  });
  const width = Number(values.resnet_width);
  if (!Number.isInteger(width) || width < 1) {
    console.error(
      `bench:nc-task: --resnet_width: got ${values.resnet_width}, allowed: an integer ≥ 1`,
    );
    Deno.exit(2);
  }
  const sampleSize = values.sample_size === undefined ? null : Number(values.sample_size);
  if (sampleSize !== null && !(Number.isInteger(sampleSize) && sampleSize >= 1)) {
    console.error(
      `bench:nc-task: --sample_size: got ${values.sample_size}, allowed: an integer ≥ 1`,
    );
    Deno.exit(2);
  }
  const config = { ...defaultConfig("implicit"), resnetWidth: width, dataDir: values.data_dir };
  const threads = values.threads === undefined ? undefined : Number(values.threads);
  const backend = await selectBackend(parseBackendName(values.backend, "--backend"), {
    ...(threads !== undefined ? { threads } : {}),
    log: (l) => console.error(l),
  });
  const data = await loadRunDataset(config, (l) => console.error(l));
  const { setup, dispose } = createRunSetup(config, data);
  const c = setup.head.classifier();
  const W = matrix(c.W.shape[0], c.W.shape[1], Float64Array.from(await c.W.data()));
  const b = Float64Array.from(await c.b.data());
  c.W.dispose();
  c.b.dispose();
  const evaluation = runEvaluation(config, data, setup);
  let forward = 0, metric = 0;
  const spill = await Deno.makeTempDir({ prefix: "bench-nc-task-" });
  for (const [name, split] of [["train", data.train], ["test", data.test]] as const) {
    const m = await measureSplit(evaluation, split, { W, b }, {
      spillDirectory: `${spill}/${name}`,
    });
    forward += m.forwardSeconds;
    metric += m.metricSeconds;
    console.log(JSON.stringify({
      split: name,
      samples: m.samples,
      forwardSeconds: m.forwardSeconds,
      metricSeconds: m.metricSeconds,
    }));
  }
  await Deno.remove(spill, { recursive: true });
  dispose();
  console.log(JSON.stringify({
    backend: backend.name,
    threads: backend.threads ?? null,
    resnetWidth: width,
    forwardSeconds: forward,
    metricSeconds: metric,
    ratio: (forward + metric) / forward,
    sampledRssMiB: sampledRssMiB(),
  }));
}
