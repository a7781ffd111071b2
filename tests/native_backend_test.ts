/**
 * Choosing the native backend (nets/backend/select.ts): `--backend native` starts wasm (on one
 * thread) with the native kernels, OpenBLAS and oneDNN's OpenMP on `--threads` threads (by
 * default the machine's cores); without OpenBLAS (`NC_BLAS=off` stands in for a machine without
 * it) or without `--allow-ffi`, an explicit `native` is an error naming what to install or grant,
 * and `auto` falls back to wasm saying why, once; without oneDNN (`NC_DNNL=off`) native runs its
 * OpenBLAS convolutions and its one line says why; a library named by `NC_BLAS_LIBRARY` or
 * `NC_DNNL_LIBRARY` that does not load is an error, for `auto` too; an
 * explicit `wasm` after native in one process runs wasm's own kernels. Each case in its own
 * process (the choice is per process). Ignored without OpenBLAS; the oneDNN cases without it.
 */
import { assert, assertEquals } from "./assert.ts";
import { nativeSgemm } from "../nets/backend/native_kernels.ts";
import { loadDnnl } from "../nets/backend/onednn.ts";

const ignore = nativeSgemm() === null;
const SELECT = new URL("../nets/backend/select.ts", import.meta.url).href;
const KERNELS = new URL("../nets/backend/native_kernels.ts", import.meta.url).href;

/**
 * Runs `code` (a module body) with these permissions and environment (`deno run` of a temporary
 * file: `deno eval` would grant everything); stdout and stderr.
 */
async function run(code: string, permissions: string[], env: Record<string, string> = {}) {
  const file = await Deno.makeTempFile({ suffix: ".ts" });
  try {
    await Deno.writeTextFile(file, code);
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", ...permissions, file],
      env,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const dec = new TextDecoder();
    return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  } finally {
    await Deno.remove(file);
  }
}

const ALL = ["--allow-read", "--allow-env", "--allow-sys", "--allow-ffi"];
// (The temporary file is outside the repository: --allow-read covers the imports.)
// Reports the choice, whether Conv2D is the native kernel, OpenMP's thread count for the next
// parallel region (null without libgomp) and XNNPACK's thread count.
const choose = (name: string, threads: number | null = 1) => `
import { selectBackend } from "${SELECT}";
import { NATIVE_KERNELS } from "${KERNELS}";
import { tf } from "${new URL("../nets/tf.ts", import.meta.url).href}";
try {
  const info = await selectBackend("${name}", {
    ${threads === null ? "" : `threads: ${threads},`} log: (l) => console.log(l),
  });
  const native = tf.getKernel("Conv2D", "wasm")?.kernelFunc === NATIVE_KERNELS.Conv2D;
  let omp = null;
  try {
    omp = Deno.dlopen("libgomp.so.1", { omp_get_max_threads: { parameters: [], result: "i32" } })
      .symbols.omp_get_max_threads();
  } catch { /* no libgomp */ }
  const wasm = await import("npm:@tensorflow/tfjs-backend-wasm@4.22.0");
  const xnnpack = tf.getBackend() === "wasm" ? wasm.getThreadsCount() : null;
  console.log(JSON.stringify({ ...info, nativeConv: native, omp, xnnpack }));
} catch (e) {
  console.log("ERROR " + e.message);
}`;
const last = (out: { stdout: string }) => JSON.parse(out.stdout.trim().split("\n").at(-1)!);
const dnnl = loadDnnl().dnnl;

