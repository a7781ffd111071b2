/**
 * VGG13 with BatchNorm (the paper's VGG13; its code for it is not released): torchvision's
 * `vgg13_bn` feature extractor, configuration "B" — 3×3 convs (padding 1) of
 * 64, 64, M, 128, 128, M, 256, 256, M, 512, 512, M, 512, 512, M (M: 2×2 max-pool, stride 2), each
 * conv followed by BatchNorm and ReLU — then global average pooling to the 512-d features
 * (8·width at `--resnet_width` width; 1×1 after the five pools at 32×32, 3×3 averaged at 96×96).
 * torchvision's 7×7 adaptive pool and 4096-unit classifier are not used: the heads (standard,
 * fixed ETF, implicit ETF) act on the pooled features, as for the ResNets.
 *
 * Parameters carry `vgg13_bn`'s state_dict names: conv `features.{i}.weight` (and `.bias`),
 * BatchNorm `features.{i+1}.weight`, `.bias`, `.running_mean`, `.running_var`,
 * `.num_batches_tracked`, with i = 0, 3, 7, 10, 14, 17, 21, 24, 28, 31 (ReLU and max-pool hold no
 * parameters). `bias: true` (`--bias`) gives convs with biases and affine BatchNorm, exactly
 * torchvision's `vgg13_bn().features`; `bias: false` (the default, the paper's `--no-bias`, as the
 * ResNets) gives bias-free convs and non-affine BatchNorm. Init as torchvision's VGG:
 * Kaiming-normal (fan_out, ReLU) conv weights, zero conv biases, BatchNorm weight 1 and bias 0.
 *
 * @example
 * ```ts
 * import { tf } from "../tf.ts";
 * const net = vgg13({ width: 8, seed: 1 });
 * const h = tf.tidy(() => net.features(tf.zeros([2, 32, 32, 3]), true)); // [2, 64]
 * net.dispose();
 * ```
 *
 * @module
 */
import { tf } from "../tf.ts";
import type { Backbone, Parameter } from "./model.ts";
import { type BatchNorm, batchNorm2d, ownedVariable } from "./batch_norm.ts";
import { Rng } from "./init.ts";
import { Conv2d } from "./resnet.ts";
import { InvalidArgumentError } from "../../core/errors.ts";

/**
 * The conv widths of configuration "B" in units of the base width (64 at the default), with
 * `"M"` for a max-pool.
 *
 * @example
 * ```ts
 * VGG13_LAYOUT.filter((l) => l !== "M").length; // 10 convs
 * ```
 */
export const VGG13_LAYOUT = [1, 1, "M", 2, 2, "M", 4, 4, "M", 8, 8, "M", 8, 8, "M"] as const;

/**
 * Options of {@link vgg13}.
 *
 * @example
 * ```ts
 * const options: Vgg13Options = { width: 16, bias: true, seed: 3 };
 * ```
 */
export interface Vgg13Options {
  /** Input channels; default 3. */
  inChannels?: number;
  /** Base channel count (64 in torchvision; `--resnet_width`); default 64. */
  width?: number;
  /** Conv biases and affine BatchNorm (`--bias`); default false. */
  bias?: boolean;
  /** Seed of the initialisation; default 0. */
  seed?: number;
}

type Stage = { conv: Conv2d; bias: tf.Variable | null; bn: BatchNorm } | "M";

function positiveInteger(argument: string, value: unknown, what: string): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1) {
    throw new InvalidArgumentError(argument, `expected ${what} (an integer ≥ 1), got ${value}`);
  }
  return value;
}

/**
 * A VGG13-BN backbone: `features(x, training, updateStatistics = training)` maps an NHWC float32
 * batch [N, H, W, inChannels] (H, W ≥ 32: five 2×2 pools) to the pooled features [N, 8·width].
 *
 * @example
 * ```ts
 * const net = vgg13({ width: 4, bias: true });
 * net.parameters.map((p) => p.name).slice(0, 4);
 * // ["features.0.weight", "features.0.bias", "features.1.weight", "features.1.bias"]
 * net.dispose();
 * ```
 */
export function vgg13(options: Vgg13Options = {}): Backbone {
  const inChannels = positiveInteger(
    "options.inChannels",
    options.inChannels ?? 3,
    "a channel count",
  );
  const width = positiveInteger("options.width", options.width ?? 64, "a base channel count");
  if (options.bias !== undefined && typeof options.bias !== "boolean") {
    throw new InvalidArgumentError("options.bias", `expected a boolean, got ${options.bias}`);
  }
  const seed = options.seed ?? 0;
  if (!Number.isSafeInteger(seed)) {
    throw new InvalidArgumentError("options.seed", `expected a safe integer, got ${seed}`);
  }
  const bias = options.bias ?? false;
  const rng = new Rng(seed);
  const stages: Stage[] = [];
  let index = 0, cin = inChannels;
  for (const layer of VGG13_LAYOUT) {
    if (layer === "M") {
      stages.push("M");
      index += 1;
      continue;
    }
    const cout = layer * width;
    stages.push({
      conv: new Conv2d(`features.${index}`, rng, cin, cout, 3, 1, 1),
      bias: bias ? ownedVariable(tf.zeros([cout]), true) : null,
      bn: batchNorm2d(`features.${index + 1}`, cout, { affine: bias }),
    });
    index += 3; // conv, BatchNorm, ReLU
    cin = cout;
  }
  const layers = stages.filter((s): s is Exclude<Stage, "M"> => s !== "M");
  const parameters: Parameter[] = layers.flatMap(({ conv, bias, bn }) => [
    conv.parameter,
    ...(bias ? [{ name: `${conv.prefix}.bias`, variable: bias, kind: "vector" as const }] : []),
    ...bn.parameters,
  ]);
  const buffers: Parameter[] = layers.flatMap(({ bn }) => bn.buffers);
  return {
    name: "vgg13",
    featureDim: cin,
    parameters,
    buffers,
    features(x: tf.Tensor, training: boolean, updateStatistics = training): tf.Tensor2D {
      if (
        x.rank !== 4 || x.shape[3] !== inChannels || x.dtype !== "float32" ||
        x.shape[1]! < 32 || x.shape[2]! < 32
      ) {
        throw new InvalidArgumentError(
          "x",
          `vgg13 expects a float32 NHWC batch [N, H, W, ${inChannels}] with H, W ≥ 32 (five 2×2 ` +
            `pools), got ${x.dtype} [${x.shape.join(", ")}]`,
        );
      }
      return tf.tidy(() => {
        let h = x as tf.Tensor4D;
        for (const s of stages) {
          if (s === "M") {
            h = tf.maxPool(h, 2, 2, "valid");
            continue;
          }
          let y = s.conv.apply(h);
          if (s.bias) y = tf.add(y, s.bias) as tf.Tensor4D;
          h = tf.relu(s.bn.apply(y, training, updateStatistics)) as tf.Tensor4D;
        }
        return tf.mean(h, [1, 2]) as tf.Tensor2D;
      });
    },
    dispose(): void {
      for (const { conv, bias, bn } of layers) {
        conv.weight.dispose();
        bias?.dispose();
        bn.dispose();
      }
    },
  };
}
