/**
 * Backend selection (nets/backend/select.ts) and the wasm training kernels (nets/backend/wasm_kernels.ts).
 *
 * Float32 tolerances, relative to max(1, max |cpu result|):
 * - Conv2DBackpropFilter: 1e-5. Each entry is a sum of N·Ho·Wo ≤ 300 products; the cpu kernel
 *   adds them in one order, XNNPACK (behind the composite) in blocks, so the two differ by
 *   rounding, bounded by ≈ terms·ε₃₂ (ε₃₂ ≈ 1.2e-7) relative to Σ|x·dy|, ≈ 4e-5 at worst and
 *   ≈ 1e-7 observed.
 * - Conv2DBackpropInput: 1e-5. Each entry of dx is a sum of ≤ kh·kw·Cout ≤ 245 products
 *   (tests) of values in [−1, 1]; cpu adds them in its loop order, the composite (XNNPACK on the
 *   rotated sub-filters) in blocks, so they differ by float32 rounding (ε₃₂ ≈ 1.2e-7 per
 *   addition, ≲ terms·ε₃₂ ≈ 3e-5 relative to Σ|dy·W| at worst; ≈ 1e-7 observed).
 * - MaxPoolGrad, UnsortedSegmentSum: 1e-6 (the same maxima are chosen; each entry adds at most a
 *   few dy values, in the same order up to float32 rounding).
 * - WebGPU against cpu: 1e-4 (shaders on llvmpipe use their own summation order and may fuse
 *   multiply-adds; losses and gradients of a tiny network are sums of a few hundred terms).
 * - The probe's whole-op comparison (losses and gradients of every training op): 1e-5.
 */
import { fileURLToPath } from "node:url";
import { extname, join, resolve, sep } from "node:path";
import { tf } from "../nets/tf.ts";
import { nativeSgemm } from "../nets/backend/native_kernels.ts";
import {
  BACKEND_NAMES,
  BackendUnavailableError,
  parseBackendName,
  selectBackend,
} from "../nets/backend/select.ts";
import { probeWebGpu } from "../nets/backend/webgpu.ts";
import {
  registerWasmTrainingKernels,
  WASM_TRAINING_KERNELS,
} from "../nets/backend/wasm_kernels.ts";
import { compareWithCpu, findMissingKernels } from "./support/backend_probe.ts";
import {
  conv2dInputGradNhwc,
  planAxis,
  useCompositeInputGrad,
} from "../nets/backend/wasm_kernel_conv2d_input.ts";
import { InvalidArgumentError } from "../core/errors.ts";
import { assert, assertAtMost, assertEquals, assertThrows } from "./assert.ts";

const ROOT = resolve(fileURLToPath(new URL("..", import.meta.url)));
const quiet = { log: () => {} };

/** A seeded generator (LCG), so every run uses the same shapes and values. */
class Seeded {
  #s: number;
  constructor(seed: number) {
    this.#s = seed >>> 0 || 1;
  }
  next(): number {
    this.#s = (Math.imul(this.#s, 1664525) + 1013904223) >>> 0;
    return (this.#s + 0.5) / 4294967296;
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)];
  }
  values(n: number, shift = 0): Float32Array {
    return Float32Array.from({ length: n }, () => 2 * this.next() - 1 + shift);
  }
}

/** max |a − b| / max(1, max |b|). */
function relDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assertEquals(a.length, b.length);
  let scale = 1, worst = 0;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]));
  for (let i = 0; i < b.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    worst = Math.max(worst, Number.isNaN(d) ? Infinity : d);
  }
  return worst / scale;
}

/** Runs `kernel` with the same inputs on cpu and on wasm; returns [wasm, cpu] values. */
async function onBothBackends(
  kernel: string,
  inputs: Record<string, { values: Float32Array | Int32Array; shape: number[] }>,
  attrs: Record<string, unknown>,
): Promise<[Float32Array, Float32Array, number[]]> {
  const out: Float32Array[] = [];
  let shape: number[] = [];
  for (const backend of ["wasm", "cpu"]) {
    await tf.setBackend(backend);
    const before = tf.memory().numTensors;
    const ins: Record<string, tf.Tensor> = {};
    for (const [k, v] of Object.entries(inputs)) {
      ins[k] = tf.tensor(v.values, v.shape, v.values instanceof Int32Array ? "int32" : "float32");
    }
    const result = tf.engine().runKernel(kernel, ins, attrs as tf.NamedAttrMap) as tf.Tensor;
    out.push(Float32Array.from(await result.data()));
    shape = result.shape;
    // The inputs must survive the kernel (its wrappers are reference-counted).
    for (const [k, t] of Object.entries(ins)) {
      assertEquals(
        Array.from(await t.data()),
        Array.from(inputs[k].values),
        `${kernel} input ${k}`,
      );
    }
    tf.dispose([result, ...Object.values(ins)]);
    assertEquals(tf.memory().numTensors, before, `${kernel} on ${backend} leaks tensors`);
  }
  return [out[0], out[1], shape];
}

/** auto's CPU backend here: native where OpenBLAS loads (this suite has --allow-ffi), else wasm. */
const CPU_CHOICE = nativeSgemm() !== null ? "native" : "wasm";

