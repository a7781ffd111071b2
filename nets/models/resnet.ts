/**
 * ResNet18/34/50 in torchvision's layout (the paper's `nc/models/resnet.py`), NHWC tfjs, with
 * PyTorch's state_dict names: a 7×7 stride-2 stem conv (padding 3, no bias), BatchNorm, ReLU, a
 * 3×3 stride-2 max-pool with PyTorch's padding 1 (padding never wins the max, as PyTorch's
 * implicit −∞ padding: 32×32 input gives 8×8 after the pool), four stages (BasicBlock
 * [2,2,2,2] / [3,4,6,3] for 18/34; Bottleneck [3,4,6,3], expansion 4, stride on the 3×3 conv
 * (v1.5) for 50; downsample = 1×1 conv with the block's stride + BatchNorm when the shape
 * changes), global average pooling → features [N, d], d = 8·width·expansion (512 / 2048 at the
 * default width 64).
 *
 * `fixdim: K` follows the paper's code exactly: only the **last block of layer4** changes — its
 * last conv (BasicBlock `conv2`, Bottleneck `conv3`) and the BatchNorm after it emit K+1
 * channels, and that block gains a downsample (1×1 conv, stride 1, + BatchNorm) from the
 * stage's 8·width·expansion channels to K+1, so the residual sum has K+1 channels and d = K+1.
 * Every other conv, including the first conv(s) of that block, keeps its width.
 *
 * @example
 * ```ts
 * import { tf } from "../tf.ts";
 * const net = resnet({ name: "resnet18", width: 8, seed: 1 });
 * const h = tf.tidy(() => net.features(tf.zeros([2, 32, 32, 3]), true)); // [2, 64]
 * net.dispose();
 * ```
 *
 * @module
 */
import { tf } from "../tf.ts";
import type { Backbone, Parameter } from "./model.ts";
import { type BatchNorm, batchNorm2d, ownedVariable } from "./batch_norm.ts";
import { kaimingNormalConv, Rng } from "./init.ts";
import { InvalidArgumentError } from "../../core/errors.ts";

import { RESNET_NAMES, type ResNetName } from "./names.ts";
export { RESNET_NAMES, type ResNetName } from "./names.ts";

/**
 * Options of {@link resnet}.
 *
 * @example
 * ```ts
 * const options: ResNetOptions = { name: "resnet50", width: 16, bias: true, fixdim: 10 };
 * ```
 */
export interface ResNetOptions {
  /** Architecture. */
  name: ResNetName;
  /** Input channels; default 3. */
  inChannels?: number;
  /** Base channel count (`--resnet_width`): stem and layer1 planes; default 64. */
  width?: number;
  /**
   * `true`: affine BatchNorm (`--bias`); `false` (default, the paper's `--no-bias`):
   * non-affine BatchNorm. Convs never have a bias (as torchvision).
   */
  bias?: boolean;
  /** Number of classes K: the last block emits K+1 channels (see the module doc); default null. */
  fixdim?: number | null;
  /** Seed of the initialisation; default 0. */
  seed?: number;
}

/**
 * A bias-free 2-D convolution with a tfjs kernel [kh, kw, in, out] named `${prefix}.weight`,
 * PyTorch's explicit symmetric padding, Kaiming-normal (fan_out, ReLU) init.
 *
 * @example
 * ```ts
 * import { Rng } from "../../core/random.ts";
 * import { tf } from "../tf.ts";
 * const conv = new Conv2d("conv1", new Rng(0), 3, 64, 7, 2, 3);
 * const x = tf.zeros<tf.Rank.R4>([2, 32, 32, 3]);
 * const y = conv.apply(x); // [N, 16, 16, 64] for x [N, 32, 32, 3]
 * ```
 */
export class Conv2d {
  /** The kernel, tfjs layout [kh, kw, in, out]. */
  readonly weight: tf.Variable;

  /** Draws the kernel from `rng`. */
  constructor(
    /** Module name, e.g. `layer1.0.conv1`. */
    readonly prefix: string,
    rng: Rng,
    /** Input channels. */
    readonly inChannels: number,
    /** Output channels. */
    readonly outChannels: number,
    /** Square kernel size. */
    readonly kernelSize: number,
    /** Stride. */
    readonly stride: number,
    /** Zero padding on each side (PyTorch's `padding`). */
    readonly padding: number,
  ) {
    this.weight = ownedVariable(
      kaimingNormalConv(rng, kernelSize, kernelSize, inChannels, outChannels),
      true,
    );
  }

