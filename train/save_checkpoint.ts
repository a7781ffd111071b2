/**
 * One checkpoint of a run: the model file, the state file and `latest.json`, in that order,
 * each atomically (an interruption leaves the previous checkpoint as the latest).
 *
 * The model file holds what the paper's PyTorch model of the same method has in its
 * state_dict, under its names, so `load_state_dict(strict=True)` takes it without surgery:
 * - standard: the backbone and `classifier.weight` (K×d; `classifier.bias` with `--bias`);
 * - fixed: the backbone, the frozen ETF `classifier.weight` (K×d) and the non-trainable
 *   `classifier.bias` (K), the evaluation bias `−W·μ_G` (μ_G of the last training batch);
 * - implicit: the backbone only (the paper's implicit head keeps W and b outside its
 *   state_dict).
 *
 * The state file holds what resuming needs (optimiser, the implicit head's state) and, for
 * every method, the classifier the checkpoint is evaluated with as `classifier.weight` (K×d)
 * and `classifier.bias` (K): the one the analysis reads.
 *
 * @module
 */
import type { Head } from "../nets/heads/head.ts";
import { tf } from "../nets/tf.ts";
import { headAt, type TrainingSetup } from "../nets/training/train_step.ts";
import { type ModelState, saveModelCheckpoint } from "./checkpoint.ts";
import { RunDirectory } from "./run_dir.ts";
import type { TensorEntry } from "./safetensors.ts";
import { f32Entry, saveTrainingState } from "./state.ts";

/**
 * The parameters and buffers a model file holds for this set-up (besides the extra tensors
 * of {@link writeCheckpoint}): the backbone's and those of the head that trained `epoch` (with
 * `--warmup_epochs`, the learned classifier up to the warmup's last epoch; default: the
 * method's head).
 *
 * @example
 * ```ts
 * import { createTrainingSetup } from "../nets/training/setup.ts";
 * import { loadModelCheckpoint } from "./checkpoint.ts";
 * const { setup } = createTrainingSetup({ model: "resnet18", method: "implicit", numClasses: 10 });
 * const path = "runs/cifar10-resnet18-implicit-seed1/checkpoints/model_epoch_005.safetensors";
 * await loadModelCheckpoint(path, modelStateOf(setup));
 * ```
 */
export function modelStateOf(setup: TrainingSetup, epoch = Infinity): ModelState {
  return {
    parameters: [...setup.backbone.parameters, ...headAt(setup, epoch).parameters],
    buffers: setup.backbone.buffers,
  };
}

/** The fixed head's frozen classifier as the paper's model stores it (extra tensors). */
async function fixedClassifierEntries(head: Head): Promise<Map<string, TensorEntry>> {
  const c = head.classifier();
  try {
    return new Map([["classifier.weight", await f32Entry(c.W)], [
      "classifier.bias",
      await f32Entry(c.b),
    ]]);
  } finally {
    tf.dispose([c.W, c.b]);
  }
}

/**
 * Writes epoch `epoch`'s checkpoint into the run directory and returns the names written.
 *
 * @example
 * ```ts
 * import { createTrainingSetup } from "../nets/training/setup.ts";
 * import { RunDirectory } from "./run_dir.ts";
 * const { setup } = createTrainingSetup({ model: "resnet18", method: "implicit", numClasses: 10 });
 * const runDir = await RunDirectory.create("runs/run", { force: false });
 * const names = await writeCheckpoint(runDir, setup, { epoch: 5, globalStep: 1170, uid: "run" });
 * ```
 */
export async function writeCheckpoint(
  runDir: RunDirectory,
  setup: TrainingSetup,
  at: { epoch: number; globalStep: number; uid: string },
): Promise<{ model: string; state: string }> {
  const names = RunDirectory.checkpointNames(at.epoch);
  const head = headAt(setup, at.epoch);
  await saveModelCheckpoint(
    runDir.file(names.model),
    {
      ...modelStateOf(setup, at.epoch),
      ...(head.method === "fixed" ? { extra: await fixedClassifierEntries(head) } : {}),
    },
    { epoch: String(at.epoch), uid: at.uid, method: head.method },
  );
  const classifier = head.classifier();
  try {
    await saveTrainingState(runDir.file(names.state), setup.optimiser, head, {
      epoch: at.epoch,
      globalStep: at.globalStep,
    }, classifier);
  } finally {
    tf.dispose([classifier.W, classifier.b]);
  }
  await runDir.writeJson("latest.json", { epoch: at.epoch, ...names });
  return names;
}
