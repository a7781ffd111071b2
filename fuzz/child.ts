/**
 * The fuzzer's sandbox process: runs one target on one case per message and answers with the
 * outcome and its own peak RSS, so that the fuzzer can stop a case that hangs (by killing the
 * process) and measure each case's allocations in a process of its own.
 *
 * @module
 */
import { InputError } from "../core/errors.ts";
import { peakRssMiB } from "../core/memory.ts";
import { TARGETS } from "./targets.ts";

/**
 * Parsers that misbehave on purpose, so that the tests can check the sandbox reports each kind of
 * failure (they are not formats: `deno task fuzz` never runs them).
 */
const SELF_TESTS: Record<string, (bytes: Uint8Array) => unknown> = {
  "selftest-throw": () => {
    throw new TypeError("boom");
  },
  "selftest-hang": () => {
    while (true) { /* never returns */ }
  },
  "selftest-allocate": () => new Uint8Array(600 * 2 ** 20).fill(1),
};

/**
 * Reads cases from stdin — each a 4-byte little-endian id, a 4-byte format-name length, the name,
 * a 4-byte data length and the data — and answers each with one JSON line on stdout: the
 * outcome, this process's peak RSS after the case (getrusage, MiB) and its RSS growth over the
 * case (sampled before and right after it, MiB: the fallback where getrusage is unavailable).
 */
async function serve(): Promise<void> {
  const reader = Deno.stdin.readable.getReader();
  let buffer = new Uint8Array(0);
  const need = async (n: number): Promise<boolean> => {
    while (buffer.length < n) {
      const { value, done } = await reader.read();
      if (done) return false;
      const next = new Uint8Array(buffer.length + value.length);
      next.set(buffer);
      next.set(value, buffer.length);
      buffer = next;
    }
    return true;
  };
  const take = (n: number) => {
    const out = buffer.slice(0, n);
    buffer = buffer.subarray(n);
    return out;
  };
  const u32 = () => new DataView(take(4).buffer).getUint32(0, true);
  const out = new TextEncoder();
  await Deno.stdout.write(
    out.encode(JSON.stringify({ ready: true, peakMiB: peakRssMiB() }) + "\n"),
  );
  while (await need(8)) {
    const id = u32(), nameLength = u32();
    if (!(await need(nameLength + 4))) return;
    const format = new TextDecoder().decode(take(nameLength));
    const dataLength = u32();
    if (!(await need(dataLength))) return;
    const bytes = take(dataLength);
    const run = TARGETS.find((t) => t.name === format)?.run ?? SELF_TESTS[format];
    let reply: Record<string, unknown>;
    const rssBefore = Deno.memoryUsage().rss;
    let rssAfter = rssBefore;
    try {
      const value = await run(bytes);
      rssAfter = Deno.memoryUsage().rss; // while the result is still referenced
      void value;
      reply = { id, outcome: "result" };
    } catch (e) {
      const error = e as Error;
      reply = {
        id,
        outcome: e instanceof InputError ? "input-error" : "other",
        message: `${error?.name}: ${error?.message}`,
      };
    }
    rssAfter = Math.max(rssAfter, Deno.memoryUsage().rss);
    reply.peakMiB = peakRssMiB();
    reply.rssGrowthMiB = (rssAfter - rssBefore) / 2 ** 20;
    await Deno.stdout.write(out.encode(JSON.stringify(reply) + "\n"));
  }
}

if (import.meta.main) await serve();
