/**
 * Training setups: the paper's defaults, and every bad input of issue 3 as a clear error.
 */
import { assertEquals, assertThrows } from "./assert.ts";
import { tf } from "../nets/tf.ts";
import { checkBatchLabels, createTrainingSetup } from "../nets/training/setup.ts";
import { InvalidArgumentError } from "../core/errors.ts";

await tf.setBackend("cpu");

const small = { numClasses: 10, resnetWidth: 2 };

Deno.test("setup: defaults are the paper's recipe (AGD gain 10, τ = 5, no bias, CE, trust-regions, DDN, EMA)", () => {
  const { resolved, dispose } = createTrainingSetup({
    model: "resnet18",
    method: "implicit",
    ...small,
  });
  assertEquals(resolved, {
    model: "resnet18",
    method: "implicit",
    numClasses: 10,
    optimiser: "AGD",
    lr: null,
    gain: 10,
    bias: false,
    loss: "CrossEntropyLoss",
    temperature: 5,
    etfSolver: "trust-regions",
    etfBackward: "ddn",
    featureAverage: "ema",
    featureDim: 16,
    seed: 0,
  });
  dispose();
  const ufm = createTrainingSetup({
    model: "ufm",
    method: "fixed",
    numClasses: 10,
    numSamples: 20,
  });
  assertEquals([ufm.resolved.optimiser, ufm.resolved.lr], ["SGD", 0.1]);
  ufm.dispose();
});

Deno.test("setup: bad names and values are clear errors", () => {
  const cases: [Record<string, unknown>, string, string][] = [
    [{ model: "vgg16" }, "--model", "resnet18"],
    [{ method: "adaptive" }, "--method", "standard, fixed, implicit"],
    [{ optimiser: "lbfgs" }, "--optimiser", "AGD, SGD, Adam, AdamW"],
    [{ loss: "hinge" }, "--loss", "CrossEntropyLoss"],
    [{ temperature: 0 }, "--temperature", "τ > 0"],
    [{ temperature: -1 }, "--temperature", "τ > 0"],
    [{ bias: true }, "--bias", "AGD supports no biases"],
    // A setting the resolved optimiser does not have is refused, never dropped.
    [{ lr: 0.1 }, "--lr", "AGD has no learning rate"],
    [{ optimiser: "SGD", gain: 10 }, "--gain", "only AGD has a gain"],
    [{ etfSolver: "newton" }, "--etf_solver", "trust-regions, closed-form"],
    [{ etfBackward: "fd" }, "--etf_backward", "ddn, closed-form, none"],
    [{ featureAverage: "sma" }, "--feature_average", "ema, cma"],
    [{ numClasses: 1 }, "--num_classes", "≥ 2"],
  ];
  for (const [override, argument, allowed] of cases) {
    const options = { model: "resnet18", method: "implicit", ...small, ...override } as Parameters<
      typeof createTrainingSetup
    >[0];
    const e = assertThrows(
      () => createTrainingSetup(options),
      InvalidArgumentError,
      argument,
      allowed,
    );
    assertEquals(e.argument, argument);
  }
  assertThrows(
    () =>
      createTrainingSetup({
        model: "ufm",
        method: "fixed",
        numClasses: 10,
        numSamples: 20,
        optimiser: "AGD",
      }),
    InvalidArgumentError,
    "--optimiser",
    "not the UFM",
  );
});

Deno.test("setup: batch labels outside [0, K) and implicit stratified batches smaller than K", () => {
  checkBatchLabels([0, 1, 2], 3, { method: "implicit", stratified: true });
  assertThrows(
    () => checkBatchLabels([0, 3, 1], 3),
    InvalidArgumentError,
    "label 3 at position 1",
    "[0, 3)",
  );
  assertThrows(() => checkBatchLabels([0, -1], 3), InvalidArgumentError, "label -1");
  assertThrows(() => checkBatchLabels([0, 1.5], 3), InvalidArgumentError, "label 1.5");
  assertThrows(
    () => checkBatchLabels([0, 1], 3, { method: "implicit", stratified: true }),
    InvalidArgumentError,
    "--batch_size",
    "got 2 < K = 3",
  );
  checkBatchLabels([0, 1], 3, { method: "standard", stratified: true }); // only the implicit head needs it
});