Deno.test("parseBackendName: accepts the four names, rejects others clearly", () => {
  assertEquals([...BACKEND_NAMES], ["auto", "webgpu", "native", "wasm", "cpu"]);
  for (const name of BACKEND_NAMES) assertEquals(parseBackendName(name), name);
  const e = assertThrows(
    () => parseBackendName("gpu", "--backend"),
    InvalidArgumentError,
    "--backend",
    '"gpu"',
    "auto, webgpu, native, wasm, cpu",
  );
  assertEquals(e.argument, "--backend");
  assertThrows(() => parseBackendName(undefined), InvalidArgumentError, "backend", "undefined");
});

Deno.test("selectBackend: unknown name and bad threads are clear errors", async () => {
  for (
    const [name, options, ...includes] of [
      ["tpu", {}, "name", '"tpu"', "auto, webgpu, native, wasm, cpu"],
      ["wasm", { threads: 0 }, "options.threads", "[1, 8]", "0"],
      ["wasm", { threads: 1.5 }, "options.threads", "1.5"],
      ["cpu", { threads: 2 }, "options.threads", "only applies to the native and wasm backends"],
    ] as const
  ) {
    let caught: unknown;
    try {
      await selectBackend(name as "wasm", { ...options, ...quiet });
    } catch (e) {
      caught = e;
    }
    assert(caught instanceof InvalidArgumentError, `expected InvalidArgumentError, got ${caught}`);
    for (const s of includes) assert(caught.message.includes(s), `${caught.message} lacks ${s}`);
  }
});

Deno.test("selectBackend: cpu and wasm start, log their choice, and cpu prints no banner", async () => {
  const lines: string[] = [];
  const cpu = await selectBackend("cpu", { log: (l) => lines.push(l) });
  assertEquals(cpu, { name: "cpu", reason: "requested" });
  assertEquals(tf.getBackend(), "cpu");
  const warnings: unknown[] = [];
  const warn = console.warn;
  console.warn = (...args: unknown[]) => warnings.push(args);
  try {
    tf.tensor([1, 2, 3]).dispose(); // the cpu backend's first write would print the banner
  } finally {
    console.warn = warn;
  }
  assertEquals(warnings, []);

  const wasm = await selectBackend("wasm", { log: (l) => lines.push(l) });
  assertEquals(wasm, { name: "wasm", threads: 1, reason: "requested" });
  assertEquals(tf.getBackend(), "wasm");
  assertEquals(Array.from(await tf.matMul([[1, 2]], [[3], [4]]).data()), [11]);
  assertEquals(lines, ["backend: cpu — requested", "backend: wasm (1 thread) — requested"]);

  // Once started, the wasm thread count is fixed for the process: a different one is an error.
  let caught: unknown;
  try {
    await selectBackend("wasm", { threads: 2, ...quiet });
  } catch (e) {
    caught = e;
  }
  assert(caught instanceof BackendUnavailableError, `got ${caught}`);
  assertEquals(caught.backend, "wasm");
  assert(caught.message.startsWith("wasm: already started with 1 thread(s)"), caught.message);
  await selectBackend("cpu", quiet);
});

Deno.test("selectBackend: auto picks WebGPU only on a hardware adapter and says why", async () => {
  const probe = await probeWebGpu();
  const lines: string[] = [];
  const info = await selectBackend("auto", { log: (l) => lines.push(l) });
  assertEquals(lines.length, 1);
  assert(lines[0].startsWith(`backend: ${info.name}`), lines[0]);
  // native is the wasm backend with OpenBLAS kernels: tfjs calls it wasm.
  assertEquals(tf.getBackend(), info.name === "native" ? "wasm" : info.name);
  if (!probe.available) {
    assertEquals(info.name, CPU_CHOICE);
    assert(
      info.reason.includes("no WebGPU") && info.reason.endsWith(`using ${CPU_CHOICE}`),
      info.reason,
    );
  } else if (probe.fallbackAdapter) {
    // This machine: Mesa's llvmpipe, isFallbackAdapter true.
    assertEquals(info.name, CPU_CHOICE);
    assertEquals(info.adapter, probe.adapter);
    assertEquals(info.fallbackAdapter, true);
    assert(info.reason.includes("software fallback"), info.reason);
    assert(info.reason.includes(probe.adapter), info.reason);
    assert(lines[0].includes(probe.adapter), lines[0]);
  } else {
    assertEquals(info.name, "webgpu");
    assertEquals(info.fallbackAdapter, false);
  }
  await selectBackend("cpu", quiet);
});

Deno.test("selectBackend: without navigator.gpu, webgpu is an error and auto falls back", async () => {
  const nav = globalThis.navigator as unknown as Record<string, unknown>;
  Object.defineProperty(nav, "gpu", { value: undefined, configurable: true });
  try {
    let caught: unknown;
    try {
      await selectBackend("webgpu", quiet);
    } catch (e) {
      caught = e;
    }
    assert(caught instanceof BackendUnavailableError, `got ${caught}`);
    assertEquals(caught.message, "webgpu: navigator.gpu is not available in this runtime");
    const info = await selectBackend("auto", quiet);
    assertEquals(info.name, CPU_CHOICE);
    assertEquals(
      info.reason,
      `auto: no WebGPU (navigator.gpu is not available in this runtime); using ${CPU_CHOICE}`,
    );
  } finally {
    delete nav.gpu;
    await selectBackend("cpu", quiet);
  }
});

