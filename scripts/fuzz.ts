/**
 * `deno task fuzz`: the seeded mutation fuzzer over every parser (fuzz/run.ts; `--help` lists the
 * flags). Prints one line per format (cases, accepted, refused with the project's error, failures,
 * seconds) and each failure; failing cases are saved under `--save` for the test suite to replay.
 * Exit code 1 when any case fails, 2 for bad flags.
 *
 * @module
 */
import { type Flag, flagHelp, parseFlags, runParsedTask } from "../core/cli.ts";
import { InvalidArgumentError } from "../core/errors.ts";
import { fuzzFormat } from "../fuzz/run.ts";
import { TARGETS } from "../fuzz/targets.ts";

const SPEC = {
  cases: { kind: "int", default: 10000, min: 1, help: "cases per format" },
  format: {
    kind: "list",
    default: [],
    help: `formats (repeatable or comma-separated; default all): ${
      TARGETS.map((t) => t.name).join(", ")
    }`,
  },
  seed: { kind: "int", default: 1, min: 0, help: "seed of the mutations" },
  timeout_ms: { kind: "int", default: 5000, min: 1, help: "a case running longer is a hang" },
  memory_mib: {
    kind: "int",
    default: 512,
    min: 1,
    help: "a case raising the peak RSS by more is an allocation beyond the bound",
  },
  save: {
    kind: "string",
    default: "tests/fixtures/fuzz",
    help: "where failing cases are saved (<save>/<format>/<hash>.bin)",
  },
} as const satisfies Record<string, Flag>;

const HELP = flagHelp("deno task fuzz [flags]", SPEC);

if (import.meta.main) {
  await runParsedTask("fuzz", HELP, (args) => parseFlags(args, SPEC), async ({ values, given }) => {
    if (given.has("format") && values.format.length === 0) {
      throw new InvalidArgumentError("--format", "got no format name");
    }
    const names = values.format.length > 0 ? values.format : TARGETS.map((t) => t.name);
    const twice = names.find((n, i) => names.indexOf(n) !== i);
    if (twice !== undefined) {
      throw new InvalidArgumentError("--format", `${JSON.stringify(twice)} is given twice`);
    }
    for (const n of names) {
      if (!TARGETS.some((t) => t.name === n)) {
        throw new InvalidArgumentError(
          "--format",
          `got ${JSON.stringify(n)}, allowed: ${TARGETS.map((t) => t.name).join(", ")}`,
        );
      }
    }
    let failed = 0;
    console.log("format         cases  accepted   refused  failures  seconds");
    for (const name of names) {
      const target = TARGETS.find((t) => t.name === name)!;
      const r = await fuzzFormat(target, {
        cases: values.cases!,
        seed: values.seed!,
        timeoutMs: values.timeout_ms!,
        memoryMiB: values.memory_mib!,
        saveDir: values.save,
        onProgress: (done) => console.error(`${name}: ${done}/${values.cases} cases`),
      });
      console.log(
        `${name.padEnd(12)} ${String(r.cases).padStart(7)} ${String(r.results).padStart(9)} ` +
          `${String(r.inputErrors).padStart(9)} ${String(r.failures.length).padStart(9)} ` +
          `${r.seconds.toFixed(1).padStart(8)}`,
      );
      for (const f of r.failures) {
        console.log(
          `  case ${f.index} (${f.mutations.join(", ")}): ${f.kind}: ${f.message}` +
            (f.file ? ` → ${f.file}` : ""),
        );
      }
      failed += r.failures.length;
    }
    return failed > 0 ? 1 : 0;
  });
}
