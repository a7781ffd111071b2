/**
 * The resumable training state next to each model checkpoint (`state-epoch-NNNN.safetensors`):
 * optimiser state (`optimizer.*`), the implicit head's state (`head.running` K×d, `head.seen` K,
 * `head.U` d×K in float64), and the classifier evaluation uses, W (K×d) and b (K), for every head
 * (`classifier.weight`, `classifier.bias`); counters in the metadata. Reading it back restores
 * the optimiser and head exactly, so a resumed run continues bit for bit on cpu and wasm.
 *
 * @module
 */
import { matrix } from "../solver/matrix.ts";
import type { Classifier, Head } from "../nets/heads/head.ts";
import type { ImplicitHead } from "../nets/heads/implicit.ts";
import type { Optimiser } from "../nets/optim/optimiser.ts";
import { tf } from "../nets/tf.ts";
import { CheckpointError, loadTensors, saveTensors } from "./checkpoint.ts";
import type { TensorEntry } from "./safetensors.ts";

/**
 * Counters stored with the state.
 *
 * @example
 * ```ts
 * const c: StateCounters = { epoch: 5, globalStep: 1170 };
 * ```
 */
export type StateCounters = { epoch: number; globalStep: number };

/**
 * A tensor's values as a float32 safetensors entry (read with `await data()`: any backend).
 *
 * @example
 * ```ts
 * import { tf } from "../nets/tf.ts";
 * const entry = await f32Entry(tf.zeros([2, 3]));
 * entry.shape; // [2, 3]
 * ```
 */
export async function f32Entry(t: tf.Tensor): Promise<TensorEntry> {
  return { dtype: "F32", shape: [...t.shape], data: Float32Array.from(await t.data()) };
}

/**
 * Writes the optimiser and head state, the classifier (when given) and the counters.
 *
 * @example
 * ```ts
 * import { createTrainingSetup } from "../nets/training/setup.ts";
 * const { setup } = createTrainingSetup({ model: "resnet18", method: "implicit", numClasses: 10 });
 * const { optimiser, head } = setup;
 * const path = "run/checkpoints/state_epoch_005.safetensors";
 * const epoch = 5, globalStep = 1170;
 * const { W, b } = head.classifier();
 * await saveTrainingState(path, optimiser, head, { epoch, globalStep }, { W, b });
 * ```
 */
export async function saveTrainingState(
  path: string,
  optimiser: Optimiser,
  head: Head,
  counters: StateCounters,
  classifier: Classifier | null,
): Promise<void> {
  const tensors = new Map<string, TensorEntry>();
  const opt = optimiser.state();
  for (const [name, t] of opt.tensors) tensors.set(`optimizer.${name}`, await f32Entry(t));
  const metadata: Record<string, string> = {
    epoch: String(counters.epoch),
    global_step: String(counters.globalStep),
    optimizer: optimiser.name,
    optimizer_step: String(opt.step),
    method: head.method,
  };
  if (head.method === "implicit") {
    const state = (head as ImplicitHead).getState();
    tensors.set("head.running", await f32Entry(state.average.running));
    tensors.set("head.seen", await f32Entry(state.average.seen));
    if (state.U !== null) {
      tensors.set("head.U", {
        dtype: "F64",
        shape: [state.U.rows, state.U.cols],
        data: state.U.data,
      });
    }
    metadata.head_step = String(state.average.step);
  }
  if (classifier !== null) {
    tensors.set("classifier.weight", await f32Entry(classifier.W));
    tensors.set("classifier.bias", await f32Entry(classifier.b));
  }
  await saveTensors(path, tensors, metadata);
}

/**
 * Restores the optimiser and head from a state file; returns its counters.
 *
 * @example
 * ```ts
 * import { createTrainingSetup } from "../nets/training/setup.ts";
 * const { setup } = createTrainingSetup({ model: "resnet18", method: "implicit", numClasses: 10 });
 * const { optimiser, head } = setup;
 * const path = "run/checkpoints/state_epoch_005.safetensors";
 * const { epoch } = await loadTrainingState(path, optimiser, head);
 * ```
 */
export async function loadTrainingState(
  path: string,
  optimiser: Optimiser,
  head: Head,
): Promise<StateCounters> {
  const { tensors, metadata } = await loadTensors(path);
  const number = (key: string) => {
    const v = Number(metadata[key]);
    if (!Number.isInteger(v)) {
      throw new CheckpointError(path, `metadata ${key} is ${metadata[key]}, expected an integer`);
    }
    return v;
  };
  if (metadata.optimizer !== optimiser.name || metadata.method !== head.method) {
    throw new CheckpointError(
      path,
      `saved for ${metadata.optimizer} with the ${metadata.method} head, not ${optimiser.name} with ${head.method}`,
    );
  }
  const optTensors = new Map<string, tf.Tensor>();
  for (const [name, e] of tensors) {
    if (name.startsWith("optimizer.")) {
      optTensors.set(
        name.slice("optimizer.".length),
        tf.tensor(e.data as Float32Array, [...e.shape]),
      );
    }
  }
  try {
    optimiser.setState({ step: number("optimizer_step"), tensors: optTensors });
  } finally {
    tf.dispose([...optTensors.values()]);
  }
  if (head.method === "implicit") {
    const running = tensors.get("head.running"),
      seen = tensors.get("head.seen"),
      U = tensors.get("head.U");
    if (running === undefined || seen === undefined) {
      throw new CheckpointError(path, "the implicit head's state is missing");
    }
    (head as ImplicitHead).setState({
      average: {
        step: number("head_step"),
        running: tf.tensor2d(running.data as Float32Array, [running.shape[0], running.shape[1]]),
        seen: tf.tensor1d(seen.data as Float32Array),
      },
      U: U === undefined
        ? null
        : matrix(U.shape[0], U.shape[1], Float64Array.from(U.data as Float64Array)),
    });
  }
  return { epoch: number("epoch"), globalStep: number("global_step") };
}
