/**
 * EMNIST balanced (data/emnist.ts) and the zip reader (data/zip.ts): the transposed IDX images
 * are read upright (checked on a pattern that tells rows from columns), 47 classes; the balanced
 * files are taken from a `gzip.zip` already in `EMNIST/raw/` when its MD5 is the published one
 * (stored and deflated entries, CRC-checked), and refused otherwise; hostile zips (an escaping
 * name, a duplicate, a bad CRC, truncation) are errors naming the archive and the entry; the
 * transforms (grey → 3 channels, resize 32, normalisation 0.1751 / 0.3332); and training.
 * CRC-32 is checked against the standard check value.
 */
import { assert, assertEquals } from "./assert.ts";
import { join } from "node:path";
import { DatasetError } from "../data/dataset.ts";
import { md5Bytes } from "../data/download.ts";
import { EMNIST_BALANCED_CLASSES } from "../data/emnist.ts";
import { encodeIdxImages, encodeIdxLabels, encodeZip, gzip } from "../data/fixtures.ts";
import { loadDataset } from "../data/load.ts";
import { NORMALISATION, recipeFor } from "../data/transforms.ts";
import { crc32, zipEntries, zipEntryData } from "../data/zip.ts";
import { trainScript } from "./support/train_script.ts";

/** Pixel (row, col) of image k as it should be read (upright). */
const upright = (k: number, row: number, col: number) => (k * 31 + row * 9 + col * 2) & 0xff;

/** n images stored as EMNIST stores them: transposed (column by column). */
function storedImages(n: number): Uint8Array {
  const out = new Uint8Array(n * 28 * 28);
  for (let k = 0; k < n; k++) {
    for (let r = 0; r < 28; r++) {
      for (let c = 0; c < 28; c++) out[k * 784 + c * 28 + r] = upright(k, r, c);
    }
  }
  return out;
}

async function balancedZip(deflate: boolean): Promise<Uint8Array> {
  const files: Record<string, Uint8Array> = {
    "gzip/emnist-balanced-train-images-idx3-ubyte.gz": await gzip(
      encodeIdxImages(storedImages(94), 94, 28, 28),
    ),
    "gzip/emnist-balanced-train-labels-idx1-ubyte.gz": await gzip(
      encodeIdxLabels(Array.from({ length: 94 }, (_, i) => i % 47)),
    ),
    "gzip/emnist-balanced-test-images-idx3-ubyte.gz": await gzip(
      encodeIdxImages(storedImages(47), 47, 28, 28),
    ),
    "gzip/emnist-balanced-test-labels-idx1-ubyte.gz": await gzip(
      encodeIdxLabels(Array.from({ length: 47 }, (_, i) => 46 - i)),
    ),
    "gzip/emnist-digits-test-labels-idx1-ubyte.gz": await gzip(encodeIdxLabels([1, 2])),
  };
  return await encodeZip(files, deflate);
}

Deno.test("zip: CRC-32's check value; entries and data, stored and deflated; hostile archives refused", async () => {
  assertEquals(crc32(new TextEncoder().encode("123456789")), 0xcbf43926);
  for (const deflate of [false, true]) {
    const zip = await encodeZip({
      "a/b.txt": new TextEncoder().encode("hello hello hello"),
      "c.bin": new Uint8Array([0, 1, 2]),
    }, deflate);
    const entries = zipEntries(zip, "t.zip");
    assertEquals(entries.map((e) => [e.name, e.size, e.method]), [
      ["a/b.txt", 17, deflate ? 8 : 0],
      ["c.bin", 3, deflate ? 8 : 0],
    ]);
    assertEquals(
      new TextDecoder().decode(await zipEntryData(zip, entries[0], "t.zip")),
      "hello hello hello",
    );
  }
  const refused = async (bytes: Uint8Array, text: string) => {
    try {
      const entries = zipEntries(bytes, "evil.zip");
      for (const e of entries) await zipEntryData(bytes, e, "evil.zip");
    } catch (e) {
      assert(
        e instanceof DatasetError && e.message.startsWith("evil.zip: ") && e.message.includes(text),
        `${text}: ${e}`,
      );
      return;
    }
    throw new Error(`not refused: ${text}`);
  };
  await refused(
    await encodeZip({ "../../etc/cron.d/x": new Uint8Array(1) }, false),
    'unsafe entry name "../../etc/cron.d/x"',
  );
  await refused(
    await encodeZip({ "/etc/passwd": new Uint8Array(1) }, false),
    'unsafe entry name "/etc/passwd"',
  );
  const one = await encodeZip({ "x.txt": new Uint8Array([7]) }, false);
  const twice = await encodeZip(
    { "x.txt": new Uint8Array([7]), "y.txt": new Uint8Array([8]) },
    false,
  );
  twice.set(new TextEncoder().encode("x"), twice.length - 22 - 46 - 5 + 46); // the 2nd central name
  await refused(twice, 'entry "x.txt" appears twice');
  const bad = one.slice();
  bad[30 + 5] ^= 0xff; // the stored byte
  await refused(bad, 'entry "x.txt" does not match its recorded size and CRC-32');
  await refused(one.subarray(0, one.length - 30), "no end-of-central-directory record");
});

