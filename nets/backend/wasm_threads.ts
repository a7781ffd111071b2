/**
 * Making tfjs-backend-wasm's multi-threaded (threaded-SIMD) build start under Deno.
 *
 * As shipped (4.22.0) it cannot: in Node mode its Emscripten glue creates each pthread worker with
 * `new (require("worker_threads").Worker)(blobUrl)`, and Deno's `node:worker_threads` only accepts
 * absolute or `./`-relative paths (`ERR_WORKER_PATH`). Four more things break after that, each
 * handled here while {@link withThreadedWasmWorkers} runs the backend's initialisation:
 *
 * 1. The worker script (tfjs passes it as a blob URL) is fetched and started as an `eval` worker
 *    (`new Worker(source, { eval: true })`: CommonJS with `require`, no file and no permission
 *    needed).
 * 2. Its `Object.assign(global, { location, self, … })` throws in Deno, where `location` is a
 *    getter-only property of the worker's global scope: those globals are defined with
 *    `Object.defineProperty` instead (plain assignment for the script's own global `var`s).
 * 3. The main script reaches the worker as a `Blob` that the worker reads with
 *    `fs.readFileSync(URL.createObjectURL(blob))` (impossible), and it is the rollup-bundled
 *    factory, which refers to the bundle's `require$$0…4`, `commonjsGlobal` and TypeScript's
 *    `__values/__read/__spreadArray` helpers. The blob's text is read on the main side and sent as
 *    source text, prefixed with those definitions, and the worker evaluates it directly.
 * 4. The C++ side caps the thread count at `emscripten_num_logical_cores() / 2`, which in Node
 *    mode is `os.cpus().length / 2` (1 on a 2-core machine): `os.cpus()` reports at least 2·threads
 *    entries during the initialisation only.
 *
 * Messages to a worker are queued while its source or the main script's text is being read, and
 * posted synchronously otherwise: the main thread blocks (Atomics.wait) in `pthreadpool_create` right after posting `run`, so a
 * deferred `run` would deadlock. The glue preallocates 8 workers (its PTHREAD_POOL_SIZE), hence
 * at most 8 threads. The pool threads' workers are unref()'d once the backend has started (they
 * wait forever, and would otherwise keep the process alive). The global `Worker` the glue
 * overwrites and the patched module properties are restored afterwards.
 *
 * @module
 */
import workerThreads from "node:worker_threads";
import os from "node:os";

/**
 * The most threads the threaded build can use (its preallocated pthread pool).
 *
 * @example
 * ```ts
 * import { selectBackend } from "./select.ts";
 * const threads = Math.min(navigator.hardwareConcurrency, MAX_WASM_THREADS);
 * await selectBackend("wasm", { threads });
 * ```
 */
export const MAX_WASM_THREADS = 8;

/** Marks a main script sent as source text rather than as a path. */
const SOURCE_MARK = "/*tfjs-wasm-threaded-main*/";

/** Replaces the worker's `Object.assign(global, {...})` and teaches `importScripts` source text. */
const WORKER_PRELUDE = `function __tfjsAssignGlobals(o){` +
  `var load=o.importScripts;` +
  `o.importScripts=function(f){if(typeof f==="string"&&f.startsWith(${
    JSON.stringify(SOURCE_MARK)
  }))return (0,eval)(f);return load(f)};` +
  `for(var k of Object.keys(o)){try{Object.defineProperty(globalThis,k,` +
  `{value:o[k],writable:true,configurable:true,enumerable:true})}catch(_){globalThis[k]=o[k]}}}\n`;

/** What the bundled factory expects from the bundle's scope. */
const MAIN_PRELUDE = SOURCE_MARK +
  `var require$$0=require("fs"),require$$1=require("path"),require$$3=require("perf_hooks"),` +
  `require$$4=require("os"),commonjsGlobal=globalThis,__dirname=".",` +
  `__filename="tfjs-backend-wasm-threaded-simd.js";` +
  `var __values=function(o){var s=typeof Symbol==="function"&&Symbol.iterator,m=s&&o[s],i=0;` +
  `if(m)return m.call(o);if(o&&typeof o.length==="number")return{next:function(){` +
  `if(o&&i>=o.length)o=void 0;return{value:o&&o[i++],done:!o}}};` +
  `throw new TypeError("not iterable")};` +
  `var __read=function(o,n){var it=o[Symbol.iterator](),ar=[],r;` +
  `while((n===void 0||n-->0)&&!(r=it.next()).done)ar.push(r.value);return ar};` +
  `var __spreadArray=function(to,from){return to.concat(Array.prototype.slice.call(from))};\n`;

const ASSIGN = "Object.assign(global,{";

/**
 * The worker source tfjs ships, made to run as a Deno `node:worker_threads` eval worker.
 * Throws when the source does not have the expected layout (another tfjs version).
 *
 * @example
 * ```ts
 * declare const blobUrl: string; // the blob: URL tfjs-backend-wasm creates for its worker
 * const src = patchWorkerSource(await (await fetch(blobUrl)).text());
 * ```
 */
export function patchWorkerSource(source: string): string {
  if (!source.includes(ASSIGN) || !source.includes("importScripts")) {
    throw new Error("the threaded wasm worker script does not have the layout of tfjs 4.22.0");
  }
  return WORKER_PRELUDE + source.replace(ASSIGN, "__tfjsAssignGlobals({");
}