  /** The kernel as a named parameter. */
  get parameter(): Parameter {
    return { name: `${this.prefix}.weight`, variable: this.weight, kind: "conv" };
  }

  /** Convolves an NHWC batch. */
  apply(x: tf.Tensor4D): tf.Tensor4D {
    const pad = this.padding === 0 ? "valid" : this.padding;
    return tf.conv2d(x, this.weight as tf.Tensor4D, this.stride, pad);
  }
}

/**
 * PyTorch's `nn.MaxPool2d(kernel_size=3, stride=2, padding=1)` on NHWC: output size
 * floor((H − 1)/2) + 1 (16×16 → 8×8). tfjs's numeric padding skips the padded cells, which is
 * PyTorch's implicit −∞ padding; tfjs's `"same"` would pad asymmetrically (0 before, 1 after)
 * for stride 2 and shift every window.
 *
 * @example
 * ```ts
 * import { tf } from "../tf.ts";
 * maxPool3x3Stride2(tf.zeros([2, 16, 16, 64])).shape; // [2, 8, 8, 64]
 * ```
 */
export function maxPool3x3Stride2(x: tf.Tensor4D): tf.Tensor4D {
  return tf.maxPool(x, 3, 2, 1);
}

/** A conv followed by its BatchNorm, as the blocks hold them. */
type ConvBn = { conv: Conv2d; bn: BatchNorm };

/** One residual block (BasicBlock: 2 conv–BN pairs; Bottleneck: 3), with optional downsample. */
class Block {
  constructor(readonly pairs: ConvBn[], readonly downsample: ConvBn | null) {}

  apply(x: tf.Tensor4D, training: boolean, update: boolean): tf.Tensor4D {
    let out: tf.Tensor4D = x;
    this.pairs.forEach(({ conv, bn }, i) => {
      out = bn.apply(conv.apply(out), training, update) as tf.Tensor4D;
      if (i < this.pairs.length - 1) out = tf.relu(out);
    });
    const identity = this.downsample
      ? this.downsample.bn.apply(this.downsample.conv.apply(x), training, update) as tf.Tensor4D
      : x;
    return tf.relu(tf.add(out, identity));
  }

  modules(): ConvBn[] {
    return this.downsample ? [...this.pairs, this.downsample] : this.pairs;
  }
}

const ARCHITECTURES: Record<
  ResNetName,
  { block: "basic" | "bottleneck"; layers: [number, number, number, number] }
> = {
  resnet18: { block: "basic", layers: [2, 2, 2, 2] },
  resnet34: { block: "basic", layers: [3, 4, 6, 3] },
  resnet50: { block: "bottleneck", layers: [3, 4, 6, 3] },
};

function checkInteger(argument: string, value: unknown, min: number, what: string): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min) {
    throw new InvalidArgumentError(
      argument,
      `expected ${what} (an integer ≥ ${min}), got ${value}`,
    );
  }
  return value;
}

/**
 * A ResNet backbone: `features(x, training, updateStatistics = training)` maps an NHWC float32 batch [N, H, W, inChannels]
 * (32×32 in the paper's runs) to the pooled penultimate features [N, d]. Parameters and buffers
 * carry PyTorch's names (`conv1.weight`, `bn1.running_mean`, `layer1.0.conv1.weight`,
 * `layer2.0.downsample.0.weight`, `layer2.0.downsample.1.running_var`, …) in state_dict order.
 *
 * @example
 * ```ts
 * import { tf } from "../tf.ts";
 * const net = resnet({ name: "resnet50", width: 4, fixdim: 10 }); // featureDim 11
 * const x = tf.zeros([2, 32, 32, 3]);
 * const h = tf.tidy(() => net.features(x, false)); // evaluation mode
 * ```
 */