Deno.test("webgpu: registers into nets/tf.ts's engine and matches cpu on conv2d + gradient", async () => {
  const probe = await probeWebGpu();
  if (!probe.available) {
    console.log(`webgpu test skipped: ${probe.reason}`);
    return;
  }
  const run = async () => {
    const x = tf.tensor4d(new Seeded(11).values(2 * 6 * 6 * 3), [2, 6, 6, 3]);
    const f = tf.variable(tf.tensor4d(new Seeded(12).values(3 * 3 * 3 * 4), [3, 3, 3, 4]));
    const w = tf.tensor2d(new Seeded(13).values(4 * 5), [4, 5]);
    const { value, grads } = tf.variableGrads(() => {
      const y = tf.relu(tf.conv2d(x, f as tf.Variable<tf.Rank.R4>, 2, "same"));
      const h = tf.mean(y, [1, 2]);
      return tf.losses.softmaxCrossEntropy(tf.oneHot(tf.tensor1d([1, 3], "int32"), 5), h.matMul(w));
    }, [f]);
    const out = [...(await value.data()), ...(await grads[f.name].data())];
    tf.dispose([x, f, w, value, grads[f.name]]);
    return out;
  };
  await selectBackend("cpu", quiet);
  const want = await run();
  const info = await selectBackend("webgpu", quiet);
  try {
    assertEquals(info.name, "webgpu");
    assertEquals(info.adapter, probe.adapter);
    const registry = (tf.engine() as unknown as { registryFactory: Record<string, unknown> })
      .registryFactory;
    assert("webgpu" in registry, "tfjs-backend-webgpu registered into another engine");
    assertEquals(tf.getBackend(), "webgpu");
    const got = await run(); // async reads only: dataSync is unreliable on WebGPU under Deno
    assertAtMost(relDiff(got, want), 1e-4, "webgpu vs cpu relative difference");
  } finally {
    await selectBackend("cpu", quiet);
  }
});

Deno.test("wasm kernels: registered for wasm, idempotently", async () => {
  await selectBackend("wasm", quiet);
  for (const name of Object.keys(WASM_TRAINING_KERNELS)) {
    assert(tf.getKernel(name, "wasm")?.kernelFunc === WASM_TRAINING_KERNELS[name], name);
  }
  assertEquals(registerWasmTrainingKernels(), []);
  await selectBackend("cpu", quiet);
});

Deno.test("wasm Conv2DBackpropFilter matches cpu on random shapes, strides and paddings", async () => {
  await selectBackend("wasm", quiet);
  const rng = new Seeded(2024);
  const cases: string[] = [];
  try {
    for (let trial = 0; trial < 40; trial++) {
      const N = rng.int(1, 3), H = rng.int(3, 9), W = rng.int(3, 9);
      const Cin = rng.int(1, 4), Cout = rng.int(1, 4);
      const kh = Math.min(H, rng.pick([1, 2, 3, 3, 5])), kw = Math.min(W, rng.pick([1, 2, 3, 3]));
      const strides: [number, number] = [rng.int(1, 3), rng.int(1, 3)];
      const dataFormat = rng.pick(["NHWC", "NHWC", "NCHW"] as const);
      const padKind = rng.pick(["same", "valid", "explicit", "number"] as const);
      let pad: unknown = padKind;
      let dimRoundingMode: string | undefined;
      if (padKind === "explicit") {
        const p = [[0, 0], [rng.int(0, 2), rng.int(0, 2)], [rng.int(0, 2), rng.int(0, 2)], [0, 0]];
        pad = dataFormat === "NHWC" ? p : [p[0], p[3], p[1], p[2]];
      } else if (padKind === "number") {
        pad = rng.int(0, 2);
        dimRoundingMode = rng.pick(["floor", "round", "ceil"]);
      }
      const xShape = dataFormat === "NHWC" ? [N, H, W, Cin] : [N, Cin, H, W];
      const info = tf.backend_util.computeConv2DInfo(
        xShape as [number, number, number, number],
        [kh, kw, Cin, Cout],
        strides,
        1,
        pad as "same",
        dimRoundingMode as "floor",
        false,
        dataFormat === "NHWC" ? "channelsLast" : "channelsFirst",
      );
      if (info.outHeight <= 0 || info.outWidth <= 0) continue;
      const dyShape = dataFormat === "NHWC"
        ? [N, info.outHeight, info.outWidth, Cout]
        : [N, Cout, info.outHeight, info.outWidth];
      const [got, want, shape] = await onBothBackends("Conv2DBackpropFilter", {
        x: { values: rng.values(tf.util.sizeFromShape(xShape)), shape: xShape },
        dy: { values: rng.values(tf.util.sizeFromShape(dyShape)), shape: dyShape },
      }, { strides, pad, dataFormat, dimRoundingMode, filterShape: [kh, kw, Cin, Cout] });
      const what = `x ${xShape} ${dataFormat} k ${kh}x${kw} s ${strides} pad ${
        JSON.stringify(pad)
      } ${dimRoundingMode ?? ""}`;
      assertEquals(shape, [kh, kw, Cin, Cout], what);
      assertAtMost(relDiff(got, want), 1e-5, what);
      cases.push(what);
    }
    assert(cases.length >= 30, `only ${cases.length} valid random cases`);
    // A ResNet-like layer with several batch chunks (the composite splits the batch).
    const [got, want] = await onBothBackends("Conv2DBackpropFilter", {
      x: { values: rng.values(70 * 16 * 16 * 8), shape: [70, 16, 16, 8] },
      dy: { values: rng.values(70 * 8 * 8 * 4), shape: [70, 8, 8, 4] },
    }, { strides: 2, pad: "same", dataFormat: "NHWC", filterShape: [3, 3, 8, 4] });
    assertAtMost(relDiff(got, want), 1e-5, "70×16×16×8 stride 2 same");
  } finally {
    await selectBackend("cpu", quiet);
  }
});

