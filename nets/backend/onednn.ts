/**
 * oneDNN (the library PyTorch's CPU convolutions run on: Debian's `libdnnl2`) through Deno's FFI:
 * loading it, its engine and stream, memory descriptors, primitives and their execution, for the
 * native backend's convolution kernels (`./onednn_conv.ts`).
 *
 * Only oneDNN's 2.x C API is spoken (operation descriptors initialised by `*_desc_init`, as in
 * Debian bookworm's 2.6.3, the version Debian's PyTorch is built with); a 3.x library is reported
 * as unsupported and the native backend keeps its OpenBLAS convolutions. Structures whose layout
 * the API leaves to the library (memory and operation descriptors) are held in byte buffers larger
 * than 2.6's own (696 and 5,976 bytes): this module only passes their addresses.
 *
 * - Locating it: `NC_DNNL_LIBRARY=/path/to/libdnnl.so.2` (an error when that cannot be loaded),
 *   else {@link DNNL_CANDIDATES}; `NC_DNNL=off` turns it off. It needs `--allow-ffi`.
 * - Threads: oneDNN's Debian build runs on OpenMP; {@link Dnnl.setThreads} calls
 *   `omp_set_num_threads` of the libgomp it loaded (the native backend passes `--threads`), and
 *   OpenMP's idle threads sleep rather than spin (`OMP_WAIT_POLICY=passive`, set before the
 *   library loads unless the environment already has a policy).
 *
 * @module
 */
import { ffiAllowed, grantedEnv, openLibrary } from "../../core/ffi.ts";

/**
 * Where oneDNN 2.x is looked for, in order, unless `NC_DNNL_LIBRARY` names it.
 *
 * @example
 * ```ts
 * DNNL_CANDIDATES[0]; // "libdnnl.so.2"
 * ```
 */
export const DNNL_CANDIDATES: readonly string[] = [
  "libdnnl.so.2",
  "/usr/lib/x86_64-linux-gnu/libdnnl.so.2",
  "/usr/lib/aarch64-linux-gnu/libdnnl.so.2",
  "/opt/homebrew/lib/libdnnl.2.dylib",
  "/usr/local/lib/libdnnl.2.dylib",
];

const SYMBOLS = {
  dnnl_version: { parameters: [], result: "pointer" },
  dnnl_engine_create: { parameters: ["buffer", "i32", "usize"], result: "i32" },
  dnnl_stream_create: { parameters: ["buffer", "pointer", "u32"], result: "i32" },
  dnnl_stream_wait: { parameters: ["pointer"], result: "i32" },
  dnnl_memory_desc_init_by_tag: {
    parameters: ["buffer", "i32", "buffer", "i32", "i32"],
    result: "i32",
  },
  dnnl_dilated_convolution_forward_desc_init: {
    parameters: [
      "buffer",
      "i32",
      "i32",
      "buffer",
      "buffer",
      "pointer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
    ],
    result: "i32",
  },
  dnnl_dilated_convolution_backward_data_desc_init: {
    parameters: [
      "buffer",
      "i32",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
    ],
    result: "i32",
  },
  dnnl_dilated_convolution_backward_weights_desc_init: {
    parameters: [
      "buffer",
      "i32",
      "buffer",
      "buffer",
      "pointer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
    ],
    result: "i32",
  },
  dnnl_pooling_forward_desc_init: {
    parameters: [
      "buffer",
      "i32",
      "i32",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
    ],
    result: "i32",
  },
  dnnl_pooling_backward_desc_init: {
    parameters: ["buffer", "i32", "buffer", "buffer", "buffer", "buffer", "buffer", "buffer"],
    result: "i32",
  },
  dnnl_batch_normalization_forward_desc_init: {
    parameters: ["buffer", "i32", "buffer", "f32", "u32"],
    result: "i32",
  },
  dnnl_batch_normalization_backward_desc_init: {
    parameters: ["buffer", "i32", "buffer", "buffer", "f32", "u32"],
    result: "i32",
  },
  dnnl_primitive_desc_create: {
    parameters: ["buffer", "buffer", "pointer", "pointer", "pointer"],
    result: "i32",
  },
  dnnl_primitive_desc_query: { parameters: ["pointer", "i32", "i32", "buffer"], result: "i32" },
  dnnl_primitive_desc_query_md: { parameters: ["pointer", "i32", "i32"], result: "pointer" },
  dnnl_primitive_desc_destroy: { parameters: ["pointer"], result: "i32" },
  dnnl_primitive_create: { parameters: ["buffer", "pointer"], result: "i32" },
  dnnl_primitive_destroy: { parameters: ["pointer"], result: "i32" },
  dnnl_primitive_execute: { parameters: ["pointer", "pointer", "i32", "buffer"], result: "i32" },
  dnnl_memory_create: { parameters: ["buffer", "pointer", "pointer", "pointer"], result: "i32" },
  dnnl_memory_set_data_handle: { parameters: ["pointer", "pointer"], result: "i32" },
  dnnl_memory_destroy: { parameters: ["pointer"], result: "i32" },
  dnnl_memory_desc_equal: { parameters: ["pointer", "pointer"], result: "i32" },
  dnnl_memory_desc_get_size: { parameters: ["pointer"], result: "usize" },
  dnnl_reorder_primitive_desc_create: {
    parameters: ["buffer", "pointer", "pointer", "pointer", "pointer", "pointer"],
    result: "i32",
  },
} as const;

