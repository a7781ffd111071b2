/**
 * Model checkpoints (train/checkpoint.ts) on tfjs's cpu backend: a ResNet18 (width 4) with a
 * standard head saved and loaded into a fresh model with another seed (identical parameters,
 * buffers and outputs); the file read by an independent Python reader (names, dtypes, shapes,
 * PyTorch's conv and dense layouts value by value); the checkpoint loaded into the PyTorch
 * ResNet18 of scripts/bench_step_torch.py with a strict `load_state_dict`, its evaluation-mode
 * features and logits compared with ours (when `import torch` works); mismatches (shape, dtype,
 * missing and unexpected keys) as clear errors that assign nothing.
 */
import { assert, assertAtMost, assertEquals } from "./assert.ts";
import { tf } from "../nets/tf.ts";
import { createBackbone } from "../nets/models/backbones.ts";
import { standardHead } from "../nets/heads/standard.ts";
import { normaliseFeatures } from "../nets/heads/head.ts";
import type { Backbone, Parameter } from "../nets/models/model.ts";
import type { Head } from "../nets/heads/head.ts";
import {
  CheckpointError,
  EXTRA_TENSORS_KEY,
  loadModelCheckpoint,
  type ModelState,
  permuteAxes,
  saveModelCheckpoint,
  saveTensors,
  torchShape,
  torchStateDict,
} from "../train/checkpoint.ts";
import { readSafetensors, type TensorEntry } from "../train/safetensors.ts";

await tf.setBackend("cpu");

const PYTHON = "/usr/bin/python3";
const READER = new URL("./fixtures/checkpoint_safetensors_reader.py", import.meta.url).pathname;
const TORCH_LOADER = new URL("./fixtures/checkpoint_torch_load.py", import.meta.url).pathname;
const K = 10;
const WIDTH = 4;
const TAU = 5;

