/**
 * The mutation fuzzer in the regular suite: a few hundred cases per format (`deno task fuzz` runs
 * 10,000), each of which must end in a result or the project's `InputError` within 5 s and
 * without raising the peak RSS by more than 512 MiB; then every saved regression file under
 * tests/fixtures/fuzz/<format>/ (cases the fuzzer once found failing: a TypeError out of the
 * unpickler or the gzip stream, PNGs that allocated gigabytes or hung) under the same bounds. And
 * the fuzzer itself: the same seed gives the same cases, the corpus files parse, and a parser
 * that throws a TypeError, hangs or allocates is reported as failing.
 */
import { assert, assertEquals } from "./assert.ts";
import { join } from "node:path";
import { fuzzCase } from "../fuzz/mutate.ts";
import { fuzzFormat, replayFiles } from "../fuzz/run.ts";
import { TARGETS } from "../fuzz/targets.ts";

const BOUNDS = { timeoutMs: 5000, memoryMiB: 512 };
const REGRESSIONS = new URL("./fixtures/fuzz/", import.meta.url).pathname;

for (const target of TARGETS) {
  Deno.test(`fuzz: ${target.name}, 300 mutated cases end in a result or an InputError`, async () => {
    const report = await fuzzFormat(target, { cases: 300, seed: 20261201, ...BOUNDS });
    assertEquals(report.failures, [], `${target.name}: ${JSON.stringify(report.failures)}`);
    assertEquals(report.results + report.inputErrors, 300);
    assert(report.inputErrors > 0, "the mutations break files");
  });
}

Deno.test("fuzz: every saved regression file ends in a result or an InputError", async () => {
  let replayed = 0;
  for await (const dir of Deno.readDir(REGRESSIONS)) {
    const target = TARGETS.find((t) => t.name === dir.name);
    assert(target !== undefined, `tests/fixtures/fuzz/${dir.name}: no such format`);
    const files: string[] = [];
    for await (const f of Deno.readDir(join(REGRESSIONS, dir.name))) {
      files.push(join(REGRESSIONS, dir.name, f.name));
    }
    assertEquals(await replayFiles(target, files.sort(), BOUNDS), [], dir.name);
    replayed += files.length;
  }
  assert(replayed >= 10, `${replayed} regression files`);
});

Deno.test("fuzz: the same seed gives the same cases; the corpus parses", async () => {
  for (const target of TARGETS) {
    const corpus = await target.corpus();
    for (const file of corpus) await target.run(file); // valid files are accepted
    const a = fuzzCase(corpus, target.fields, 5, 17), b = fuzzCase(corpus, target.fields, 5, 17);
    assertEquals([...a.bytes], [...b.bytes], target.name);
    assertEquals(a.mutations, b.mutations);
    const c = fuzzCase(corpus, target.fields, 6, 17);
    assert(
      a.mutations.join() !== c.mutations.join() || [...a.bytes].join() !== [...c.bytes].join(),
    );
  }
});

Deno.test("fuzz: a TypeError, a hang and a runaway allocation are reported as failures", async () => {
  // fuzz/child.ts's self-test parsers: one throws a TypeError, one never returns, one fills
  // 600 MiB; each is a failure of its kind, and the sandbox goes on after a hang.
  const base = TARGETS.find((t) => t.name === "idx")!;
  const opts = { cases: 2, seed: 1, timeoutMs: 1000, memoryMiB: 256 };
  const kinds = async (name: string, timeoutMs = opts.timeoutMs) =>
    (await fuzzFormat({ ...base, name }, { ...opts, timeoutMs })).failures.map((f) => [
      f.kind,
      f.message,
    ]);
  const thrown = await kinds("selftest-throw");
  assertEquals(thrown.map(([k]) => k), ["exception", "exception"]);
  assert(thrown[0][1].includes("TypeError: boom"), thrown[0][1]);
  assertEquals((await kinds("selftest-hang")).map(([k]) => k), ["hang", "hang"]);
  // Filling 600 MiB can take over a second on a loaded machine: not a hang, so a longer timeout.
  const memory = await kinds("selftest-allocate", 20_000);
  assertEquals(memory[0][0], "memory", JSON.stringify(memory));
});