type Symbols = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];
type Pointer = Deno.PointerValue;

/** oneDNN's enumerations and argument numbers used here (dnnl_types.h, 2.x). */
export const DNNL = {
  f32: 3,
  /** Format tags. */
  any: 1,
  nhwc: 20,
  hwio: 30,
  forwardTraining: 64,
  convolutionDirect: 1,
  poolingMax: 511,
  argSrc: 1,
  argDst: 17,
  argWeights: 33,
  argDiffSrc: 129,
  argDiffDst: 145,
  argDiffWeights: 161,
  argWorkspace: 64,
  querySrcMd: 129,
  queryDiffSrcMd: 130,
  queryWeightsMd: 131,
  queryDiffWeightsMd: 132,
  queryDstMd: 133,
  queryDiffDstMd: 134,
  queryWorkspaceMd: 135,
  queryImplInfoStr: 8,
} as const;

const STATUS = [
  "success",
  "out of memory",
  "invalid arguments",
  "unimplemented",
  "iterator ends",
  "runtime error",
  "not required",
];

/** A failed oneDNN call: `status` is oneDNN's code (3: unimplemented for these arguments). */
export class DnnlError extends Error {
  /**
   * @example
   * ```ts
   * new DnnlError("dnnl_primitive_create", 3).message; // "oneDNN dnnl_primitive_create: unimplemented (status 3)"
   * ```
   */
  constructor(readonly call: string, readonly status: number) {
    super(`oneDNN ${call}: ${STATUS[status] ?? "unknown"} (status ${status})`);
  }
}

/** A memory descriptor: oneDNN's structure, in a buffer of its own. */
export type MemoryDesc = Uint8Array;

/**
 * A memory object whose buffer is set per call ({@link Dnnl.bind}); `source` keeps the
 * descriptor's buffer referenced while the object lives.
 */
export type Memory = { handle: Pointer; desc: Pointer; source: MemoryDesc | null };

/** A primitive, its descriptor, and what it is (oneDNN's implementation name). */
export type Primitive = { pd: Pointer; primitive: Pointer; impl: string };

/**
 * An operation descriptor initialised by one of oneDNN's `*_desc_init` calls (`init` returns its
 * status), in a buffer larger than any 2.x descriptor.
 *
 * @example
 * ```ts
 * // const desc = opDesc("dnnl_pooling_forward_desc_init", (d) => s.dnnl_pooling_forward_desc_init(d, …));
 * ```
 */