/** A random Conv2DBackpropInput case: shapes, attributes and whether it is valid. */
function inputGradCase(
  rng: Seeded,
  fixed: Partial<{
    N: number;
    H: number;
    W: number;
    Cin: number;
    Cout: number;
    kh: number;
    kw: number;
    strides: [number, number];
    pad: unknown;
    dataFormat: "NHWC" | "NCHW";
  }> = {},
) {
  const N = fixed.N ?? rng.int(1, 3), H = fixed.H ?? rng.int(1, 11), W = fixed.W ?? rng.int(1, 11);
  const Cin = fixed.Cin ?? rng.int(1, 5), Cout = fixed.Cout ?? rng.int(1, 5);
  const kh = fixed.kh ?? rng.pick([1, 1, 2, 3, 3, 3, 5, 7]);
  const kw = fixed.kw ?? (rng.next() < 0.7 ? kh : rng.pick([1, 2, 3, 5]));
  const strides = fixed.strides ?? [rng.pick([1, 1, 2, 2, 3]), rng.pick([1, 1, 2, 2, 3])];
  const dataFormat = fixed.dataFormat ?? rng.pick(["NHWC", "NHWC", "NHWC", "NCHW"] as const);
  let pad = fixed.pad;
  let dimRoundingMode: string | undefined;
  if (pad === undefined) {
    const kind = rng.pick(["same", "valid", "explicit", "number"] as const);
    pad = kind;
    if (kind === "explicit") {
      const p = [[0, 0], [rng.int(0, 3), rng.int(0, 3)], [rng.int(0, 3), rng.int(0, 3)], [0, 0]];
      pad = dataFormat === "NHWC" ? p : [p[0], p[3], p[1], p[2]];
    } else if (kind === "number") {
      pad = rng.int(0, 3);
      dimRoundingMode = rng.pick(["floor", "round", "ceil"]);
    }
  }
  const inputShape = dataFormat === "NHWC" ? [N, H, W, Cin] : [N, Cin, H, W];
  let info: tf.backend_util.Conv2DInfo;
  try {
    info = tf.backend_util.computeConv2DInfo(
      inputShape as [number, number, number, number],
      [kh, kw, Cin, Cout],
      strides,
      1,
      pad as "same",
      dimRoundingMode as "floor",
      false,
      dataFormat === "NHWC" ? "channelsLast" : "channelsFirst",
    );
  } catch {
    return undefined; // e.g. numeric padding with a rounding mode tfjs refuses
  }
  if (info.outHeight <= 0 || info.outWidth <= 0) return undefined;
  const dyShape = dataFormat === "NHWC"
    ? [N, info.outHeight, info.outWidth, Cout]
    : [N, Cout, info.outHeight, info.outWidth];
  const what = `x ${inputShape} ${dataFormat} k ${kh}x${kw} s ${strides} pad ${
    JSON.stringify(pad)
  } ${dimRoundingMode ?? ""}`;
  return {
    inputShape,
    dyShape,
    filterShape: [kh, kw, Cin, Cout],
    attrs: { strides, pad, dataFormat, dimRoundingMode, inputShape },
    what,
  };
}

