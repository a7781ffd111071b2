/**
 * Rendering figure specifications headless: Vega-Lite (compiled by `npm:vega-lite`) to SVG by
 * `npm:vega`'s view with no renderer (no canvas, no DOM), and SVG to PNG by
 * `npm:@resvg/resvg-wasm` with DejaVu Sans passed in explicitly — resvg draws no text at all
 * without a font. The font (`fonts/DejaVuSans.ttf`, 2.37, from `npm:dejavu-fonts-ttf@2.37.3`;
 * its licence beside it) ships with the code: a font file is no module, so Deno would not fetch
 * its npm package. Both are deterministic: the same spec gives the same bytes.
 *
 * @module
 */
import * as vega from "npm:vega@6.4.0";
import * as vegaLite from "npm:vega-lite@6.5.0";
import { initWasm, Resvg } from "npm:@resvg/resvg-wasm@2.6.2";

const RESVG_WASM = "npm:@resvg/resvg-wasm@2.6.2/index_bg.wasm";
const FONT = new URL("./fonts/DejaVuSans.ttf", import.meta.url);

/** A file's bytes, from disk or (when this module was imported from a URL) over the network. */
async function readBytes(url: URL): Promise<Uint8Array> {
  if (url.protocol === "file:") return await Deno.readFile(url);
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

/**
 * The SVG of a Vega-Lite specification.
 *
 * @example
 * ```ts
 * const svg = await renderSvg({ mark: "point", data: { values: [{ a: 1 }] }, encoding: { x: { field: "a", type: "quantitative" } } });
 * ```
 */
export async function renderSvg(spec: Record<string, unknown>): Promise<string> {
  // deno-lint-ignore no-explicit-any
  const compiled = vegaLite.compile(spec as any).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

let ready: Promise<Uint8Array> | null = null;

/** Loads resvg's wasm once and returns the font's bytes. */
function resvgReady(): Promise<Uint8Array> {
  ready ??= (async () => {
    await initWasm(await readBytes(new URL(import.meta.resolve(RESVG_WASM))));
    return await readBytes(FONT);
  })();
  return ready;
}

/**
 * A PNG of an SVG at `scale` × its size, text in DejaVu Sans.
 *
 * @example
 * ```ts
 * const png = await renderPng('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>');
 * ```
 */
export async function renderPng(svg: string, scale = 2): Promise<Uint8Array> {
  const font = await resvgReady();
  const resvg = new Resvg(svg, {
    background: "white",
    fitTo: { mode: "zoom", value: scale },
    font: { fontBuffers: [font], defaultFontFamily: "DejaVu Sans", loadSystemFonts: false },
  });
  try {
    return resvg.render().asPng();
  } finally {
    resvg.free();
  }
}