export function opDesc(call: string, init: (desc: Uint8Array) => number): Uint8Array {
  const desc = new Uint8Array(16384);
  const status = init(desc);
  if (status !== 0) throw new DnnlError(call, status);
  return desc;
}

/**
 * The most recently used plans (primitives built for one geometry), at most `capacity`; a plan
 * pushed out is released. A key may also hold the {@link DnnlError} that stopped its plan being
 * built (oneDNN refused the geometry: not asked again).
 *
 * @example
 * ```ts
 * const cache = new PlanCache<{ release(): void }>(2);
 * cache.get("a", () => ({ release() {} }));
 * ```
 */
export class PlanCache<P extends { release(): void }> {
  readonly #plans = new Map<string, P | DnnlError>();
  /** @param capacity how many plans are kept */
  constructor(readonly capacity: number) {}

  /** The plan of `key`, made by `make` (or the oneDNN refusal it threw) when not kept. */
  get(key: string, make: () => P): P | DnnlError {
    let plan = this.#plans.get(key);
    if (plan !== undefined) {
      this.#plans.delete(key); // most recently used last
    } else {
      try {
        plan = make();
      } catch (e) {
        if (!(e instanceof DnnlError)) throw e;
        plan = e;
      }
      if (this.#plans.size >= this.capacity) {
        const [oldest, value] = this.#plans.entries().next().value!;
        if (!(value instanceof DnnlError)) value.release();
        this.#plans.delete(oldest);
      }
    }
    this.#plans.set(key, plan);
    return plan;
  }

