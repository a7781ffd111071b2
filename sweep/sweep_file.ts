/**
 * A sweep file: the experiment a sweep expands into independent training runs (JSON; one object).
 *
 * ```json
 * {
 *   "name": "mnist-paper",
 *   "datasets": ["mnist"],
 *   "models": ["resnet18"],
 *   "methods": ["standard", "fixed", "implicit"],
 *   "seeds": [1, 2, 3, 4, 5],
 *   "flags": { "epochs": 200, "batch_size": 256 },
 *   "resources": { "cpus": 2, "memory": "8G", "time": "2-00:00:00", "gpus": 0, "parallel": 10 }
 * }
 * ```
 *
 * `name` (letters, digits, `.`, `_`, `-`) names the sweep's directory under the storage;
 * `datasets`, `models`, `methods`, `seeds` are the axes (each non-empty, no repeats); `flags` are
 * training flags given to every run (names without `--`; a value `true` is a bare flag, `false`
 * leaves it out; every name and value is checked against the training flags), except those the
 * sweep sets itself (`uid`, `seed`, `method`, `dataset`, `model`,
 * `storage`, `resume`, `resume_checkpoint`, `force`); `resources` is what each array task asks its
 * engine for (all optional: `cpus` default 2, `memory` default "8G", `time` default "1-00:00:00",
 * `gpus` default 0, `parallel` — at most that many tasks at once — default all).
 *
 * @module
 */
import { InputError } from "../core/errors.ts";
import { DATASET_NAMES } from "../data/load.ts";
import { BACKBONE_NAMES } from "../nets/models/names.ts";
import { FLAGS } from "../train/config.ts";

/** The methods a sweep may name. */
export const SWEEP_METHODS = ["standard", "fixed", "implicit"] as const;

/** Training flags the sweep sets for every run (a sweep file may not). */
export const SWEEP_RESERVED_FLAGS = [
  "uid",
  "seed",
  "method",
  "dataset",
  "model",
  "storage",
  "resume",
  "resume_checkpoint",
  "force",
] as const;

/**
 * What each task asks its engine for.
 *
 * @example
 * ```ts
 * const r: SweepResources = { cpus: 2, memory: "8G", time: "1-00:00:00", gpus: 0, parallel: null };
 * ```
 */
export type SweepResources = {
  /** CPU cores per task (also the runs' `--threads` unless the flags give it). */
  cpus: number;
  /** Memory per task, Slurm's notation: a number with K, M, G or T. */
  memory: string;
  /** Wall time per task, Slurm's notation: [D-]HH:MM:SS. */
  time: string;
  /** GPUs per task. */
  gpus: number;
  /** At most this many tasks at once, or null for no limit. */
  parallel: number | null;
};

/**
 * A validated sweep file.
 *
 * @example
 * ```ts
 * const s = parseSweepFile('{"name":"s","datasets":["synthetic"],"models":["ufm"],' +
 *   '"methods":["standard"],"seeds":[1]}', "sweep.json");
 * s.resources.cpus; // 2
 * ```
 */
export type SweepFile = {
  name: string;
  datasets: string[];
  models: string[];
  methods: string[];
  seeds: number[];
  /** Training flags by name (no `--`): a string or number value, or true for a bare flag. */
  flags: Record<string, string | number | true>;
  resources: SweepResources;
};

const KEYS = ["name", "datasets", "models", "methods", "seeds", "flags", "resources"];
const RESOURCE_KEYS = ["cpus", "memory", "time", "gpus", "parallel"];

/**
 * Parses and checks a sweep file's text; an {@link InputError} names the file, the field, the
 * value and what is allowed.
 *
 * @example
 * ```ts
 * parseSweepFile('{"name":"x"}', "sweep.json"); // InputError: sweep.json: "datasets": missing …
 * ```
 */
