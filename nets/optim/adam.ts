/**
 * Adam and AdamW, PyTorch semantics. Adam adds `wd·p` to the gradient (L2); AdamW decays the
 * weights, `p ← p·(1 − lr·wd)`, before the Adam update. Then `m ← β₁m + (1−β₁)g`,
 * `v ← β₂v + (1−β₂)g²`, `p ← p − lr·m̂/(sqrt(v̂) + ε)` with bias corrections `m̂ = m/(1−β₁ᵗ)`,
 * `v̂ = v/(1−β₂ᵗ)`. Defaults: lr 1e-3, betas (0.9, 0.999), ε 1e-8, weight decay 5e-4.
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
 * Adam/AdamW settings.
 *
 * @example
 * ```ts
 * const o: AdamOptions = { lr: 1e-3, weightDecay: 0 };
 * ```
 */
export type AdamOptions = {
  lr?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
};

/**
 * Creates Adam (decoupled = false) or AdamW (decoupled = true) over `parameters`.
 *
 * @example
 * ```ts
 * import { createBackbone } from "../models/backbones.ts";
 * const model = createBackbone("resnet18", { width: 8 });
 * const opt = adam(model.parameters, { lr: 1e-3 }, true); // AdamW
 * ```
 */
export function adam(
  parameters: readonly Parameter[],
  options: AdamOptions = {},
  decoupled = false,
): Optimiser {
  let lr = options.lr ?? 1e-3;
  const b1 = options.beta1 ?? 0.9, b2 = options.beta2 ?? 0.999;
  const eps = options.eps ?? 1e-8, wd = options.weightDecay ?? 5e-4;
  const m = new Map<string, tf.Variable>(), v = new Map<string, tf.Variable>();
  for (const p of parameters) {
    m.set(p.name, tf.variable(tf.zerosLike(p.variable), false));
    v.set(p.name, tf.variable(tf.zerosLike(p.variable), false));
  }
  const frozen = new Set<Parameter>();
  let step = 0;
  return {
    name: decoupled ? "AdamW" : "Adam",
    parameters,
    setLearningRate(value: number) {
      checkLearningRate(value);
      lr = value;
    },
    step(grads) {
      step++;
      const c1 = 1 - b1 ** step, c2 = 1 - b2 ** step;
      tf.tidy(() => {
        for (const p of parameters) {
          if (frozen.has(p)) continue;
          let g = gradientOf(grads, p);
          if (decoupled) {
            if (wd !== 0) p.variable.assign(tf.mul(p.variable, 1 - lr * wd));
          } else if (wd !== 0) {
            g = tf.add(g, tf.mul(wd, p.variable));
          }
          const mp = m.get(p.name) as tf.Variable, vp = v.get(p.name) as tf.Variable;
          mp.assign(tf.add(tf.mul(b1, mp), tf.mul(1 - b1, g)));
          vp.assign(tf.add(tf.mul(b2, vp), tf.mul(1 - b2, tf.square(g))));
          const denom = tf.add(tf.sqrt(tf.div(vp, c2)), eps);
          p.variable.assign(tf.sub(p.variable, tf.mul(lr / c1, tf.div(mp, denom))));
        }
      });
      return {};
    },
    state: () => ({
      step,
      tensors: new Map([
        ...[...m].map(([k, t]) => [`${k}.exp_avg`, t] as [string, tf.Tensor]),
        ...[...v].map(([k, t]) => [`${k}.exp_avg_sq`, t] as [string, tf.Tensor]),
      ]),
    }),
    setState(saved) {
      checkStateNames(
        decoupled ? "AdamW" : "Adam",
        new Set(parameters.flatMap((p) => [`${p.name}.exp_avg`, `${p.name}.exp_avg_sq`])),
        saved.tensors,
      );
      for (const p of parameters) {
        for (const [suffix, target] of [["exp_avg", m], ["exp_avg_sq", v]] as const) {
          const t = saved.tensors.get(`${p.name}.${suffix}`) as tf.Tensor;
          checkShape(p.name, t, p.variable);
          (target.get(p.name) as tf.Variable).assign(t);
        }
      }
      step = saved.step;
    },
    freeze(ps) {
      for (const p of ps) frozen.add(p);
    },
    dispose() {
      for (const t of [...m.values(), ...v.values()]) t.dispose();
      m.clear();
      v.clear();
    },
  };
}
