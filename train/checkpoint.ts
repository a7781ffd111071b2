/**
 * Model checkpoints in the safetensors format, with PyTorch's state_dict names and layouts, so a
 * PyTorch user can `load_state_dict` them into the same architecture:
 *
 * | kind      | tfjs (here)          | PyTorch (in the file)  |
 * |-----------|----------------------|------------------------|
 * | `conv`    | [kh, kw, in, out]    | [out, in, kh, kw]      |
 * | `dense`   | [in, out]            | [out, in]              |
 * | `vector`  | [n] (or a scalar)    | the same               |
 * | `features`| [N, d]               | the same               |
 *
 * float32 variables are stored as F32; int32 variables as I32, except BatchNorm's
 * `num_batches_tracked` counters, stored as I64 scalars (shape `[]`) as PyTorch keeps them;
 * bool as BOOL. Values are read with `await tensor.data()`, so saving works on every backend,
 * WebGPU included. Every file is written atomically ({@link atomicWriteFile}): an interrupted
 * save never leaves a partial checkpoint.
 *
 * Loading checks the whole file before assigning anything: missing and unexpected names, shape
 * and dtype mismatches are all listed in one {@link CheckpointError} naming the file.
 *
 * Besides the model, {@link saveTensors} / {@link loadTensors} store any named tensors (optimiser
 * state, classifier W and b, RNG state, the implicit head's running average, step, seen
 * classes, previous U as F64, …).
 *
 * @example
 * ```ts
 * import { standardHead } from "../nets/heads/standard.ts";
 * import { createBackbone } from "../nets/models/backbones.ts";
 * const net = createBackbone("resnet18", { width: 4 });
 * const head = standardHead({ featureDim: net.featureDim, numClasses: 10, bias: false, seed: 0 });
 * const state = { parameters: [...net.parameters, ...head.parameters], buffers: net.buffers };
 * await saveModelCheckpoint("run/model_epoch_005.safetensors", state, { epoch: "5" });
 * await loadModelCheckpoint("run/model_epoch_005.safetensors", state);
 * ```
 *
 * @module
 */
import { InputError } from "../core/errors.ts";
import { tf } from "../nets/tf.ts";
import type { Parameter, ParameterKind } from "../nets/models/model.ts";
export type { Parameter, ParameterKind } from "../nets/models/model.ts";
import { atomicWriteFile } from "./atomic_write.ts";
import {
  encodeSafetensors,
  readSafetensors,
  type SafetensorsContents,
  type SafetensorsDtype,
  type TensorData,
  type TensorEntry,
} from "./safetensors.ts";

/**
 * A checkpoint that does not fit the model: the message names the file and lists every problem.
 *
 * @example
 * ```ts
 * import { createBackbone } from "../nets/models/backbones.ts";
 * const net = createBackbone("resnet18", { width: 4 });
 * const path = "run/checkpoints/model_epoch_005.safetensors";
 * const state: ModelState = { parameters: net.parameters, buffers: net.buffers };
 * try { await loadModelCheckpoint(path, state); } catch (e) {
 *   if (e instanceof CheckpointError) console.error(e.message); // "path: missing keys: …"
 * }
 * ```
 */
export class CheckpointError extends InputError {
  /** The checkpoint file. */
  readonly file: string;

  /** `problem` is prefixed with the file name. */
  constructor(file: string, problem: string) {
    super(`${file}: ${problem}`);
    this.file = file;
  }
}

/**
 * The tensors of a model checkpoint: trainable parameters and buffers (PyTorch state_dict names
 * and kinds), and optional extra tensors stored verbatim in the same file.
 *
 * @example
 * ```ts
 * import { createBackbone } from "../nets/models/backbones.ts";
 * const net = createBackbone("resnet18", { width: 4 });
 * const state: ModelState = { parameters: net.parameters, buffers: net.buffers };
 * ```
 */
export interface ModelState {
  /** Trainable parameters (backbone, then head), PyTorch names. */
  parameters: readonly Parameter[];
  /** Non-trainable buffers (BatchNorm running statistics and counters). */
  buffers: readonly Parameter[];
  /** Further tensors, written as given (names must differ from the state_dict names). */
  extra?: ReadonlyMap<string, TensorEntry>;
}

/**
 * The `__metadata__` key listing (as a JSON array) the names of a model checkpoint's extra
 * tensors, so loading can tell them from unexpected keys. Reserved: callers' metadata may not
 * use it.
 */
export const EXTRA_TENSORS_KEY = "nc.extra_tensors";

/**
 * The permutation from tfjs to PyTorch layout for a kind (`out axis j = in axis perm[j]`), or
 * null when the layouts agree.
 */
function toTorchPerm(kind: ParameterKind): number[] | null {
  return kind === "conv" ? [3, 2, 0, 1] : kind === "dense" ? [1, 0] : null;
}

