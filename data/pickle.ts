/**
 * A minimal Python unpickler for exactly what the CIFAR "python version" files contain: dicts,
 * lists, tuples, strings, integers, booleans, None, and numpy uint8 arrays pickled through
 * `numpy.core.multiarray._reconstruct` + `ndarray.__setstate__` (protocol 2 as Python 2's cPickle
 * wrote them; protocols 3–5 opcodes, Python 3's `_codecs.encode` byte strings and protocol 5's
 * in-band `numpy._core.numeric._frombuffer` arrays are accepted too). Anything else — other classes or functions, unknown opcodes — is a {@link DatasetError}.
 * No code is ever executed: the only "globals" are recognised by name and interpreted here as
 * data (an array's dtype, shape and bytes, checked against each other). The object-constructing
 * opcodes (INST, OBJ, NEWOBJ, NEWOBJ_EX, EXT1/2/4, PERSID, BINPERSID, out-of-band buffers) are
 * refused by name; GLOBAL and STACK_GLOBAL name only the numpy functions above, and REDUCE and
 * BUILD apply only to them. Every length is checked against the bytes left before anything is
 * allocated, so a hostile pickle costs at most its own size.
 *
 * Python 2 `str` values (and Python 3 `bytes`) come back as `Uint8Array`; use {@link pyString}
 * to read them as latin-1 text (as `pickle.load(f, encoding="latin1")` does).
 *
 * @module
 */
import { DatasetError } from "./dataset.ts";

/**
 * A numpy array read from a pickle: `data` holds the raw little-endian bytes of `dtype`.
 *
 * @example
 * ```ts
 * const path = "/home/me/data/cifar-10-batches-py/data_batch_1";
 * const entry = unpickle(await Deno.readFile(path), path) as Map<string, PyValue>;
 * const arr = entry.get("data") as NdArray; // shape [10000, 3072], dtype "u1"
 * ```
 */
export type NdArray = { kind: "ndarray"; shape: number[]; dtype: string; data: Uint8Array };

/** A numpy dtype descriptor (only its type string is kept). */
type DType = { kind: "dtype"; descr: string };

/** Placeholder for a recognised global name. */
type Global = { kind: "global"; name: string };

/**
 * A value read from a pickle: dicts are Maps with string keys, lists are arrays, tuples are
 * `{ kind: "tuple" }`, Python 2 str / bytes are `Uint8Array`.
 *
 * @example
 * ```ts
 * import { encodeCifarMeta } from "./fixtures.ts";
 * const path = "batches.meta", bytes = encodeCifarMeta(["cat", "dog"]);
 * const v: PyValue = unpickle(bytes, path);
 * if (v instanceof Map) console.log([...v.keys()]);
 * ```
 */
export type PyValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PyValue[]
  | Map<string, PyValue>
  | NdArray
  | DType
  | Global
  | { kind: "tuple"; items: PyValue[] };

const RECONSTRUCT = new Set([
  "numpy.core.multiarray._reconstruct",
  "numpy._core.multiarray._reconstruct",
]);
const FROMBUFFER = new Set([
  "numpy.core.numeric._frombuffer",
  "numpy._core.numeric._frombuffer",
]);
const KNOWN_GLOBALS = new Set([
  ...RECONSTRUCT,
  ...FROMBUFFER,
  "numpy.ndarray",
  "numpy.dtype",
  "_codecs.encode",
  "__builtin__.set",
  "builtins.set",
]);

/**
 * Reads a Python value as a JS string: Python 2 `str` / Python 3 `bytes` as latin-1, `str` as is.
 *
 * @example
 * ```ts
 * import { encodeCifarMeta } from "./fixtures.ts";
 * const meta = unpickle(encodeCifarMeta(["cat", "dog"]), "batches.meta") as Map<string, PyValue>;
 * const names = (meta.get("label_names") as PyValue[]).map(pyString);
 * ```
 */
export function pyString(value: PyValue): string {
  if (typeof value === "string") return value;
  if (value instanceof Uint8Array) {
    let s = "";
    for (let i = 0; i < value.length; i++) s += String.fromCharCode(value[i]);
    return s;
  }
  throw new TypeError(`expected a string, got ${describe(value)}`);
}

function describe(value: PyValue): string {
  if (value === null) return "None";
  if (Array.isArray(value)) return "list";
  if (value instanceof Uint8Array) return "bytes";
  if (value instanceof Map) return "dict";
  if (typeof value === "object") return value.kind;
  return typeof value;
}

