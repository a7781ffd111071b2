/**
 * Nearest simplex-ETF demo: solves the feasibility problem
 * `U⋆ = argmin_{U ∈ St(d,K)} ‖Y − U·M/sqrt(K−1)‖_F²` for a feature-means matrix Y (d×K, one
 * column per class) and prints the solution's diagnostics.
 *
 *   deno task etf-demo                                   # Gaussian Y, 512×10, seed 0
 *   deno task etf-demo --d 20 --K 4 --seed 3             # a smaller generated Y
 *   deno task etf-demo --input means.json                # {"rows":d,"cols":K,"data":[row-major]}
 *   deno task etf-demo --input means.csv                 # d lines of K comma-separated numbers
 *   deno task etf-demo --input means.txt                 # np.savetxt's default: space-separated
 *   deno task etf-demo --solver closed-form --json       # one JSON summary line
 *   deno task etf-demo --output result.json              # also write U, E, cost, log, … as JSON
 *
 * Input: `--input FILE` (`.json`: `{"rows","cols","data"}` or a nested array of d rows of K
 * numbers; `.csv`, `.tsv`, `.txt`: d lines of K numbers separated by commas, or by spaces and/or
 * tabs, as `np.savetxt` writes them with or without `delimiter=","`; `#` comments, blank lines
 * and one header row without numbers (skipped, with a note on stderr) are allowed; ragged rows
 * and cells that are not finite numbers are errors naming the line, row and column), or a
 * Gaussian Y from `--seed N` (default 0), `--d` (default 512) and `--K` (default 10),
 * normalised to unit Frobenius norm. `--normalise` (default on; `--no-normalise` to skip)
 * divides Y by ‖Y‖_F before solving.
 *
 * Solver: `--solver trust-regions|closed-form` (default trust-regions), `--max-iterations N`
 * (default 500, the analysis setting; the library's training default is 30) and
 * `--min-gradient-norm G` (default 1e-6), from the default start `I_{d×K}`.
 *
 * Printed: the input shape and source, solver, stopping reason, iterations, seconds, f(U), the
 * Riemannian gradient norm, `max|UᵀU − I|`, the trust-region log (iteration, cost, gradient norm,
 * radius, ρ, inner iterations, tCG stop, accepted), the ETF `E = U·M/sqrt(K−1)`'s distance
 * `‖E − Y/‖Y‖‖_F` and Gram check `max|EᵀE − M/(K−1)|`, for K ≤ 12 the cosines between the columns
 * of E and of Y·M, and a comparison with the other solver (cost difference and `max|Δ(U·M)|`;
 * U itself is not unique, U·M is).
 *
 * Bad flags, values or input files print one line to stderr and exit with code 2.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { basename, dirname, extname, join } from "node:path";
import {
  centreRows,
  ETF_SOLVERS,
  etfOf,
  type EtfSolver,
  frobeniusNorm,
  gram,
  InvalidArgumentError,
  type IterationLog,
  type Matrix,
  matrix,
  maxAbsDiff,
  nearestEtf,
  type NearestEtfResult,
  randomNormal,
  Rng,
} from "../mod.ts";

const PROGRAM = "etf-demo";

const HELP = `deno task etf-demo [options]
Nearest simplex ETF of a feature-means matrix Y (d×K, columns are classes), with diagnostics.

Input (one of):
  --input FILE              .json: {"rows":d,"cols":K,"data":[row-major]} or [[row], …];
                            .csv, .tsv, .txt: d lines of K numbers separated by
                            commas or by spaces/tabs (np.savetxt's default); # comments,
                            blank lines and a header row (skipped) are allowed
  --seed N                  Gaussian Y from this seed (default 0), with
  --d N                     rows, feature dimension (default 512)
  --K N                     columns, classes (default 10, ≥ 2, ≤ d)
Solver:
  --solver NAME             ${ETF_SOLVERS.join(" | ")} (default trust-regions)
  --max-iterations N        trust-region outer iterations (default 500)
  --min-gradient-norm G     stop below this Riemannian gradient norm (default 1e-6)
  --normalise               divide Y by its Frobenius norm (default on)
  --no-normalise            use Y as given
Output:
  --output FILE             write U, E, cost, gradientNorm, iterations, stoppingReason,
                            seconds and the log as JSON (atomically)
  --json                    print the summary as one JSON line instead of text
  --help                    this text
Exit codes: 0 success; 2 bad flag, value or input file (one line on stderr).`;

const OPTIONS = {
  input: { type: "string" },
  seed: { type: "string" },
  d: { type: "string" },
  K: { type: "string" },
  solver: { type: "string" },
  "max-iterations": { type: "string" },
  "min-gradient-norm": { type: "string" },
  normalise: { type: "boolean" },
  output: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean" },
} as const;

/** A bad flag, value or input file: reported in one line, exit code 2. */
class UsageError extends Error {}

