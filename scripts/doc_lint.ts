/**
 * `deno doc --lint` for the four entry points (a step of `deno task check`), failing on every
 * finding in this repository's own files except the ones TensorFlow.js makes unavoidable.
 *
 * Why a filter: nets/mod.ts re-exports the tfjs namespace `tf`, so the doc linter walks all of
 * tfjs (about 990 findings inside its .d.ts files, which are file: URLs in Deno's npm cache, so
 * the linter's "remote module" exemption does not apply), and our signatures name tfjs types
 * (`tf.Tensor2D`, …), which the linter calls private because it does not follow the namespace
 * re-export. Exporting those types (`export type { Tensor2D } from "npm:@tensorflow/tfjs"`)
 * only moves the findings into tfjs's own tensor.d.ts. Ignored, and only these:
 *
 * 1. findings located outside this repository (third-party declaration files);
 * 2. `private-type-ref` to one of the tfjs types named in TFJS_TYPES;
 * 3. `missing-jsdoc` on the `tf` namespace itself (nets/tf.ts's `import * as tf`): deno_doc takes
 *    a re-exported namespace import's JSDoc from the re-exporting module at the import's byte
 *    offsets, so it cannot be documented reliably.
 *
 * Run: deno run --allow-run --allow-read scripts/doc_lint.ts
 *
 * @module
 */
const ROOTS = ["mod.ts", "nets/mod.ts", "data/mod.ts", "train/mod.ts"];
const TFJS_TYPES = new Set([
  "Tensor",
  "Tensor1D",
  "Tensor2D",
  "Tensor3D",
  "Tensor4D",
  "Scalar",
  "Variable",
  "NamedTensorMap",
]);

const root = Deno.cwd();
const { code: status, stderr, stdout } = await new Deno.Command(Deno.execPath(), {
  args: ["doc", "--lint", ...ROOTS],
  env: { NO_COLOR: "1" },
  stdout: "piped",
  stderr: "piped",
}).output();
const text = new TextDecoder().decode(stderr) + new TextDecoder().decode(stdout);

const kept: string[] = [];
let ignored = 0;
for (const block of text.split(/\n(?=error\[)/)) {
  const head = block.match(/^error\[([a-z-]+)\]: (.*)\n\s*--> (.*?):(\d+):(\d+)/);
  if (!head) continue;
  const [, rule, message, file, line] = head;
  const ours = file.startsWith(root + "/");
  const tfjsRef = rule === "private-type-ref" &&
    TFJS_TYPES.has(message.match(/references private type '([^']+)'/)?.[1] ?? "");
  const tfNamespace = rule === "missing-jsdoc" && file === `${root}/nets/tf.ts` &&
    /import \* as tf from/.test(block);
  if (!ours || tfjsRef || tfNamespace) {
    ignored++;
    continue;
  }
  kept.push(`${rule}: ${message}\n  --> ${file.slice(root.length + 1)}:${line}`);
}
if (status !== 0 && kept.length + ignored === 0) {
  // The linter failed without a finding we can read: report it rather than pass.
  console.error(text);
  console.error("doc lint: deno doc --lint failed and printed no finding");
  Deno.exit(1);
}
for (const k of kept) console.error(k);
console.error(`doc lint: ${kept.length} finding(s) in our files (${ignored} tfjs-caused ignored)`);
if (kept.length > 0) Deno.exit(1);
