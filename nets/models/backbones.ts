/**
 * One entry point for every backbone: `createBackbone(name, options)` with name one of
 * {@link BACKBONE_NAMES}. Unknown names and options, and bad option values, raise
 * `InvalidArgumentError` naming the argument, the value and what is allowed.
 *
 * @example
 * ```ts
 * import { tf } from "../tf.ts";
 * const net = createBackbone("resnet18", { width: 8, bias: false, seed: 1 });
 * const x = tf.zeros([2, 32, 32, 3]); // a batch of two 32×32 RGB images
 * const h = tf.tidy(() => net.features(x, true));
 * net.dispose();
 * ```
 *
 * @module
 */
import type { Backbone } from "./model.ts";
import { BACKBONE_NAMES, type ResNetName } from "./names.ts";
import { resnet } from "./resnet.ts";
import { mlp } from "./mlp.ts";
import { ufm } from "./ufm.ts";
import { vgg13 } from "./vgg.ts";
import { InvalidArgumentError } from "../../core/errors.ts";

export { BACKBONE_NAMES, type BackboneName, IMAGE_BACKBONES } from "./names.ts";

/**
 * Options of {@link createBackbone}; each model accepts only its own (listed per model).
 *
 * - ResNets: `inChannels` (3), `width` (base channels, `--resnet_width`, 64), `bias` (false),
 *   `fixdim` (null, or K), `seed` (0).
 * - vgg13: `inChannels` (3), `width` (base channels, `--resnet_width`, 64), `bias` (false),
 *   `seed` (0).
 * - mlp: `inputShape` (required, one sample's shape), `depth` (6), `width` (units, `--width`,
 *   1024), `bias` (false), `seed` (0).
 * - ufm: `numSamples` (required), `dim` (512), `seed` (0).
 *
 * @example
 * ```ts
 * const options: BackboneOptions = { inputShape: [32, 32, 3], depth: 6, width: 1024 };
 * ```
 */
export interface BackboneOptions {
  /** ResNet input channels. */
  inChannels?: number;
  /** ResNet base channel count, or MLP hidden width. */
  width?: number;
  /** Affine BatchNorm (and MLP linear biases). */
  bias?: boolean;
  /** ResNet: K, so that the last stage emits K+1 channels. */
  fixdim?: number | null;
  /** Seed of the initialisation. */
  seed?: number;
  /** MLP: one sample's shape. */
  inputShape?: number[];
  /** MLP: number of hidden layers. */
  depth?: number;
  /** UFM: number of samples N. */
  numSamples?: number;
  /** UFM: feature dimension d. */
  dim?: number;
}

const ALLOWED: Record<"resnet" | "vgg" | "mlp" | "ufm", readonly (keyof BackboneOptions)[]> = {
  resnet: ["inChannels", "width", "bias", "fixdim", "seed"],
  vgg: ["inChannels", "width", "bias", "seed"],
  mlp: ["inputShape", "depth", "width", "bias", "seed"],
  ufm: ["numSamples", "dim", "seed"],
};

/**
 * Builds the named backbone.
 *
 * @example
 * ```ts
 * createBackbone("resnet50", { width: 4, fixdim: 10 }).featureDim; // 11
 * createBackbone("mlp", { inputShape: [32, 32, 3], depth: 2, width: 32 }).featureDim; // 32
 * createBackbone("ufm", { numSamples: 100 }).featureDim; // 512
 * createBackbone("vgg13", { width: 4 }).featureDim; // 32
 * createBackbone("vgg16", {}); // InvalidArgumentError: name: unknown backbone "vgg16"; …
 * ```
 */
export function createBackbone(name: string, options: BackboneOptions = {}): Backbone {
  if (!(BACKBONE_NAMES as readonly string[]).includes(name)) {
    throw new InvalidArgumentError(
      "name",
      `unknown backbone "${name}"; expected one of ${BACKBONE_NAMES.join(", ")}`,
    );
  }
  if (options === null || typeof options !== "object") {
    throw new InvalidArgumentError("options", `expected an object, got ${options}`);
  }
  const family = name === "mlp"
    ? "mlp"
    : name === "ufm"
    ? "ufm"
    : name === "vgg13"
    ? "vgg"
    : "resnet";
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined) continue;
    if (!(ALLOWED[family] as readonly string[]).includes(key)) {
      throw new InvalidArgumentError(
        `options.${key}`,
        `not an option of ${name}; its options are ${ALLOWED[family].join(", ")}`,
      );
    }
  }
  switch (family) {
    case "resnet":
      return resnet({
        name: name as ResNetName,
        inChannels: options.inChannels,
        width: options.width,
        bias: options.bias,
        fixdim: options.fixdim,
        seed: options.seed,
      });
    case "vgg":
      return vgg13({
        inChannels: options.inChannels,
        width: options.width,
        bias: options.bias,
        seed: options.seed,
      });
    case "mlp":
      if (options.inputShape === undefined) {
        throw new InvalidArgumentError(
          "options.inputShape",
          "mlp needs the shape of one sample, e.g. [32, 32, 3]",
        );
      }
      return mlp({
        inputShape: options.inputShape,
        depth: options.depth,
        width: options.width,
        bias: options.bias,
        seed: options.seed,
      });
    case "ufm":
      if (options.numSamples === undefined) {
        throw new InvalidArgumentError(
          "options.numSamples",
          "ufm needs the number of samples N (the free feature matrix is N×d)",
        );
      }
      return ufm({ numSamples: options.numSamples, dim: options.dim, seed: options.seed });
  }
}