Deno.test("wasm Conv2DBackpropInput matches cpu on random shapes, strides and paddings", async () => {
  await selectBackend("wasm", quiet);
  const rng = new Seeded(4242);
  const cases: NonNullable<ReturnType<typeof inputGradCase>>[] = [];
  // The ResNet's convolutions, scaled down (batch, channels), on odd and even maps.
  const resnet = [
    { kh: 7, kw: 7, strides: [2, 2], pad: 3, H: 17, W: 16, Cin: 3, Cout: 4 }, // stem
    { kh: 7, kw: 7, strides: [2, 2], pad: 3, H: 8, W: 8, Cin: 3, Cout: 5 },
    { kh: 3, kw: 3, strides: [1, 1], pad: 1, H: 8, W: 8, Cin: 6, Cout: 6 },
    { kh: 3, kw: 3, strides: [1, 1], pad: 1, H: 1, W: 1, Cin: 5, Cout: 5 }, // layer4 at 1×1
    { kh: 3, kw: 3, strides: [2, 2], pad: 1, H: 8, W: 8, Cin: 4, Cout: 6 },
    { kh: 3, kw: 3, strides: [2, 2], pad: 1, H: 7, W: 5, Cin: 4, Cout: 6 },
    { kh: 3, kw: 3, strides: [2, 2], pad: 1, H: 2, W: 2, Cin: 4, Cout: 6 }, // 2×2 → 1×1
    { kh: 1, kw: 1, strides: [2, 2], pad: "valid", H: 8, W: 8, Cin: 4, Cout: 6 }, // downsample
    { kh: 1, kw: 1, strides: [2, 2], pad: "valid", H: 7, W: 3, Cin: 4, Cout: 6 },
    { kh: 1, kw: 1, strides: [2, 2], pad: "valid", H: 2, W: 2, Cin: 4, Cout: 6 },
    { kh: 3, kw: 3, strides: [2, 2], pad: "same", H: 9, W: 10, Cin: 3, Cout: 2 },
    { kh: 3, kw: 3, strides: [3, 2], pad: "same", H: 10, W: 7, Cin: 2, Cout: 3 },
    { kh: 1, kw: 1, strides: [1, 1], pad: [[0, 0], [2, 0], [0, 3], [0, 0]], H: 4, W: 4 },
    { kh: 2, kw: 2, strides: [3, 3], pad: "valid", H: 8, W: 11, Cin: 2, Cout: 2 },
  ] as const;
  for (const r of resnet) {
    const c = inputGradCase(rng, {
      ...r,
      N: 2,
      strides: [...r.strides],
      pad: r.pad,
      dataFormat: "NHWC",
    });
    assert(c !== undefined, JSON.stringify(r));
    cases.push(c);
  }
  while (cases.length < 60) {
    const c = inputGradCase(rng);
    if (c !== undefined) cases.push(c);
  }
  try {
    let direct = 0;
    for (const c of cases) {
      const dyValues = rng.values(tf.util.sizeFromShape(c.dyShape));
      const filterValues = rng.values(tf.util.sizeFromShape(c.filterShape));
      // The registered kernel (composite or native, as dispatched) …
      const [got, want, shape] = await onBothBackends("Conv2DBackpropInput", {
        dy: { values: dyValues, shape: c.dyShape },
        filter: { values: filterValues, shape: c.filterShape },
      }, c.attrs);
      assertEquals(shape, c.inputShape, c.what);
      assertAtMost(relDiff(got, want), 1e-5, c.what);
      if (c.attrs.dataFormat !== "NHWC") continue;
      // … and the composite itself, whichever way the dispatch went.
      await tf.setBackend("wasm");
      const before = tf.memory().numTensors;
      const dy = tf.tensor4d(dyValues, c.dyShape as [number, number, number, number]);
      const filter = tf.tensor4d(filterValues, c.filterShape as [number, number, number, number]);
      const info = tf.backend_util.computeConv2DInfo(
        c.inputShape as [number, number, number, number],
        c.filterShape as [number, number, number, number],
        c.attrs.strides,
        1,
        c.attrs.pad as "same",
        c.attrs.dimRoundingMode as "floor",
      );
      const dx = tf.tidy(() => conv2dInputGradNhwc(dy, filter, info, tf.backend()));
      assertEquals(dx.shape, c.inputShape, c.what);
      assertAtMost(relDiff(await dx.data(), want), 1e-5, `${c.what} (composite)`);
      tf.dispose([dy, filter, dx]);
      assertEquals(tf.memory().numTensors, before, `composite leaks tensors: ${c.what}`);
      direct++;
    }
    assert(direct >= 40, `only ${direct} NHWC cases for the composite`);
  } finally {
    await selectBackend("cpu", quiet);
  }
});

Deno.test("wasm Conv2DBackpropInput: phase plans and the native/composite dispatch", async () => {
  // 3×3 stride 1 pad 1: one phase, the whole filter flipped (top tap 2), padding 1 and 1.
  assertEquals(planAxis(3, 1, 1, 8, 8), [
    { first: 1, count: 8, top: 2, taps: 3, before: 1, after: 1, from: 0, length: 8 },
  ]);
  // 3×3 stride 2 pad 1 on 8 → 4: even rows u = 2, 4, …, 8 use taps 2, 0; odd rows tap 1.
  assertEquals(planAxis(3, 2, 1, 8, 4), [
    { first: 1, count: 4, top: 2, taps: 2, before: 0, after: 1, from: 0, length: 4 },
    { first: 0, count: 4, top: 1, taps: 1, before: 0, after: 0, from: 0, length: 4 },
  ]);
  // 1×1 stride 2: odd rows get nothing.
  assertEquals(planAxis(1, 2, 0, 7, 4)[1], null);
  // 3×3 pad 1 on a 1×1 map: only the centre tap meets data.
  assertEquals(planAxis(3, 1, 1, 1, 1), [
    { first: 1, count: 1, top: 1, taps: 1, before: 0, after: 0, from: 0, length: 1 },
  ]);
  // Explicit padding beyond the filter crops dy (1×1 filter, padding 2 before, 0 after).
  assertEquals(planAxis(1, 1, 2, 4, 6), [
    { first: 2, count: 4, top: 0, taps: 1, before: 0, after: 0, from: 2, length: 4 },
  ]);
  const info = (x: number[], f: number[], s: number, pad: number | "valid") =>
    tf.backend_util.computeConv2DInfo(
      x as [number, number, number, number],
      f as [number, number, number, number],
      s,
      1,
      pad,
    );
  // ResNet18 at batch 64: every convolution goes to the composite; tiny batches of its last
  // stages stay native.
  for (
    const [x, f, s, pad] of [
      [[64, 32, 32, 3], [7, 7, 3, 64], 2, 3],
      [[64, 8, 8, 64], [3, 3, 64, 64], 1, 1],
      [[64, 8, 8, 64], [3, 3, 64, 128], 2, 1],
      [[64, 8, 8, 64], [1, 1, 64, 128], 2, "valid"],
      [[64, 2, 2, 256], [3, 3, 256, 512], 2, 1],
      [[64, 2, 2, 256], [1, 1, 256, 512], 2, "valid"],
      [[64, 1, 1, 512], [3, 3, 512, 512], 1, 1],
    ] as const
  ) assert(useCompositeInputGrad(info([...x], [...f], s, pad)), `${x} ${f}`);
  assert(!useCompositeInputGrad(info([4, 1, 1, 512], [3, 3, 512, 512], 1, 1)));
  assert(!useCompositeInputGrad(info([4, 2, 2, 256], [3, 3, 256, 512], 2, 1)));
  // The native kernel still serves the cases dispatched to it (NCHW, tiny batches).
  await selectBackend("wasm", quiet);
  try {
    const rng = new Seeded(5);
    for (
      const attrs of [
        { strides: 1, pad: 1, dataFormat: "NHWC", inputShape: [2, 1, 1, 40] },
        { strides: 2, pad: "same", dataFormat: "NCHW", inputShape: [2, 40, 3, 3] },
      ]
    ) {
      const dyShape = attrs.dataFormat === "NHWC" ? [2, 1, 1, 40] : [2, 40, 2, 2];
      const [got, want] = await onBothBackends("Conv2DBackpropInput", {
        dy: { values: rng.values(2 * 40 * (attrs.strides === 1 ? 1 : 4)), shape: dyShape },
        filter: { values: rng.values(9 * 40 * 40), shape: [3, 3, 40, 40] },
      }, attrs);
      assertAtMost(relDiff(got, want), 1e-5, JSON.stringify(attrs));
    }
  } finally {
    await selectBackend("cpu", quiet);
  }
});

