/**
 * Runs on ImageNet-layout folders when files are bad (train/trainer.ts, data/imagenet.ts):
 * a file that is no image is refused at load, naming it, before a run directory exists; a JPEG
 * cut short stops the run at its batch, naming it in the error and in log.txt, and a resume
 * after the fix (no checkpoint yet) trains from epoch 1 without duplicating the logged steps;
 * a test image that does not decode stops the run after its epoch's checkpoint is written, so
 * the resume loses no training; config.json records the JPEG decoder, and a resume with another
 * decoder says so.
 */
import { assert, assertEquals } from "./assert.ts";
import { join } from "node:path";
import { turboJpeg } from "../data/turbojpeg.ts";
import { loadDataset } from "../data/load.ts";
import { epochPlan } from "../data/pipeline.ts";
import { writeImagenetFolder } from "./support/imagenet_folder.ts";
import { TRAIN_PERMISSIONS, TRAIN_SCRIPT, trainScript } from "./support/train_script.ts";

const lines = (path: string) =>
  Deno.readTextFileSync(path).trim().split("\n").filter((l) => l).map((l) => JSON.parse(l));
const strip = (rows: Record<string, unknown>[]) => rows.map(({ seconds: _s, ...rest }) => rest);

Deno.test("imagenet runs: bad files are named, at load or mid-run; resumes lose nothing and duplicate nothing", async () => {
  const root = await Deno.makeTempDir({ prefix: "nc-imagenet-run-" });
  try {
    const dataDir = join(root, "data");
    await writeImagenetFolder(dataDir, { train: 40, val: 12, classes: 4 });
    const storage = join(root, "runs");
    const base = [
      "--dataset=imagenet",
      `--data_dir=${dataDir}`,
      "--model=resnet18",
      "--resnet_width=2",
      "--batch_size=8",
      "--backend=wasm",
      `--storage=${storage}`,
    ];
    const clean = await trainScript("standard", [...base, "--epochs=2", "--uid=clean"]);
    assertEquals(clean.code, 0, clean.stderr);
    assertEquals(
      JSON.parse(Deno.readTextFileSync(join(storage, "clean", "config.json"))).jpegDecoder,
      "jpeg-js", // the tests' training runs have no --allow-ffi
    );
    assert(clean.stderr.includes("JPEGs are decoded by jpeg-js"), clean.stderr);

    // A text file named .JPEG: refused at load, nothing written.
    const stray = join(dataDir, "imagenet/train/n00000002/readme.JPEG");
    await Deno.writeTextFile(stray, "not an image");
    const refused = await trainScript("standard", [...base, "--epochs=2", "--uid=stray"]);
    assertEquals(refused.code, 2);
    assert(refused.stderr.includes(`${stray}: not a PNG or JPEG image`), refused.stderr);
    assert(!(await exists(join(storage, "stray"))), "no run directory for a refused start");
    await Deno.remove(stray);

    // A training JPEG cut short: the run stops at its batch, naming it (stderr and log.txt).
    // The victim is in epoch 1's last batch (seed 1's plan), so some steps are logged first.
    const { train } = await loadDataset("imagenet", { dataDir });
    const plan = epochPlan(train, { batchSize: 8, seed: 1, epoch: 0, train: true });
    const victim = train.files![plan.batches.at(-1)![0]];
    const good = await Deno.readFile(victim);
    await Deno.writeFile(victim, good.subarray(0, good.length / 2));
    const cut = await trainScript("standard", [...base, "--epochs=2", "--uid=cut"]);
    assertEquals(cut.code, 2, cut.stderr);
    assert(cut.stderr.includes(`${victim}: unreadable image`), cut.stderr);
    const log = Deno.readTextFileSync(join(storage, "cut", "log.txt"));
    assert(log.includes(`stopped: ${victim}: unreadable image`), log);
    assert(lines(join(storage, "cut", "steps.jsonl")).length > 0, "some steps ran first");
    // Fixed and resumed: no checkpoint yet, so from epoch 1, and the logs are the clean run's.
    await Deno.writeFile(victim, good);
    const resumed = await trainScript("standard", [...base, "--uid=cut", "--resume"]);
    assertEquals(resumed.code, 0, resumed.stderr);
    assertEquals(
      strip(lines(join(storage, "cut", "steps.jsonl"))),
      strip(lines(join(storage, "clean", "steps.jsonl"))),
    );

    // A val image that does not decode: the epoch's checkpoint is written before the
    // evaluation fails; the resume continues from it.
    const val = join(dataDir, "imagenet/val/n00000003/val_7.JPEG");
    const goodVal = await Deno.readFile(val);
    await Deno.writeFile(val, goodVal.subarray(0, 600));
    const evalFail = await trainScript("standard", [
      ...base,
      "--epochs=2",
      "--checkpoint_every=1",
      "--uid=evalfail",
    ]);
    assertEquals(evalFail.code, 2, evalFail.stderr);
    assert(evalFail.stderr.includes(`${val}: unreadable image`), evalFail.stderr);
    const latest = JSON.parse(Deno.readTextFileSync(join(storage, "evalfail", "latest.json")));
    assertEquals(latest.epoch, 1);
    const epochs = lines(join(storage, "evalfail", "epochs.jsonl"));
    assertEquals(epochs.map((e) => [e.epoch, e.testAccuracy]), [[1, undefined]]);
    await Deno.writeFile(val, goodVal);
    // Resumed with libjpeg-turbo where it loads: the change of decoder is noted.
    const withFfi = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        ...TRAIN_PERMISSIONS,
        "--allow-ffi",
        TRAIN_SCRIPT,
        "--task-method=standard",
        ...base,
        "--uid=evalfail",
        "--resume",
      ],
      stderr: "piped",
      stdout: "piped",
    }).output();
    const stderr = new TextDecoder().decode(withFfi.stderr);
    assertEquals(withFfi.code, 0, stderr);
    assert(stderr.includes("resume: continuing after epoch 1"), stderr);
    assertEquals(lines(join(storage, "evalfail", "epochs.jsonl")).map((e) => e.epoch), [1, 2]);
    if (turboJpeg() !== null) {
      assert(stderr.includes("decoded by jpeg-js, now by libjpeg-turbo"), stderr);
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}
