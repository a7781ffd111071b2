/**
 * The backbone names, in a module without TensorFlow.js, so that configuration code (the
 * training flags, the paper pipeline) can check a name without loading tfjs.
 *
 * @module
 */

/** The ResNet architectures provided. */
export const RESNET_NAMES = ["resnet18", "resnet34", "resnet50"] as const;
/** One of {@link RESNET_NAMES}. */
export type ResNetName = typeof RESNET_NAMES[number];

/** Every backbone name `createBackbone` accepts. */
export const BACKBONE_NAMES = [...RESNET_NAMES, "vgg13", "mlp", "ufm"] as const;
/** One of {@link BACKBONE_NAMES}. */
export type BackboneName = typeof BACKBONE_NAMES[number];

/**
 * The convolutional backbones: they need images (NHWC batches), never feature vectors.
 *
 * @example
 * ```ts
 * IMAGE_BACKBONES.includes("vgg13"); // true
 * ```
 */
export const IMAGE_BACKBONES: readonly string[] = [...RESNET_NAMES, "vgg13"];
