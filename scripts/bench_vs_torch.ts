/**
 * The native backend's training step against PyTorch's on the CPU, side by side: `--rounds`
 * rounds, each running PyTorch's step (`scripts/bench_step_torch.py`, Debian's python3-torch),
 * then ours (`scripts/bench_step.ts`) for each `--methods` method on each `--backends` backend,
 * one process each, the same model, batch and threads. Each process reports its median step over
 * `--steps` (after a warm-up step); a ratio is taken within its round (the machine's speed drifts
 * between rounds), and the table gives the median over rounds of each median and each ratio.
 *
 *   deno task bench:vs-torch --rounds 3 --steps 5 --threads 2
 *
 * Prints the table on stdout, then one JSON line with every round's numbers.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";

const HELP = `deno task bench:vs-torch [flags]
  --model NAME         resnet18 | resnet34 | resnet50 | vgg13 (default resnet18)
  --batch_size N       default 256
  --threads N          every library's threads, PyTorch's too (default 2)
  --steps N            timed steps per process, after one warm-up (default 5)
  --rounds N           rounds of all processes (default 3)
  --methods LIST       ours, comma-separated (default standard,implicit)
  --backends LIST      ours, comma-separated (default native)
  --python PATH        the Python with torch (default /usr/bin/python3)`;

function fail(message: string): never {
  console.error(`bench:vs-torch: ${message}`);
  Deno.exit(2);
}

function positive(name: string, value: string, fallback: number): number {
  if (value === "") return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) fail(`--${name}: got "${value}", allowed: an integer ≥ 1`);
  return n;
}

/** Backend lines already shown (each once). */
const shown = new Set<string>();

/**
 * Runs a command that prints a JSON line last; its `medianStepSeconds`. Its backend line (what
 * ran: e.g. which convolutions) is passed on to stderr the first time it is seen.
 */
async function median(command: string, args: string[]): Promise<number> {
  const out = await new Deno.Command(command, { args, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder().decode(out.stdout).trim();
  const errors = new TextDecoder().decode(out.stderr);
  if (out.code !== 0) fail(`${command} ${args.join(" ")} failed: ${errors.trim()}`);
  const backend = errors.split("\n").find((l) => l.startsWith("backend:"));
  if (backend !== undefined && !shown.has(backend)) {
    shown.add(backend);
    console.error(backend);
  }
  return JSON.parse(text.split("\n").at(-1)!).medianStepSeconds;
}

function middle(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function main(): Promise<void> {
  const names = [
    "model",
    "batch_size",
    "threads",
    "steps",
    "rounds",
    "methods",
    "backends",
    "python",
  ];
  const parsed = parseArgs({
    args: Deno.args,
    options: {
      ...Object.fromEntries(names.map((k) => [k, { type: "string" as const, default: "" }])),
      help: { type: "boolean" as const, default: false },
    },
  }).values as Record<string, string | boolean>;
  const values = Object.fromEntries(names.map((k) => [k, String(parsed[k])]));
  if (parsed.help === true) {
    console.log(HELP);
    return;
  }
  const model = values.model || "resnet18";
  const batch = positive("batch_size", values.batch_size, 256);
  const threads = positive("threads", values.threads, 2);
  const steps = positive("steps", values.steps, 5);
  const rounds = positive("rounds", values.rounds, 3);
  const methods = (values.methods || "standard,implicit").split(",");
  const backends = (values.backends || "native").split(",");
  const python = values.python || "/usr/bin/python3";
  const script = (name: string) => fileURLToPath(new URL(`./${name}`, import.meta.url));
  const common = ["--model", model, "--batch_size", String(batch), "--steps", String(steps)];
  const ours = backends.flatMap((b) => methods.map((m) => `${b} ${m}`));
  const seconds: Record<string, number[]> = { "PyTorch standard": [] };
  const ratios: Record<string, number[]> = {};
  for (const name of ours) [seconds[name], ratios[name]] = [[], []];
  for (let round = 1; round <= rounds; round++) {
    const torch = await median(python, [
      script("bench_step_torch.py"),
      ...common,
      "--threads",
      String(threads),
    ]);
    seconds["PyTorch standard"].push(torch);
    for (const name of ours) {
      const [backend, method] = name.split(" ");
      const s = await median(Deno.execPath(), [
        "run",
        "--allow-ffi",
        "--allow-read",
        "--allow-env",
        "--allow-net=127.0.0.1",
        "--allow-sys",
        script("bench_step.ts"),
        ...common,
        "--method",
        method,
        "--backend",
        backend,
        "--threads",
        String(threads),
      ]);
      seconds[name].push(s);
      ratios[name].push(s / torch);
    }
    console.error(
      `round ${round}/${rounds}: ` +
        Object.entries(seconds).map(([k, v]) => `${k} ${v.at(-1)!.toFixed(3)} s`).join(", "),
    );
  }
  const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? "" : "s"}`;
  console.log(
    `${model}, batch ${batch}, ${plural(threads, "thread")}, ${plural(rounds, "round")} of ` +
      plural(steps, "step"),
  );
  console.log("| step | median s | ÷ PyTorch (median of rounds) |");
  console.log("|---|---:|---:|");
  for (const [name, v] of Object.entries(seconds)) {
    const r = ratios[name];
    console.log(`| ${name} | ${middle(v).toFixed(3)} | ${r ? middle(r).toFixed(2) + "×" : "1"} |`);
  }
  console.log(JSON.stringify({ model, batchSize: batch, threads, steps, rounds, seconds, ratios }));
}

if (import.meta.main) await main();