Deno.test("wasm MaxPoolGrad matches cpu and a hand computation, negative inputs included", async () => {
  await selectBackend("wasm", quiet);
  const rng = new Seeded(7);
  try {
    for (let trial = 0; trial < 30; trial++) {
      const N = rng.int(1, 2), H = rng.int(3, 9), W = rng.int(3, 9), C = rng.int(1, 3);
      const k = Math.min(H, W, rng.pick([2, 3, 3])), s = rng.int(1, 2);
      const pad = rng.pick(["same", "valid", 1, 0] as const);
      const info = tf.backend_util.computePool2DInfo([N, H, W, C], k, s, 1, pad);
      if (info.outHeight <= 0 || info.outWidth <= 0 || (pad === 1 && k < 2)) continue;
      const xValues = rng.values(N * H * W * C, trial % 3 === 0 ? -1.5 : 0); // some all-negative
      const dyShape = [N, info.outHeight, info.outWidth, C];
      const dyValues = rng.values(tf.util.sizeFromShape(dyShape));
      await tf.setBackend("cpu");
      const y = tf.maxPool(tf.tensor4d(xValues, [N, H, W, C]), k, s, pad);
      const yValues = Float32Array.from(await y.data());
      y.dispose();
      const [got, want] = await onBothBackends("MaxPoolGrad", {
        dy: { values: dyValues, shape: dyShape },
        input: { values: xValues, shape: [N, H, W, C] },
        output: { values: yValues, shape: dyShape },
      }, { filterSize: k, strides: s, pad });
      const what = `x ${[N, H, W, C]} k ${k} s ${s} pad ${pad}`;
      assertAtMost(relDiff(got, want), 1e-6, what);
      // Hand computation: the first maximum of each window among real inputs gets dy.
      const ref = new Float32Array(xValues.length);
      const { top, left } = info.padInfo;
      for (let n = 0; n < N; n++) {
        for (let oy = 0; oy < info.outHeight; oy++) {
          for (let ox = 0; ox < info.outWidth; ox++) {
            for (let c = 0; c < C; c++) {
              let best = -Infinity, at = -1;
              for (let iy = oy * s - top; iy < oy * s - top + k; iy++) {
                for (let ix = ox * s - left; ix < ox * s - left + k; ix++) {
                  if (iy < 0 || ix < 0 || iy >= H || ix >= W) continue;
                  const i = ((n * H + iy) * W + ix) * C + c;
                  if (xValues[i] > best) [best, at] = [xValues[i], i];
                }
              }
              ref[at] += dyValues[((n * info.outHeight + oy) * info.outWidth + ox) * C + c];
            }
          }
        }
      }
      assertAtMost(relDiff(got, ref), 1e-6, `${what} (hand)`);
    }
  } finally {
    await selectBackend("cpu", quiet);
  }
});

Deno.test("wasm UnsortedSegmentSum matches cpu (out-of-range ids dropped)", async () => {
  await selectBackend("wasm", quiet);
  const rng = new Seeded(99);
  try {
    for (let trial = 0; trial < 20; trial++) {
      const idShape = [rng.int(1, 9)]; // tfjs's op takes 1-D ids (x's first axis)
      const inner = trial % 2 === 0 ? [rng.int(1, 4)] : [rng.int(1, 3), rng.int(1, 3)];
      const numSegments = rng.int(1, 6);
      const ids = Int32Array.from(
        { length: tf.util.sizeFromShape(idShape) },
        () => rng.int(-1, numSegments), // −1 and numSegments are dropped
      );
      const xShape = [...idShape, ...inner];
      const [got, want, shape] = await onBothBackends("UnsortedSegmentSum", {
        x: { values: rng.values(tf.util.sizeFromShape(xShape)), shape: xShape },
        segmentIds: { values: ids, shape: idShape },
      }, { numSegments });
      assertEquals(shape, [numSegments, ...inner]);
      assertAtMost(relDiff(got, want), 1e-6, `ids ${idShape} x ${xShape} segments ${numSegments}`);
    }
  } finally {
    await selectBackend("cpu", quiet);
  }
});

Deno.test("wasm: no training kernel missing, every training op agrees with cpu", async () => {
  await selectBackend("wasm", quiet);
  try {
    assertEquals(await findMissingKernels("wasm"), []);
    const results = await compareWithCpu("wasm");
    assert(results.length >= 20, `${results.length} probe cases`);
    for (const r of results) {
      assertEquals(r.error, undefined, r.name);
      assertAtMost(r.maxRelDiff!, 1e-5, r.name);
    }
  } finally {
    await selectBackend("cpu", quiet);
  }
});