type Listener = (...args: unknown[]) => void;

/** The glue's first message to a worker, carrying the main script as a Blob. */
function isBlobLoad(message: unknown): message is { cmd: "load"; urlOrBlob: Blob } {
  const m = message as { cmd?: unknown; urlOrBlob?: unknown } | null;
  return m?.cmd === "load" && m.urlOrBlob instanceof Blob;
}
type RealWorker = {
  postMessage(message: unknown, transfer?: unknown): void;
  on(event: string, listener: Listener): unknown;
  terminate(): unknown;
  ref(): void;
  unref(): void;
};
type WorkerClass = new (source: string | URL, options?: Record<string, unknown>) => RealWorker;

/**
 * Runs `start` (the wasm backend's initialisation) with the Deno workarounds for the threaded
 * build installed, and removes them afterwards.
 *
 * @example
 * ```ts
 * import { setThreadsCount } from "npm:@tensorflow/tfjs-backend-wasm@4.22.0";
 * import { tf } from "../tf.ts";
 * tf.env().set("WASM_HAS_MULTITHREAD_SUPPORT", true);
 * setThreadsCount(2);
 * await withThreadedWasmWorkers(2, () => tf.setBackend("wasm"));
 * ```
 */
export async function withThreadedWasmWorkers<T>(
  threads: number,
  start: () => Promise<T>,
): Promise<T> {
  const wt = workerThreads as unknown as { Worker: WorkerClass };
  const osModule = os as unknown as { cpus: () => unknown[] };
  const NodeWorker = wt.Worker;
  const realCpus = osModule.cpus;
  const hadGlobalWorker = Object.prototype.hasOwnProperty.call(globalThis, "Worker");
  const globalWorker = (globalThis as { Worker?: unknown }).Worker;
  let mainScript: Promise<string> | undefined;
  const created: BlobUrlWorker[] = [];
  const mainScriptSource = (blob: Blob) => mainScript ??= blob.text().then((t) => MAIN_PRELUDE + t);

  /** A `worker_threads.Worker` stand-in for the blob URLs the Emscripten glue passes. */
  class BlobUrlWorker {
    #real: RealWorker | undefined;
    #queue: { message: unknown; transfer?: unknown }[] | null = [];
    #listeners: [string, Listener][] = [];
    #ref: boolean | undefined;
    #terminated = false;
    #flushing = false;

    constructor(source: string | URL, options?: Record<string, unknown>) {
      const url = String(source);
      if (!url.startsWith("blob:")) return new NodeWorker(source, options) as never;
      created.push(this);
      fetch(url).then((r) => r.text()).then(async (text) => {
        if (this.#terminated) return;
        const real = new NodeWorker(patchWorkerSource(text), { eval: true });
        for (const [event, listener] of this.#listeners) real.on(event, listener);
        if (this.#ref === true) real.ref();
        if (this.#ref === false) real.unref();
        this.#real = real;
        await this.#flush();
      }).catch((e) => {
        for (const [event, listener] of this.#listeners) if (event === "error") listener(e);
      });
    }

    async #flush(): Promise<void> {
      if (this.#flushing || !this.#real) return;
      this.#flushing = true;
      try {
        while (this.#queue !== null && this.#queue.length > 0) {
          const { message, transfer } = this.#queue.shift()!;
          this.#real.postMessage(await this.#resolve(message), transfer);
        }
        this.#queue = null; // from now on, post synchronously
      } finally {
        this.#flushing = false;
      }
    }

    async #resolve(message: unknown): Promise<unknown> {
      return isBlobLoad(message)
        ? { ...message, urlOrBlob: await mainScriptSource(message.urlOrBlob) }
        : message;
    }

    postMessage(message: unknown, transfer?: unknown): void {
      if (this.#queue === null && this.#real && !isBlobLoad(message)) {
        this.#real.postMessage(message, transfer);
        return;
      }
      (this.#queue ??= []).push({ message, transfer });
      void this.#flush();
    }

    on(event: string, listener: Listener): this {
      if (this.#real) this.#real.on(event, listener);
      else this.#listeners.push([event, listener]);
      return this;
    }

    ref(): void {
      if (this.#real) this.#real.ref();
      else this.#ref = true;
    }

    unref(): void {
      if (this.#real) this.#real.unref();
      else this.#ref = false;
    }

    terminate(): unknown {
      this.#terminated = true;
      return this.#real?.terminate();
    }
  }

  wt.Worker = BlobUrlWorker as unknown as WorkerClass;
  osModule.cpus = () => {
    const cpus = realCpus.call(os);
    while (cpus.length > 0 && cpus.length < 2 * threads) cpus.push(cpus[0]);
    return cpus;
  };
  try {
    const value = await start();
    // XNNPACK's pool threads wait forever in workers the glue ref()'d: let the process exit.
    for (const worker of created) worker.unref();
    return value;
  } finally {
    wt.Worker = NodeWorker;
    osModule.cpus = realCpus;
    if (hadGlobalWorker) (globalThis as { Worker?: unknown }).Worker = globalWorker;
    else delete (globalThis as { Worker?: unknown }).Worker;
  }
}
