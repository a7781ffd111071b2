/**
 * VGG13 (nets/models/vgg.ts) against PyTorch: the parameter count and state_dict names of
 * torchvision's vgg13_bn feature extractor (configuration "B", written from its published layout
 * in scripts/bench_step_torch.py), with `--bias` and without; a checkpoint of ours loads strictly
 * into that PyTorch network and gives the same features and logits on a fixed input; and the
 * training task trains it end to end on a tiny run. The PyTorch cases are ignored (with a
 * warning) without `import torch`.
 */
import { trainScript } from "./support/train_script.ts";
import { assert, assertAtMost, assertEquals, assertThrows } from "./assert.ts";
import { tf } from "../nets/tf.ts";
import { createBackbone } from "../nets/models/backbones.ts";
import { standardHead } from "../nets/heads/standard.ts";
import { normaliseFeatures } from "../nets/heads/head.ts";
import { InvalidArgumentError } from "../core/errors.ts";
import { saveModelCheckpoint, saveTensors } from "../train/checkpoint.ts";
import { TINY_RUN } from "./support/tiny_run.ts";

const PYTHON = "/usr/bin/python3";
const LOADER = new URL("./fixtures/checkpoint_torch_load.py", import.meta.url).pathname;
const hasTorch = await new Deno.Command(PYTHON, { args: ["-c", "import torch"] }).output()
  .then((o) => o.success, () => false);
if (!hasTorch) {
  console.warn("vgg_test: no torch for /usr/bin/python3; the PyTorch cases are ignored");
}