/** A conv2d + pooling + loss gradient on the active backend, as plain numbers. */
const THREAD_CHECK = `
const x = tf.tensor4d(Float32Array.from({ length: 8 * 12 * 12 * 6 }, (_, i) => Math.sin(i * 0.37)), [8, 12, 12, 6]);
const f = tf.variable(tf.tensor4d(Float32Array.from({ length: 3 * 3 * 6 * 16 }, (_, i) => Math.cos(i * 0.11) * 0.2), [3, 3, 6, 16]));
const { value, grads } = tf.variableGrads(() => {
  const y = tf.maxPool(tf.relu(tf.conv2d(x, f, 1, "same")), 3, 2, "same");
  return tf.mean(tf.square(tf.matMul(tf.reshape(y, [8, -1]), tf.ones([y.size / 8, 4]))));
}, [f]);
const out = [...await value.data(), ...await grads[f.name].data()];
`;

Deno.test("wasm threads: the multi-threaded build starts under Deno and gives the same numbers", async () => {
  const threaded = async () => {
    const code = `
import { tf } from ${JSON.stringify(new URL("../nets/tf.ts", import.meta.url).href)};
import { selectBackend } from ${
      JSON.stringify(new URL("../nets/backend/select.ts", import.meta.url).href)
    };
const info = await selectBackend("wasm", { threads: 2, log: () => {} });
${THREAD_CHECK}
console.log(JSON.stringify({ info, out }));`;
    const res = await new Deno.Command(Deno.execPath(), {
      args: ["eval", "--ext=ts", code],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(res.stderr);
    assert(res.success, `threaded wasm subprocess failed:\n${stderr}`);
    const lines = new TextDecoder().decode(res.stdout).trim().split("\n");
    return JSON.parse(lines[lines.length - 1]) as { info: { threads: number }; out: number[] };
  };
  const { info, out: got } = await threaded();
  assertEquals(info.threads, 2);
  await selectBackend("wasm", quiet);
  try {
    const out = await new Function(
      "tf",
      `return (async () => { ${THREAD_CHECK}; return out; })();`,
    )(tf) as number[];
    assertEquals(got.length, out.length);
    assertAtMost(relDiff(got, out), 1e-6, "threads 2 vs 1");
  } finally {
    await selectBackend("cpu", quiet);
  }
});

Deno.test("wasm: selectBackend works when nets/backend/select.ts is imported over http", async () => {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const path = decodeURIComponent(new URL(req.url).pathname);
    const file = resolve(ROOT, "." + path);
    if (!file.startsWith(ROOT + sep)) return new Response("forbidden", { status: 403 });
    try {
      return new Response(await Deno.readFile(file), {
        headers: {
          "content-type": extname(file) === ".ts"
            ? "application/typescript; charset=utf-8"
            : "application/octet-stream",
        },
      });
    } catch {
      return new Response("not found", { status: 404 });
    }
  });
  try {
    const host = `127.0.0.1:${server.addr.port}`;
    const dir = await Deno.makeTempDir();
    const script = `${dir}/main.ts`;
    await Deno.writeTextFile(
      script,
      `import { selectBackend } from "http://${host}/nets/backend/select.ts";
import { tf } from "http://${host}/nets/tf.ts";
const info = await selectBackend("wasm", { log: () => {} });
const g = tf.grad((f: tf.Tensor4D) => tf.conv2d(tf.ones([1, 4, 4, 2]) as tf.Tensor4D, f, 1, "same").sum());
console.log(JSON.stringify({ info, backend: tf.getBackend(), g: Array.from(await g(tf.ones([3, 3, 2, 1]) as tf.Tensor4D).data()) }));`,
    );
    const res = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--no-config",
        "--no-lock",
        `--allow-import=${host}`,
        `--reload=http://${host}`,
        "--allow-read",
        "--allow-env",
        script,
      ],
      cwd: dir,
      stdout: "piped",
      stderr: "piped",
    }).output();
    await Deno.remove(dir, { recursive: true });
    const stderr = new TextDecoder().decode(res.stderr);
    assert(res.success, `URL import failed:\n${stderr}`);
    const lines = new TextDecoder().decode(res.stdout).trim().split("\n");
    const { info, backend, g } = JSON.parse(lines[lines.length - 1]);
    assertEquals(info, { name: "wasm", threads: 1, reason: "requested" });
    assertEquals(backend, "wasm");
    // d(sum conv(ones, f))/df[a,b] = number of output positions whose window covers tap (a,b).
    assertEquals(g, [9, 9, 12, 12, 9, 9, 12, 12, 16, 16, 12, 12, 9, 9, 12, 12, 9, 9]);
  } finally {
    await server.shutdown();
  }
});

