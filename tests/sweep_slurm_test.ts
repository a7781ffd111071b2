/**
 * A sweep on a real Slurm: a single-node cluster started here from Debian's `munge`, `slurmctld`,
 * `slurmd` and `slurm-client` (munged as the munge user; the daemons with a temporary
 * `slurm.conf`: `proctrack/linuxproc`, `task/none`, `select/cons_tres`, no accounting, the node's
 * real CPU count; state, logs, sockets and pid files under a temporary directory, free ports). A
 * six-task UFM sweep (two methods × three seeds) with one cell made to fail (a trained run whose
 * checkpoints are then damaged) is submitted with `--engine slurm --wait`: the other five finish,
 * `sbatch --wait` reports the failure (submit exits 1), and the analysis job, which depends on the
 * array (`afterok`), never runs (cancelled; no seed statistics written). After the fix the same
 * submit runs the array again — the finished tasks skip their training — and the analysis job
 * runs (its seed statistics and figures appear). The test stops exactly the daemons it started,
 * by their pids. Ignored where the Slurm and munge programs are absent (`.ci/run` installs them).
 */
import { assert, assertEquals } from "./assert.ts";
import { join } from "node:path";
import { exists } from "../data/fs.ts";
import { readManifest } from "../sweep/run_index.ts";
import { denoTask } from "./support/deno_task.ts";

const ROOT = new URL("..", import.meta.url).pathname;

function which(program: string): boolean {
  for (const dir of ["/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin"]) {
    try {
      Deno.statSync(join(dir, program));
      return true;
    } catch {
      // next
    }
  }
  return false;
}

const ignore = !["sbatch", "scontrol", "slurmctld", "slurmd", "munged", "runuser"].every(which) ||
  !existsSync("/etc/munge/munge.key");

