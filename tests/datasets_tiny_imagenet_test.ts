/**
 * Tiny-ImageNet (`--dataset tiny-imagenet`, data/load.ts over the folder loader):
 * `TinyImageNet/train/<class>/…` (nested `images/` folders as the download has them) and
 * `TinyImageNet/val/<class>/…` at 64×64, pixels kept as stored; the paper's transforms (flip,
 * then crop 64 with padding 8; normalisation (0.4802, 0.4481, 0.3975) / (0.2770, 0.2691,
 * 0.2821), not the folder's own statistics); a missing layout says what is expected; trains.
 */
import { assert, assertEquals } from "./assert.ts";
import { join } from "node:path";
import pngjs from "npm:pngjs@7.0.0";
import { DatasetError } from "../data/dataset.ts";
import { loadDataset } from "../data/load.ts";
import { BatchTransform, NORMALISATION, recipeFor } from "../data/transforms.ts";
import { trainScript } from "./support/train_script.ts";

function png(seed: number): Uint8Array {
  const data = new Uint8Array(64 * 64 * 4).map((_, i) => (i % 4 === 3 ? 255 : (i * seed) & 0xff));
  return new Uint8Array(
    pngjs.PNG.sync.write(
      { width: 64, height: 64, data } as unknown as Parameters<typeof pngjs.PNG.sync.write>[0],
      { colorType: 2 },
    ),
  );
}

Deno.test("tiny-imagenet: train/ and val/ class folders at 64×64; its transforms; trains", async () => {
  const root = await Deno.makeTempDir({ prefix: "nc-tiny-" });
  try {
    const dataDir = join(root, "data");
    try {
      await loadDataset("tiny-imagenet", { dataDir });
      throw new Error("expected a DatasetError");
    } catch (e) {
      assert(
        e instanceof DatasetError && e.message.includes("TinyImageNet/train/<class>"),
        String(e),
      );
    }
    for (const [c, wnid] of ["n01443537", "n01629819"].entries()) {
      const train = join(dataDir, "TinyImageNet", "train", wnid, "images");
      const val = join(dataDir, "TinyImageNet", "val", wnid);
      await Deno.mkdir(train, { recursive: true });
      await Deno.mkdir(val, { recursive: true });
      for (let i = 0; i < 5; i++) {
        await Deno.writeFile(join(train, `${wnid}_${i}.png`), png(3 + c * 5 + i));
      }
      for (let i = 0; i < 2; i++) {
        await Deno.writeFile(join(val, `val_${c}${i}.png`), png(40 + c * 2 + i));
      }
    }
    const data = await loadDataset("tiny-imagenet", { dataDir });
    assertEquals([data.train.length, data.test.length, data.train.numClasses], [10, 4, 2]);
    assertEquals([data.train.name, data.train.sampleShape], ["tiny-imagenet", [64, 64, 3]]);
    assertEquals(data.train.classNames, ["n01443537", "n01629819"]);
    // Stored pixels unchanged (64×64 needs no resize): image 0's pixel (0, 1) channel 2.
    assertEquals(data.train.images![(0 * 64 + 1) * 3 + 2], ((4 + 2) * 3) & 0xff);
    assertEquals(recipeFor("tiny-imagenet", true), {
      resize: null,
      shorterSide: null,
      cropSize: null,
      rotation: 0,
      flip: true,
      cropPadding: 8,
      flipFirst: true,
    });
    assertEquals(recipeFor("tiny-imagenet", false).cropPadding, 0);
    assertEquals(
      new BatchTransform(data.train, { train: true }).normalisation,
      NORMALISATION["tiny-imagenet"],
    );
    // val/ not sorted into class folders (as downloaded): the error says how to sort it.
    const unsorted = join(root, "unsorted");
    await Deno.mkdir(join(unsorted, "TinyImageNet", "train", "n01443537"), { recursive: true });
    await Deno.mkdir(join(unsorted, "TinyImageNet", "val", "images"), { recursive: true });
    await Deno.writeFile(join(unsorted, "TinyImageNet", "train", "n01443537", "a.png"), png(1));
    await Deno.writeFile(join(unsorted, "TinyImageNet", "val", "images", "val_0.png"), png(2));
    try {
      await loadDataset("tiny-imagenet", { dataDir: unsorted });
      throw new Error("expected a DatasetError");
    } catch (e) {
      assert(e instanceof DatasetError && e.message.includes("val_annotations.txt"), String(e));
    }
    const out = await trainScript("standard", [
      "--dataset",
      "tiny-imagenet",
      "--data_dir",
      dataDir,
      "--resnet_width",
      "4",
      "--batch_size",
      "5",
      "--epochs",
      "1",
      "--backend",
      "wasm",
      "--storage",
      join(root, "runs"),
      "--uid",
      "tiny",
    ]);
    assertEquals(out.code, 0, out.stderr);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