/** Runs a TypeScript snippet in a fresh `deno run` with `flags` and `env` (only); no stdin. */
async function runSnippet(
  code: string,
  flags: string[],
  env: Record<string, string>,
): Promise<{ success: boolean; stdout: string; stderr: string }> {
  const dir = await Deno.makeTempDir({ prefix: "backend_test_" });
  try {
    const script = join(dir, "main.ts");
    await Deno.writeTextFile(script, code);
    const res = await new Deno.Command(Deno.execPath(), {
      args: ["run", ...flags, script],
      cwd: ROOT,
      clearEnv: true,
      env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const dec = new TextDecoder();
    return { success: res.success, stdout: dec.decode(res.stdout), stderr: dec.decode(res.stderr) };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** This process's environment without `names`, and with NO_COLOR. */
function environmentWithout(...names: string[]): Record<string, string> {
  const env = Deno.env.toObject();
  for (const name of names) delete env[name];
  return { ...env, NO_COLOR: "1" };
}

const SELECT_URL = JSON.stringify(new URL("../nets/backend/select.ts", import.meta.url).href);

Deno.test("webgpu: requesting the adapter prints no 'XDG_RUNTIME_DIR is invalid' line", async () => {
  // Mesa's Vulkan device-select layer calls libwayland's wl_display_connect(NULL) on each
  // adapter enumeration, and libwayland prints the line when XDG_RUNTIME_DIR is unset. After
  // selectBackend("auto") (which requests the adapter) the snippet makes that same call itself,
  // so the test is a specification on machines without Mesa's Vulkan drivers too.
  const code = `
import { selectBackend } from ${SELECT_URL};
const info = await selectBackend("auto", { log: () => {} });
let wayland = "libwayland-client not found";
try {
  const lib = Deno.dlopen("libwayland-client.so.0", {
    wl_display_connect: { parameters: ["pointer"], result: "pointer" },
    wl_display_disconnect: { parameters: ["pointer"], result: "void" },
  });
  const display = lib.symbols.wl_display_connect(null);
  if (display !== null) lib.symbols.wl_display_disconnect(display);
  lib.close();
  wayland = display === null ? "no compositor" : "connected";
} catch { /* not installed */ }
console.log(JSON.stringify({ backend: info.name, wayland, runtime: Deno.env.get("XDG_RUNTIME_DIR") ?? null }));
`;
  const flags = ["--allow-read", "--allow-write", "--allow-env", "--allow-ffi"];
  const res = await runSnippet(code, flags, environmentWithout("XDG_RUNTIME_DIR"));
  assert(res.success, res.stderr);
  assert(!res.stderr.includes("XDG_RUNTIME_DIR"), `stderr:\n${res.stderr}`);
  const out = JSON.parse(res.stdout.trim().split("\n").pop()!);
  if (out.wayland === "libwayland-client not found") {
    console.warn("webgpu XDG test: no libwayland-client.so.0 here; only the adapter request ran");
  }
  // A private runtime directory (or the user's /run/user/<uid>), gone once the process ended.
  assert(typeof out.runtime === "string" && out.runtime.startsWith("/"), `got ${out.runtime}`);
  if (!out.runtime.startsWith("/run/user/")) {
    let exists = true;
    try {
      Deno.statSync(out.runtime);
    } catch {
      exists = false;
    }
    assert(!exists, `${out.runtime} was left behind`);
  }

  // An absolute XDG_RUNTIME_DIR is the user's: kept as it is.
  const kept = await runSnippet(
    `import { provideRuntimeDirectory } from ${
      JSON.stringify(new URL("../nets/backend/webgpu.ts", import.meta.url).href)
    };
console.log(JSON.stringify(provideRuntimeDirectory()));`,
    ["--allow-read", "--allow-write", "--allow-env"],
    { ...environmentWithout(), XDG_RUNTIME_DIR: "/nonexistent/runtime" },
  );
  assert(kept.success, kept.stderr);
  assertEquals(JSON.parse(kept.stdout), { action: "kept", path: "/nonexistent/runtime" });
});

Deno.test("selectBackend: auto without --allow-read says which permission wasm lacks", async () => {
  const code = `
import { selectBackend } from ${SELECT_URL};
const lines: string[] = [];
const one = await selectBackend("auto", { log: (l) => lines.push(l) });
const two = await selectBackend("auto", { threads: 2, log: (l) => lines.push(l) });
let named = "";
try {
  await selectBackend("wasm", { log: () => {} });
} catch (e) {
  named = (e as Error).message;
}
console.log(JSON.stringify({ names: [one.name, two.name], lines, named }));
`;
  // No permission flag at all, as in `deno run example.ts`; stdin is not a terminal, so a
  // permission request would fail rather than wait (on a terminal it would prompt).
  const res = await runSnippet(code, [], environmentWithout());
  assert(res.success, res.stderr);
  assert(!res.stderr.includes("NotCapable"), `stderr:\n${res.stderr}`);
  const out = JSON.parse(res.stdout.trim().split("\n").pop()!);
  assertEquals(out.names, ["cpu", "cpu"]);
  assertEquals(out.lines.length, 2);
  const [one, two] = out.lines as string[];
  for (const line of [one, two]) {
    assert(line.startsWith("backend: cpu"), line);
    assert(
      line.includes("wasm backend unavailable: needs --allow-read (to load the .wasm binaries)"),
      line,
    );
    assert(line.endsWith("; falling back to cpu (about 40× slower)"), line);
    assert(!line.includes("Aborted"), `wasm was tried anyway: ${line}`);
  }
  assert(one.includes("grant it: deno run --allow-read …"), one);
  assert(!one.includes("--allow-sys") && !one.includes("--allow-env"), one);
  assert(two.includes("--allow-sys (for os.cpus()"), two);
  assert(two.includes("grant them: deno run --allow-read --allow-sys --allow-env …"), two);
  assertEquals(
    out.named,
    "wasm: needs --allow-read (to load the .wasm binaries); grant it: deno run --allow-read …",
  );
});
