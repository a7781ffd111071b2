/**
 * The project's one input-error class, {@link InputError}, and its argument-naming subclass
 * {@link InvalidArgumentError}. Every error that means "the caller or the user gave something
 * wrong" (a flag, an argument, a dataset file, a checkpoint, a backend that is not available
 * here) is an `InputError`; the tasks report it in one line with exit code 2. Anything else
 * (a `RangeError` from the engine, a failed invariant) is a bug: stack trace, exit code 1.
 *
 * @module
 */

/**
 * Bad input from the caller or the user: the message says what was given and what is allowed.
 * Subclasses add the place at fault (`InvalidArgumentError.argument`, `DatasetError.path`,
 * `CheckpointError.file`, `BackendUnavailableError.backend`).
 *
 * @example
 * ```ts
 * import { train, type TrainRequest } from "../train/mod.ts";
 * declare const config: TrainRequest; // from parseTrainArgs(Deno.args, …)
 * try { await train(config); } catch (e) {
 *   if (e instanceof InputError) { console.error(e.message); Deno.exit(2); }
 *   throw e; // a bug: keep the stack trace
 * }
 * ```
 */
export class InputError extends Error {
  /** Same as `Error`'s constructor; `name` is the subclass's. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * Bad input to a public function or task: `argument` names the offending argument (for example
 * `"Y"`, `"options.delta"`, `"--lr"`), and the message says what was given and what is allowed.
 *
 * @example
 * ```ts
 * import { nearestEtf } from "../solver/nearest_etf.ts";
 * import { randomNormal, Rng } from "./random.ts";
 * const Y = randomNormal(new Rng(0), 16, 4);
 * try { nearestEtf(Y, { delta: -1 }); } catch (e) {
 *   if (e instanceof InvalidArgumentError) console.log(e.argument); // "options.delta"
 * }
 * ```
 */
export class InvalidArgumentError extends InputError {
  /** The argument at fault, as the caller spells it. */
  readonly argument: string;

  /** `message` is prefixed with the argument name. */
  constructor(argument: string, message: string) {
    super(`${argument}: ${message}`);
    this.argument = argument;
  }
}

/**
 * Whether `e` is bad input (an {@link InputError}) rather than a bug.
 *
 * @example
 * ```ts
 * isInputError(new InvalidArgumentError("--lr", "got -1, allowed: > 0")); // true
 * isInputError(new RangeError("Maximum call stack size exceeded")); // false
 * ```
 */
export function isInputError(e: unknown): e is InputError {
  return e instanceof InputError;
}
