/**
 * The process's memory as the benchmarks report it.
 *
 * @module
 */
import process from "node:process";

let rssSeen = 0;

/**
 * The largest resident set size seen at the calls so far, MiB (`Deno.memoryUsage().rss`, sampled
 * at each call; the kernel's own peak, /proc/self/status VmHWM, needs --allow-all: wrap a task
 * in `/usr/bin/time -v` for it).
 *
 * @example
 * ```ts
 * sampledRssMiB(); // e.g. 312.5
 * ```
 */
export function sampledRssMiB(): number {
  rssSeen = Math.max(rssSeen, Deno.memoryUsage().rss);
  return rssSeen / 2 ** 20;
}

/**
 * The kernel's peak resident set size of this process so far, MiB (`getrusage`'s ru_maxrss
 * through `node:process`'s `resourceUsage()`: no permission needed; kilobytes on Linux, bytes on
 * macOS), or null where the runtime does not provide it.
 *
 * @example
 * ```ts
 * const peak = peakRssMiB(); // e.g. 612.3, the high-water mark, not the current RSS
 * ```
 */
export function peakRssMiB(): number | null {
  try {
    const max = process.resourceUsage().maxRSS;
    if (!(max > 0)) return null;
    return Deno.build.os === "darwin" ? max / 2 ** 20 : max / 1024;
  } catch {
    return null;
  }
}