export function resnet(options: ResNetOptions): Backbone {
  const name = options.name;
  if (!(RESNET_NAMES as readonly string[]).includes(name)) {
    throw new InvalidArgumentError(
      "options.name",
      `unknown ResNet "${name}"; expected one of ${RESNET_NAMES.join(", ")}`,
    );
  }
  const inChannels = checkInteger(
    "options.inChannels",
    options.inChannels ?? 3,
    1,
    "a channel count",
  );
  const width = checkInteger("options.width", options.width ?? 64, 1, "a base channel count");
  const fixdim = options.fixdim ?? null;
  if (fixdim !== null) checkInteger("options.fixdim", fixdim, 2, "the number of classes K");
  const seed = options.seed ?? 0;
  if (!Number.isSafeInteger(seed)) {
    throw new InvalidArgumentError("options.seed", `expected a safe integer, got ${seed}`);
  }
  if (options.bias !== undefined && typeof options.bias !== "boolean") {
    throw new InvalidArgumentError("options.bias", `expected a boolean, got ${options.bias}`);
  }
  const bnOptions = { affine: options.bias ?? false };
  const { block, layers } = ARCHITECTURES[name];
  const expansion = block === "basic" ? 1 : 4;
  const rng = new Rng(seed);

  // Built in PyTorch's module registration order, so the parameter list is state_dict order.
  const stem: ConvBn = {
    conv: new Conv2d("conv1", rng, inChannels, width, 7, 2, 3),
    bn: batchNorm2d("bn1", width, bnOptions),
  };
  const stages: Block[][] = [];
  let inplanes = width;
  layers.forEach((count, s) => {
    const planes = width * 2 ** s;
    const stageStride = s === 0 ? 1 : 2;
    const blocks: Block[] = [];
    for (let b = 0; b < count; b++) {
      const prefix = `layer${s + 1}.${b}`;
      const stride = b === 0 ? stageStride : 1;
      const last = b === count - 1;
      const fixed = fixdim !== null && s === 3 && last;
      const outdim = fixed ? fixdim + 1 : planes * expansion;
      const pair = (k: string, cin: number, cout: number, size: number, st: number): ConvBn => ({
        conv: new Conv2d(`${prefix}.conv${k}`, rng, cin, cout, size, st, size === 3 ? 1 : 0),
        bn: batchNorm2d(`${prefix}.bn${k}`, cout, bnOptions),
      });
      const pairs = block === "basic"
        ? [pair("1", inplanes, planes, 3, stride), pair("2", planes, outdim, 3, 1)]
        : [
          pair("1", inplanes, planes, 1, 1),
          pair("2", planes, planes, 3, stride),
          pair("3", planes, outdim, 1, 1),
        ];
      // The paper's fixdim block always gets a downsample (even when K+1 equals its input width).
      const downsample: ConvBn | null = fixed || stride !== 1 || inplanes !== outdim
        ? {
          conv: new Conv2d(`${prefix}.downsample.0`, rng, inplanes, outdim, 1, stride, 0),
          bn: batchNorm2d(`${prefix}.downsample.1`, outdim, bnOptions),
        }
        : null;
      blocks.push(new Block(pairs, downsample));
      inplanes = outdim;
    }
    stages.push(blocks);
  });
  const featureDim = inplanes;

  const modules: ConvBn[] = [stem, ...stages.flat().flatMap((b) => b.modules())];
  const parameters: Parameter[] = modules.flatMap(({ conv, bn }) => [
    conv.parameter,
    ...bn.parameters,
  ]);
  const buffers: Parameter[] = modules.flatMap(({ bn }) => bn.buffers);

  return {
    name,
    featureDim,
    parameters,
    buffers,
    features(x: tf.Tensor, training: boolean, updateStatistics = training): tf.Tensor2D {
      if (x.rank !== 4 || x.shape[3] !== inChannels || x.dtype !== "float32") {
        throw new InvalidArgumentError(
          "x",
          `${name} expects a float32 NHWC batch [N, H, W, ${inChannels}], got ${x.dtype} [${
            x.shape.join(", ")
          }]`,
        );
      }
      return tf.tidy(() => {
        let h = tf.relu(
          stem.bn.apply(stem.conv.apply(x as tf.Tensor4D), training, updateStatistics),
        ) as tf.Tensor4D;
        h = maxPool3x3Stride2(h);
        for (const stage of stages) {
          for (const b of stage) h = b.apply(h, training, updateStatistics);
        }
        return tf.mean(h, [1, 2]) as tf.Tensor2D;
      });
    },
    dispose(): void {
      for (const { conv, bn } of modules) {
        conv.weight.dispose();
        bn.dispose();
      }
    },
  };
}
