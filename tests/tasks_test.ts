/**
 * Every `deno task` of deno.json, run as a user runs it (`deno task NAME …`, so with the
 * task's own permissions), and every documented training flag at least once: a task that lacks
 * a permission a flag needs (as `--threads` once lacked `--allow-sys`) fails here.
 *
 * The training runs are tiny (4–10 samples per class, width-4 ResNets, one or two epochs).
 */
import pngjs from "npm:pngjs@7.0.0";
import { join } from "node:path";
import { assert, assertEquals } from "./assert.ts";
import { denoTask } from "./support/deno_task.ts";
import { FLAGS } from "../train/config.ts";
import { nativeSgemm } from "../nets/backend/native_kernels.ts";
import { loadDnnl } from "../nets/backend/onednn.ts";
import { encodeCifarMeta, encodeCifarPickle } from "../data/fixtures.ts";

const storage = await Deno.makeTempDir({ prefix: "nc-tasks-test-" });

const task = denoTask;

/** A class-per-folder dataset of 8×8 PNGs: 2 classes × 6 images. */
/** A CIFAR-10 python layout: five batches of 20 images (2 per class each), a test batch. */
function writeCifarDataset(root: string): void {
  const py = join(root, "cifar-10-batches-py");
  Deno.mkdirSync(py, { recursive: true });
  for (let b = 1; b <= 5; b++) {
    const labels = Array.from({ length: 20 }, (_, i) => i % 10);
    Deno.writeFileSync(
      join(py, `data_batch_${b}`),
      encodeCifarPickle(new Uint8Array(20 * 3072).map((_, i) => (i * b) & 255), labels),
    );
  }
  Deno.writeFileSync(
    join(py, "test_batch"),
    encodeCifarPickle(new Uint8Array(10 * 3072), [...Array(10).keys()]),
  );
  Deno.writeFileSync(join(py, "batches.meta"), encodeCifarMeta("abcdefghij".split("")));
}

function writeFolderDataset(root: string): void {
  for (const [c, name] of ["cat", "dog"].entries()) {
    Deno.mkdirSync(join(root, name), { recursive: true });
    for (let i = 0; i < 6; i++) {
      const data = new Uint8Array(8 * 8 * 4).map((
        _,
        j,
      ) => (j % 4 === 3 ? 255 : (c * 97 + i * 13 + j) % 256));
      const png = pngjs.PNG.sync.write(
        Object.assign(new pngjs.PNG({ width: 8, height: 8 }), { data }) as unknown as Parameters<
          typeof pngjs.PNG.sync.write
        >[0],
      );
      Deno.writeFileSync(join(root, name, `${i}.png`), new Uint8Array(png));
    }
  }
}

const MNIST = ["--data_dir", "/nonexistent-data-dir", "--sample_size", "4"];