/** The inverse permutation: PyTorch to tfjs. */
function fromTorchPerm(kind: ParameterKind): number[] | null {
  return kind === "conv" ? [2, 3, 1, 0] : kind === "dense" ? [1, 0] : null;
}

function expectedRank(kind: ParameterKind): number | null {
  return kind === "conv" ? 4 : kind === "dense" || kind === "features" ? 2 : null;
}

/**
 * Transposes a row-major array: the result has shape `perm.map((p) => shape[p])` and element
 * `out[i_0, …] = data[j]` with `j`'s axis `perm[a]` equal to `i_a`.
 *
 * @example
 * ```ts
 * permuteAxes(new Float32Array([1, 2, 3, 4, 5, 6]), [2, 3], [1, 0]); // [1, 4, 2, 5, 3, 6]
 * ```
 */
export function permuteAxes<T extends TensorData>(
  data: T,
  shape: readonly number[],
  perm: readonly number[],
): T {
  const rank = shape.length;
  if (perm.length !== rank || [...perm].sort((a, b) => a - b).some((p, i) => p !== i)) {
    throw new RangeError(`permuteAxes: [${perm}] is not a permutation of ${rank} axes`);
  }
  const n = shape.reduce((a, s) => a * s, 1);
  if (data.length !== n) {
    throw new RangeError(`permuteAxes: shape [${shape}] needs ${n} elements, got ${data.length}`);
  }
  const inStrides = new Array<number>(rank).fill(1);
  for (let a = rank - 2; a >= 0; a--) inStrides[a] = inStrides[a + 1] * shape[a + 1];
  const outShape = perm.map((p) => shape[p]);
  const step = perm.map((p) => inStrides[p]);
  const Ctor = data.constructor as new (n: number) => T;
  const out = new Ctor(n);
  const src = data as unknown as ArrayLike<number>;
  const dst = out as unknown as number[];
  const index = new Array<number>(rank).fill(0);
  let from = 0;
  for (let k = 0; k < n; k++) {
    dst[k] = src[from];
    for (let a = rank - 1; a >= 0; a--) {
      index[a]++;
      from += step[a];
      if (index[a] < outShape[a]) break;
      from -= step[a] * outShape[a];
      index[a] = 0;
    }
  }
  return out;
}

/**
 * The PyTorch shape of a tfjs parameter shape of the given kind.
 *
 * @example
 * ```ts
 * torchShape([7, 7, 3, 64], "conv"); // [64, 3, 7, 7]
 * torchShape([512, 10], "dense"); // [10, 512]
 * ```
 */
export function torchShape(shape: readonly number[], kind: ParameterKind): number[] {
  const perm = toTorchPerm(kind);
  return perm ? perm.map((p) => shape[p]) : [...shape];
}

function isCounter(name: string): boolean {
  return name === "num_batches_tracked" || name.endsWith(".num_batches_tracked");
}

/** The file dtype of a variable. */
function fileDtype(p: Parameter): SafetensorsDtype {
  switch (p.variable.dtype) {
    case "float32":
      return "F32";
    case "int32":
      return isCounter(p.name) ? "I64" : "I32";
    case "bool":
      return "BOOL";
    default:
      throw new TypeError(
        `"${p.name}": cannot store a tfjs ${p.variable.dtype} tensor in a checkpoint`,
      );
  }
}

function checkKind(p: Parameter): void {
  const rank = expectedRank(p.kind);
  if (rank !== null && p.variable.rank !== rank) {
    throw new TypeError(
      `"${p.name}": a ${p.kind} parameter must have rank ${rank}, got shape [${
        p.variable.shape.join(", ")
      }]`,
    );
  }
}

/**
 * Reads parameters and buffers (with `await data()`, so any backend) and converts them to
 * PyTorch's layout and dtypes: the state_dict as safetensors entries, in the given order.
 *
 * @example
 * ```ts
 * import { createBackbone } from "../nets/models/backbones.ts";
 * const net = createBackbone("resnet18", { width: 4 });
 * const sd = await torchStateDict([...net.parameters, ...net.buffers]);
 * sd.get("conv1.weight")?.shape; // [width, 3, 7, 7]
 * ```
 */
export async function torchStateDict(
  entries: readonly Parameter[],
): Promise<Map<string, TensorEntry>> {
  const out = new Map<string, TensorEntry>();
  for (const p of entries) {
    if (out.has(p.name)) throw new TypeError(`duplicate state_dict name "${p.name}"`);
    checkKind(p);
    out.set(p.name, { dtype: fileDtype(p), shape: [], data: new Float32Array(0) });
  }
  const values = await Promise.all(entries.map((p) => p.variable.data()));
  entries.forEach((p, i) => {
    const dtype = fileDtype(p);
    const shape = p.variable.shape;
    let data = values[i] as TensorData;
    if (dtype === "I64") data = BigInt64Array.from(data as Int32Array, (v) => BigInt(v));
    const perm = toTorchPerm(p.kind);
    if (perm) data = permuteAxes(data, shape, perm);
    out.set(p.name, { dtype, shape: torchShape(shape, p.kind), data });
  });
  return out;
}