async function torchLoad(args: string[]) {
  const out = await new Deno.Command(PYTHON, {
    args: [LOADER, ...args],
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  const dec = new TextDecoder();
  assert(out.success, `PyTorch loader failed: ${dec.decode(out.stderr)}`);
  return JSON.parse(dec.decode(out.stdout)) as {
    features: number[][];
    logits: number[][];
    num_batches_tracked: number;
    parameters: number;
    state_dict: string[];
  };
}

Deno.test("vgg13: 512-d features at the default width, 8·width in general, ≥ 32×32 input", () => {
  const net = createBackbone("vgg13", { width: 4, seed: 1 });
  try {
    assertEquals(net.featureDim, 32);
    const h = tf.tidy(() => net.features(tf.zeros([2, 96, 96, 3]), true)); // STL10's size
    assertEquals(h.shape, [2, 32]);
    h.dispose();
    assertThrows(
      () => net.features(tf.zeros([1, 16, 16, 3]), false),
      InvalidArgumentError,
      "H, W ≥ 32",
    );
  } finally {
    net.dispose();
  }
  assertThrows(
    () => createBackbone("vgg13", { fixdim: 10 }),
    InvalidArgumentError,
    "options.fixdim",
  );
  const full = createBackbone("vgg13", {});
  assertEquals(full.featureDim, 512);
  full.dispose();
});

for (const bias of [true, false]) {
  Deno.test({
    name: `vgg13 (${
      bias ? "--bias" : "--no-bias"
    }): PyTorch's parameter count and names; a checkpoint loads strictly and agrees`,
    ignore: !hasTorch,
    fn: async () => {
      const dir = await Deno.makeTempDir({ prefix: "vgg_" });
      const K = 10, TAU = 5;
      // Width 64 for the counts (torchvision's network), width 4 for the outputs (fast).
      const full = createBackbone("vgg13", { bias, seed: 0 });
      const count = full.parameters.reduce((a, p) => a + p.variable.size, 0);
      full.dispose();
      const net = createBackbone("vgg13", { width: 4, bias, seed: 3 });
      const head = standardHead({
        featureDim: net.featureDim,
        numClasses: K,
        bias: false,
        seed: 3,
      });
      try {
        for (let i = 0; i < 2; i++) { // two training forwards: BatchNorm statistics move
          tf.tidy(() =>
            void net.features(tf.randomNormal([4, 32, 32, 3], 0.5, 2, "float32", i), true)
          );
        }
        const path = `${dir}/model.safetensors`;
        await saveModelCheckpoint(path, {
          parameters: [...net.parameters, ...head.parameters],
          buffers: net.buffers,
        });
        const nchw = tf.tidy(() => tf.randomNormal([2, 3, 32, 32], 0, 1, "float32", 7));
        const x = nchw.dataSync() as Float32Array;
        await saveTensors(
          `${dir}/x.safetensors`,
          new Map([["x", { dtype: "F32", shape: [2, 3, 32, 32], data: x }]]),
        );
        const flag = bias ? ["bias"] : [];
        const counted = await torchLoad([
          path,
          `${dir}/x.safetensors`,
          "vgg13",
          "4",
          `${K}`,
          `${TAU}`,
          ...flag,
        ]);
        const names = [...net.parameters, ...head.parameters, ...net.buffers].map((p) => p.name)
          .sort();
        assertEquals([...counted.state_dict].sort(), names, "state_dict names");
        assertEquals(counted.num_batches_tracked, 2);
        // The parameter count of the full network, from PyTorch at width 64.
        const torchFull = await new Deno.Command(PYTHON, {
          args: [
            "-c",
            `import sys; sys.path.insert(0, "scripts"); from bench_step_torch import VGG13; ` +
            `n = VGG13(64, 10, bias=${bias ? "True" : "False"}); ` +
            `print(sum(p.numel() for k, p in n.named_parameters() if not k.startswith("classifier")))`,
          ],
          cwd: new URL("..", import.meta.url).pathname,
          stdout: "piped",
          stderr: "piped",
        }).output();
        assert(torchFull.success, new TextDecoder().decode(torchFull.stderr));
        assertEquals(
          count,
          Number(new TextDecoder().decode(torchFull.stdout).trim()),
          "parameters at width 64",
        );
        // torchvision documents vgg13_bn with 133,053,736 parameters; its classifier (25088→4096,
        // 4096→4096, 4096→1000, with biases) holds 123,642,856 of them.
        if (bias) assertEquals(count, 133_053_736 - 123_642_856, "torchvision vgg13_bn().features");
        const ours = tf.tidy(() => {
          const nhwc = tf.transpose(nchw, [0, 2, 3, 1]);
          const h = net.features(nhwc, false);
          const { logits } = head.forward(normaliseFeatures(h, TAU), null, false);
          return { features: h.dataSync(), logits: logits.dataSync() };
        });
        nchw.dispose();
        for (
          const [what, mine, theirs] of [["features", ours.features, counted.features.flat()], [
            "logits",
            ours.logits,
            counted.logits.flat(),
          ]] as const
        ) {
          assertEquals(theirs.length, mine.length, what);
          const scale = Math.max(...theirs.map(Math.abs));
          assert(scale > 1e-3, `${what}: non-trivial outputs`);
          const err = Math.max(...theirs.map((v, i) => Math.abs(v - mine[i])));
          assertAtMost(err, 1e-4 * scale, `${what}: max |PyTorch − ours|`);
        }
      } finally {
        net.dispose();
        head.dispose();
        await Deno.remove(dir, { recursive: true });
      }
    },
  });
}

Deno.test("vgg13: the training task trains it (tiny run, two epochs, checkpoints written)", async () => {
  const storage = await Deno.makeTempDir({ prefix: "vgg_run_" });
  try {
    const out = await trainScript("implicit", [
      ...TINY_RUN,
      "--model",
      "vgg13",
      "--epochs",
      "2",
      "--storage",
      storage,
      "--uid",
      "vgg",
    ]);
    const err = out.stderr;
    assertEquals(out.code, 0, err);
    const latest = JSON.parse(Deno.readTextFileSync(`${storage}/vgg/latest.json`));
    assertEquals(latest.epoch, 2);
    const config = JSON.parse(Deno.readTextFileSync(`${storage}/vgg/config.json`)).config;
    assertEquals(config.model, "vgg13");
  } finally {
    await Deno.remove(storage, { recursive: true });
  }
});