/** Training invocations that together give every documented flag at least once. */
const RUNS: { task: string; args: string[]; uid: string }[] = [
  {
    task: "train:implicit",
    uid: "implicit-all",
    args: [
      ...MNIST,
      "--dataset",
      "mnist",
      "--model",
      "resnet18",
      "--resnet_width",
      "4",
      "--fixdim",
      "--optimiser",
      "AGD",
      "--gain",
      "10",
      "--batch_size",
      "20",
      "--epochs",
      "1",
      "--temperature",
      "5",
      "--no-bias",
      "--loss",
      "CrossEntropyLoss",
      "--seed",
      "1",
      "--log_interval",
      "1",
      "--stratified_batch",
      "--num_classes",
      "10",
      "--etf_solver",
      "closed-form",
      "--etf_backward",
      "closed-form",
      "--feature_average",
      "cma",
      "--implicit_forward_bs",
      "20",
      "--checkpoint_every",
      "1",
      "--backend",
      "wasm",
      "--threads",
      "2",
    ],
  },
  {
    task: "train:standard",
    uid: "mlp",
    args: [
      "--dataset",
      "synthetic",
      "--dataset_size",
      "40",
      "--feature_dim",
      "8",
      "--num_classes",
      "4",
      "--model",
      "mlp",
      "--width",
      "8",
      "--depth",
      "1",
      "--optimiser",
      "SGD",
      "--lr",
      "0.01",
      "--bias",
      "--loss",
      "MSELoss",
      "--no-stratified_batch",
      "--batch_size",
      "10",
      "--epochs",
      "1",
      "--backend",
      "cpu",
    ],
  },
  {
    task: "train:fixed",
    uid: "ufm",
    args: [
      "--dataset",
      "synthetic",
      "--dataset_size",
      "40",
      "--feature_dim",
      "16",
      "--num_classes",
      "4",
      "--model",
      "ufm",
      "--optimiser",
      "Adam",
      "--loss",
      "DotRegressionLoss",
      "--epochs",
      "2",
      "--warmup_epochs",
      "1",
      "--backend",
      "cpu",
    ],
  },
  {
    task: "train",
    uid: "folder",
    args: [
      "--method",
      "fixed",
      "--dataset",
      "folder",
      "--image_size",
      "8",
      "--resnet_width",
      "4",
      "--batch_size",
      "6",
      "--epochs",
      "1",
      "--backend",
      "cpu",
    ],
  },
  // Learning-rate schedules (SGD) and label noise; the long-tailed CIFAR-10 below.
  {
    task: "train:standard",
    uid: "step-decay",
    args: [
      ...MNIST,
      "--resnet_width",
      "4",
      "--batch_size",
      "20",
      "--epochs",
      "2",
      "--backend",
      "wasm",
      "--optimiser",
      "SGD",
      "--decay_type",
      "step",
      "--patience",
      "1",
      "--gamma",
      "0.5",
      "--label_noise",
      "0.1",
    ],
  },
  {
    task: "train:fixed",
    uid: "onecycle",
    args: [
      ...MNIST,
      "--resnet_width",
      "4",
      "--epochs",
      "1",
      "--backend",
      "wasm",
      "--full_batch_mode",
      "--optimiser",
      "SGD",
      "--decay_type",
      "onecycle",
      "--max_lr",
      "0.1",
      "--div_factor",
      "10",
      "--final_div_factor",
      "100",
    ],
  },
  {
    task: "train",
    uid: "cifar-lt",
    args: [
      "--method",
      "standard",
      "--dataset",
      "cifar10",
      "--imb_factor",
      "0.5",
      "--resnet_width",
      "4",
      "--batch_size",
      "10",
      "--epochs",
      "1",
      "--backend",
      "wasm",
    ],
  },
  // The quick preset with flags on top (they override it), then resuming.
  {
    task: "train:implicit",
    uid: "quick",
    args: [
      "--preset",
      "quick",
      ...MNIST,
      "--resnet_width",
      "4",
      "--batch_size",
      "20",
      "--epochs",
      "1",
      "--backend",
      "wasm",
    ],
  },
  {
    task: "train:implicit",
    uid: "quick",
    args: [
      "--resume",
      "--epochs",
      "2",
      "--backend",
      "wasm",
      "--threads",
      "1",
      "--log_interval",
      "5",
    ],
  },
  {
    task: "train:implicit",
    uid: "quick",
    args: [
      "--resume_checkpoint",
      join(storage, "quick", "checkpoints/model-epoch-0001.safetensors"),
      "--data_dir",
      "/nonexistent-data-dir",
    ],
  },
];

// The library flags name the files this machine has (where it has them): the quick run resumed
// on native, one more epoch.
const LIBRARIES = { blas: nativeSgemm()?.library, dnnl: loadDnnl().dnnl?.library };
if (LIBRARIES.blas !== undefined && LIBRARIES.dnnl !== undefined) {
  RUNS.push({
    task: "train:implicit",
    uid: "quick",
    args: [
      "--resume",
      "--epochs",
      "3",
      "--backend",
      "native",
      "--blas_library",
      LIBRARIES.blas,
      "--dnnl_library",
      LIBRARIES.dnnl,
    ],
  });
}