/** Largest generated d·K (entries of Y). */
const MAX_ENTRIES = 2 ** 25;
/** Largest K for which the cosine matrices are printed. */
const MAX_COSINE_K = 12;

type Settings = {
  source: { kind: "file"; path: string } | {
    kind: "generated";
    seed: number;
    d: number;
    K: number;
  };
  solver: EtfSolver;
  maxIterations: number;
  minGradientNorm: number;
  normalise: boolean;
  output: string | null;
  json: boolean;
};

// ---------------------------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------------------------

function parseInteger(flag: string, raw: string, min: number, what: string): number {
  const v = /^[+-]?\d+$/.test(raw.trim()) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(v) || v < min) {
    throw new UsageError(`--${flag}: got ${JSON.stringify(raw)}; allowed: ${what}`);
  }
  return v;
}

function parseSettings(args: string[]): Settings | "help" {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: OPTIONS,
      strict: true,
      allowPositionals: false,
      allowNegative: true,
    }));
  } catch (e) {
    if (e instanceof TypeError && "code" in e && String(e.code).startsWith("ERR_PARSE_ARGS")) {
      const allowed = Object.keys(OPTIONS).map((k) => `--${k}`).join(", ") + ", --no-normalise";
      const hint = e.code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" ? `; allowed: ${allowed}` : "";
      throw new UsageError(`${e.message.split("\n").join(" ")}${hint}`);
    }
    throw e;
  }
  if (values.help) return "help";

  let source: Settings["source"];
  if (values.input !== undefined) {
    for (const flag of ["seed", "d", "K"] as const) {
      if (values[flag] !== undefined) {
        throw new UsageError(
          `--${flag}: cannot be combined with --input (the file gives Y); use one or the other`,
        );
      }
    }
    if (values.input === "") throw new UsageError(`--input: got an empty file name`);
    source = { kind: "file", path: values.input };
  } else {
    const seed = parseInteger(
      "seed",
      values.seed ?? "0",
      -Number.MAX_SAFE_INTEGER,
      "a safe integer",
    );
    const d = parseInteger("d", values.d ?? "512", 1, "an integer ≥ 1");
    const K = parseInteger("K", values.K ?? "10", 2, "an integer ≥ 2 (at least two classes)");
    if (d < K) {
      throw new UsageError(
        `--d: got ${d} with --K ${K}; allowed: d ≥ K (the Stiefel manifold St(d,K) needs ` +
          `at least as many rows as columns)`,
      );
    }
    if (d * K > MAX_ENTRIES) {
      throw new UsageError(
        `--d/--K: ${d}×${K} has ${d * K} entries; allowed: d·K ≤ ${MAX_ENTRIES}`,
      );
    }
    source = { kind: "generated", seed, d, K };
  }

  const solver = values.solver ?? "trust-regions";
  if (!(ETF_SOLVERS as readonly string[]).includes(solver)) {
    throw new UsageError(
      `--solver: got ${JSON.stringify(solver)}; allowed: ${ETF_SOLVERS.join(", ")}`,
    );
  }
  const maxIterations = parseInteger(
    "max-iterations",
    values["max-iterations"] ?? "500",
    0,
    "an integer ≥ 0",
  );
  const rawG = values["min-gradient-norm"] ?? "1e-6";
  const minGradientNorm = /^\s*[+]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$/.test(rawG)
    ? Number(rawG)
    : NaN;
  if (!(Number.isFinite(minGradientNorm) && minGradientNorm >= 0)) {
    throw new UsageError(
      `--min-gradient-norm: got ${JSON.stringify(rawG)}; allowed: a finite number ≥ 0`,
    );
  }
  if (values.output === "") throw new UsageError(`--output: got an empty file name`);
  return {
    source,
    solver: solver as EtfSolver,
    maxIterations,
    minGradientNorm,
    normalise: values.normalise ?? true,
    output: values.output ?? null,
    json: values.json ?? false,
  };
}

