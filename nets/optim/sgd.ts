/**
 * SGD with momentum and weight decay, PyTorch semantics (dampening 0, no Nesterov):
 * `g ← ∇ + wd·p`, `b ← g` on the first step else `b ← μ·b + g`, `p ← p − lr·b`.
 * Defaults (docs/method.md section 6): lr 0.05, momentum 0.9, weight decay 5e-4.
 *
 * @module
 */
import type { Parameter } from "../models/model.ts";
import { tf } from "../tf.ts";
import {
  checkLearningRate,
  checkShape,
  checkStateNames,
  gradientOf,
  type Optimiser,
} from "./optimiser.ts";

/**
 * SGD settings.
 *
 * @example
 * ```ts
 * const o: SgdOptions = { lr: 0.1, momentum: 0.9, weightDecay: 5e-4 };
 * ```
 */
export type SgdOptions = { lr?: number; momentum?: number; weightDecay?: number };

/**
 * Creates SGD over `parameters`.
 *
 * @example
 * ```ts
 * import { createBackbone } from "../models/backbones.ts";
 * const model = createBackbone("resnet18", { width: 8 });
 * const opt = sgd(model.parameters, { lr: 0.05 });
 * ```
 */
export function sgd(parameters: readonly Parameter[], options: SgdOptions = {}): Optimiser {
  let lr = options.lr ?? 0.05;
  const momentum = options.momentum ?? 0.9,
    wd = options.weightDecay ?? 5e-4;
  const buffers = new Map<string, tf.Variable>();
  const frozen = new Set<Parameter>();
  let step = 0;
  return {
    name: "SGD",
    parameters,
    setLearningRate(value: number) {
      checkLearningRate(value);
      lr = value;
    },
    step(grads) {
      step++;
      tf.tidy(() => {
        for (const p of parameters) {
          if (frozen.has(p)) continue;
          let g = gradientOf(grads, p);
          if (wd !== 0) g = tf.add(g, tf.mul(wd, p.variable));
          if (momentum !== 0) {
            let buf = buffers.get(p.name);
            if (buf === undefined) {
              buf = tf.variable(g, false); // the first step's buffer is the gradient itself
              buffers.set(p.name, buf);
            } else {
              buf.assign(tf.add(tf.mul(momentum, buf), g));
            }
            g = buf;
          }
          p.variable.assign(tf.sub(p.variable, tf.mul(lr, g)));
        }
      });
      return {};
    },
    state: () => ({
      step,
      tensors: new Map([...buffers].map(([k, v]) => [`${k}.momentum_buffer`, v])),
    }),
    setState(saved) {
      // Momentum buffers exist from the first step on: all parameters have one, or none.
      const expected = new Set(
        saved.step > 0 && momentum !== 0 ? parameters.map((p) => `${p.name}.momentum_buffer`) : [],
      );
      checkStateNames("SGD", expected, saved.tensors);
      for (const b of buffers.values()) b.dispose();
      buffers.clear();
      for (const p of parameters) {
        const t = saved.tensors.get(`${p.name}.momentum_buffer`);
        if (t === undefined) continue;
        checkShape(p.name, t, p.variable);
        buffers.set(p.name, tf.variable(tf.clone(t), false));
      }
      step = saved.step;
    },
    freeze(ps) {
      for (const p of ps) frozen.add(p);
    },
    dispose() {
      for (const b of buffers.values()) b.dispose();
      buffers.clear();
    },
  };
}