async function python(args: string[]): Promise<{ ok: boolean; stdout: string; stderr: string }> {
  try {
    const out = await new Deno.Command(PYTHON, { args, stdout: "piped", stderr: "piped" })
      .output();
    const dec = new TextDecoder();
    return { ok: out.success, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  } catch (e) {
    return { ok: false, stdout: "", stderr: String(e) };
  }
}

const hasPython = await Deno.stat(PYTHON).then(() => true, () => false);
const torchCheck = hasPython ? await python(["-c", "import torch"]) : null;
const hasTorch = torchCheck?.ok ?? false;
if (!hasPython) {
  console.log(
    `checkpoint_model_test: ${PYTHON} not found; skipping the Python reader and PyTorch tests`,
  );
} else if (!hasTorch) {
  console.log(
    `checkpoint_model_test: "${PYTHON} -c 'import torch'" failed; skipping the PyTorch load test (${
      torchCheck?.stderr.trim().split("\n").at(-1)
    })`,
  );
}

type Model = { net: Backbone; head: Head; state: ModelState };

function model(seed: number, width = WIDTH, bias = false): Model {
  const net = createBackbone("resnet18", { width, seed, bias });
  const head = standardHead({ featureDim: net.featureDim, numClasses: K, bias: false, seed });
  return {
    net,
    head,
    state: { parameters: [...net.parameters, ...head.parameters], buffers: net.buffers },
  };
}

function dispose(m: Model): void {
  m.net.dispose();
  m.head.dispose();
}

/** A trained-looking model: two training-mode forwards update the BatchNorm statistics. */
function trainedModel(seed: number): Model {
  const m = model(seed);
  for (let i = 0; i < 2; i++) {
    tf.tidy(() => {
      m.net.features(tf.randomNormal([4, 32, 32, 3], 0.5, 2, "float32", 100 + i), true);
    });
  }
  return m;
}

/** Fixed input, NCHW data (PyTorch) and the same batch NHWC (ours). */
function fixedInput(): { nchw: Float32Array; nhwc: tf.Tensor4D } {
  const nchw = tf.tidy(() => tf.randomNormal([2, 3, 32, 32], 0, 1, "float32", 7));
  const data = nchw.dataSync() as Float32Array;
  const nhwc = tf.transpose(nchw, [0, 2, 3, 1]) as tf.Tensor4D;
  nchw.dispose();
  return { nchw: data, nhwc };
}

function outputs(m: Model, x: tf.Tensor4D): { features: Float32Array; logits: Float32Array } {
  return tf.tidy(() => {
    const h = m.net.features(x, false);
    const { logits } = m.head.forward(normaliseFeatures(h, TAU), null, false);
    return { features: h.dataSync() as Float32Array, logits: logits.dataSync() as Float32Array };
  });
}

function values(list: readonly Parameter[]): Map<string, number[]> {
  return new Map(list.map((p) => [p.name, Array.from(p.variable.dataSync())]));
}

const EXTRA = new Map<string, TensorEntry>([
  ["fixed.W", { dtype: "F64", shape: [2, 2], data: new Float64Array([1, 2, 3, Math.E]) }],
]);

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "ckpt_model_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("permuteAxes: conv and dense layouts and their inverses", () => {
  const shape = [2, 3, 4, 5]; // tfjs [kh, kw, in, out]
  const data = Float32Array.from({ length: 120 }, (_, i) => i);
  const pt = permuteAxes(data, shape, [3, 2, 0, 1]);
  assertEquals(torchShape(shape, "conv"), [5, 4, 2, 3]);
  // W_pt[o, i, y, x] = W_tf[y, x, i, o]
  for (const [o, i, y, x] of [[0, 0, 0, 0], [4, 3, 1, 2], [2, 1, 0, 1], [3, 0, 1, 0]]) {
    assertEquals(pt[((o * 4 + i) * 2 + y) * 3 + x], data[((y * 3 + x) * 4 + i) * 5 + o]);
  }
  assertEquals([...permuteAxes(pt, [5, 4, 2, 3], [2, 3, 1, 0])], [...data]);
  assertEquals([...permuteAxes(new Int32Array([1, 2, 3, 4, 5, 6]), [2, 3], [1, 0])], [
    1,
    4,
    2,
    5,
    3,
    6,
  ]);
  assertEquals(torchShape([512, 10], "dense"), [10, 512]);
  assertEquals(torchShape([7], "vector"), [7]);
});

Deno.test("checkpoint: ResNet18 + standard head round trip into a fresh model with another seed", async () => {
  await withTempDir(async (dir) => {
    const a = trainedModel(1);
    const b = model(2);
    const x = fixedInput();
    try {
      const path = `${dir}/model.safetensors`;
      await saveModelCheckpoint(path, { ...a.state, extra: EXTRA }, { epoch: "3" });
      const before = values(b.state.parameters);
      assert(
        before.get("conv1.weight")!.some((v, i) =>
          v !== values(a.state.parameters).get("conv1.weight")![i]
        ),
        "the two seeds give different weights",
      );
      const { metadata, extra } = await loadModelCheckpoint(path, b.state);
      assertEquals(metadata, { format: "pt", epoch: "3" });
      assertEquals([...extra.keys()], ["fixed.W"]);
      assertEquals([...extra.get("fixed.W")!.data as Float64Array], [1, 2, 3, Math.E]);
      assertEquals(values(b.state.parameters), values(a.state.parameters));
      assertEquals(values(b.state.buffers), values(a.state.buffers));
      const nbt = b.state.buffers.find((p) => p.name === "bn1.num_batches_tracked")!;
      assertEquals(nbt.variable.dtype, "int32");
      assertEquals(Array.from(nbt.variable.dataSync()), [2]);
      const oa = outputs(a, x.nhwc), ob = outputs(b, x.nhwc);
      assertEquals([...ob.features], [...oa.features]);
      assertEquals([...ob.logits], [...oa.logits]);
      // Loading creates no tensors beyond the variables' new values.
      const n = tf.memory().numTensors;
      await loadModelCheckpoint(path, b.state);
      assertEquals(tf.memory().numTensors, n);
    } finally {
      dispose(a);
      dispose(b);
      x.nhwc.dispose();
    }
  });
});