  /** The kept plans (refusals left out), least recently used first. */
  plans(): P[] {
    return [...this.#plans.values()].filter((p): p is P => !(p instanceof DnnlError));
  }

  /** Releases every plan. */
  clear(): void {
    for (const p of this.plans()) p.release();
    this.#plans.clear();
  }
}

const scratchBuffers: Float32Array[] = [];

/**
 * A shared float32 buffer of at least `bytes` bytes, one per `slot` (grown, never shrunk): for
 * data that lives only during one kernel call (a reordered filter, a recomputed pooling output).
 *
 * @example
 * ```ts
 * scratch(0, 64).length >= 16; // true
 * ```
 */
export function scratch(slot: number, bytes: number): Float32Array {
  const n = Math.ceil(bytes / 4);
  if ((scratchBuffers[slot]?.length ?? 0) < n) {
    scratchBuffers[slot] = new Float32Array(n);
  }
  return scratchBuffers[slot];
}

/** The loaded library with the calls `./onednn_conv.ts` needs. */
export interface Dnnl {
  /** The path the library was opened from. */
  library: string;
  /** "major.minor.patch". */
  version: string;
  /** OpenMP's thread count for the following calls (null where libgomp could not be found). */
  setThreads: ((n: number) => void) | null;
  /** A plain (tagged) f32 memory descriptor of logical dims `dims`. */
  memoryDesc(dims: readonly number[], tag: number): MemoryDesc;
  /** A primitive descriptor and primitive from an initialised operation descriptor. */
  primitive(opDesc: Uint8Array, hint: Primitive | null): Primitive;
  /** The memory descriptor a primitive wants for `query` (oneDNN owns it while `p` lives). */
  queryMd(p: Primitive, query: number): Pointer;
  /** Whether two memory descriptors are equal. */
  sameDesc(a: Pointer, b: Pointer): boolean;
  /** The bytes a memory descriptor's data takes. */
  bytes(desc: Pointer): number;
  /** A memory object on `desc` without a buffer: {@link Dnnl.bind} gives it one per call. */
  memory(desc: Pointer | MemoryDesc): Memory;
  /** A reorder primitive from one layout to another. */
  reorder(from: Pointer, to: Pointer): Primitive;
  /** Points a buffer-less memory object at `data` for the next executions. */
  bind(m: Memory, data: Float32Array): void;
  /** Runs a primitive on the given (argument number, memory) pairs and waits for it. */
  execute(p: Primitive, args: readonly (readonly [number, Memory])[]): void;
  /** Releases a primitive and its descriptor. */
  destroyPrimitive(p: Primitive): void;
  /** Releases a memory object (never its buffer, which is the caller's). */
  destroyMemory(m: Memory): void;
  /** The operation-descriptor initialisers, raw (status codes). */
  symbols: Symbols;
}

let cached: { dnnl: Dnnl | null; reason: string; named: boolean } | undefined;

/**
 * oneDNN 2.x, or null with the reason (no `--allow-ffi`, `NC_DNNL=off`, not installed, a 3.x
 * library); `named` when a file named by `--dnnl_library` or `NC_DNNL_LIBRARY` did not load
 * (callers refuse to go on without it). Loaded once.
 *
 * @example
 * ```ts
 * const { dnnl, reason } = loadDnnl();
 * console.log(dnnl?.version ?? reason); // "2.6.3", or why not
 * ```
 */
export function loadDnnl(): { dnnl: Dnnl | null; reason: string; named: boolean } {
  if (cached !== undefined) return cached;
  cached = { dnnl: null, reason: "", named: false };
  if (!ffiAllowed("NC_DNNL")) {
    cached.reason = grantedEnv("NC_DNNL") === "off" ? "NC_DNNL=off" : "needs --allow-ffi";
    return cached;
  }
  passiveOpenMp();
  let opened;
  try {
    opened = openLibrary("NC_DNNL_LIBRARY", DNNL_CANDIDATES, SYMBOLS);
  } catch (e) {
    // --dnnl_library or NC_DNNL_LIBRARY names a file that does not load.
    cached.reason = (e as Error).message.replace(/(Could not open library: )+/, "");
    cached.named = true;
    return cached;
  }
  if (opened === null) {
    cached.reason = "oneDNN 2.x not found: install Debian's libdnnl2, or set " +
      "NC_DNNL_LIBRARY=/path/to/libdnnl.so.2";
    return cached;
  }
  const s = opened.library.symbols;
  const v = new Deno.UnsafePointerView(s.dnnl_version()!);
  const version = `${v.getInt32(0)}.${v.getInt32(4)}.${v.getInt32(8)}`;
  if (v.getInt32(0) !== 2) {
    opened.library.close();
    cached.reason = `${opened.path} is oneDNN ${version}; this backend speaks the 2.x API ` +
      "(Debian's libdnnl2)";
    return cached;
  }
  cached.dnnl = make(opened.path, version, s);
  return cached;
}

/**
 * Sets `OMP_WAIT_POLICY=passive` before OpenMP loads (it reads its environment then), unless a
 * policy or `GOMP_SPINCOUNT` is already set or `--allow-env` does not cover them: OpenMP's idle
 * threads then sleep at once instead of spinning, which took the cores from XNNPACK and OpenBLAS
 * between convolutions.
 */
function passiveOpenMp(): void {
  const names = ["OMP_WAIT_POLICY", "GOMP_SPINCOUNT"];
  try {
    const granted = names.every((variable) =>
      Deno.permissions.querySync({ name: "env", variable }).state === "granted"
    );
    if (granted && names.every((n) => Deno.env.get(n) === undefined)) {
      Deno.env.set("OMP_WAIT_POLICY", "passive");
    }
  } catch {
    // Not Deno, or no permission API: OpenMP's default.
  }
}

/** A pointer-sized output slot, and the pointer written to it. */
function slot(): BigUint64Array {
  return new BigUint64Array(1);
}
function read(b: BigUint64Array): Pointer {
  return Deno.UnsafePointer.create(b[0]);
}

function check(call: string, status: number): void {
  if (status !== 0) throw new DnnlError(call, status);
}

/** The OpenMP runtime oneDNN loaded (the same instance: dlopen returns a loaded soname). */
function openMpThreads(): ((n: number) => void) | null {
  for (const path of ["libgomp.so.1", "libomp.so", "libomp.dylib", "libiomp5.so"]) {
    try {
      const lib = Deno.dlopen(path, {
        omp_set_num_threads: { parameters: ["i32"], result: "void" },
      });
      return (n) => lib.symbols.omp_set_num_threads(n);
    } catch {
      // the next one
    }
  }
  return null;
}

function make(library: string, version: string, s: Symbols): Dnnl {
  const e = slot();
  check("dnnl_engine_create", s.dnnl_engine_create(e, 1, /* cpu */ 0n));
  const engine = read(e);
  const st = slot();
  check("dnnl_stream_create", s.dnnl_stream_create(st, engine, 1 /* default flags */));
  const stream = read(st);
  const dims = new BigInt64Array(12);
  const primitiveOf = (pdSlot: BigUint64Array): Primitive => {
    const pd = read(pdSlot), p = slot();
    const status = s.dnnl_primitive_create(p, pd);
    if (status !== 0) {
      s.dnnl_primitive_desc_destroy(pd);
      throw new DnnlError("dnnl_primitive_create", status);
    }
    const info = slot();
    check(
      "dnnl_primitive_desc_query",
      s.dnnl_primitive_desc_query(pd, DNNL.queryImplInfoStr, 0, info),
    );
    const impl = new Deno.UnsafePointerView(read(info)!).getCString();
    return { pd, primitive: read(p), impl };
  };
  return {
    library,
    version,
    setThreads: openMpThreads(),
    symbols: s,
    memoryDesc(d, tag) {
      const md = new Uint8Array(2048);
      dims.fill(0n);
      d.forEach((x, i) => (dims[i] = BigInt(x)));
      check(
        "dnnl_memory_desc_init_by_tag",
        s.dnnl_memory_desc_init_by_tag(md, d.length, dims, DNNL.f32, tag),
      );
      return md;
    },
    primitive(opDesc, hint) {
      const pd = slot();
      check(
        "dnnl_primitive_desc_create",
        s.dnnl_primitive_desc_create(pd, opDesc, null, engine, hint?.pd ?? null),
      );
      return primitiveOf(pd);
    },
    queryMd: (p, query) => s.dnnl_primitive_desc_query_md(p.pd, query, 0),
    sameDesc: (a, b) => s.dnnl_memory_desc_equal(a, b) === 1,
    bytes: (desc) => Number(s.dnnl_memory_desc_get_size(desc)),
    memory(desc) {
      const m = slot();
      const d = desc instanceof Uint8Array ? Deno.UnsafePointer.of(desc) : desc;
      check("dnnl_memory_create", s.dnnl_memory_create(m, d, engine, null));
      return { handle: read(m), desc: d, source: desc instanceof Uint8Array ? desc : null };
    },
    reorder(from, to) {
      const pd = slot();
      check(
        "dnnl_reorder_primitive_desc_create",
        s.dnnl_reorder_primitive_desc_create(pd, from, engine, to, engine, null),
      );
      return primitiveOf(pd);
    },
    bind(m, data) {
      check(
        "dnnl_memory_set_data_handle",
        s.dnnl_memory_set_data_handle(m.handle, Deno.UnsafePointer.of(data)),
      );
    },
    execute(p, args) {
      const a = new BigUint64Array(args.length * 2);
      args.forEach(([arg, m], i) => {
        a[2 * i] = BigInt(arg);
        a[2 * i + 1] = BigInt(Deno.UnsafePointer.value(m.handle));
      });
      check(
        "dnnl_primitive_execute",
        s.dnnl_primitive_execute(p.primitive, stream, args.length, a),
      );
      check("dnnl_stream_wait", s.dnnl_stream_wait(stream));
    },
    destroyPrimitive(p) {
      s.dnnl_primitive_destroy(p.primitive);
      s.dnnl_primitive_desc_destroy(p.pd);
    },
    destroyMemory(m) {
      s.dnnl_memory_destroy(m.handle);
    },
  };
}
