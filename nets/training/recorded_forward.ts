/**
 * A forward pass recorded on tfjs's gradient tape whose backward runs later, after the caller
 * has awaited something — what `tf.grads` cannot do, since it runs the forward and the backward
 * in one synchronous call.
 *
 * The implicit head on WebGPU needs this: its target Y comes from the batch's features, WebGPU
 * under Deno can only read them asynchronously, and the solve must finish before the head's
 * forward. Recording the backbone's forward once, awaiting Y, then back-propagating the head's
 * gradient through the recorded tape avoids a second forward of the backbone.
 *
 * This drives the engine's tape as `Engine.gradients` does in tfjs-core 4.22.0 (pinned in
 * `tf.ts`): `startTape`/`endTape` and `state.activeTape`, whose nodes carry `inputs`, `outputs`,
 * `gradient(dys)` and `saved`. Those are internal (and tfjs's own tape walk is not importable:
 * its ES modules use extensionless imports), so the walk is done here; {@link recordForward}
 * checks the internals exist and names the version it needs, and
 * `tests/recorded_forward_test.ts` checks the gradients against `tf.grads` and by hand, so a
 * tfjs upgrade that changes them fails loudly.
 *
 * @module
 */
import { tf, TFJS_VERSION } from "../tf.ts";

/** A recorded tape node: a kernel's inputs and outputs, its gradient, what it saved. */
type TapeNode = {
  kernelName: string;
  inputs: Record<string, tf.Tensor>;
  outputs: tf.Tensor[];
  /** Input gradients given the outputs' (null where an output gets no gradient). */
  gradient?: (dys: (tf.Tensor | null)[]) => Record<string, () => tf.Tensor>;
  saved?: tf.Tensor[];
};

/** The engine internals this module relies on. */
type EngineInternals = {
  startTape(): void;
  endTape(): void;
  tidy<T extends tf.TensorContainer>(fn: () => T): T;
  state: { activeTape: TapeNode[] | null; gradientDepth: number };
};

function engineInternals(): EngineInternals {
  const engine = tf.engine() as unknown as Partial<EngineInternals>;
  const ok = typeof engine.startTape === "function" && typeof engine.endTape === "function" &&
    typeof engine.tidy === "function" && engine.state !== undefined &&
    typeof engine.state.gradientDepth === "number";
  if (!ok) {
    throw new Error(
      `recordForward: this tfjs engine lacks the tape internals of tfjs ${TFJS_VERSION} ` +
        `(startTape, endTape, state.activeTape); pin @tensorflow/tfjs@${TFJS_VERSION}`,
    );
  }
  return engine as EngineInternals;
}

/**
 * The output of a recorded forward, with the tape to back-propagate through.
 *
 * @example
 * ```ts
 * import { tf } from "../tf.ts";
 * import { createBackbone } from "../models/backbones.ts";
 * const backbone = createBackbone("resnet18", { width: 8 });
 * const x = tf.zeros([2, 32, 32, 3]);
 * const variables = backbone.parameters.map((p) => p.variable);
 * const rec = recordForward(() => backbone.features(x, true));
 * const dLdValue = tf.onesLike(rec.value); // ∂L/∂h from the head
 * try {
 *   const values = await rec.value.data(); // anything asynchronous
 *   const grads = rec.backward(dLdValue, variables);
 * } finally {
 *   rec.dispose();
 * }
 * ```
 */
export type RecordedForward<T extends tf.Tensor> = {
  /** The forward's output (owned by the record: `dispose` frees it). */
  readonly value: T;
  /**
   * Vector–Jacobian products `dyᵀ·∂value/∂x` for each x (tensors or variables used by the
   * forward). Callable once; an x the forward did not use is an error naming its index.
   * The caller owns the returned tensors.
   */
  backward(dy: tf.Tensor, xs: readonly tf.Tensor[]): tf.Tensor[];
  /** Frees the output and what the tape saved for the backward. Idempotent. */
  dispose(): void;
};

/**
 * Runs `f` with gradient recording on and keeps its tape for a later {@link RecordedForward.backward}.
 * Must not be called inside `tf.grads`/`tf.variableGrads` or another recorded forward.
 *
 * @example
 * ```ts
 * import { tf } from "../tf.ts";
 * const w = tf.variable(tf.tensor1d([1, 2, 3]));
 * const rec = recordForward(() => tf.square(w) as tf.Tensor1D);
 * const [dw] = rec.backward(tf.onesLike(rec.value), [w]); // 2w
 * rec.dispose();
 * ```
 */