Deno.test("checkpoint: MLP (dense layout, biases) and UFM features round trip", async () => {
  await withTempDir(async (dir) => {
    for (const name of ["mlp", "ufm"] as const) {
      const options = name === "mlp"
        ? { inputShape: [6], depth: 2, width: 5, bias: true }
        : { numSamples: 7, dim: 3 };
      const a = createBackbone(name, { ...options, seed: 1 });
      const b = createBackbone(name, { ...options, seed: 2 });
      try {
        const path = `${dir}/${name}.safetensors`;
        await saveModelCheckpoint(path, a);
        const file = await readSafetensors(path);
        for (const p of a.parameters) {
          assertEquals(file.tensors.get(p.name)!.shape, torchShape(p.variable.shape, p.kind));
        }
        if (name === "mlp") {
          const w = a.parameters.find((p) => p.kind === "dense")!; // tfjs [in, out]
          const [nin, nout] = w.variable.shape;
          const tfData = w.variable.dataSync();
          const pt = file.tensors.get(w.name)!.data as Float32Array; // PyTorch [out, in]
          for (let i = 0; i < nin; i++) {
            for (let o = 0; o < nout; o++) assertEquals(pt[o * nin + i], tfData[i * nout + o]);
          }
        }
        await loadModelCheckpoint(path, b);
        assertEquals(values(b.parameters), values(a.parameters));
        assertEquals(values(b.buffers), values(a.buffers));
      } finally {
        a.dispose();
        b.dispose();
      }
    }
  });
});

Deno.test({
  name:
    "checkpoint: an independent reader (Python json + struct) sees PyTorch names, dtypes, shapes, layouts",
  ignore: !hasPython,
  fn: async () => {
    await withTempDir(async (dir) => {
      const a = trainedModel(3);
      try {
        const path = `${dir}/model.safetensors`;
        await saveModelCheckpoint(path, { ...a.state, extra: EXTRA }, { epoch: "1" });
        const convs = ["conv1.weight", "layer1.0.conv1.weight", "layer2.0.downsample.0.weight"];
        const tfConv = new Map(
          convs.map((n) => {
            const p = a.state.parameters.find((q) => q.name === n)!;
            return [n, { shape: p.variable.shape, data: p.variable.dataSync() }];
          }),
        );
        // A spread of PyTorch indices [o, i, y, x] per conv, including the corners.
        const queries: Record<string, number[][]> = {};
        for (const [n, { shape: [kh, kw, cin, cout] }] of tfConv) {
          queries[n] = [
            [0, 0, 0, 0],
            [cout - 1, cin - 1, kh - 1, kw - 1],
            [1, cin - 1, 0, kw - 1],
            [cout - 2, 1 % cin, kh - 1, 0],
            [2, 0, Math.floor(kh / 2), Math.floor(kw / 3)],
          ];
        }
        const fc = a.head.parameters[0];
        const [d] = fc.variable.shape;
        queries["classifier.weight"] = [[0, 0], [K - 1, d - 1], [3, 1], [1, 3]];
        queries["bn1.num_batches_tracked"] = [[]];
        queries["layer1.0.bn2.running_var"] = [[0], [WIDTH - 1]];
        const out = await python([READER, path, JSON.stringify(queries)]);
        assert(out.ok, `python reader failed: ${out.stderr}`);
        const py = JSON.parse(out.stdout);
        assertEquals(py.metadata, {
          format: "pt",
          epoch: "1",
          [EXTRA_TENSORS_KEY]: '["fixed.W"]',
        });
        const names = [...a.state.parameters, ...a.state.buffers].map((p) => p.name);
        assertEquals(Object.keys(py.entries), [...names, "fixed.W"]);
        for (const p of [...a.state.parameters, ...a.state.buffers]) {
          const e = py.entries[p.name];
          const counter = p.name.endsWith("num_batches_tracked");
          assertEquals(e.dtype, counter ? "I64" : "F32", p.name);
          assertEquals(e.shape, counter ? [] : torchShape(p.variable.shape, p.kind), p.name);
        }
        assertEquals(py.entries["conv1.weight"].shape, [WIDTH, 3, 7, 7]);
        assertEquals(py.entries["layer2.0.downsample.0.weight"].shape, [2 * WIDTH, WIDTH, 1, 1]);
        assertEquals(py.entries["classifier.weight"].shape, [K, 8 * WIDTH]);
        assertEquals(py.entries["fixed.W"].dtype, "F64");
        // Data by decreasing element size: the 8-byte I64 counters and F64 extra come first.
        const sizes = (py.order as string[]).map((n) => py.entries[n].dtype === "F32" ? 4 : 8);
        assertEquals(sizes, [...sizes].sort((p, q) => q - p), "8-byte dtypes first in the buffer");
        for (const [n, { shape: [kh, kw, cin, cout], data }] of tfConv) {
          queries[n].forEach(([o, i, y, x], q) => {
            assertEquals(
              py.values[n][q],
              data[((y * kw + x) * cin + i) * cout + o],
              `${n}[${o},${i},${y},${x}]`,
            );
          });
          void kh;
        }
        const fcData = fc.variable.dataSync(); // tfjs [d, K]
        queries["classifier.weight"].forEach(([k, j], q) =>
          assertEquals(py.values["classifier.weight"][q], fcData[j * K + k])
        );
        assertEquals(py.values["bn1.num_batches_tracked"], [2]);
        const rv = a.state.buffers.find((p) => p.name === "layer1.0.bn2.running_var")!;
        const rvData = rv.variable.dataSync();
        assertEquals(py.values["layer1.0.bn2.running_var"], [rvData[0], rvData[WIDTH - 1]]);
      } finally {
        dispose(a);
      }
    });
  },
});

