/**
 * `measureSplit` (the code `deno task nc` runs per split) with the rows spilled to disk, as it
 * does beyond 1 GiB: on a tiny trained run, every metric equals the in-memory measurement exactly
 * (the same rows in the same class order), and the spill directory is gone afterwards.
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { assert, assertEquals } from "./assert.ts";
import { TINY_RUN } from "./support/tiny_run.ts";
import { measureSplit, NC_RECORD_KEYS, readClassifier } from "../analysis/nc_task.ts";
import { readTrainedRun } from "../analysis/trained_run.ts";
import { selectBackend } from "../nets/backend/select.ts";
import { loadModelCheckpoint } from "../train/checkpoint.ts";
import { createRunSetup, loadRunDataset, runEvaluation } from "../train/open_run.ts";
import { modelStateOf } from "../train/save_checkpoint.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

Deno.test("nc: rows spilled to disk give exactly the in-memory metrics, and the spill is removed", async () => {
  const storage = await Deno.makeTempDir({ prefix: "nc-spill-test-" });
  const r = await new Deno.Command(Deno.execPath(), {
    args: [
      "task",
      "-q",
      "train:implicit",
      ...TINY_RUN,
      "--epochs",
      "2",
      "--storage",
      storage,
      "--uid",
      "run",
    ],
    cwd: ROOT,
    stderr: "piped",
  }).output();
  assert(r.success, new TextDecoder().decode(r.stderr));
  await selectBackend("wasm", { log: () => {} });
  const run = await readTrainedRun(join(storage, "run"), "--run");
  const data = await loadRunDataset(run.config, () => {});
  const { setup, dispose } = createRunSetup(run.config, data);
  try {
    const c = run.checkpoints.at(-1)!;
    await loadModelCheckpoint(join(run.path, c.model), modelStateOf(setup));
    const classifier = await readClassifier(join(run.path, c.state));
    const evaluation = runEvaluation(run.config, data, setup);
    const spill = join(storage, "spill");
    const options = { spillDirectory: spill, sampleSize: run.config.sampleSize };
    const memory = await measureSplit(evaluation, data.train, classifier, options);
    const spilled = await measureSplit(evaluation, data.train, classifier, {
      ...options,
      inMemoryBytes: 0,
    });
    for (const key of NC_RECORD_KEYS) assertEquals(spilled.metrics[key], memory.metrics[key], key);
    assertEquals([...spilled.metrics.cosMargins], [...memory.metrics.cosMargins]);
    assertEquals(spilled.samples, 100);
    assert(!(await Deno.stat(spill).then(() => true, () => false)), "spill directory removed");
  } finally {
    dispose();
  }
});
