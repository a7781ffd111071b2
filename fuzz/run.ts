/**
 * Runs the seeded mutation fuzzer over one format: case i is `fuzzCase(corpus, fields, seed, i)`
 * (checksums repaired on odd cases where the format has them), run in a sandbox process
 * (fuzz/child.ts, one case at a time) with a time bound. A case fails when the parser throws anything but the project's `InputError`, runs past
 * the time bound (the worker is terminated and replaced), or raises the process's peak RSS by more
 * than the memory bound. Failing cases are saved as regression files, named by their content's
 * hash, for the test suite to replay.
 *
 * @module
 */
import { join } from "node:path";
import { fuzzCase, type Mutation } from "./mutate.ts";
import type { FuzzTarget } from "./targets.ts";

/**
 * Settings of {@link fuzzFormat}.
 *
 * @example
 * ```ts
 * const opts: FuzzOptions = { cases: 300, seed: 1, timeoutMs: 5000, memoryMiB: 512 };
 * ```
 */
export type FuzzOptions = {
  cases: number;
  seed: number;
  /** A case running longer than this is a hang. */
  timeoutMs: number;
  /** A case raising the process's peak RSS by more than this is an allocation beyond the bound. */
  memoryMiB: number;
  /** Where failing cases are saved (`<dir>/<format>/<hash>.bin`), or null. */
  saveDir?: string | null;
  /** Called every `progressEvery` cases. */
  onProgress?: (done: number) => void;
};

/**
 * One failing case.
 *
 * @example
 * ```ts
 * const f: FuzzFailure = { index: 7, kind: "exception", message: "TypeError: …", mutations: ["truncate"], file: null };
 * ```
 */
export type FuzzFailure = {
  index: number;
  kind: "exception" | "hang" | "memory";
  message: string;
  mutations: Mutation[];
  /** The saved regression file, or null. */
  file: string | null;
};

/**
 * What one format's fuzzing found.
 *
 * @example
 * ```ts
 * import { TARGETS } from "./targets.ts";
 * const r = await fuzzFormat(TARGETS[0], { cases: 10, seed: 1, timeoutMs: 5000, memoryMiB: 512 });
 * console.log(r.results, r.inputErrors, r.failures.length);
 * ```
 */
export type FuzzReport = {
  format: string;
  cases: number;
  /** Cases the parser accepted. */
  results: number;
  /** Cases refused with the project's InputError. */
  inputErrors: number;
  failures: FuzzFailure[];
  seconds: number;
};

type Reply = {
  id: number;
  outcome: "result" | "input-error" | "other";
  message?: string;
  peakMiB: number | null;
  rssGrowthMiB: number;
};

/**
 * A child process (fuzz/child.ts) that runs cases one at a time: killed and replaced after a
 * hang or a runaway allocation, so that each case's peak RSS is measured in a process whose own
 * peak is that of ordinary cases.
 */
class Sandbox {
  #child: Deno.ChildProcess | null = null;
  #writer: WritableStreamDefaultWriter<Uint8Array> | null = null;
  #lines: AsyncIterator<string> | null = null;
  /** The child's peak RSS before the current case. */
  peakMiB = 0;

  async #start(): Promise<void> {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-read",
        "--allow-write",
        "--allow-env",
        "--allow-ffi", // the JPEG target decodes with libjpeg-turbo, as training does
        new URL("./child.ts", import.meta.url).pathname,
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.#child = child;
    this.#writer = child.stdin.getWriter();
    this.#lines = child.stdout.pipeThrough(new TextDecoderStream()).pipeThrough(lineSplitter())[
      Symbol.asyncIterator
    ]();
    // The child says it is ready with its peak RSS once its modules are loaded: the baseline.
    const ready = await this.#lines.next();
    this.peakMiB = ready.done
      ? 0
      : (JSON.parse(ready.value) as { peakMiB: number | null }).peakMiB ?? 0;
  }

  /** The reply, or null when the case ran past `timeoutMs` (the child is then replaced). */
  async run(id: number, format: string, bytes: Uint8Array, timeoutMs: number) {
    if (this.#child === null) await this.#start();
    const name = new TextEncoder().encode(format);
    const message = new Uint8Array(12 + name.length + bytes.length);
    const view = new DataView(message.buffer);
    view.setUint32(0, id, true);
    view.setUint32(4, name.length, true);
    message.set(name, 8);
    view.setUint32(8 + name.length, bytes.length, true);
    message.set(bytes, 12 + name.length);
    await this.#writer!.write(message);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const reply = await Promise.race([
      this.#lines!.next().then((r) => (r.done ? null : JSON.parse(r.value) as Reply)),
      new Promise<null>((resolve) => timer = setTimeout(() => resolve(null), timeoutMs)),
    ]);
    clearTimeout(timer);
    if (reply === null) await this.close();
    return reply;
  }

  async close(): Promise<void> {
    if (this.#child === null) return;
    try {
      this.#child.kill("SIGKILL");
    } catch { /* already exited */ }
    await this.#writer?.close().catch(() => {});
    await this.#child.status;
    await this.#child.stdout.cancel().catch(() => {});
    this.#child = null;
  }
}

