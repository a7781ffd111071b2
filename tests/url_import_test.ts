/**
 * Users can import `mod.ts` from a URL without the project's deno.json: the repository is served
 * over HTTP on 127.0.0.1, and a script in a fresh directory (no deno.json, an empty DENO_DIR)
 * imports it by URL, type-checks the whole remote graph, and solves a tiny problem. Any bare
 * specifier or import-map name in the module graph makes that subprocess fail.
 */
import { fileURLToPath } from "node:url";
import { extname, join, resolve, sep } from "node:path";
import { assert, assertAlmostEquals, assertAtMost, assertEquals } from "./assert.ts";
import { fromRows, nearestEtf, nearestEtfVjp } from "../mod.ts";

const ROOT = resolve(fileURLToPath(new URL("..", import.meta.url)));

const CONTENT_TYPES: Record<string, string> = {
  ".ts": "application/typescript; charset=utf-8",
  ".js": "application/javascript; charset=utf-8",
  ".json": "application/json; charset=utf-8",
};

/** The flags a config-less user needs to run a script importing mod.ts from this server. */
function runFlags(host: string): string[] {
  return [
    "run",
    "--no-config", // ignore any deno.json (there is none in the temp dir anyway)
    "--no-lock", // no lockfile to read or write
    `--allow-import=${host}`, // Deno 2 only imports remotely from a few known hosts by default
    "--check=all", // type-check the remote graph too, with Deno's default (strict) options
  ];
}

const Y_ROWS = [[1, 0.2, -0.3], [0.1, 1, 0.4], [-0.2, 0.3, 1], [0.5, -0.1, 0.2]];
const Y2_ROWS = [[1.1, 0.2, -0.3], [0.1, 0.9, 0.5], [-0.2, 0.3, 1], [0.4, -0.1, 0.25]];
const DU_ROWS = [[0.3, -1, 0.2], [0.5, 0.1, -0.7], [-0.4, 0.6, 0.9], [1, 0.2, -0.1]];

/** The script the user writes; `MODULE` is replaced by the URL of mod.ts. */
const SCRIPT = `
import { eye, fromRows, nearestEtf, nearestEtfVjp } from "MODULE";
import type { Matrix } from "MODULE";
const Y: Matrix = fromRows(${JSON.stringify(Y_ROWS)});
const tr = nearestEtf(Y, { solver: "trust-regions", maxIterations: 500, minGradientNorm: 1e-10 });
const cf = nearestEtf(Y, { solver: "closed-form" });
const Y2 = fromRows(${JSON.stringify(Y2_ROWS)});
const next = nearestEtf(Y2, { prox: cf.U, solver: "closed-form" });
const dU = fromRows(${JSON.stringify(DU_ROWS)});
const ddn = nearestEtfVjp(Y2, next.U, dU, { prox: cf.U });
const closed = nearestEtfVjp(Y2, next.U, dU, { prox: cf.U, method: "closed-form" });
const I = eye(4, 3);
console.log(JSON.stringify({
  trCost: tr.cost,
  trStop: tr.stoppingReason,
  cfCost: cf.cost,
  nextU: Array.from(next.U.data),
  ddn: Array.from(ddn.data),
  closed: Array.from(closed.data),
  eye: Array.from(I.data),
}));
`;

Deno.test("url import: mod.ts runs from an HTTP URL without the project's deno.json", async () => {
  const served: string[] = [];
  const missing: string[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (req) => {
      const path = decodeURIComponent(new URL(req.url).pathname);
      const file = resolve(ROOT, "." + path);
      if (!file.startsWith(ROOT + sep)) return new Response("forbidden", { status: 403 });
      try {
        const body = await Deno.readFile(file);
        served.push(path);
        return new Response(body, {
          headers: {
            "content-type": CONTENT_TYPES[extname(file)] ?? "application/octet-stream",
          },
        });
      } catch {
        missing.push(path);
        return new Response("not found", { status: 404 });
      }
    },
  );
  const dir = await Deno.makeTempDir({ prefix: "etf_url_import_" });
  try {
    const host = `127.0.0.1:${server.addr.port}`;
    const url = `http://${host}/mod.ts`;
    await Deno.writeTextFile(join(dir, "main.ts"), SCRIPT.replaceAll("MODULE", url));
    const out = await new Deno.Command(Deno.execPath(), {
      args: [...runFlags(host), "main.ts"],
      cwd: dir,
      env: { DENO_DIR: join(dir, "deno_dir"), NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(out.stdout);
    const stderr = new TextDecoder().decode(out.stderr);
    assertEquals(out.code, 0, `the URL import failed:\n${stderr}`);
    assertEquals(missing, [], "requested files that do not exist");
    assert(served.includes("/mod.ts"), "mod.ts was not fetched from the server");
    assert(served.includes("/solver/nearest_etf.ts"), "the solver was not fetched");
    assert(!served.includes("/deno.json"), "deno.json was fetched");

    const r = JSON.parse(stdout.trim());
    assertEquals(r.trStop, "min-gradient-norm");
    assertAlmostEquals(r.trCost, r.cfCost, 1e-9, "trust-regions vs closed-form cost");
    assertEquals(r.eye, [1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0]);
    // The two backward methods agree, and the URL-imported code computes what the local does.
    for (let i = 0; i < r.ddn.length; i++) {
      assertAlmostEquals(r.ddn[i], r.closed[i], 1e-6, `ddn vs closed-form VJP entry ${i}`);
    }
    const Y = fromRows(Y_ROWS), Y2 = fromRows(Y2_ROWS), dU = fromRows(DU_ROWS);
    const cf = nearestEtf(Y, { solver: "closed-form" });
    assertAlmostEquals(r.cfCost, cf.cost, 1e-14, "closed-form cost, URL vs local");
    const next = nearestEtf(Y2, { prox: cf.U, solver: "closed-form" });
    const ddn = nearestEtfVjp(Y2, next.U, dU, { prox: cf.U });
    let gap = 0;
    for (let i = 0; i < ddn.data.length; i++) gap = Math.max(gap, Math.abs(r.ddn[i] - ddn.data[i]));
    for (let i = 0; i < next.U.data.length; i++) {
      gap = Math.max(gap, Math.abs(r.nextU[i] - next.U.data[i]));
    }
    assertAtMost(gap, 1e-12, "URL vs local results");
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});