Deno.test({
  name: "checkpoint: PyTorch's ResNet18 (scripts/bench_step_torch.py) loads it strictly and agrees",
  ignore: !hasTorch,
  fn: async () => {
    await withTempDir(async (dir) => {
      const a = trainedModel(4);
      const x = fixedInput();
      try {
        const path = `${dir}/model.safetensors`;
        await saveModelCheckpoint(path, a.state);
        const inputPath = `${dir}/x.safetensors`;
        await saveTensors(
          inputPath,
          new Map([["x", { dtype: "F32", shape: [2, 3, 32, 32], data: x.nchw }]]),
        );
        const out = await python([
          TORCH_LOADER,
          path,
          inputPath,
          "resnet18",
          `${WIDTH}`,
          `${K}`,
          `${TAU}`,
        ]);
        assert(out.ok, `PyTorch loader failed: ${out.stderr}`);
        const torch = JSON.parse(out.stdout) as {
          features: number[][];
          logits: number[][];
          num_batches_tracked: number;
        };
        assertEquals(torch.num_batches_tracked, 2);
        const ours = outputs(a, x.nhwc);
        // float32 on both sides, different conv algorithms and summation orders: agreement to
        // 1e-4 relative to the largest magnitude (observed < 1e-6 absolute at scale ~2).
        for (
          const [what, mine, theirs] of [
            ["features", ours.features, torch.features.flat()],
            ["logits", ours.logits, torch.logits.flat()],
          ] as const
        ) {
          assertEquals(theirs.length, mine.length, what);
          const scale = Math.max(...theirs.map(Math.abs));
          assert(scale > 1e-3, `${what}: non-trivial outputs`);
          const err = Math.max(...theirs.map((v, i) => Math.abs(v - mine[i])));
          console.log(
            `  PyTorch vs ours, ${what}: max |Δ| = ${err.toExponential(2)} (scale ${
              scale.toFixed(3)
            })`,
          );
          assertAtMost(err, 1e-4 * scale, `${what}: max |PyTorch − ours|`);
        }
      } finally {
        dispose(a);
        x.nhwc.dispose();
      }
    });
  },
});

