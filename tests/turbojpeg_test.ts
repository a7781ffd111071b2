/**
 * JPEG decoding (data/turbojpeg.ts, data/image_decode.ts): through libjpeg-turbo the pixels are
 * exactly Pillow's (`Image.open(f).convert("RGB")`) for 4:2:0, 4:4:4, progressive and greyscale
 * files; jpeg-js (the fallback) is within 3 levels of them without chroma subsampling, and its
 * difference on subsampled files (it replicates chroma) is reported; CMYK files go to jpeg-js; a
 * file cut short is refused as Pillow refuses it; a broken file after a good one is refused (no
 * stale header); a complete file declaring too many pixels is refused before it is allocated.
 * Ignored where libturbojpeg (Debian `libturbojpeg0`) or Pillow is missing.
 */
import { assert, assertEquals, assertThrows } from "./assert.ts";
import { join } from "node:path";
import { DatasetError } from "../data/dataset.ts";
import { decodeImage, MAX_IMAGE_PIXELS } from "../data/image_decode.ts";
import { turboJpeg, useTurboJpeg } from "../data/turbojpeg.ts";

const PYTHON = "/usr/bin/python3";
const hasPillow = (() => {
  try {
    return new Deno.Command(PYTHON, { args: ["-c", "import PIL, numpy"] }).outputSync().success;
  } catch {
    return false;
  }
})();
const ignore = turboJpeg() === null || !hasPillow;

/** The cases: file name → Pillow's save arguments (image 61×47, mode RGB or L). */
const CASES: Record<string, string> = {
  "420.jpg": `quality=90`,
  "444.jpg": `quality=95, subsampling=0`,
  "progressive.jpg": `quality=80, progressive=True`,
  "grey.jpg": `quality=90`,
  "cmyk.jpg": `quality=90`,
};

/** Writes the cases and Pillow's RGB decodes of them (`<name>.rgb`) into `dir`. */
async function pillowFiles(dir: string): Promise<void> {
  const script = `
import numpy as np, sys, json
from PIL import Image
d, cases = sys.argv[1], json.loads(sys.argv[2])
rng = np.random.default_rng(3)
x = np.linspace(0, 255, 61)[None, :, None] + np.linspace(0, 120, 47)[:, None, None]
rgb = ((np.concatenate([x, x[:, ::-1], x / 2], axis=2) + rng.normal(0, 20, (47, 61, 3))) % 256).astype(np.uint8)
for name, args in cases.items():
    img = Image.fromarray(rgb)
    if name.startswith("grey"): img = img.convert("L")
    if name.startswith("cmyk"): img = img.convert("CMYK")
    eval("img.save(d + '/' + name, " + args + ")")
    np.asarray(Image.open(d + "/" + name).convert("RGB")).tofile(d + "/" + name + ".rgb")
`;
  const r = await new Deno.Command(PYTHON, {
    args: ["-c", script, dir, JSON.stringify(CASES)],
    stderr: "piped",
  }).output();
  assert(r.success, new TextDecoder().decode(r.stderr));
}

function maxDifference(a: Uint8Array, b: Uint8Array): number {
  assertEquals(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

Deno.test({
  name: "JPEG: libjpeg-turbo gives Pillow's pixels exactly; jpeg-js close without subsampling",
  ignore,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "nc-jpeg-" });
    try {
      await pillowFiles(dir);
      for (const name of Object.keys(CASES)) {
        const bytes = await Deno.readFile(join(dir, name));
        const pillow = await Deno.readFile(join(dir, `${name}.rgb`));
        const turbo = decodeImage(bytes, name);
        assertEquals([turbo.width, turbo.height], [61, 47]);
        useTurboJpeg(false);
        let js;
        try {
          js = decodeImage(bytes, name);
        } finally {
          useTurboJpeg(true);
        }
        if (name === "cmyk.jpg") {
          // Left to jpeg-js (TurboJPEG does not convert CMYK to RGB): the same decoder twice.
          assertEquals(maxDifference(turbo.data, js.data), 0, name);
          continue;
        }
        assertEquals(maxDifference(turbo.data, pillow), 0, `${name}: libjpeg-turbo vs Pillow`);
        const d = maxDifference(js.data, pillow);
        if (name === "444.jpg" || name === "grey.jpg") {
          // No chroma subsampling: only the inverse DCT's rounding differs.
          assert(d <= 3, `${name}: jpeg-js differs from Pillow by ${d} levels`);
        } else {
          // jpeg-js replicates subsampled chroma; libjpeg (Pillow) interpolates it ("fancy
          // upsampling"). Reported, not bounded: it depends on the image's colour edges.
          let sum = 0;
          for (let i = 0; i < pillow.length; i++) sum += Math.abs(js.data[i] - pillow[i]);
          console.log(
            `${name}: jpeg-js vs Pillow: max ${d}, mean ${(sum / pillow.length).toFixed(2)} levels`,
          );
        }
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "JPEG: cut short, broken after a good file, or too many pixels: refused",
  ignore,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "nc-jpeg-" });
    try {
      await pillowFiles(dir);
      const good = await Deno.readFile(join(dir, "420.jpg"));
      decodeImage(good, "good.jpg");
      assertThrows(
        () => decodeImage(good.subarray(0, good.length / 2), "cut.jpg"),
        DatasetError,
        "cut.jpg",
        "unreadable image",
      );
      assertThrows(
        () => decodeImage(Uint8Array.of(0xff, 0xd8, 0xff, 0xe0, 1), "broken.jpg"),
        DatasetError,
        "broken.jpg",
      );
      // The same complete file with its frame header (SOF0) declaring 60000×60000.
      const huge = good.slice();
      let sof = -1;
      for (let i = 2; i + 9 < huge.length; i++) {
        if (huge[i] === 0xff && (huge[i + 1] === 0xc0 || huge[i + 1] === 0xc2)) {
          sof = i;
          break;
        }
      }
      assert(sof > 0, "the file has a SOF marker");
      new DataView(huge.buffer).setUint16(sof + 5, 60000);
      new DataView(huge.buffer).setUint16(sof + 7, 60000);
      assertThrows(
        () => decodeImage(huge, "huge.jpg"),
        DatasetError,
        "huge.jpg",
        `60000×60000 pixels, over the ${MAX_IMAGE_PIXELS}-pixel limit: refused`,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