Deno.test("tasks: every training flag is used at least once below", () => {
  const used = new Set(RUNS.flatMap((r) => r.args).filter((a) => a.startsWith("--")));
  used.add("--storage").add("--uid").add("--force"); // passed to every run by the test
  if (LIBRARIES.blas === undefined || LIBRARIES.dnnl === undefined) {
    // Without OpenBLAS and oneDNN these two cannot name a file (tests/native_backend_test.ts
    // checks their errors).
    used.add("--blas_library").add("--dnnl_library");
  }
  const missing = FLAGS.map((f) => `--${f.flag}`).filter((f) => !used.has(f));
  assertEquals(missing, []);
});

Deno.test("tasks: the training tasks take every documented flag through deno task", async () => {
  const folder = join(storage, "images");
  writeFolderDataset(folder);
  const cifar = join(storage, "cifar");
  writeCifarDataset(cifar);
  for (const run of RUNS) {
    const args = run.task === "train" && run.uid === "folder"
      ? [...run.args, "--data_dir", folder]
      : run.uid === "cifar-lt"
      ? [...run.args, "--data_dir", cifar]
      : run.args;
    const resuming = args.includes("--resume") || args.includes("--resume_checkpoint");
    const r = await task(run.task, [
      ...args,
      "--storage",
      storage,
      "--uid",
      run.uid,
      ...(resuming ? [] : ["--force"]),
    ]);
    assertEquals(r.code, 0, `${run.task} ${args.join(" ")}:\n${r.stderr}`);
    assert(!r.stderr.includes("NotCapable"), r.stderr);
  }
  const threads = JSON.parse(Deno.readTextFileSync(join(storage, "implicit-all", "config.json")));
  assertEquals(threads.backend.threads, 2);
  const help = await task("train:implicit", ["--help"]);
  assertEquals(help.code, 0);
  for (const f of FLAGS) assert(help.stdout.includes(`--${f.flag}`), `--help lists --${f.flag}`);
});

Deno.test("tasks: the benchmarks and the demo start and finish through deno task", async () => {
  const cases: [string, string[]][] = [
    ["etf-demo", ["--help"]],
    ["demo", ["--help"]],
    ["bench", ["--case", "512x10", "--steps", "2", "--seed", "3", "--json"]],
    [
      "bench:step",
      [
        "--model",
        "mlp",
        "--width",
        "16",
        "--depth",
        "1",
        "--method",
        "implicit",
        "--batch_size",
        "20",
        "--backend",
        "wasm",
        "--threads",
        "2",
        "--steps",
        "1",
      ],
    ],
    ["bench:linalg", ["--filter", "no benchmark has this name"]],
    ["bench:pipeline", ["--filter", "no benchmark has this name"]],
    ["bench:nc", ["--filter", "no benchmark has this name"]],
    ["bench:analysis", ["--case", "nc", "--samples", "40", "--classes", "4", "--dim", "8"]],
    [
      "bench:analysis",
      [
        "--case",
        "etf-distance",
        "--epochs",
        "2",
        "--classes",
        "3",
        "--dim",
        "6",
        "--solver",
        "closed-form",
      ],
    ],
    [
      "bench:nc-task",
      [
        "--backend",
        "wasm",
        "--threads",
        "1",
        "--resnet_width",
        "2",
        "--sample_size",
        "2",
        "--data_dir",
        "/nonexistent-data-dir",
      ],
    ],
  ];
  for (const [name, args] of cases) {
    const r = await task(name, args);
    assertEquals(r.code, 0, `${name} ${args.join(" ")}:\n${r.stderr}`);
    assert(!r.stderr.includes("NotCapable"), r.stderr);
  }
});
