/**
 * The process's memory as the benchmarks report it.
 *
 * @module
 */

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