// ---------------------------------------------------------------------------------------------
// Input files
// ---------------------------------------------------------------------------------------------

/** `path:line:column` of a character offset. */
function locate(path: string, text: string, pos: number): string {
  let line = 1, start = 0;
  for (let i = 0; i < pos && i < text.length; i++) {
    if (text[i] === "\n") {
      line++;
      start = i + 1;
    }
  }
  return `${path}:${line}:${pos - start + 1}`;
}

type JsonNode =
  | { kind: "number"; value: number; pos: number }
  | { kind: "string"; value: string; pos: number }
  | { kind: "literal"; value: boolean | null; pos: number }
  | { kind: "array"; items: JsonNode[]; pos: number }
  | { kind: "object"; entries: [string, JsonNode][]; pos: number };

/** A small JSON parser that keeps every value's offset, so errors can name the line. */
class JsonReader {
  #i = 0;
  readonly #text: string;
  readonly #where: (pos: number) => string;

  constructor(text: string, where: (pos: number) => string) {
    this.#text = text.charCodeAt(0) === 0xfeff ? " " + text.slice(1) : text;
    this.#where = where;
  }

  parse(): JsonNode {
    this.#ws();
    const v = this.#value(0);
    this.#ws();
    if (this.#i < this.#text.length) this.#fail("unexpected text after the JSON value");
    return v;
  }

  #fail(message: string, pos = this.#i): never {
    throw new UsageError(`${this.#where(pos)}: invalid JSON: ${message}`);
  }

  #ws(): void {
    const t = this.#text;
    while (this.#i < t.length && " \t\r\n".includes(t[this.#i])) this.#i++;
  }

  #expect(c: string): void {
    if (this.#text[this.#i] !== c) {
      const got = this.#i < this.#text.length
        ? JSON.stringify(this.#text[this.#i])
        : "end of input";
      this.#fail(`expected ${JSON.stringify(c)}, got ${got}`);
    }
    this.#i++;
  }

  #match(re: RegExp): string | null {
    re.lastIndex = this.#i;
    const m = re.exec(this.#text);
    if (m === null) return null;
    this.#i += m[0].length;
    return m[0];
  }