async function loadError(path: string, state: ModelState): Promise<CheckpointError> {
  try {
    await loadModelCheckpoint(path, state);
  } catch (e) {
    assert(e instanceof CheckpointError, `expected a CheckpointError, got ${e}`);
    assert(e.message.startsWith(`${path}: `), e.message);
    return e;
  }
  throw new Error("expected the load to fail");
}

function assertIncludes(message: string, ...parts: string[]): void {
  for (const p of parts) assert(message.includes(p), `"${message}" lacks "${p}"`);
}

Deno.test("checkpoint: mismatches give one clear error and assign nothing", async () => {
  await withTempDir(async (dir) => {
    const a = model(1);
    const wide = model(2, 2 * WIDTH);
    const affine = model(3, WIDTH, true);
    try {
      const path = `${dir}/model.safetensors`;
      await saveModelCheckpoint(path, a.state);
      const wideBefore = values(wide.state.parameters);

      const shape = await loadError(path, wide.state);
      assertIncludes(
        shape.message,
        "does not fit the model",
        '"conv1.weight": shape [4, 3, 7, 7] in the file, but the model needs [8, 3, 7, 7] (PyTorch layout)',
        '"classifier.weight": shape [10, 32] in the file, but the model needs [10, 64]',
      );
      assertEquals(values(wide.state.parameters), wideBefore, "nothing assigned");

      const missing = await loadError(path, affine.state);
      assertIncludes(missing.message, "missing keys: bn1.weight, bn1.bias, layer1.0.bn1.weight");

      const unexpected = await loadError(path, {
        parameters: a.net.parameters,
        buffers: a.net.buffers,
      });
      assertIncludes(unexpected.message, "unexpected keys: classifier.weight");

      // Wrong dtypes: a conv kernel stored as F64, a counter as F32.
      const sd = await torchStateDict([...a.state.parameters, ...a.state.buffers]);
      const conv = sd.get("conv1.weight")!;
      sd.set("conv1.weight", {
        ...conv,
        dtype: "F64",
        data: Float64Array.from(conv.data as Float32Array),
      });
      sd.set("bn1.num_batches_tracked", { dtype: "F32", shape: [], data: new Float32Array([1]) });
      const badPath = `${dir}/bad.safetensors`;
      await saveTensors(badPath, sd);
      const dtype = await loadError(badPath, a.state);
      assertIncludes(
        dtype.message,
        '"conv1.weight": dtype F64 in the file, but the model\'s float32 variable needs F32',
        '"bn1.num_batches_tracked": dtype F32 in the file, but the model\'s int32 variable needs I64 or I32',
      );

      // A counter beyond int32.
      sd.set("conv1.weight", conv);
      sd.set("bn1.num_batches_tracked", {
        dtype: "I64",
        shape: [],
        data: new BigInt64Array([2n ** 40n]),
      });
      await saveTensors(badPath, sd);
      assertIncludes(
        (await loadError(badPath, a.state)).message,
        "does not fit the int32 variable",
      );

      // A malformed file is a SafetensorsError naming the file.
      await Deno.writeFile(badPath, new Uint8Array([1, 2, 3]));
      let error: unknown = null;
      await loadModelCheckpoint(badPath, a.state).catch((e) => (error = e));
      assert(
        error instanceof Error &&
          error.message.startsWith(`${badPath}: not a valid safetensors file`),
      );

      // Reserved metadata and clashing extra names are refused at save time.
      let saveError: unknown = null;
      await saveModelCheckpoint(path, a.state, { [EXTRA_TENSORS_KEY]: "[]" }).catch((
        e,
      ) => (saveError = e));
      assert(saveError instanceof CheckpointError && saveError.message.includes("reserved"));
      saveError = null;
      await saveModelCheckpoint(path, { ...a.state, extra: new Map([["classifier.weight", conv]]) })
        .catch((e) => (saveError = e));
      assert(saveError instanceof CheckpointError && saveError.message.includes("clashes"));
    } finally {
      dispose(a);
      dispose(wide);
      dispose(affine);
    }
  });
});
