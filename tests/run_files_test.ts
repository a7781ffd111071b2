/**
 * Damaged run files, as after a crash or a full disk (issue "hostile files", point 4), through
 * the training task as a subprocess on a tiny run: a corrupt `latest.json` or a truncated newest
 * checkpoint makes `--resume` fall back to the newest checkpoint that verifies, saying so; a
 * `steps.jsonl` whose last line was cut short is repaired and the repair reported; a corrupt
 * `config.json` is one error line naming the file and what to do (exit 2), and nothing changes.
 */
import { assert, assertEquals } from "./assert.ts";
import { join } from "node:path";
import { TINY_RUN } from "./support/tiny_run.ts";
import { trainScript } from "./support/train_script.ts";

function train(args: string[]) {
  return trainScript("fixed", args);
}

function epochsLogged(run: string): number[] {
  return Deno.readTextFileSync(join(run, "epochs.jsonl")).split("\n").filter((l) => l.trim())
    .map((l) => JSON.parse(l).epoch);
}

Deno.test("run files: --resume survives a corrupt latest.json, a truncated checkpoint and a torn log line; a corrupt config.json is a clear error", async () => {
  const storage = await Deno.makeTempDir({ prefix: "nc-run-files-" });
  const uid = "damaged";
  const run = join(storage, uid);
  const base = ["--storage", storage, "--uid", uid];
  try {
    const first = await train([...TINY_RUN, ...base, "--epochs", "2", "--checkpoint_every", "1"]);
    assertEquals(first.code, 0, first.stderr);

    // 1. latest.json cut short: the newest checkpoint on disk (epoch 2) is used, and said so.
    Deno.writeTextFileSync(join(run, "latest.json"), '{"epoch": 2, "model": "checkp');
    const a = await train([...base, "--resume", "--epochs", "3"]);
    assertEquals(a.code, 0, a.stderr);
    assert(a.stderr.includes("latest.json: not valid JSON"), a.stderr);
    assert(
      a.stderr.includes("falling back to checkpoints/model-epoch-0002.safetensors"),
      a.stderr,
    );
    assertEquals(epochsLogged(run), [1, 2, 3]);

    // 2. The newest checkpoint truncated (and latest.json pointing at it): epoch 2 instead.
    const newest = join(run, "checkpoints", "model-epoch-0003.safetensors");
    const bytes = Deno.readFileSync(newest);
    Deno.writeFileSync(newest, bytes.subarray(0, Math.floor(bytes.length / 2)));
    // 3. A step line cut short at the end of steps.jsonl, as by a crash while appending.
    const steps = join(run, "steps.jsonl");
    Deno.writeTextFileSync(steps, Deno.readTextFileSync(steps) + '{"epoch": 4, "st');
    const b = await train([...base, "--resume", "--epochs", "4"]);
    assertEquals(b.code, 0, b.stderr);
    assert(b.stderr.includes("model-epoch-0003.safetensors does not verify"), b.stderr);
    assert(
      b.stderr.includes("falling back to checkpoints/model-epoch-0002.safetensors"),
      b.stderr,
    );
    assert(b.stderr.includes("steps.jsonl: dropped its last line, cut short"), b.stderr);
    assertEquals(epochsLogged(run), [1, 2, 3, 4]);
    for (const line of Deno.readTextFileSync(steps).split("\n").filter((l) => l.trim())) {
      JSON.parse(line); // every line whole again
    }

    // 4. config.json damaged: one line naming it and what to do; exit 2; nothing touched.
    Deno.writeTextFileSync(join(run, "config.json"), '{"config": {"epo');
    const before = Deno.readTextFileSync(join(run, "epochs.jsonl"));
    const c = await train([...base, "--resume", "--epochs", "5"]);
    assertEquals(c.code, 2, c.stderr);
    assert(/config\.json: not valid JSON .*start a new run/.test(c.stderr), c.stderr);
    assert(!c.stderr.includes("    at "), `no stack trace: ${c.stderr}`);
    assertEquals(Deno.readTextFileSync(join(run, "epochs.jsonl")), before);
    // Still JSON but the wrong shape: the field is named, not "method undefined" or a crash.
    for (
      const [text, expected] of [
        ["{}", 'has no "config" object'],
        ['{"config": 5}', 'has no "config" object'],
        [
          '{"config": {"method": "fixed", "dataset": "mnist", "model": "resnet18", "epochs": "x", "seed": 1}}',
          'config.epochs is "x", expected an integer',
        ],
        ['{"config": {"dataset": "mnist"}}', "config.method is undefined, expected standard"],
      ]
    ) {
      Deno.writeTextFileSync(join(run, "config.json"), text);
      const d = await train([...base, "--resume", "--epochs", "5"]);
      assertEquals(d.code, 2, d.stderr);
      assert(d.stderr.includes(expected) && d.stderr.includes("config.json"), d.stderr);
      assert(!d.stderr.includes("    at "), `no stack trace: ${d.stderr}`);
    }
  } finally {
    await Deno.remove(storage, { recursive: true });
  }
});