/**
 * Opcodes this reader refuses, by name: those that construct or look up arbitrary objects
 * (refused whatever their arguments), and the rest of the pickle opcode set, which the CIFAR
 * files do not use. GLOBAL, STACK_GLOBAL, REDUCE and BUILD are accepted only for the numpy array
 * and dtype reconstruction the CIFAR files need, with the globals named in `KNOWN_GLOBALS`.
 */
const CONSTRUCTING: Record<number, string> = {
  0x69: "INST",
  0x6f: "OBJ",
  0x81: "NEWOBJ",
  0x92: "NEWOBJ_EX",
  0x82: "EXT1",
  0x83: "EXT2",
  0x84: "EXT4",
  0x50: "PERSID",
  0x51: "BINPERSID",
  0x97: "NEXT_BUFFER",
  0x98: "READONLY_BUFFER",
  0x91: "FROZENSET",
};
const UNUSED: Record<number, string> = {
  0x46: "FLOAT",
  0x4c: "LONG",
  0x8b: "LONG4",
  0x53: "STRING",
  0x56: "UNICODE",
};

/** A dtype descriptor's item size in bytes (`u1`, `<i8`, `|b1`, `<f4`, …), or null. */
function itemSize(descr: string): number | null {
  const m = /^[<>|=]?([biufc])(\d{1,2})$/.exec(descr);
  return m === null ? null : Number(m[2]);
}

const MARK = Symbol("mark");
type StackItem = PyValue | typeof MARK;

/**
 * Unpickles `bytes` (see the module notes for what is supported). Throws {@link DatasetError}
 * naming `path` for anything else or a truncated stream.
 *
 * @example
 * ```ts
 * const path = "/home/me/data/cifar-10-batches-py/test_batch";
 * const entry = unpickle(await Deno.readFile(path), path) as Map<string, PyValue>;
 * const labels = entry.get("labels") as number[];
 * ```
 */
