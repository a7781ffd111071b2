/**
 * Command lines of the analysis tasks: declared flags, parsed strictly (an unknown flag, a
 * missing value or a value of the wrong kind is an {@link InvalidArgumentError} naming the
 * flag), with the set of flags the user gave (so that none is silently ignored), a `--help`
 * text, and the task wrapper that turns input errors into one line and exit code 2.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { InvalidArgumentError, isInputError } from "./errors.ts";

/**
 * One flag: its kind (`list`: a string given once or more, or comma-separated), its default and
 * its `--help` line.
 *
 * @example
 * ```ts
 * const every: Flag = { kind: "int", default: 1, help: "measure every N-th checkpoint epoch" };
 * ```
 */
export type Flag =
  | { kind: "string"; default: string | null; help: string; allowed?: readonly string[] }
  | { kind: "int"; default: number | null; help: string; min?: number }
  | { kind: "bool"; default: false; help: string }
  | { kind: "list"; default: string[]; help: string };

/** Parsed values by flag name (`--batch_size` as `batch_size`). */
export type FlagValues<S extends Record<string, Flag>> = {
  [K in keyof S]: S[K] extends { kind: "int" } ? number | null
    : S[K] extends { kind: "bool" } ? boolean
    : S[K] extends { kind: "list" } ? string[]
    : string | null;
};

/**
 * Parses `args` against `spec`; `"help"` for `--help`.
 *
 * @example
 * ```ts
 * const spec = { split: { kind: "string", default: "both", help: "train | test | both" } } as const;
 * const parsed = parseFlags(["--split", "test"], spec);
 * if (parsed !== "help") parsed.values.split; // "test"
 * ```
 */
export function parseFlags<S extends Record<string, Flag>>(
  args: string[],
  spec: S,
): { values: FlagValues<S>; given: ReadonlySet<keyof S & string> } | "help" {
  const options: Record<string, { type: "string" | "boolean"; multiple?: boolean }> = {
    help: { type: "boolean" },
  };
  for (const [name, f] of Object.entries(spec)) {
    options[name] = f.kind === "bool"
      ? { type: "boolean" }
      : { type: "string", multiple: f.kind === "list" };
  }
  let raw: Record<string, unknown>;
  try {
    raw = parseArgs({ args, options, strict: true, allowPositionals: false }).values;
  } catch (e) {
    throw new InvalidArgumentError(
      "arguments",
      (e as Error).message.replace(/\. To specify.*$/s, "").replace(/\s*\n\s*/g, " "),
    );
  }
  if (raw.help) return "help";
  const values: Record<string, unknown> = {};
  const given = new Set<keyof S & string>();
  for (const [name, f] of Object.entries(spec)) {
    const v = raw[name];
    if (v === undefined) {
      values[name] = f.default;
      continue;
    }
    given.add(name as keyof S & string);
    if (f.kind === "bool") values[name] = v === true;
    else if (f.kind === "list") {
      values[name] = (v as string[]).flatMap((s) => s.split(",")).map((s) => s.trim())
        .filter((s) => s !== "");
    } else if (f.kind === "int") {
      const n = Number(v);
      if ((v as string).trim() === "" || !Number.isInteger(n)) {
        throw new InvalidArgumentError(
          `--${name}`,
          `got ${JSON.stringify(v)}, allowed: an integer`,
        );
      }
      if (f.min !== undefined && n < f.min) {
        throw new InvalidArgumentError(`--${name}`, `got ${n}, allowed: ≥ ${f.min}`);
      }
      values[name] = n;
    } else {
      if (f.allowed !== undefined && !f.allowed.includes(v as string)) {
        throw new InvalidArgumentError(
          `--${name}`,
          `got ${JSON.stringify(v)}, allowed: ${f.allowed.join(", ")}`,
        );
      }
      values[name] = v;
    }
  }
  return { values: values as FlagValues<S>, given };
}

/**
 * The `--help` text: usage, then one line per flag with its default.
 *
 * @example
 * ```ts
 * console.log(flagHelp("deno task nc [flags]", { force: { kind: "bool", default: false, help: "re-measure" } }));
 * ```
 */
export function flagHelp(usage: string, spec: Record<string, Flag>): string {
  const lines = [`usage: ${usage}`, "", "flags:"];
  const width = Math.max(...Object.keys(spec).map((n) => n.length)) + 2;
  for (const [name, f] of Object.entries(spec)) {
    const shown = f.kind === "bool"
      ? ""
      : f.kind === "list"
      ? (f.default.length ? ` (default ${f.default.join(",")})` : "")
      : f.default === null
      ? ""
      : ` (default ${f.default})`;
    lines.push(`  --${name.padEnd(width)}${f.help}${shown}`);
  }
  return lines.join("\n");
}

/**
 * Runs a task's `main` (its exit code): an input error is one line `NAME: message` on stderr
 * and exit code 2; anything else is a bug (stack trace, exit code 1).
 *
 * @example
 * ```ts
 * if (import.meta.main) await runTask("nc", async () => 0);
 * ```
 */
export async function runTask(name: string, main: () => Promise<number>): Promise<never> {
  try {
    Deno.exit(await main());
  } catch (e) {
    if (isInputError(e)) {
      console.error(`${name}: ${e.message}`);
      Deno.exit(2);
    }
    throw e;
  }
}

/**
 * A task that parses its command line into a request (or `"help"`, which prints `help`) and runs
 * it; {@link runTask}'s exit codes. A number `run` returns is the exit code; anything else is 0.
 *
 * @example
 * ```ts
 * const parse = (args: string[]) => (args.includes("--help") ? "help" as const : { args });
 * if (import.meta.main) await runParsedTask("echo", "usage: echo", parse, async (r) => console.log(r.args));
 * ```
 */
export function runParsedTask<R>(
  name: string,
  help: string,
  parse: (args: string[]) => R | "help" | Promise<R | "help">,
  run: (request: R) => Promise<unknown>,
): Promise<never> {
  return runTask(name, async () => {
    const request = await parse(Deno.args);
    if (request === "help") {
      console.log(help);
      return 0;
    }
    const code = await run(request);
    return typeof code === "number" ? code : 0;
  });
}