  #value(depth: number): JsonNode {
    if (depth > 64) this.#fail("nested more than 64 levels deep");
    const pos = this.#i, c = this.#text[pos];
    if (c === "[") {
      this.#i++;
      const items: JsonNode[] = [];
      this.#ws();
      if (this.#text[this.#i] === "]") {
        this.#i++;
        return { kind: "array", items, pos };
      }
      for (;;) {
        this.#ws();
        items.push(this.#value(depth + 1));
        this.#ws();
        if (this.#text[this.#i] === ",") this.#i++;
        else {
          this.#expect("]");
          return { kind: "array", items, pos };
        }
      }
    }
    if (c === "{") {
      this.#i++;
      const entries: [string, JsonNode][] = [];
      this.#ws();
      if (this.#text[this.#i] === "}") {
        this.#i++;
        return { kind: "object", entries, pos };
      }
      for (;;) {
        this.#ws();
        if (this.#text[this.#i] !== '"') this.#fail("expected a quoted property name");
        const key = this.#string();
        this.#ws();
        this.#expect(":");
        this.#ws();
        entries.push([key, this.#value(depth + 1)]);
        this.#ws();
        if (this.#text[this.#i] === ",") this.#i++;
        else {
          this.#expect("}");
          return { kind: "object", entries, pos };
        }
      }
    }
    if (c === '"') return { kind: "string", value: this.#string(), pos };
    const num = this.#match(/-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y);
    if (num !== null) return { kind: "number", value: Number(num), pos };
    const lit = this.#match(/true|false|null/y);
    if (lit !== null) {
      return { kind: "literal", value: lit === "null" ? null : lit === "true", pos };
    }
    this.#fail(c === undefined ? "unexpected end of input" : `unexpected ${JSON.stringify(c)}`);
  }

  #string(): string {
    // JSON strings exclude raw control characters (U+0000–U+001F).
    // deno-lint-ignore no-control-regex
    const s = this.#match(/"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y);
    if (s === null) this.#fail("malformed string");
    return JSON.parse(s);
  }
}

function describe(node: JsonNode): string {
  return node.kind === "literal"
    ? String(node.value)
    : `a${node.kind === "array" ? "n" : ""} ${node.kind === "object" ? "object" : node.kind}`;
}

function parseJsonMatrix(text: string, path: string): Matrix {
  const where = (pos: number) => locate(path, text, pos);
  const root = new JsonReader(text, where).parse();
  const num = (node: JsonNode, what: string): number => {
    if (node.kind !== "number") {
      throw new UsageError(`${where(node.pos)}: ${what} must be a number, got ${describe(node)}`);
    }
    if (!Number.isFinite(node.value)) {
      throw new UsageError(`${where(node.pos)}: ${what} overflows to ${node.value}`);
    }
    return node.value;
  };
  if (root.kind === "object") {
    const fields = new Map(root.entries);
    for (const [key] of root.entries) {
      if (!["rows", "cols", "data"].includes(key)) {
        throw new UsageError(
          `${where(root.pos)}: unknown property ${JSON.stringify(key)}; allowed: rows, cols, data`,
        );
      }
    }
    const shape: Record<string, number> = {};
    for (const key of ["rows", "cols"]) {
      const node = fields.get(key);
      if (node === undefined) {
        throw new UsageError(`${where(root.pos)}: missing property "${key}"`);
      }
      const v = num(node, `"${key}"`);
      if (!Number.isSafeInteger(v) || v < 1) {
        throw new UsageError(`${where(node.pos)}: "${key}" must be an integer ≥ 1, got ${v}`);
      }
      shape[key] = v;
    }
    const data = fields.get("data");
    if (data === undefined) throw new UsageError(`${where(root.pos)}: missing property "data"`);
    if (data.kind !== "array") {
      throw new UsageError(`${where(data.pos)}: "data" must be an array, got ${describe(data)}`);
    }
    const { rows, cols } = shape;
    if (data.items.length !== rows * cols) {
      throw new UsageError(
        `${where(data.pos)}: "data" has ${data.items.length} numbers; rows×cols = ` +
          `${rows}×${cols} needs ${rows * cols}`,
      );
    }
    const out = matrix(rows, cols);
    data.items.forEach((node, k) => {
      out.data[k] = num(node, `data[${k}]`);
    });
    return out;
  }
  if (root.kind === "array") {
    if (root.items.length === 0) throw new UsageError(`${where(root.pos)}: no rows`);
    const rows = root.items.map((row, i) => {
      if (row.kind !== "array") {
        throw new UsageError(
          `${where(row.pos)}: row ${i} must be an array of numbers, got ${describe(row)}`,
        );
      }
      return row;
    });
    const cols = rows[0].items.length;
    if (cols === 0) throw new UsageError(`${where(rows[0].pos)}: row 0 is empty`);
    const out = matrix(rows.length, cols);
    rows.forEach((row, i) => {
      if (row.items.length !== cols) {
        throw new UsageError(
          `${where(row.pos)}: row ${i} has ${row.items.length} numbers, expected ${cols} ` +
            `(as row 0)`,
        );
      }
      row.items.forEach((node, j) => {
        out.data[i * cols + j] = num(node, `entry (${i}, ${j})`);
      });
    });
    return out;
  }
  throw new UsageError(
    `${where(root.pos)}: expected {"rows","cols","data"} or an array of rows, got ` +
      describe(root),
  );
}

/** A finite decimal number as text files write it (numpy's `%.18e`, `%g`, integers). */
const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
/** Numbers that are not finite, as numpy writes them (`nan`, `inf`, `-inf`). */
const NON_FINITE = /^[+-]?(?:nan|inf|infinity)$/i;

/** A delimited-text matrix and what was skipped on the way (for a note on stderr). */
type TextMatrix = { matrix: Matrix; header: { line: number; text: string } | null };

/**
 * Reads d rows of K numbers from delimited text: comma-separated (when any data line has a comma)
 * or whitespace-separated (runs of spaces and tabs; numpy's `savetxt` default), with `#`
 * comments (whole lines, numpy's `header=` form, or the end of a line), blank lines, a byte-order
 * mark, CRLF line ends, and an optional header row (a first line with no number in it) skipped.
 */
function parseTextMatrix(text: string, path: string): TextMatrix {
  const content: { line: number; text: string }[] = [];
  text.replace(/^\uFEFF/, "").split(/\r?\n/).forEach((raw, index) => {
    const hash = raw.indexOf("#");
    const body = (hash < 0 ? raw : raw.slice(0, hash)).trim();
    if (body !== "") content.push({ line: index + 1, text: body });
  });
  const where = (line: number) => `--input ${path}:${line}`;
  if (content.length === 0) {
    throw new UsageError(`${where(1)}: no data rows; allowed: d lines of K numbers`);
  }
  const commaLine = content.find((c) => c.text.includes(","));
  const split = commaLine
    ? (s: string) => s.split(",").map((f) => f.trim())
    : (s: string) => s.split(/[ \t]+/);
  const layout = commaLine
    ? `comma-separated, since line ${commaLine.line} has a comma`
    : "whitespace-separated, since no line has a comma";
  const numeric = (f: string) => DECIMAL.test(f) || NON_FINITE.test(f);
  let header: TextMatrix["header"] = null;
  if (!split(content[0].text).some(numeric)) header = content.shift()!;
  if (content.length === 0) {
    throw new UsageError(
      `${where(header!.line)}: only a header row, no data rows; allowed: d lines of K numbers`,
    );
  }
  const K = split(content[0].text).length, first = content[0].line;
  const out = matrix(content.length, K);
  content.forEach(({ line, text }, i) => {
    const fields = split(text), row = i + 1;
    if (fields.length !== K) {
      const which = fields.length < K
        ? `column ${fields.length + 1} is missing`
        : `column ${K + 1} is extra`;
      throw new UsageError(
        `${where(line)}: row ${row} has ${fields.length} values, expected ${K} as row 1 ` +
          `(line ${first}): ${which}; the file is read as ${layout}`,
      );
    }
    fields.forEach((f, j) => {
      const v = DECIMAL.test(f) ? Number(f) : NaN;
      if (!Number.isFinite(v)) {
        const what = f === ""
          ? "is empty"
          : NON_FINITE.test(f) || DECIMAL.test(f)
          ? `is ${JSON.stringify(f)}, not a finite number`
          : `is ${JSON.stringify(f)}, not a number`;
        throw new UsageError(
          `${where(line)}: row ${row}, column ${j + 1} ${what}; allowed: finite decimal ` +
            `numbers such as 1.5 or -2.5e-3 (the file is read as ${layout})`,
        );
      }
      out.data[i * K + j] = v;
    });
  });
  return { matrix: out, header };
}

/** The file extensions `--input` reads as delimited text. */
const TEXT_EXTENSIONS = [".csv", ".tsv", ".txt"];

function readInput(path: string): Matrix {
  const ext = extname(path).toLowerCase();
  if (ext !== ".json" && !TEXT_EXTENSIONS.includes(ext)) {
    throw new UsageError(
      `--input: ${JSON.stringify(path)} has extension ${JSON.stringify(ext)}; allowed: .json, ` +
        TEXT_EXTENSIONS.join(", "),
    );
  }
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (e) {
    throw new UsageError(`--input: cannot read ${JSON.stringify(path)}: ${oneLine(e)}`);
  }
  if (ext === ".json") return parseJsonMatrix(text, path);
  const { matrix: Y, header } = parseTextMatrix(text, path);
  if (header !== null) {
    const shown = header.text.length > 60 ? `${header.text.slice(0, 57)}...` : header.text;
    console.error(
      `${PROGRAM}: --input ${path}:${header.line}: skipped a header row ` +
        `(${JSON.stringify(shown)}: no numbers in it)`,
    );
  }
  return Y;
}

// ---------------------------------------------------------------------------------------------
// Diagnostics
// ---------------------------------------------------------------------------------------------

function scaled(A: Matrix, s: number): Matrix {
  const out = matrix(A.rows, A.cols);
  for (let i = 0; i < out.data.length; i++) out.data[i] = A.data[i] * s;
  return out;
}

/** `max|AᵀA − T|` where T has `diag` on the diagonal and `off` elsewhere. */
function gramGap(A: Matrix, diag: number, off: number): number {
  const G = gram(A), K = A.cols;
  let m = 0;
  for (let i = 0; i < K; i++) {
    for (let j = 0; j < K; j++) {
      const v = Math.abs(G.data[i * K + j] - (i === j ? diag : off));
      if (v > m || v !== v) m = v;
    }
  }
  return m;
}

/** Cosines between the columns of A (K×K); NaN where a column is zero. */
function columnCosines(A: Matrix): number[][] {
  const G = gram(A), K = A.cols;
  const out: number[][] = [];
  for (let i = 0; i < K; i++) {
    const row: number[] = [];
    for (let j = 0; j < K; j++) {
      row.push(G.data[i * K + j] / Math.sqrt(G.data[i * K + i] * G.data[j * K + j]));
    }
    out.push(row);
  }
  return out;
}

type Report = {
  source: string;
  d: number;
  K: number;
  inputNorm: number;
  normalised: boolean;
  solver: EtfSolver;
  maxIterations: number;
  minGradientNorm: number;
  result: NearestEtfResult;
  orthonormalityError: number;
  E: Matrix;
  etfDistance: number;
  gramError: number;
  cosinesE: number[][] | null;
  cosinesYM: number[][] | null;
  other: NearestEtfResult & { solver: EtfSolver };
  costDifference: number;
  maxDeltaUM: number;
};

function analyse(Y: Matrix, settings: Settings, source: string, inputNorm: number): Report {
  const { solver, maxIterations, minGradientNorm } = settings;
  const result = nearestEtf(Y, { solver, maxIterations, minGradientNorm });
  const otherSolver: EtfSolver = solver === "trust-regions" ? "closed-form" : "trust-regions";
  const other = nearestEtf(Y, { solver: otherSolver, maxIterations, minGradientNorm });
  const K = Y.cols;
  const E = etfOf(result.U);
  const Yunit = scaled(Y, 1 / frobeniusNorm(Y));
  const diff = matrix(Y.rows, K);
  for (let i = 0; i < diff.data.length; i++) diff.data[i] = E.data[i] - Yunit.data[i];
  const small = K <= MAX_COSINE_K;
  return {
    source,
    d: Y.rows,
    K,
    inputNorm,
    normalised: settings.normalise,
    solver,
    maxIterations,
    minGradientNorm,
    result,
    orthonormalityError: gramGap(result.U, 1, 0),
    E,
    etfDistance: frobeniusNorm(diff),
    gramError: gramGap(E, (K - 1) / K / (K - 1), -1 / K / (K - 1)),
    cosinesE: small ? columnCosines(E) : null,
    cosinesYM: small ? columnCosines(centreRows(Y)) : null,
    other: { ...other, solver: otherSolver },
    costDifference: result.cost - other.cost,
    maxDeltaUM: maxAbsDiff(centreRows(result.U), centreRows(other.U)),
  };
}

// ---------------------------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------------------------

const exp = (x: number, digits = 6) => Number.isFinite(x) ? x.toExponential(digits) : String(x);

function summary(r: Report) {
  return {
    source: r.source,
    d: r.d,
    K: r.K,
    inputNorm: r.inputNorm,
    normalised: r.normalised,
    solver: r.solver,
    maxIterations: r.maxIterations,
    minGradientNorm: r.minGradientNorm,
    stoppingReason: r.result.stoppingReason,
    iterations: r.result.iterations,
    seconds: r.result.seconds,
    cost: r.result.cost,
    gradientNorm: r.result.gradientNorm,
    orthonormalityError: r.orthonormalityError,
    etfDistance: r.etfDistance,
    gramError: r.gramError,
    otherSolver: r.other.solver,
    otherCost: r.other.cost,
    otherGradientNorm: r.other.gradientNorm,
    otherIterations: r.other.iterations,
    otherStoppingReason: r.other.stoppingReason,
    otherSeconds: r.other.seconds,
    costDifference: r.costDifference,
    maxDeltaUM: r.maxDeltaUM,
  };
}

function logTable(log: IterationLog[]): string[] {
  const head = `  ${"iter".padStart(5)} ${"cost".padStart(14)} ${"grad norm".padStart(13)} ` +
    `${"radius".padStart(13)} ${"rho".padStart(13)} ${"inner".padStart(5)}  ` +
    `${"tCG stop".padEnd(26)} accepted`;
  return [
    head,
    ...log.map((e) =>
      `  ${String(e.iteration).padStart(5)} ${exp(e.cost, 7).padStart(14)} ` +
      `${exp(e.gradientNorm).padStart(13)} ${exp(e.radius).padStart(13)} ` +
      `${exp(e.rho).padStart(13)} ${String(e.innerIterations).padStart(5)}  ` +
      `${e.tcgStop.padEnd(26)} ${e.accepted ? "yes" : "no"}`
    ),
  ];
}

function cosineTable(C: number[][]): string[] {
  return C.map((row) => "    " + row.map((v) => v.toFixed(6).padStart(10)).join(" "));
}

function text(r: Report): string {
  const { result: res } = r;
  const lines = [
    "Nearest simplex ETF (feasibility problem: min over St(d,K) of ‖Y − U·M/sqrt(K−1)‖_F²)",
    "",
    `input               Y is ${r.d}×${r.K} (d×K, columns are classes), ${r.source}`,
    r.normalised
      ? `normalisation       divided Y by its Frobenius norm ‖Y‖_F = ${exp(r.inputNorm)}`
      : `normalisation       none; ‖Y‖_F = ${exp(r.inputNorm)}`,
    `solver              ${r.solver} (max iterations ${r.maxIterations}, min gradient norm ` +
    `${r.minGradientNorm.toExponential()}), from I_{d×K}`,
    "",
    `stopping reason     ${res.stoppingReason}`,
    `iterations          ${res.iterations}`,
    `seconds             ${res.seconds.toFixed(6)}`,
    `cost f(U)           ${exp(res.cost, 12)}`,
    `gradient norm       ${exp(res.gradientNorm)}`,
    `max|UᵀU − I|        ${exp(r.orthonormalityError, 3)}`,
    "",
  ];
  if (res.log.length > 0) {
    lines.push("trust-region log", ...logTable(res.log), "");
  } else {
    lines.push(
      `trust-region log    (none: ${
        r.solver === "closed-form" ? "the closed form is not iterative" : "0 iterations"
      })`,
      "",
    );
  }
  lines.push(
    "ETF diagnostics (E = U·M/sqrt(K−1), the nearest ETF)",
    `  ‖E − Y/‖Y‖‖_F          ${exp(r.etfDistance, 12)}`,
    `  max|EᵀE − M/(K−1)|     ${exp(r.gramError, 3)}  (should be ~0)`,
  );
  if (r.cosinesE !== null && r.cosinesYM !== null) {
    lines.push(
      `  cosines between the columns of E (1 on the diagonal, −1/(K−1) = ` +
        `${(-1 / (r.K - 1)).toFixed(6)} off it):`,
      ...cosineTable(r.cosinesE),
      "  cosines between the columns of Y·M (the centred class means), for comparison:",
      ...cosineTable(r.cosinesYM),
    );
  } else {
    lines.push(`  (cosine matrices omitted for K > ${MAX_COSINE_K})`);
  }
  lines.push(
    "",
    `comparison with ${r.other.solver} (${r.other.stoppingReason}, ${r.other.iterations} ` +
      `iterations, ${r.other.seconds.toFixed(6)} s)`,
    `  cost f(U) (${r.other.solver})`.padEnd(48) + exp(r.other.cost, 12),
    `  cost difference (${r.solver} − ${r.other.solver})`.padEnd(48) +
      exp(r.costDifference, 3),
    `  max|Δ(U·M)|`.padEnd(48) + `${exp(r.maxDeltaUM, 3)}  (U is not unique, U·M is)`,
  );
  return lines.join("\n");
}

function matrixJson(A: Matrix) {
  return { rows: A.rows, cols: A.cols, data: Array.from(A.data) };
}

/** Writes `content` to a temporary file next to `path`, then renames it over `path`. */
function writeAtomically(path: string, content: string): void {
  const tmp = join(
    dirname(path),
    `.${basename(path)}.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}.tmp`,
  );
  try {
    Deno.writeTextFileSync(tmp, content);
    Deno.renameSync(tmp, path);
  } catch (e) {
    try {
      Deno.removeSync(tmp);
    } catch { /* never created */ }
    throw new UsageError(`--output: cannot write ${JSON.stringify(path)}: ${oneLine(e)}`);
  }
}

function oneLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split(/\r?\n/).join(" ");
}

// ---------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------

function main(args: string[]): void {
  const settings = parseSettings(args);
  if (settings === "help") {
    console.log(HELP);
    return;
  }
  let Y: Matrix, source: string;
  if (settings.source.kind === "file") {
    Y = readInput(settings.source.path);
    source = `from ${settings.source.path}`;
  } else {
    const { seed, d, K } = settings.source;
    Y = randomNormal(new Rng(seed), d, K);
    source = `generated: Gaussian, seed ${seed}`;
  }
  const inputNorm = frobeniusNorm(Y);
  const normalise = settings.normalise && inputNorm > 0 && Number.isFinite(inputNorm);
  if (normalise) Y = scaled(Y, 1 / inputNorm);
  let report: Report;
  try {
    report = analyse(Y, { ...settings, normalise }, source, inputNorm);
  } catch (e) {
    if (e instanceof InvalidArgumentError) {
      const from = settings.source.kind === "file"
        ? ` (Y read from --input ${source.slice(5)})`
        : "";
      throw new UsageError(`${oneLine(e)}${from}`);
    }
    throw e;
  }
  if (settings.output !== null) {
    const r = report.result;
    writeAtomically(
      settings.output,
      JSON.stringify({
        d: report.d,
        K: report.K,
        source: report.source,
        normalised: report.normalised,
        solver: report.solver,
        U: matrixJson(r.U),
        E: matrixJson(report.E),
        cost: r.cost,
        gradientNorm: r.gradientNorm,
        iterations: r.iterations,
        stoppingReason: r.stoppingReason,
        seconds: r.seconds,
        log: r.log,
      }) + "\n",
    );
  }
  console.log(settings.json ? JSON.stringify(summary(report)) : text(report));
  if (settings.output !== null && !settings.json) console.log(`\nwrote ${settings.output}`);
}

if (import.meta.main) {
  try {
    main(Deno.args);
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`${PROGRAM}: ${oneLine(e)}`);
      Deno.exit(2);
    }
    throw e;
  }
}
