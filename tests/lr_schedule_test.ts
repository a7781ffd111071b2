/**
 * Learning-rate schedules (`--decay_type step|cosine|onecycle`, nets/optim/schedule.ts): the
 * rates equal PyTorch's StepLR, CosineAnnealingLR and OneCycleLR (computed by python3-torch; the
 * cases are ignored without it); a training run logs, per step, the rate the schedule gives and
 * trains with it (SGD); resuming from the epoch-1 checkpoint reproduces the uninterrupted run's
 * steps bit for bit; and the flags are checked (unknown type, step without --patience, a flag of
 * another schedule, AGD, which has no learning rate). Also `--full_batch_mode` (one step an epoch).
 */
import { assert, assertAtMost, assertEquals } from "./assert.ts";
import { join } from "node:path";
import { learningRate, type LrSchedule } from "../nets/optim/schedule.ts";
import { TINY_RUN } from "./support/tiny_run.ts";
import { resumeCopy, trainScript } from "./support/train_script.ts";

const PYTHON = "/usr/bin/python3";
const hasTorch = await new Deno.Command(PYTHON, { args: ["-c", "import torch"] }).output()
  .then((o) => o.success, () => false);
if (!hasTorch) console.warn("lr_schedule_test: no torch; the PyTorch comparison is ignored");

const TORCH_RATES = `
import json, torch
p = [torch.nn.Parameter(torch.zeros(1))]
def run(make, n):
    opt = torch.optim.SGD(p, lr=0.1)
    sched = make(opt)
    out = []
    for _ in range(n):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out
print(json.dumps({
  "step": run(lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5), 10),
  "cosine": run(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=7), 7),
  "onecycle": run(lambda o: torch.optim.lr_scheduler.OneCycleLR(o, max_lr=0.2, total_steps=23,
      div_factor=25.0, final_div_factor=1e4, cycle_momentum=False), 23),
}))
`;

Deno.test({
  name: "lr schedules: StepLR, CosineAnnealingLR and OneCycleLR's rates, as PyTorch computes them",
  ignore: !hasTorch,
  fn: async () => {
    const out = await new Deno.Command(PYTHON, {
      args: ["-c", TORCH_RATES],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert(out.success, new TextDecoder().decode(out.stderr));
    const torch = JSON.parse(new TextDecoder().decode(out.stdout)) as Record<string, number[]>;
    const ours: Record<string, (i: number) => number> = {
      step: (e) => learningRate({ type: "step", lr: 0.1, patience: 3, gamma: 0.5 }, e, 0),
      cosine: (e) => learningRate({ type: "cosine", lr: 0.1, epochs: 7 }, e, 0),
      onecycle: (s) =>
        learningRate(
          { type: "onecycle", maxLr: 0.2, divFactor: 25, finalDivFactor: 1e4, totalSteps: 23 },
          0,
          s,
        ),
    };
    for (const [name, rates] of Object.entries(torch)) {
      rates.forEach((r, i) => {
        assertAtMost(Math.abs(ours[name](i) - r), 1e-15 + 1e-12 * r, `${name} at ${i}`);
      });
    }
    assertAtMost(Math.abs(torch.onecycle[0] - 0.2 / 25), 1e-15, "one-cycle starts at max_lr / 25");
  },
});

function train(args: string[]) {
  return trainScript("standard", args);
}

function lines(path: string): Record<string, number>[] {
  return Deno.readTextFileSync(path).split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
}

Deno.test("lr schedules: a run logs and uses the scheduled rate per step; a resume reproduces it bit for bit", async () => {
  const storage = await Deno.makeTempDir({ prefix: "nc-lr-" });
  const base = [
    ...TINY_RUN,
    "--optimiser",
    "SGD",
    "--lr",
    "0.05",
    "--epochs",
    "2",
    "--checkpoint_every",
    "1",
    "--storage",
    storage,
  ];
  try {
    const cases: [string[], (steps: number) => LrSchedule][] = [
      [
        ["--decay_type", "step", "--patience", "1", "--gamma", "0.5"],
        () => ({ type: "step", lr: 0.05, patience: 1, gamma: 0.5 }),
      ],
      [["--decay_type", "cosine"], () => ({ type: "cosine", lr: 0.05, epochs: 2 })],
      [
        ["--decay_type", "onecycle", "--max_lr", "0.2"],
        (total) => ({
          type: "onecycle",
          maxLr: 0.2,
          divFactor: 25,
          finalDivFactor: 1e4,
          totalSteps: total,
        }),
      ],
    ];
    for (const [flags, schedule] of cases) {
      const uid = flags[1];
      const r = await train([...base, ...flags, "--uid", uid]);
      assertEquals(r.code, 0, r.stderr);
      const steps = lines(join(storage, uid, "steps.jsonl"));
      const perEpoch = steps.filter((s) => s.epoch === 1).length;
      const s = schedule(steps.length);
      steps.forEach((row, i) => {
        assertEquals(row.lr, learningRate(s, row.epoch - 1, i), `${uid}: step ${i + 1}`);
      });
      assert(new Set(steps.map((row) => row.lr)).size > 1, `${uid}: the rate changes`);
      assertEquals(steps.length, 2 * perEpoch);
    }
    // Resume the one-cycle run (per-step rates) from its epoch-1 checkpoint in a copy.
    const { result: resumed, dir: copy } = await resumeCopy(
      "standard",
      storage,
      "onecycle",
      1,
      "onecycle-copy",
    );
    assertEquals(resumed.code, 0, resumed.stderr);
    const strip = (rows: Record<string, number>[]) => rows.map(({ seconds: _s, ...rest }) => rest);
    assertEquals(
      strip(lines(join(copy, "steps.jsonl"))),
      strip(lines(join(storage, "onecycle", "steps.jsonl"))),
    );
    // --full_batch_mode: one step an epoch over the whole (sub)set; with --batch_size, refused.
    const noBatch = TINY_RUN.filter((a, i, all) =>
      a !== "--batch_size" && all[i - 1] !== "--batch_size"
    );
    const full = await train([
      ...noBatch,
      "--full_batch_mode",
      "--epochs",
      "2",
      "--storage",
      storage,
      "--uid",
      "full",
    ]);
    assertEquals(full.code, 0, full.stderr);
    const fullSteps = lines(join(storage, "full", "steps.jsonl"));
    assertEquals(fullSteps.map((r) => [r.epoch, r.batch]), [[1, 1], [2, 1]]);
    const both = await train([
      ...TINY_RUN,
      "--full_batch_mode",
      "--storage",
      storage,
      "--uid",
      "both",
    ]);
    assertEquals(both.code, 2, both.stderr);
    assert(
      both.stderr.includes("--full_batch_mode: takes the whole training set as the batch"),
      both.stderr,
    );
    for (
      const [flags, expected] of [
        [
          ["--decay_type", "linear", "--optimiser", "SGD"],
          '--decay_type: got "linear", allowed: none, step, cosine, onecycle',
        ],
        [["--decay_type", "step", "--optimiser", "SGD"], "step needs --patience N"],
        [
          ["--decay_type", "cosine", "--gamma", "0.5", "--optimiser", "SGD"],
          "--gamma: applies to --decay_type step only",
        ],
        [["--decay_type", "cosine"], "AGD has no learning rate to schedule"],
      ] as const
    ) {
      const bad = await train([...TINY_RUN, "--storage", storage, "--uid", "bad", ...flags]);
      assertEquals(bad.code, 2, bad.stderr);
      assert(bad.stderr.includes(expected), `${expected}: ${bad.stderr}`);
    }
  } finally {
    await Deno.remove(storage, { recursive: true });
  }
});