Deno.test({
  name: "native backend: explicit, auto, fallbacks and their messages",
  ignore,
  fn: async () => {
    const explicit = await run(choose("native", 2), ALL);
    const info = last(explicit);
    assertEquals([info.name, info.threads, info.nativeConv, info.xnnpack], ["native", 2, true, 1]);
    const convolutions = dnnl === null
      ? `OpenBLAS im2col (oneDNN: ${loadDnnl().reason})`
      : `oneDNN ${dnnl.version}`;
    assertEquals(
      explicit.stdout.split("\n")[0],
      `backend: native (2 threads, convolutions: ${convolutions}) — requested`,
    );
    if (dnnl !== null) assertEquals(info.omp, 2);
    const one = last(await run(choose("native", 1), ALL));
    assertEquals([one.threads, one.xnnpack], [1, 1]);
    if (dnnl !== null) assertEquals(one.omp, 1);
    // The default: the machine's cores (at most 8), XNNPACK on one.
    const cores = Math.min(8, navigator.hardwareConcurrency);
    const byDefault = last(await run(choose("native", null), ALL));
    assertEquals([byDefault.threads, byDefault.xnnpack], [cores, 1]);

    const auto = await run(choose("auto"), ALL);
    const a = JSON.parse(auto.stdout.trim().split("\n").at(-1)!);
    assertEquals([a.name, a.nativeConv], ["native", true]);
    assert(a.reason.endsWith("using native"), a.reason);

    // No library: NC_BLAS=off stands in for a machine without OpenBLAS.
    const noLibrary = await run(choose("native"), ALL, { NC_BLAS: "off" });
    assert(
      noLibrary.stdout.includes(
        "ERROR native: needs OpenBLAS: install Debian's libopenblas0-pthread",
      ),
      noLibrary.stdout,
    );
    const autoNoLibrary = await run(choose("auto"), ALL, { NC_BLAS: "off" });
    const b = JSON.parse(autoNoLibrary.stdout.trim().split("\n").at(-1)!);
    assertEquals([b.name, b.nativeConv], ["wasm", false]);
    assert(b.reason.includes("native unavailable (needs OpenBLAS"), b.reason);
    assertEquals(
      autoNoLibrary.stdout.split("\n").filter((l) => l.startsWith("backend:")).length,
      1,
    );

    // No --allow-ffi: the wasm path and one line, not a crash.
    const noFfi = ALL.filter((p) => p !== "--allow-ffi");
    const explicitNoFfi = await run(choose("native"), noFfi);
    assert(explicitNoFfi.stdout.includes("ERROR native: needs --allow-ffi"), explicitNoFfi.stdout);
    const autoNoFfi = await run(choose("auto"), noFfi);
    const c = JSON.parse(autoNoFfi.stdout.trim().split("\n").at(-1)!);
    assertEquals(c.name, "wasm");
    assert(c.reason.includes("native unavailable (needs --allow-ffi"), c.reason);

    // Without oneDNN: native all the same, its line says why; a path that does not load, too.
    const noDnnl = await run(choose("native", 2), ALL, { NC_DNNL: "off" });
    assertEquals([last(noDnnl).name, last(noDnnl).nativeConv], ["native", true]);
    assertEquals(
      noDnnl.stdout.split("\n")[0],
      "backend: native (2 threads, convolutions: OpenBLAS im2col (oneDNN: NC_DNNL=off)) — requested",
    );
    // A library named by its variable that does not load is an error, auto's too: never
    // silently replaced.
    for (const name of ["native", "auto"]) {
      const badDnnl = await run(choose(name, 2), ALL, { NC_DNNL_LIBRARY: "/nowhere/libdnnl.so.2" });
      assert(
        badDnnl.stdout.startsWith(
          "ERROR native: NC_DNNL_LIBRARY=/nowhere/libdnnl.so.2: cannot load it (",
        ),
        badDnnl.stdout,
      );
      const badBlas = await run(choose(name, 2), ALL, {
        NC_BLAS_LIBRARY: "/nowhere/libopenblas.so.0",
      });
      assert(
        badBlas.stdout.startsWith(
          "ERROR native: NC_BLAS_LIBRARY=/nowhere/libopenblas.so.0: cannot load it (",
        ),
        badBlas.stdout,
      );
    }

    // wasm after native, in one process: wasm's own kernels.
    const both = await run(
      `${choose("native")}
      const again = await selectBackend("wasm", { log: () => {} });
      console.log(JSON.stringify({ again: again.name, nativeConv: tf.getKernel("Conv2D", "wasm")?.kernelFunc === NATIVE_KERNELS.Conv2D }));`,
      ALL,
    );
    assertEquals(JSON.parse(both.stdout.trim().split("\n").at(-1)!), {
      again: "wasm",
      nativeConv: false,
    });
  },
});

