/**
 * The analysis API of trained runs (loads tfjs for `nc`'s forward passes; the pure metrics,
 * ETF distances and seed statistics are also in the root `mod.ts`, without tfjs): the three
 * tasks' parsers and runners, the measurement of one split, and the run reader.
 *
 * @example
 * ```ts
 * import { parseNcArgs, runNc } from "./mod.ts";
 * const request = await parseNcArgs(["--uid", "mnist-resnet18-implicit-seed1"]);
 * if (request !== "help") await runNc(request, { log: console.error });
 * ```
 *
 * @module
 */
export {
  availableSplits,
  measureSplit,
  NC_FLAGS,
  NC_HELP,
  NC_RECORD_KEYS,
  ncEpochFile,
  type NcRequest,
  parseNcArgs,
  readClassifier,
  runNc,
  type SplitMeasurement,
  type SplitName,
  SPLITS,
} from "./nc_task.ts";
export {
  ETF_DISTANCE_FLAGS,
  ETF_DISTANCE_HELP,
  type EtfDistanceRequest,
  parseEtfDistanceArgs,
  readNcEpoch,
  runEtfDistance,
} from "./etf_distance_task.ts";
export {
  ETF_DISTANCE_KEYS,
  lastEpochTable,
  parseSeedStatsArgs,
  runSeedStats,
  SEED_STATS_FLAGS,
  SEED_STATS_HELP,
  type SeedStatsRequest,
  type SplitSeedStats,
} from "./seed_stats_task.ts";
export {
  readTrainedRun,
  RUN_FLAGS,
  type RunCheckpoint,
  runPathOf,
  selectEpochs,
  type TrainedRun,
} from "./trained_run.ts";
export { type EpochRecord, readRecords, upsertRecord } from "./records.ts";
export {
  type MethodStats,
  type Panel,
  type PanelRow,
  panelRows,
  PANELS,
  panelSpec,
} from "./figures.ts";
export { renderPng, renderSvg } from "./render.ts";
export { reportHtml } from "./report.ts";
export { parsePlotArgs, PLOT_FLAGS, PLOT_HELP, type PlotRequest, runPlot } from "./plot_task.ts";
export {
  PAPER_FLAGS,
  PAPER_HELP,
  type PaperPlan,
  type PaperRun,
  parsePaperArgs,
  runPaper,
} from "./paper_task.ts";
export { DEMO_FLAGS, DEMO_HELP, type DemoRow, demoRow, demoTable, runDemo } from "./demo_task.ts";
