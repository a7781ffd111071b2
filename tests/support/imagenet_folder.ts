/**
 * Writes a synthetic ImageNet-layout folder (`<root>/imagenet/train/<wnid>/*.JPEG` and
 * `…/val/…`) with Pillow, for the tests that train on file-backed splits.
 *
 * @module
 */

/**
 * Writes `train` training and `val` validation JPEGs (quality 85), image i in class
 * `i mod classes` (folders `n00000000`, `n00000001`, …), of size
 * (300 + 10·(i mod 7)) × (260 + 12·(i mod 5)) (width × height): smooth ramps plus seeded noise.
 *
 * @example
 * ```ts
 * const root = await Deno.makeTempDir();
 * await writeImagenetFolder(root, { train: 200, val: 50, classes: 4 });
 * ```
 */
export async function writeImagenetFolder(
  root: string,
  counts: { train: number; val: number; classes: number },
): Promise<void> {
  const script = `
import os, sys, numpy as np
from PIL import Image
root, counts, K = sys.argv[1], {"train": int(sys.argv[2]), "val": int(sys.argv[3])}, int(sys.argv[4])
for split, n in counts.items():
    rng = np.random.default_rng(0 if split == "train" else 1)
    for i in range(n):
        d = os.path.join(root, "imagenet", split, "n%08d" % (i % K))
        os.makedirs(d, exist_ok=True)
        w, h = 300 + 10 * (i % 7), 260 + 12 * (i % 5)
        x = np.linspace(0, 255, w)[None, :, None]
        y = np.linspace(0, 255, h)[:, None, None]
        img = np.concatenate([x + 0 * y, y + 0 * x, (x + y) / 2], axis=2) + 40 * (i % K)
        img = (img + rng.normal(0, 12, img.shape)) % 256
        Image.fromarray(img.astype(np.uint8)).save(os.path.join(d, "%s_%d.JPEG" % (split, i)), quality=85)
`;
  const r = await new Deno.Command("/usr/bin/python3", {
    args: ["-c", script, root, `${counts.train}`, `${counts.val}`, `${counts.classes}`],
    stderr: "piped",
  }).output();
  if (!r.success) throw new Error(new TextDecoder().decode(r.stderr));
}