function checkMetadata(path: string, metadata: Readonly<Record<string, string>>): void {
  if (metadata === null || typeof metadata !== "object" || Array.isArray(metadata)) {
    throw new CheckpointError(path, `metadata must be a string-to-string object, got ${metadata}`);
  }
  if (Object.hasOwn(metadata, EXTRA_TENSORS_KEY)) {
    throw new CheckpointError(path, `metadata key "${EXTRA_TENSORS_KEY}" is reserved`);
  }
}

/**
 * Saves a model checkpoint (atomically): parameters and buffers in PyTorch's names, layouts and
 * dtypes, then the extra tensors, with `metadata` (string values) and `format: "pt"` in the
 * header's `__metadata__`.
 *
 * @example
 * ```ts
 * import { standardHead } from "../nets/heads/standard.ts";
 * import { createBackbone } from "../nets/models/backbones.ts";
 * const net = createBackbone("resnet18", { width: 4 });
 * const head = standardHead({ featureDim: net.featureDim, numClasses: 10, bias: false, seed: 0 });
 * await saveModelCheckpoint(
 *   "run/checkpoints/model_epoch_005.safetensors",
 *   { parameters: [...net.parameters, ...head.parameters], buffers: net.buffers },
 *   { epoch: "5", architecture: "resnet18" },
 * );
 * ```
 */
export async function saveModelCheckpoint(
  path: string,
  state: ModelState,
  metadata: Readonly<Record<string, string>> = {},
): Promise<void> {
  checkMetadata(path, metadata);
  let tensors: Map<string, TensorEntry>;
  try {
    tensors = await torchStateDict([...state.parameters, ...state.buffers]);
  } catch (e) {
    throw new CheckpointError(path, (e as Error).message);
  }
  const extra = state.extra ?? new Map<string, TensorEntry>();
  for (const [name, t] of extra) {
    if (tensors.has(name)) {
      throw new CheckpointError(path, `extra tensor "${name}" clashes with a state_dict name`);
    }
    tensors.set(name, t);
  }
  const meta: Record<string, string> = { format: "pt", ...metadata };
  if (extra.size > 0) meta[EXTRA_TENSORS_KEY] = JSON.stringify([...extra.keys()]);
  await atomicWriteFile(path, encodeSafetensors(tensors, meta, path));
}

/**
 * What {@link loadModelCheckpoint} returns besides filling the variables.
 *
 * @example
 * ```ts
 * import { createBackbone } from "../nets/models/backbones.ts";
 * const net = createBackbone("resnet18", { width: 4 });
 * const path = "run/checkpoints/model_epoch_005.safetensors";
 * const state: ModelState = { parameters: net.parameters, buffers: net.buffers };
 * const { metadata, extra }: LoadedCheckpoint = await loadModelCheckpoint(path, state);
 * ```
 */
export interface LoadedCheckpoint {
  /** The file's metadata, without the reserved extra-tensor list. */
  metadata: Record<string, string>;
  /** The extra tensors saved with the model. */
  extra: Map<string, TensorEntry>;
}

/** The variable's value from a file entry already checked to fit: tfjs layout and dtype. */
function toVariableData(p: Parameter, t: TensorEntry): TensorData {
  let data = t.data;
  if (t.dtype === "I64") data = Int32Array.from(data as BigInt64Array, (v) => Number(v));
  const perm = fromTorchPerm(p.kind);
  return perm ? permuteAxes(data, t.shape, perm) : data;
}

function entryProblem(p: Parameter, t: TensorEntry): string | null {
  const want = torchShape(p.variable.shape, p.kind);
  const dtypes: SafetensorsDtype[] = p.variable.dtype === "float32"
    ? ["F32"]
    : p.variable.dtype === "int32"
    ? ["I64", "I32"]
    : p.variable.dtype === "bool"
    ? ["BOOL"]
    : [];
  if (!dtypes.includes(t.dtype)) {
    return `"${p.name}": dtype ${t.dtype} in the file, but the model's ${p.variable.dtype} ` +
      `variable needs ${dtypes.join(" or ") || "a dtype checkpoints cannot hold"}`;
  }
  if (t.shape.length !== want.length || t.shape.some((s, i) => s !== want[i])) {
    return `"${p.name}": shape [${t.shape.join(", ")}] in the file, but the model needs [${
      want.join(", ")
    }] (PyTorch layout)`;
  }
  if (t.dtype === "I64") {
    const bad = (t.data as BigInt64Array).find((v) => v < -(2n ** 31n) || v >= 2n ** 31n);
    if (bad !== undefined) return `"${p.name}": value ${bad} does not fit the int32 variable`;
  }
  return null;
}