function existsSync(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

async function output(command: string, args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(command, {
    args,
    env,
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

async function waitFor(what: string, test: () => Promise<boolean>, seconds: number) {
  const until = Date.now() + seconds * 1000;
  while (Date.now() < until) {
    if (await test()) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out after ${seconds} s waiting for ${what}`);
}

/** A single-node cluster: its configuration file and a stop() that ends what it started. */
async function startCluster(dir: string) {
  const munge = join(dir, "munge");
  await Deno.mkdir(munge, { recursive: true });
  await Deno.mkdir(join(dir, "state"));
  await Deno.mkdir(join(dir, "spool"));
  // munged runs as the munge user: every directory above its socket must be searchable.
  await Deno.chmod(join(dir, ".."), 0o755);
  await Deno.chmod(dir, 0o755);
  await Deno.chmod(munge, 0o755);
  await output("chown", ["munge:munge", munge]);
  const socket = join(munge, "munge.socket.2");
  const pids: { name: string; pidFile: string; child: Deno.ChildProcess }[] = [];
  const spawn = (name: string, command: string, args: string[], pidFile: string) => {
    const child = new Deno.Command(command, { args, stdout: "null", stderr: "null" }).spawn();
    pids.push({ name, pidFile, child });
  };
  const stop = async () => {
    // Exactly the daemons started here: their children (runuser's munged by its pid file).
    for (const { name, pidFile, child } of pids.reverse()) {
      let pid = child.pid;
      if (name === "munged") {
        try {
          pid = Number((await Deno.readTextFile(pidFile)).trim());
        } catch {
          pid = child.pid;
        }
      }
      try {
        Deno.kill(pid, "SIGTERM");
      } catch {
        // already gone
      }
      await child.status;
    }
  };
  try {
    return await startDaemons();
  } catch (e) {
    await stop();
    const logs = await Promise.all(
      ["munge/munged.log", "slurmctld.log", "slurmd.log"].map((f) =>
        Deno.readTextFile(join(dir, f)).then((t) =>
          `${f}: ${t.trim().split("\n").slice(-3).join(" | ")}`
        )
          .catch(() => `${f}: none`)
      ),
    );
    throw new Error(`${(e as Error).message}; ${logs.join("; ")}`);
  }

  async function startDaemons() {
    spawn("munged", "runuser", [
      "-u",
      "munge",
      "--",
      "munged",
      "-F",
      `--socket=${socket}`,
      `--pid-file=${join(munge, "munged.pid")}`,
      `--log-file=${join(munge, "munged.log")}`,
      `--seed-file=${join(munge, "munged.seed")}`,
    ], join(munge, "munged.pid"));
    await waitFor("munged's socket", () => exists(socket), 20);
    const node = (await output("hostname", ["-s"])).stdout.trim();
    const probe = (await output("slurmd", ["-C"])).stdout;
    const cpus = Number(/CPUs=(\d+)/.exec(probe)?.[1] ?? navigator.hardwareConcurrency);
    const memory = Number(/RealMemory=(\d+)/.exec(probe)?.[1] ?? 2000);
    const conf = join(dir, "slurm.conf");
    await Deno.writeTextFile(
      conf,
      [
        "ClusterName=nctest",
        `SlurmctldHost=${node}(127.0.0.1)`,
        "SlurmUser=root",
        "SlurmdUser=root",
        `SlurmctldPort=${freePort()}`,
        `SlurmdPort=${freePort()}`,
        "AuthType=auth/munge",
        `AuthInfo=socket=${socket}`,
        "CredType=cred/munge",
        `StateSaveLocation=${join(dir, "state")}`,
        `SlurmdSpoolDir=${join(dir, "spool")}`,
        `SlurmctldPidFile=${join(dir, "slurmctld.pid")}`,
        `SlurmdPidFile=${join(dir, "slurmd.pid")}`,
        `SlurmctldLogFile=${join(dir, "slurmctld.log")}`,
        `SlurmdLogFile=${join(dir, "slurmd.log")}`,
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_Core_Memory",
        "JobAcctGatherType=jobacct_gather/none",
        "AccountingStorageType=accounting_storage/none",
        "JobCompType=jobcomp/none",
        "MpiDefault=none",
        "ReturnToService=2",
        "MinJobAge=600",
        `NodeName=${node} NodeAddr=127.0.0.1 CPUs=${cpus} RealMemory=${memory} State=UNKNOWN`,
        "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP",
        "",
      ].join("\n"),
    );
    const env = { SLURM_CONF: conf };
    spawn("slurmctld", "slurmctld", ["-D", "-f", conf], join(dir, "slurmctld.pid"));
    spawn("slurmd", "slurmd", ["-D", "-f", conf], join(dir, "slurmd.pid"));
    await waitFor(
      "the node to be idle",
      async () => / idle /.test((await output("sinfo", ["-h"], env)).stdout + " "),
      60,
    );
    return { env, stop };
  }
}

Deno.test({
  name: "sweep on a real single-node Slurm: a failing cell, sbatch --wait, afterok, the fix",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "nc-slurm-test-" });
    const cluster = await startCluster(join(dir, "cluster"));
    try {
      const storage = join(dir, "storage");
      const file = join(dir, "ufm.json");
      await Deno.writeTextFile(
        file,
        JSON.stringify({
          name: "ufm",
          datasets: ["synthetic"],
          models: ["ufm"],
          methods: ["standard", "implicit"],
          seeds: [1, 2, 3],
          flags: {
            epochs: 20,
            checkpoint_every: 10,
            dataset_size: 200,
            feature_dim: 32,
            num_classes: 4,
            log_interval: 50,
          },
          resources: { cpus: 1, memory: "400M", time: "00:10:00" },
        }),
      );
      const sweep = (args: string[]) => denoTask("sweep", args, cluster.env);
      assertEquals((await sweep(["plan", "--file", file, "--storage", storage])).code, 0);
      const sweepDir = join(storage, "ufm");
      const runs = await readManifest(sweepDir);
      // Cell 4 trains, then its checkpoints are damaged: its task will fail.
      assertEquals((await sweep(["run", "--sweep", sweepDir, "--index", "4"])).code, 0);
      const bad = runs[4].runDir;
      for (const e of ["0010", "0020"]) {
        for (const kind of ["model", "state"]) {
          await Deno.writeTextFile(join(bad, "checkpoints", `${kind}-epoch-${e}.safetensors`), "x");
        }
      }
      await Deno.writeTextFile(
        join(bad, "latest.json"),
        JSON.stringify({
          epoch: 10,
          model: "checkpoints/model-epoch-0010.safetensors",
          state: "checkpoints/state-epoch-0010.safetensors",
        }),
      );

      const failing = await sweep([
        "submit",
        "--engine",
        "slurm",
        "--wait",
        "--file",
        file,
        "--storage",
        storage,
      ]);
      assertEquals(failing.code, 1, failing.stderr);
      assert(failing.stderr.includes("sbatch --wait exited"), failing.stderr);
      const jobs = JSON.parse(failing.stdout.trim().split("\n").at(-1)!);
      const status = await sweep(["status", "--sweep", sweepDir]);
      assertEquals(
        status.stdout.split("\n")[0],
        "6 runs: 5 done, 0 running, 1 failed, 0 partial, 0 missing",
        status.stdout,
      );
      assert(status.stdout.includes(`failed   ${runs[4].id} — train exited 2`), status.stdout);
      const analysis = await output("scontrol", ["show", "job", jobs.analysisJob], cluster.env);
      assert(/JobState=CANCELLED/.test(analysis.stdout), analysis.stdout);
      assert(!(await exists(join(sweepDir, "runs", "synthetic-ufm-standard-seed-seed-stats"))));

      // The fix, and the same submit: five tasks skip their training, the analysis runs.
      await Deno.remove(bad, { recursive: true });
      const fixed = await sweep([
        "submit",
        "--engine",
        "slurm",
        "--wait",
        "--file",
        file,
        "--storage",
        storage,
      ]);
      assertEquals(fixed.code, 0, fixed.stderr);
      const second = JSON.parse(fixed.stdout.trim().split("\n").at(-1)!);
      await waitFor("the analysis job", async () => {
        const s = (await output("scontrol", ["show", "job", second.analysisJob], cluster.env))
          .stdout;
        if (/JobState=(FAILED|CANCELLED)/.test(s)) throw new Error(`analysis: ${s}`);
        return /JobState=COMPLETED/.test(s);
      }, 240);
      for (const method of ["standard", "implicit"]) {
        assert(await exists(join(sweepDir, "runs", `synthetic-ufm-${method}-seed-seed-stats`)));
      }
      assert(await exists(join(sweepDir, "runs", "synthetic-ufm-figures", "report.html")));
      const done = await sweep(["status", "--sweep", sweepDir]);
      assertEquals(done.code, 0, done.stdout);
      // The finished runs were not trained again: one training log per run (and two for cell 4's
      // new run, none of its damaged one's left).
      const log = await Deno.readTextFile(join(sweepDir, "logs", `${runs[0].id}.log`));
      assertEquals(log.split("\n").filter((l) => l.includes("task train:")).length, 1);
    } finally {
      await cluster.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
