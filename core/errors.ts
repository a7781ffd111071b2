/**
 * The error raised for invalid arguments of the public solver API.
 *
 * @module
 */

/**
 * Bad input to a public function: `argument` names the offending argument (for example
 * `"Y"`, `"options.delta"`), and the message says what was given and what is allowed.
 *
 * @example
 * ```ts
 * try { nearestEtf(Y, { delta: -1 }); } catch (e) {
 *   if (e instanceof InvalidArgumentError) console.log(e.argument); // "options.delta"
 * }
 * ```
 */
export class InvalidArgumentError extends RangeError {
  /** The argument at fault, as the caller spells it. */
  readonly argument: string;

  /** `message` is prefixed with the argument name. */
  constructor(argument: string, message: string) {
    super(`${argument}: ${message}`);
    this.name = "InvalidArgumentError";
    this.argument = argument;
  }
}