Deno.test({
  name:
    "library flags: --dnnl_library and --blas_library load the file they name, or fail naming the flag",
  ignore,
  fn: async () => {
    const apply = (paths: string, then = "") => `
import { applyLibraryPaths, selectBackend } from "${SELECT}";
try {
  applyLibraryPaths(${paths});
  ${then}
  console.log("OK");
} catch (e) {
  console.log("ERROR " + e.message);
}`;
    const missing = await run(
      apply(`{ blasLibrary: null, dnnlLibrary: "/nowhere/libdnnl.so.2" }`),
      ALL,
    );
    assert(
      missing.stdout.startsWith("ERROR --dnnl_library: /nowhere/libdnnl.so.2: cannot load it"),
      missing.stdout,
    );
    const missingBlas = await run(
      apply(`{ blasLibrary: "/nowhere/libopenblas.so.0", dnnlLibrary: null }`),
      ALL,
    );
    assert(
      missingBlas.stdout.startsWith(
        "ERROR --blas_library: /nowhere/libopenblas.so.0: cannot load it",
      ),
      missingBlas.stdout,
    );
    const empty = await run(apply(`{ blasLibrary: null, dnnlLibrary: " " }`), ALL);
    assertEquals(empty.stdout.trim(), "ERROR --dnnl_library: an empty path");
    const noFfi = await run(
      apply(`{ blasLibrary: null, dnnlLibrary: "/x.so" }`),
      ALL.filter((p) => p !== "--allow-ffi"),
    );
    assertEquals(noFfi.stdout.trim(), "ERROR --dnnl_library: loading a library needs --allow-ffi");
    const blas = nativeSgemm()!.library;
    // The file named is the one loaded; naming another after that is refused.
    const named = await run(
      apply(
        `{ blasLibrary: ${JSON.stringify(blas)}, dnnlLibrary: ${
          JSON.stringify(dnnl?.library ?? null)
        } }`,
        `await selectBackend("native", { threads: 1, log: (l) => console.log(l) });
  applyLibraryPaths({ blasLibrary: "/another/libopenblas.so.0", dnnlLibrary: null });`,
      ),
      ALL,
    );
    const lines = named.stdout.trim().split("\n");
    assert(lines[0].startsWith("backend: native (1 thread"), named.stdout);
    assertEquals(
      lines.at(-1),
      `ERROR --blas_library: /another/libopenblas.so.0: this process already loaded ${blas}; ` +
        "give it before anything loads it",
    );
  },
});

Deno.test("library flags: --dnnl_library applies to the native backend only (train)", async () => {
  const { parseTrainArgs, checkFlagsApply } = await import("../train/config.ts");
  const request = parseTrainArgs(
    ["--backend", "wasm", "--dnnl_library", "/x/libdnnl.so.2"],
    "standard",
  );
  if (request === "help") throw new Error("unexpected help");
  let message = "";
  try {
    checkFlagsApply(request);
  } catch (e) {
    message = (e as Error).message;
  }
  assert(
    message.startsWith(
      "--dnnl_library: applies to the native backend (--backend native or auto) only; " +
        "this run has",
    ),
    message,
  );
  for (const backend of ["native", "auto"]) {
    const ok = parseTrainArgs(["--backend", backend, "--dnnl_library", "/x.so"], "standard");
    if (ok === "help") throw new Error("unexpected help");
    checkFlagsApply(ok); // no error
  }
});