export function recordForward<T extends tf.Tensor>(f: () => T): RecordedForward<T> {
  const engine = engineInternals();
  if (engine.state.gradientDepth !== 0) {
    throw new Error(
      "recordForward: called while gradients are being recorded (inside tf.grads, " +
        "tf.variableGrads or customGrad); record the forward outside them",
    );
  }
  let value: T | undefined;
  let tape: TapeNode[];
  const freeSaved = () => {
    for (const node of tape) for (const t of node.saved ?? []) t.dispose();
    tape = [];
  };
  engine.startTape();
  try {
    value = engine.tidy(f);
  } finally {
    engine.endTape();
    tape = engine.state.activeTape ?? [];
    // Detach the tape so that a gradient call made before `backward` starts its own.
    engine.state.activeTape = null;
    if (value === undefined) freeSaved(); // f threw
  }
  if (!(value instanceof tf.Tensor)) {
    freeSaved();
    tf.dispose(value as tf.TensorContainer);
    throw new TypeError("recordForward: f must return a tensor");
  }
  const output: T = value;
  let disposed = false;
  let used = false;
  const dispose = () => {
    if (disposed) return;
    disposed = true;
    freeSaved();
    output.dispose();
  };
  const backward = (dy: tf.Tensor, xs: readonly tf.Tensor[]): tf.Tensor[] => {
    if (disposed) throw new Error("recordForward: backward after dispose");
    if (used) throw new Error("recordForward: backward may be called once");
    if (dy.dtype !== "float32" || !tf.util.arraysEqual(dy.shape, output.shape)) {
      throw new RangeError(
        `recordForward: dy must be float32 of shape [${output.shape}], ` +
          `got ${dy.dtype} [${dy.shape}]`,
      );
    }
    used = true;
    return engine.tidy(() => {
      const grads = backpropagate(tape, output, dy, xs, (g) => engine.tidy(g));
      return xs.map((x, i) => {
        const g = grads.get(x.id);
        if (g === undefined) {
          throw new Error(`recordForward: the forward does not depend on xs[${i}]`);
        }
        // dy itself when x is the output: return a copy the caller may dispose.
        return g === dy ? tf.clone(g) : g;
      });
    });
  };
  return { value: output, backward, dispose };
}

/**
 * Reverse-mode sweep over a tape: gradients of `dyᵀ·y` for every tensor on a path from one of
 * `xs` to `y`, keyed by tensor id. Nodes off those paths are skipped; inputs not reachable from
 * `xs` (labels, constants) get no gradient computed.
 */
function backpropagate(
  tape: TapeNode[],
  y: tf.Tensor,
  dy: tf.Tensor,
  xs: readonly tf.Tensor[],
  tidy: (f: () => tf.Tensor) => tf.Tensor,
): Map<number, tf.Tensor> {
  const fromX = new Set(xs.map((x) => x.id));
  for (const node of tape) {
    if (Object.values(node.inputs).some((t) => fromX.has(t.id))) {
      for (const o of node.outputs) fromX.add(o.id);
    }
  }
  const grads = new Map<number, tf.Tensor>([[y.id, dy]]);
  for (let n = tape.length - 1; n >= 0; n--) {
    const node = tape[n];
    const dys = node.outputs.map((o) => grads.get(o.id) ?? null);
    const wanted = Object.entries(node.inputs).filter(([, t]) => fromX.has(t.id));
    if (dys.every((d) => d === null) || wanted.length === 0) continue;
    if (node.gradient === undefined) {
      throw new Error(`recordForward: no gradient registered for kernel ${node.kernelName}`);
    }
    const inputGrads = node.gradient(dys);
    for (const [name, input] of wanted) {
      const gradient = inputGrads[name];
      if (gradient === undefined) {
        throw new Error(`recordForward: kernel ${node.kernelName} gives no gradient for ${name}`);
      }
      const dx = tidy(gradient);
      if (!tf.util.arraysEqual(dx.shape, input.shape)) {
        throw new Error(
          `recordForward: kernel ${node.kernelName}'s gradient for ${name} has shape ` +
            `[${dx.shape}], its input [${input.shape}]`,
        );
      }
      const previous = grads.get(input.id);
      if (previous === undefined) {
        grads.set(input.id, dx);
      } else {
        grads.set(input.id, tf.add(previous, dx));
        if (previous !== dy) previous.dispose(); // as tfjs: keep one sum per tensor alive
      }
    }
  }
  return grads;
}
