/**
 * Progress of long work: on a terminal a redrawn bar with rate and ETA; otherwise one plain line
 * per report (the training task reports every `--log_interval` batches).
 *
 * @module
 */

/**
 * Formats seconds as `1h02m`, `3m05s` or `12.3s`.
 *
 * @example
 * ```ts
 * formatDuration(185); // "3m05s"
 * ```
 */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "?";
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  const m = Math.floor(seconds / 60), s = Math.floor(seconds % 60);
  if (m < 60) return `${m}m${String(s).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, "0")}m`;
}

/**
 * A progress reporter over `total` units (batches).
 *
 * @example
 * ```ts
 * const p = new Progress(1000, "epoch 1");
 * p.update(10, "loss 0.31");
 * p.done();
 * ```
 */
export class Progress {
  readonly total: number;
  #label: string;
  #start = performance.now();
  #done = 0;
  #terminal: boolean;
  #write: (text: string) => void;

  /** `terminal` defaults to whether stderr is a terminal; `write` defaults to stderr. */
  constructor(
    total: number,
    label: string,
    options: { terminal?: boolean; write?: (text: string) => void } = {},
  ) {
    this.total = total;
    this.#label = label;
    this.#terminal = options.terminal ?? Deno.stderr.isTerminal();
    const encoder = new TextEncoder();
    this.#write = options.write ?? ((text) => Deno.stderr.writeSync(encoder.encode(text)));
  }

  /** Units done per second so far. */
  get rate(): number {
    const elapsed = (performance.now() - this.#start) / 1000;
    return elapsed > 0 ? this.#done / elapsed : 0;
  }

  /** Seconds left at the current rate. */
  get eta(): number {
    return this.rate > 0 ? (this.total - this.#done) / this.rate : Infinity;
  }

  /** Reports `done` units finished, with a status text. */
  update(done: number, status = ""): void {
    this.#done = done;
    const pct = this.total > 0 ? (100 * done) / this.total : 100;
    const tail = `${done}/${this.total} ${this.rate.toFixed(2)}/s ETA ${formatDuration(this.eta)}${
      status ? ` ${status}` : ""
    }`;
    if (this.#terminal) {
      const width = 24, filled = Math.round((width * pct) / 100);
      this.#write(
        `\r\x1b[2K${this.#label} [${"#".repeat(filled)}${".".repeat(width - filled)}] ${
          pct.toFixed(0)
        }% ${tail}`,
      );
    } else {
      this.#write(`${this.#label} ${pct.toFixed(0)}% ${tail}\n`);
    }
  }

  /** Ends the bar (a newline on a terminal). */
  done(): void {
    if (this.#terminal) this.#write("\n");
  }
}
