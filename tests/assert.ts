/**
 * Minimal assertions for the tests (Deno's std is not reachable here; built on node:assert).
 *
 * @module
 */
import nodeAssert from "node:assert";

/** Fails with `message` unless `condition` holds. */
export function assert(condition: unknown, message = "assertion failed"): asserts condition {
  if (!condition) throw new nodeAssert.AssertionError({ message });
}

/** Deep strict equality. */
export function assertEquals<T>(actual: T, expected: T, message?: string): void {
  nodeAssert.deepStrictEqual(actual, expected, message);
}

/** `|actual − expected| ≤ tolerance`. */
export function assertAlmostEquals(
  actual: number,
  expected: number,
  tolerance: number,
  message = "",
): void {
  if (!(Math.abs(actual - expected) <= tolerance)) {
    throw new nodeAssert.AssertionError({
      message: `${message} expected ${expected} ± ${tolerance}, got ${actual} (off by ${
        Math.abs(actual - expected)
      })`,
    });
  }
}

/** `actual ≤ bound`, with both in the failure message. */
export function assertAtMost(actual: number, bound: number, what = "value"): void {
  if (!(actual <= bound)) {
    throw new nodeAssert.AssertionError({ message: `${what} = ${actual}, expected ≤ ${bound}` });
  }
}

/**
 * Expects `fn` to throw an instance of `ErrorClass` whose message contains every string in
 * `includes`; returns the error.
 */
export function assertThrows<E extends Error>(
  fn: () => unknown,
  // deno-lint-ignore no-explicit-any
  ErrorClass: new (...args: any[]) => E,
  ...includes: string[]
): E {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof ErrorClass)) {
      throw new nodeAssert.AssertionError({ message: `expected ${ErrorClass.name}, got ${e}` });
    }
    for (const s of includes) {
      if (!e.message.includes(s)) {
        throw new nodeAssert.AssertionError({
          message: `error message "${e.message}" lacks "${s}"`,
        });
      }
    }
    return e;
  }
  throw new nodeAssert.AssertionError({ message: `expected ${ErrorClass.name} to be thrown` });
}

/**
 * Expects the promise of `fn` to reject with an instance of `ErrorClass` whose message contains
 * every string in `includes`; returns the error.
 */
export async function assertRejects<E extends Error>(
  fn: () => Promise<unknown>,
  // deno-lint-ignore no-explicit-any
  ErrorClass: new (...args: any[]) => E,
  ...includes: string[]
): Promise<E> {
  let error: unknown = null, rejected = false;
  try {
    await fn();
  } catch (e) {
    error = e;
    rejected = true;
  }
  if (!rejected) {
    throw new nodeAssert.AssertionError({ message: `expected ${ErrorClass.name} to be thrown` });
  }
  return assertThrows(
    () => {
      throw error;
    },
    ErrorClass,
    ...includes,
  );
}