Deno.test("emnist: upright images from a verified gzip.zip, 47 classes, its transforms; a wrong archive refused; trains", async () => {
  const root = await Deno.makeTempDir({ prefix: "nc-emnist-" });
  try {
    assertEquals(EMNIST_BALANCED_CLASSES.length, 47);
    assertEquals(recipeFor("emnist", true), {
      resize: 32,
      shorterSide: null,
      cropSize: null,
      rotation: 0,
      flip: false,
      cropPadding: 0,
      flipFirst: false,
    });
    assertEquals(NORMALISATION.emnist, { mean: [0.1751], std: [0.3332] });
    for (const deflate of [false, true]) {
      const dataDir = join(root, `data-${deflate}`);
      const raw = join(dataDir, "EMNIST", "raw");
      await Deno.mkdir(raw, { recursive: true });
      const zip = await balancedZip(deflate);
      await Deno.writeFile(join(raw, "gzip.zip"), zip);
      const source = {
        mirrors: ["http://127.0.0.1:9/"],
        files: [{ name: "gzip.zip", md5: md5Bytes(zip) }],
      };
      const data = await loadDataset("emnist", { dataDir, sources: { emnist: source } });
      assertEquals([data.train.length, data.test.length, data.train.numClasses], [94, 47, 47]);
      assertEquals(data.train.sampleShape, [28, 28, 1]);
      for (const [k, r, c] of [[0, 0, 1], [0, 1, 0], [93, 27, 3], [50, 12, 20]]) {
        assertEquals(data.train.images![k * 784 + r * 28 + c], upright(k, r, c), `${k},${r},${c}`);
      }
      assertEquals([...data.test.labels.subarray(0, 2)], [46, 45]);
      const kept = [...Deno.readDirSync(raw)].map((e) => e.name).sort();
      assertEquals(kept.length, 5, `the zip and the four balanced files: ${kept}`);
    }
    try {
      await loadDataset("emnist", { dataDir: join(root, "empty"), download: false });
      throw new Error("expected a DatasetError");
    } catch (e) {
      assert(e instanceof DatasetError, String(e));
      for (
        const f of [
          "emnist-balanced-train-images-idx3-ubyte[.gz]",
          "gzip.zip",
          "58c8d27c78d21e728a6bc7b3cc06412e",
        ]
      ) {
        assert(e.message.includes(f), `names ${f}: ${e.message}`);
      }
    }
    // A gzip.zip that is not the published one is refused (the real MD5 here).
    const other = join(root, "other", "EMNIST", "raw");
    await Deno.mkdir(other, { recursive: true });
    await Deno.writeFile(join(other, "gzip.zip"), await balancedZip(true));
    try {
      await loadDataset("emnist", { dataDir: join(root, "other") });
      throw new Error("expected a DatasetError");
    } catch (e) {
      assert(
        e instanceof DatasetError && e.message.includes("is not the published gzip.zip"),
        String(e),
      );
    }
    const out = await trainScript("standard", [ // width 4 gives d = 32 < K = 47 for an ETF
      "--dataset",
      "emnist",
      "--data_dir",
      join(root, "data-true"),
      "--resnet_width",
      "4",
      "--batch_size",
      "47",
      "--epochs",
      "1",
      "--backend",
      "wasm",
      "--storage",
      join(root, "runs"),
      "--uid",
      "emnist",
    ]);
    assertEquals(out.code, 0, out.stderr);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