export function unpickle(bytes: Uint8Array, path: string): PyValue {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const stack: StackItem[] = [];
  const memo = new Map<number, PyValue>();
  const utf8 = new TextDecoder("utf-8", { fatal: true });
  let pos = 0;
  const fail = (what: string): never => {
    throw new DatasetError(path, `unsupported or corrupt Python pickle: ${what} at byte ${pos}`);
  };
  const need = (n: number) => {
    if (pos + n > bytes.length) fail("unexpected end of data");
  };
  const take = (n: number): Uint8Array => {
    need(n);
    const out = bytes.subarray(pos, pos + n);
    pos += n;
    return out;
  };
  const u8 = () => take(1)[0];
  const u16 = () => (need(2), pos += 2, view.getUint16(pos - 2, true));
  const i32 = () => (need(4), pos += 4, view.getInt32(pos - 4, true));
  const u32 = () => (need(4), pos += 4, view.getUint32(pos - 4, true));
  const u64 = () => {
    need(8);
    const n = view.getBigUint64(pos, true);
    pos += 8;
    if (n > BigInt(bytes.length)) fail("length beyond the end of data");
    return Number(n);
  };
  const line = (): string => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) fail("unterminated line");
    const s = pyString(bytes.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  /** A string operand (str or bytes), else a DatasetError. */
  const str = (v: PyValue): string =>
    typeof v === "string" || v instanceof Uint8Array
      ? pyString(v)
      : fail(`expected a string, got ${describe(v)}`);
  const pop = (): PyValue => {
    const v = stack.pop();
    if (v === undefined || v === MARK) fail("stack underflow");
    return v as PyValue;
  };
  const top = (): PyValue => {
    const v = stack[stack.length - 1];
    if (v === undefined || v === MARK) fail("stack underflow");
    return v as PyValue;
  };
  const popMark = (): PyValue[] => {
    const at = stack.lastIndexOf(MARK);
    if (at < 0) fail("MARK not found");
    const items = stack.splice(at) as PyValue[];
    items.shift();
    return items;
  };
  const key = (k: PyValue): string => {
    if (typeof k === "string" || k instanceof Uint8Array) return pyString(k);
    if (typeof k === "number" || typeof k === "bigint") return String(k);
    return fail(`dict key of type ${describe(k)}`);
  };
  const setItems = (dict: PyValue, items: PyValue[]) => {
    if (!(dict instanceof Map)) fail(`SETITEM(S) on ${describe(dict)}`);
    for (let i = 0; i + 1 < items.length; i += 2) {
      (dict as Map<string, PyValue>).set(key(items[i]), items[i + 1]);
    }
  };
  const appendItems = (list: PyValue, items: PyValue[]) => {
    if (!Array.isArray(list)) fail(`APPEND(S) on ${describe(list)}`);
    for (const item of items) (list as PyValue[]).push(item); // no spread: any count
  };
  const tupleItems = (v: PyValue): PyValue[] => {
    if (v !== null && typeof v === "object" && "kind" in v && v.kind === "tuple") return v.items;
    return fail(`expected a tuple, got ${describe(v)}`);
  };
  const tuple = (items: PyValue[]): PyValue => ({ kind: "tuple", items });
  const int = (v: PyValue): number => {
    if (typeof v === "number") return v;
    if (typeof v === "bigint") return Number(v);
    return fail(`expected an integer, got ${describe(v)}`);
  };
  /** An array's shape, checked against its dtype's item size and its data's byte length. */
  const arrayShape = (shape: PyValue, descr: string, data: Uint8Array): number[] => {
    const dims = tupleItems(shape).map(int);
    const size = itemSize(descr);
    if (size === null) fail(`array dtype ${JSON.stringify(descr)}`);
    let n = size as number;
    for (const d of dims) {
      if (!Number.isSafeInteger(d) || d < 0) fail(`array dimension ${d}`);
      n *= d;
    }
    if (n !== data.length) {
      fail(
        `array of shape (${
          dims.join(", ")
        }) and dtype ${descr} needs ${n} bytes, has ${data.length}`,
      );
    }
    return dims;
  };

  const reduce = (callable: PyValue, args: PyValue[]): PyValue => {
    if (callable === null || typeof callable !== "object" || !("kind" in callable)) {
      return fail(`REDUCE on ${describe(callable)}`);
    }
    if (callable.kind !== "global") return fail(`REDUCE on ${callable.kind}`);
    if (RECONSTRUCT.has(callable.name)) {
      return { kind: "ndarray", shape: [], dtype: "", data: new Uint8Array(0) };
    }
    if (FROMBUFFER.has(callable.name)) { // protocol 5: _frombuffer(bytes, dtype, shape, order)
      const [raw, dtype, shape, order] = args;
      if (!(raw instanceof Uint8Array)) fail("_frombuffer of out-of-band data");
      if (str(order ?? "C") !== "C") fail("Fortran-ordered arrays");
      const descr = dtype !== null && typeof dtype === "object" && "kind" in dtype &&
          dtype.kind === "dtype"
        ? dtype.descr
        : fail("_frombuffer without a dtype");
      return {
        kind: "ndarray",
        shape: arrayShape(shape, descr, raw as Uint8Array),
        dtype: descr,
        data: raw as Uint8Array,
      };
    }
    if (callable.name === "numpy.dtype") return { kind: "dtype", descr: str(args[0]) };
    if (callable.name === "_codecs.encode") {
      const text = str(args[0]);
      const out = new Uint8Array(text.length);
      for (let i = 0; i < text.length; i++) {
        const c = text.charCodeAt(i);
        if (c > 255) fail("_codecs.encode of a non-latin-1 string");
        out[i] = c;
      }
      return out;
    }
    if (callable.name.endsWith(".set")) return args.length ? args[0] : [];
    return fail(`REDUCE on ${callable.name}`);
  };

  const build = (obj: PyValue, state: PyValue): void => {
    if (obj === null || typeof obj !== "object" || !("kind" in obj)) {
      fail(`BUILD on ${describe(obj)}`);
    }
    const o = obj as NdArray | DType;
    if (o.kind === "dtype") return; // (version, byteorder, …): the descr already says it all
    if (o.kind !== "ndarray") fail(`BUILD on ${(o as { kind: string }).kind}`);
    // ndarray.__setstate__((version, shape, dtype, is_fortran, rawdata))
    let items = tupleItems(state);
    if (items.length === 5) items = items.slice(1);
    if (items.length !== 4) fail("ndarray state of unexpected length");
    const [shape, dtype, fortran, raw] = items;
    if (
      dtype === null || typeof dtype !== "object" || !("kind" in dtype) || dtype.kind !== "dtype"
    ) {
      fail("ndarray without a dtype");
    }
    o.dtype = (dtype as DType).descr;
    if (!(raw instanceof Uint8Array)) fail(`ndarray data of type ${describe(raw)} (object arrays)`);
    o.shape = arrayShape(shape, o.dtype, raw as Uint8Array);
    if (fortran === true && o.shape.length > 1) fail("Fortran-ordered arrays");
    o.data = raw as Uint8Array;
  };

  while (true) {
    if (pos >= bytes.length) fail("missing STOP opcode");
    const op = bytes[pos++];
    switch (op) {
      case 0x80: { // PROTO
        const version = u8();
        if (version > 5) fail(`pickle protocol ${version}`);
        break;
      }
      case 0x95: // FRAME
        u64();
        break;
      case 0x2e: // STOP
        if (stack.length !== 1) fail("stack not empty at STOP");
        return pop();
      case 0x28: // MARK
        stack.push(MARK);
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x4a: // BININT
        stack.push(i32());
        break;
      case 0x8a: { // LONG1
        const n = u8();
        const b = take(n);
        let v = 0n;
        for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
        if (n > 0 && b[n - 1] & 0x80) v -= 1n << BigInt(8 * n);
        stack.push(Number.isSafeInteger(Number(v)) ? Number(v) : v);
        break;
      }
      case 0x47: // BINFLOAT
        need(8);
        stack.push(view.getFloat64(pos, false));
        pos += 8;
        break;
      case 0x49: { // INT (text, protocol 0; also True/False as 01/00)
        const s = line();
        stack.push(s === "01" ? true : s === "00" ? false : Number.parseInt(s, 10));
        break;
      }
      case 0x55: // SHORT_BINSTRING
        stack.push(take(u8()));
        break;
      case 0x54: // BINSTRING
        stack.push(take(u32()));
        break;
      case 0x43: // SHORT_BINBYTES
        stack.push(take(u8()));
        break;
      case 0x42: // BINBYTES
        stack.push(take(u32()));
        break;
      case 0x96: // BYTEARRAY8
      case 0x8e: // BINBYTES8
        stack.push(take(u64()));
        break;
      case 0x8c: // SHORT_BINUNICODE
      case 0x58: // BINUNICODE
      case 0x8d: { // BINUNICODE8
        const n = op === 0x8c ? u8() : op === 0x58 ? u32() : u64();
        try {
          stack.push(utf8.decode(take(n)));
        } catch {
          fail("invalid UTF-8 in a string");
        }
        break;
      }
      case 0x7d: // EMPTY_DICT
        stack.push(new Map());
        break;
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push(tuple([]));
        break;
      case 0x8f: // EMPTY_SET
        stack.push([]);
        break;
      case 0x85: // TUPLE1
        stack.push(tuple([pop()]));
        break;
      case 0x86: { // TUPLE2
        const b = pop(), a = pop();
        stack.push(tuple([a, b]));
        break;
      }
      case 0x87: { // TUPLE3
        const c = pop(), b = pop(), a = pop();
        stack.push(tuple([a, b, c]));
        break;
      }
      case 0x74: // TUPLE
        stack.push(tuple(popMark()));
        break;
      case 0x6c: // LIST
        stack.push(popMark());
        break;
      case 0x64: { // DICT
        const d = new Map<string, PyValue>();
        setItems(d, popMark());
        stack.push(d);
        break;
      }
      case 0x61: { // APPEND
        const v = pop();
        appendItems(top(), [v]);
        break;
      }
      case 0x65: { // APPENDS
        const items = popMark();
        appendItems(top(), items);
        break;
      }
      case 0x90: { // ADDITEMS (sets read as lists)
        const items = popMark();
        appendItems(top(), items);
        break;
      }
      case 0x73: { // SETITEM
        const v = pop(), k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: { // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x71: // BINPUT
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x70: // PUT (text)
        memo.set(Number.parseInt(line(), 10), top());
        break;
      case 0x68: // BINGET
      case 0x6a: // LONG_BINGET
      case 0x67: { // GET (text)
        const id = op === 0x68 ? u8() : op === 0x6a ? u32() : Number.parseInt(line(), 10);
        if (!memo.has(id)) fail(`memo key ${id} not found`);
        stack.push(memo.get(id)!);
        break;
      }
      case 0x63: { // GLOBAL
        const module = line(), name = line();
        const full = `${module}.${name}`;
        if (!KNOWN_GLOBALS.has(full)) fail(`global ${full} (only numpy arrays are supported)`);
        stack.push({ kind: "global", name: full });
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = str(pop()), module = str(pop());
        const full = `${module}.${name}`;
        if (!KNOWN_GLOBALS.has(full)) fail(`global ${full} (only numpy arrays are supported)`);
        stack.push({ kind: "global", name: full });
        break;
      }
      case 0x52: { // REDUCE
        const args = tupleItems(pop());
        const callable = pop();
        stack.push(reduce(callable, args));
        break;
      }
      case 0x62: { // BUILD
        const state = pop();
        build(top(), state);
        break;
      }
      case 0x30: // POP
        pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;
      default: {
        const code = `0x${op.toString(16).padStart(2, "0")}`;
        if (op in CONSTRUCTING) {
          fail(
            `opcode ${
              CONSTRUCTING[op]
            } (${code}) constructs objects: refused (this reader only reads data)`,
          );
        }
        if (op in UNUSED) fail(`opcode ${UNUSED[op]} (${code}), not used by the CIFAR files`);
        fail(`unknown opcode ${code}`);
      }
    }
  }
}
