/**
 * Automatic Gradient Descent (Bernstein et al. 2023), as docs/method.md section 6 and the paper's
 * code: for weight matrices and conv kernels only. With L parameter tensors, scale
 * `s(W) = sqrt(out/in)`, divided by `sqrt(kh·kw)` for conv kernels (PyTorch layout
 * out×in×kh×kw), and per-slice gradient norms `n(kx,ky) = ‖∇W[:,:,kx,ky]‖_F`:
 * `G = (1/L)·Σ_l s_l·Σ n_l`, `η = log(½(1 + sqrt(1 + 4G)))`,
 * `W[:,:,kx,ky] ← W[:,:,kx,ky] − gain·(η/L)·s·∇W[:,:,kx,ky]/n(kx,ky)` (a zero slice changes
 * nothing), gain 10, no learning rate. Initialisation: each slice orthogonal, then ×s.
 *
 * tfjs layouts: conv kernels are [kh, kw, in, out] and dense weights [in, out]; the slice for
 * (kx, ky) is W[kx, ky] (in×out), whose Frobenius norm equals PyTorch's slice's.
 *
 * @module
 */
import { InvalidArgumentError } from "../../core/errors.ts";
import type { Parameter } from "../models/model.ts";
import { tf } from "../tf.ts";
import { qr } from "../../solver/qr.ts";
import { randomNormal, Rng } from "../../core/random.ts";
import { checkStateNames, gradientOf, type Optimiser } from "./optimiser.ts";

/**
 * AGD's scale `s(W)` for a parameter in tfjs layout.
 *
 * @example
 * ```ts
 * import { tf } from "../tf.ts";
 * const variable = tf.variable(tf.zeros([512, 10]));
 * agdScale({ name: "fc.weight", kind: "dense", variable }); // sqrt(10/512)
 * ```
 */
export function agdScale(p: Parameter): number {
  const shape = p.variable.shape as number[];
  if (p.kind === "conv") {
    const [kh, kw, inC, outC] = shape;
    return Math.sqrt(outC / inC) / Math.sqrt(kh * kw);
  }
  if (p.kind === "dense") return Math.sqrt(shape[1] / shape[0]);
  throw new InvalidArgumentError(
    "--optimiser",
    `AGD: parameter ${p.name} (${p.kind}, shape [${shape}]) is not a weight matrix or conv kernel; ` +
      "AGD supports no biases or other parameters (use --no-bias, or another optimiser)",
  );
}

/** Checks that AGD applies to every parameter (weight matrices and conv kernels only). */
function checkAgdParameters(parameters: readonly Parameter[]): void {
  for (const p of parameters) agdScale(p);
}

/**
 * AGD's initialisation, in place: every (kx, ky) slice (out×in) semi-orthogonal, from a seeded
 * Gaussian's QR, then the whole tensor ×s.
 *
 * @example
 * ```ts
 * import { createBackbone } from "../models/backbones.ts";
 * const model = createBackbone("resnet18", { width: 8 });
 * agdInitialise(model.parameters, 1);
 * ```
 */
export function agdInitialise(parameters: readonly Parameter[], seed: number): void {
  checkAgdParameters(parameters);
  const rng = new Rng(seed);
  for (const p of parameters) {
    const shape = p.variable.shape as number[];
    const [kh, kw, inC, outC] = p.kind === "conv" ? shape : [1, 1, shape[0], shape[1]];
    const s = agdScale(p);
    const values = new Float32Array(kh * kw * inC * outC);
    const tall = Math.max(inC, outC), wide = Math.min(inC, outC);
    for (let k = 0; k < kh * kw; k++) {
      // Q (tall×wide) with orthonormal columns; the slice (in×out in tfjs) is Q or Qᵀ.
      const Q = qr(randomNormal(rng, tall, wide)).Q.data;
      const base = k * inC * outC;
      for (let i = 0; i < inC; i++) {
        for (let o = 0; o < outC; o++) {
          const q = inC >= outC ? Q[i * wide + o] : Q[o * wide + i];
          values[base + i * outC + o] = s * q;
        }
      }
    }
    p.variable.assign(tf.tensor(values, shape));
  }
}

/**
 * Creates AGD over `parameters` (weight matrices and conv kernels only; anything else is an
 * error). `step` returns η as a scalar tensor.
 *
 * @example
 * ```ts
 * import { tf } from "../tf.ts";
 * import { createBackbone } from "../models/backbones.ts";
 * const model = createBackbone("resnet18", { width: 8 });
 * const x = tf.zeros([2, 32, 32, 3]);
 * const opt = agd(model.parameters, { gain: 10 });
 * const { grads } = tf.variableGrads(() => tf.sum(model.features(x, true)) as tf.Scalar);
 * const { eta } = opt.step(grads);
 * ```
 */
export function agd(parameters: readonly Parameter[], options: { gain?: number } = {}): Optimiser {
  checkAgdParameters(parameters);
  const gain = options.gain ?? 10;
  const scale = new Map(parameters.map((p) => [p, agdScale(p)]));
  let active: readonly Parameter[] = parameters;
  let step = 0;
  return {
    name: "AGD",
    parameters,
    step(grads) {
      step++;
      const L = active.length, scales = active.map((p) => scale.get(p)!);
      const eta = tf.tidy(() => {
        const norms = active.map((p) => {
          const g = gradientOf(grads, p);
          // Slice norms, shaped to broadcast against the gradient.
          return p.kind === "conv"
            ? tf.sqrt(tf.sum(tf.square(g), [2, 3], true))
            : tf.sqrt(tf.sum(tf.square(g)));
        });
        const G = tf.div(tf.addN(norms.map((n, l) => tf.mul(scales[l], tf.sum(n)))), L);
        const eta = tf.log(tf.mul(0.5, tf.add(1, tf.sqrt(tf.add(1, tf.mul(4, G))))));
        active.forEach((p, l) => {
          const g = gradientOf(grads, p), n = norms[l];
          // 1/n per slice, 0 for a zero slice; the condition stays slice-sized (a full-size
          // where() would broadcast it with Tile, slow on wasm).
          const positive = tf.greater(n, 0);
          const inverse = tf.where(
            positive,
            tf.reciprocal(tf.where(positive, n, tf.onesLike(n))),
            tf.zerosLike(n),
          );
          const direction = tf.mul(g, inverse);
          const factor = tf.mul(eta, (gain / L) * scales[l]);
          p.variable.assign(tf.sub(p.variable, tf.mul(factor, direction)));
        });
        return eta as tf.Scalar;
      });
      return { eta };
    },
    state: () => ({ step, tensors: new Map() }),
    setState(saved) {
      checkStateNames("AGD", new Set(), saved.tensors);
      step = saved.step;
    },
    freeze(ps) {
      active = active.filter((p) => !ps.includes(p));
    },
    dispose() {},
  };
}
