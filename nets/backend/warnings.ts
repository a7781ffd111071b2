/**
 * Capturing what tfjs and Emscripten print while a backend starts, so a failure can be reported
 * as one error that says why (tfjs's `setBackend` only returns `false` and warns on the console).
 *
 * @module
 */

/**
 * Runs `fn` with `console.warn` and `console.error` captured (not printed) and returns its value
 * with the captured lines.
 *
 * @example
 * ```ts
 * import { tf } from "../tf.ts";
 * const { value: ok, warnings } = await captureTfjsWarnings(() => tf.setBackend("wasm"));
 * if (!ok) throw new Error(warnings.join(" | "));
 * ```
 */
export async function captureTfjsWarnings<T>(
  fn: () => Promise<T>,
): Promise<{ value: T; warnings: string[] }> {
  const warnings: string[] = [];
  const { warn, error } = console;
  const capture = (...args: unknown[]) => {
    const line = args.map((a) => (a instanceof Error ? a.message : String(a))).join(" ").trim();
    if (line.length > 0) warnings.push(firstLine(line));
  };
  console.warn = capture;
  console.error = capture;
  try {
    return { value: await fn(), warnings };
  } finally {
    console.warn = warn;
    console.error = error;
  }
}

/**
 * The message of an unknown thrown value (Emscripten rejects with plain objects).
 *
 * @example
 * ```ts
 * errorText({ message: "boom" }); // "boom"
 * errorText(new Error("bad")); // "bad"
 * ```
 */
export function errorText(e: unknown): string {
  if (e instanceof Error) return e.message;
  if (e != null && typeof e === "object" && "message" in e) return String(e.message);
  return String(e);
}

function firstLine(s: string): string {
  const i = s.indexOf("\n");
  return i < 0 ? s : s.slice(0, i);
}