export function parseSweepFile(text: string, path: string): SweepFile {
  const fail = (field: string, message: string): never => {
    throw new InputError(`${path}: ${field === "" ? "" : `"${field}": `}${message}`);
  };
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    fail("", `not JSON (${(e as Error).message})`);
  }
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    fail("", "expected one JSON object");
  }
  const o = raw as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!KEYS.includes(k)) fail(k, `unknown field; allowed: ${KEYS.join(", ")}`);
  }
  const name = o.name;
  if (typeof name !== "string" || !/^[A-Za-z0-9._-]+$/.test(name) || /^\.+$/.test(name)) {
    fail("name", `got ${JSON.stringify(name)}, allowed: letters, digits, ".", "_", "-"`);
  }
  const list = (field: string, item: (v: unknown) => boolean, what: string): unknown[] => {
    const v = o[field];
    if (v === undefined) fail(field, `missing; allowed: a non-empty list of ${what}`);
    if (!Array.isArray(v) || v.length === 0) {
      fail(field, `got ${JSON.stringify(v)}, allowed: a non-empty list of ${what}`);
    }
    const values = v as unknown[];
    for (const x of values) {
      if (!item(x)) fail(field, `got ${JSON.stringify(x)}, allowed: ${what}`);
    }
    const seen = new Set(values.map((x) => JSON.stringify(x)));
    if (seen.size !== values.length) fail(field, "a value is given twice");
    return values;
  };
  const oneOf = (names: readonly string[]) => (x: unknown) => names.includes(x as string);
  const datasets = list("datasets", oneOf(DATASET_NAMES), DATASET_NAMES.join(" | ")) as string[];
  const models = list("models", oneOf(BACKBONE_NAMES), BACKBONE_NAMES.join(" | ")) as string[];
  const methods = list(
    "methods",
    (x) => (SWEEP_METHODS as readonly unknown[]).includes(x),
    SWEEP_METHODS.join(" | "),
  ) as string[];
  const seeds = list(
    "seeds",
    (x) => Number.isSafeInteger(x) && (x as number) >= 0,
    "non-negative integers",
  ) as number[];
  const flags: Record<string, string | number | true> = {};
  if (o.flags !== undefined) {
    if (o.flags === null || typeof o.flags !== "object" || Array.isArray(o.flags)) {
      fail("flags", "expected an object of training flags (names without --)");
    }
    for (const [k, v] of Object.entries(o.flags as Record<string, unknown>)) {
      if (!/^[a-z][a-z0-9_]*$/.test(k)) {
        fail(`flags.${k}`, "a flag name is lower-case letters, digits and _, without --");
      }
      if ((SWEEP_RESERVED_FLAGS as readonly string[]).includes(k)) {
        fail(`flags.${k}`, "the sweep sets it for every run (its axes and storage)");
      }
      const flag = FLAGS.find((f) => f.flag === k);
      if (flag === undefined) {
        fail(`flags.${k}`, "not a training flag (deno task train --help lists them)");
      }
      if (flag!.kind === "bool") {
        if (v !== true && v !== false) {
          fail(`flags.${k}`, `got ${JSON.stringify(v)}, allowed: true or false`);
        }
      } else if (typeof v !== "string" && !(typeof v === "number" && Number.isFinite(v))) {
        fail(
          `flags.${k}`,
          `got ${JSON.stringify(v)}, allowed: a ${flag!.kind === "string" ? "string" : "number"}`,
        );
      }
      if (v === false) continue;
      flags[k] = v as string | number | true;
    }
  }
  const r = (o.resources ?? {}) as Record<string, unknown>;
  if (o.resources !== undefined && (typeof r !== "object" || r === null || Array.isArray(r))) {
    fail("resources", "expected an object");
  }
  for (const k of Object.keys(r)) {
    if (!RESOURCE_KEYS.includes(k)) {
      fail(`resources.${k}`, `unknown field; allowed: ${RESOURCE_KEYS.join(", ")}`);
    }
  }
  const count = (k: string, fallback: number | null, min: number): number | null => {
    const v = r[k];
    if (v === undefined) return fallback;
    if (!Number.isSafeInteger(v) || (v as number) < min) {
      fail(`resources.${k}`, `got ${JSON.stringify(v)}, allowed: an integer ≥ ${min}`);
    }
    return v as number;
  };
  const pattern = (k: string, fallback: string, re: RegExp, what: string): string => {
    const v = r[k];
    if (v === undefined) return fallback;
    if (typeof v !== "string" || !re.test(v)) {
      fail(`resources.${k}`, `got ${JSON.stringify(v)}, allowed: ${what}`);
    }
    return v as string;
  };
  return {
    name: name as string,
    datasets,
    models,
    methods,
    seeds,
    flags,
    resources: {
      cpus: count("cpus", 2, 1)!,
      memory: pattern("memory", "8G", /^[1-9][0-9]*[KMGT]$/, 'a size such as "8G" or "512M"'),
      time: pattern(
        "time",
        "1-00:00:00",
        /^(?:[0-9]+-)?[0-9]{1,2}:[0-5][0-9]:[0-5][0-9]$/,
        'a wall time [D-]HH:MM:SS such as "04:00:00" or "2-00:00:00"',
      ),
      gpus: count("gpus", 0, 0)!,
      parallel: count("parallel", null, 1),
    },
  };
}