function lineSplitter(): TransformStream<string, string> {
  let rest = "";
  return new TransformStream({
    transform(chunk, controller) {
      const parts = (rest + chunk).split("\n");
      rest = parts.pop()!;
      for (const p of parts) controller.enqueue(p);
    },
  });
}

/** One case in the sandbox: its outcome, or what went wrong. */
async function runCase(
  sandbox: Sandbox,
  target: FuzzTarget,
  bytes: Uint8Array,
  id: number,
  options: Pick<FuzzOptions, "timeoutMs" | "memoryMiB">,
): Promise<"result" | "input-error" | { kind: FuzzFailure["kind"]; message: string }> {
  const reply = await sandbox.run(id, target.name, bytes, options.timeoutMs);
  if (reply === null) return { kind: "hang", message: `ran past ${options.timeoutMs} ms` };
  const grew = Math.max((reply.peakMiB ?? 0) - sandbox.peakMiB, reply.rssGrowthMiB);
  sandbox.peakMiB = Math.max(sandbox.peakMiB, reply.peakMiB ?? 0);
  if (grew > options.memoryMiB) {
    await sandbox.close(); // a fresh process measures the next case
    return {
      kind: "memory",
      message: `peak RSS grew by ${grew.toFixed(0)} MiB (bound ${options.memoryMiB} MiB)`,
    };
  }
  if (reply.outcome === "other") return { kind: "exception", message: reply.message ?? "" };
  return reply.outcome;
}

/**
 * Replays saved cases (regression files) of one format under the same bounds: the failures,
 * each with its file (`index` is the file's position in `files`, `mutations` empty).
 *
 * @example
 * ```ts
 * import { TARGETS } from "./targets.ts";
 * const target = TARGETS.find((t) => t.name === "png")!;
 * const failures = await replayFiles(target, ["tests/fixtures/fuzz/png/0a1b2c3d4e5f6071.bin"], {
 *   timeoutMs: 5000,
 *   memoryMiB: 512,
 * });
 * ```
 */
export async function replayFiles(
  target: FuzzTarget,
  files: readonly string[],
  options: Pick<FuzzOptions, "timeoutMs" | "memoryMiB">,
): Promise<FuzzFailure[]> {
  const sandbox = new Sandbox();
  const failures: FuzzFailure[] = [];
  try {
    for (let i = 0; i < files.length; i++) {
      const outcome = await runCase(sandbox, target, await Deno.readFile(files[i]), i, options);
      if (typeof outcome === "object") {
        failures.push({ index: i, ...outcome, mutations: [], file: files[i] });
      }
    }
  } finally {
    await sandbox.close();
  }
  return failures;
}

async function hashName(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>),
  );
  return [...digest.subarray(0, 8)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Fuzzes one format (see the module documentation).
 *
 * @example
 * ```ts
 * import { TARGETS } from "./targets.ts";
 * const target = TARGETS.find((t) => t.name === "tar")!;
 * const report = await fuzzFormat(target, { cases: 100, seed: 1, timeoutMs: 5000, memoryMiB: 512 });
 * if (report.failures.length > 0) console.error(report.failures);
 * ```
 */
export async function fuzzFormat(target: FuzzTarget, options: FuzzOptions): Promise<FuzzReport> {
  const t0 = performance.now();
  const corpus = await target.corpus();
  const sandbox = new Sandbox();
  const report: FuzzReport = {
    format: target.name,
    cases: options.cases,
    results: 0,
    inputErrors: 0,
    failures: [],
    seconds: 0,
  };
  try {
    for (let i = 0; i < options.cases; i++) {
      const { bytes, mutations } = fuzzCase(corpus, target.fields, options.seed, i);
      if (target.repair && i % 2 === 1) target.repair(bytes);
      const outcome = await runCase(sandbox, target, bytes, i, options);
      if (outcome === "result") report.results++;
      else if (outcome === "input-error") report.inputErrors++;
      else {
        let file: string | null = null;
        if (options.saveDir) {
          const dir = join(options.saveDir, target.name);
          await Deno.mkdir(dir, { recursive: true });
          file = join(dir, `${await hashName(bytes)}.bin`);
          await Deno.writeFile(file, bytes);
        }
        report.failures.push({ index: i, ...outcome, mutations, file });
      }
      if (options.onProgress && (i + 1) % 1000 === 0) options.onProgress(i + 1);
    }
  } finally {
    await sandbox.close();
  }
  report.seconds = (performance.now() - t0) / 1000;
  return report;
}
