/**
 * ImageNet-sized folders train with bounded memory: one epoch on synthetic ImageNet folders of
 * 500 and 2,000 JPEGs (about 300×270, so every image is resized to 256 and cropped to 224), a
 * tiny ResNet18 (width 2), batch 50, with the clean train/val evaluation at the end. The process's
 * peak resident memory (`peakRssMiB` in epochs.jsonl, getrusage's high-water mark) must not grow
 * with the number of images: holding the 1,500 extra images decoded at 224×224×3 bytes would
 * add 226 MB; the two peaks must differ by less than a third of that.
 */
import { assert } from "./assert.ts";
import { join } from "node:path";
import { writeImagenetFolder } from "./support/imagenet_folder.ts";
import { trainScript } from "./support/train_script.ts";

Deno.test("imagenet: one epoch's peak memory does not grow with the number of images", async () => {
  const root = await Deno.makeTempDir({ prefix: "nc-imagenet-memory-" });
  try {
    const peaks: number[] = [];
    for (const n of [500, 2000]) {
      const dataDir = join(root, `data-${n}`);
      await writeImagenetFolder(dataDir, { train: n, val: 100, classes: 4 });
      const r = await trainScript("standard", [
        "--dataset=imagenet",
        `--data_dir=${dataDir}`,
        "--model=resnet18",
        "--resnet_width=2",
        "--batch_size=50",
        "--epochs=1",
        `--storage=${root}`,
        `--uid=run-${n}`,
        "--backend=wasm",
      ]);
      assert(r.code === 0, r.stderr);
      const lines = (await Deno.readTextFile(join(root, `run-${n}`, "epochs.jsonl"))).trim();
      const epoch = JSON.parse(lines.split("\n").at(-1)!);
      assert(epoch.trainAccuracy !== undefined && epoch.testAccuracy !== undefined, lines);
      assert(typeof epoch.peakRssMiB === "number", "epochs.jsonl records peakRssMiB");
      peaks.push(epoch.peakRssMiB);
    }
    const heldMiB = (1500 * 224 * 224 * 3) / 2 ** 20; // 215 MiB
    console.log(`peak RSS: ${peaks.map((p) => p.toFixed(0)).join(" / ")} MiB at 500 / 2000 images`);
    assert(
      peaks[1] - peaks[0] < heldMiB / 3,
      `peak RSS ${peaks[0].toFixed(0)} MiB at 500 images, ${peaks[1].toFixed(0)} MiB at 2000 ` +
        `(holding the extra images would add ${heldMiB.toFixed(0)} MiB)`,
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