/**
 * Loads a model checkpoint into the given variables (converting PyTorch's layouts back to
 * tfjs's), after checking the whole file: every parameter and buffer present with the right
 * shape and dtype (F32 for float32; I64 or I32 for int32), and no unexpected names (the extra
 * tensors recorded at save time are returned, not treated as unexpected). Nothing is assigned
 * unless everything fits; a mismatch throws one {@link CheckpointError} listing every problem.
 *
 * @example
 * ```ts
 * import { createBackbone } from "../nets/models/backbones.ts";
 * const path = "run/checkpoints/model_epoch_005.safetensors";
 * const fresh = createBackbone("resnet18", { width: 4, seed: 7 });
 * await loadModelCheckpoint(path, { parameters: fresh.parameters, buffers: fresh.buffers });
 * ```
 */
export async function loadModelCheckpoint(
  path: string,
  state: Pick<ModelState, "parameters" | "buffers">,
): Promise<LoadedCheckpoint> {
  const { tensors, metadata } = await readSafetensors(path);
  let extraNames: string[] = [];
  if (metadata[EXTRA_TENSORS_KEY] !== undefined) {
    try {
      extraNames = JSON.parse(metadata[EXTRA_TENSORS_KEY]);
      if (!Array.isArray(extraNames) || !extraNames.every((s) => typeof s === "string")) {
        throw new TypeError("not an array of strings");
      }
    } catch (e) {
      throw new CheckpointError(
        path,
        `metadata "${EXTRA_TENSORS_KEY}" is not a JSON list of names (${(e as Error).message})`,
      );
    }
  }
  const wanted = [...state.parameters, ...state.buffers];
  const names = new Set(wanted.map((p) => p.name));
  const problems: string[] = [];
  const missing = wanted.filter((p) => !tensors.has(p.name)).map((p) => p.name);
  if (missing.length > 0) problems.push(`missing keys: ${missing.join(", ")}`);
  const extraSet = new Set(extraNames);
  const unexpected = [...tensors.keys()].filter((k) => !names.has(k) && !extraSet.has(k));
  if (unexpected.length > 0) problems.push(`unexpected keys: ${unexpected.join(", ")}`);
  const absentExtra = extraNames.filter((k) => !tensors.has(k));
  if (absentExtra.length > 0) {
    problems.push(`extra tensors listed in the metadata but absent: ${absentExtra.join(", ")}`);
  }
  for (const p of wanted) {
    const t = tensors.get(p.name);
    if (!t) continue;
    const problem = entryProblem(p, t);
    if (problem) problems.push(problem);
  }
  if (problems.length > 0) {
    throw new CheckpointError(path, `does not fit the model: ${problems.join("; ")}`);
  }
  for (const p of wanted) {
    const t = tensors.get(p.name)!;
    const value = tf.tensor(
      toVariableData(p, t) as Float32Array | Int32Array | Uint8Array,
      p.variable.shape,
      p.variable.dtype,
    );
    p.variable.assign(value);
    value.dispose();
  }
  const extra = new Map<string, TensorEntry>();
  for (const k of extraNames) extra.set(k, tensors.get(k)!);
  const { [EXTRA_TENSORS_KEY]: _, ...rest } = metadata;
  return { metadata: rest, extra };
}

/**
 * Saves named tensors (optimiser and head state, RNG state, counters, …) atomically as a
 * safetensors file.
 *
 * @example
 * ```ts
 * import { eye } from "../solver/matrix.ts";
 * const previousU = eye(512, 10).data; // the implicit head's previous U⋆ (float64)
 * await saveTensors("run/checkpoints/state_epoch_005.safetensors", new Map([
 *   ["step", { dtype: "I64", shape: [], data: new BigInt64Array([1234n]) }],
 *   ["implicit.U_prev", { dtype: "F64", shape: [512, 10], data: previousU }],
 * ]), { epoch: "5" });
 * ```
 */
export async function saveTensors(
  path: string,
  tensors: ReadonlyMap<string, TensorEntry>,
  metadata: Readonly<Record<string, string>> = {},
): Promise<void> {
  await atomicWriteFile(path, encodeSafetensors(tensors, metadata, path));
}

/**
 * Reads a safetensors file written by {@link saveTensors} (or anyone), validated.
 *
 * @example
 * ```ts
 * const { tensors, metadata } = await loadTensors("run/checkpoints/state_epoch_005.safetensors");
 * const step = Number((tensors.get("step")!.data as BigInt64Array)[0]);
 * ```
 */
export function loadTensors(path: string): Promise<SafetensorsContents> {
  return readSafetensors(path);
}
