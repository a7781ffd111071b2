/**
 * The one place that imports TensorFlow.js: every module in nets/ imports `tf` from here, so the
 * version is pinned once (the union package: tfjs-core alone has no gradients) and the import
 * resolves without the project's deno.json (full `npm:` specifier), as `mod.ts` requires.
 *
 * @example
 * ```ts
 * import { tf } from "./tf.ts";
 * const x = tf.zeros([2, 3]);
 * ```
 *
 * @module
 */
import * as tf from "npm:@tensorflow/tfjs@4.22.0";

export { tf };

/** The tfjs version pinned here (also recorded in run directories). */
export const TFJS_VERSION = "4.22.0";
