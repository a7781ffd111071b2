/**
 * Every documented bad input raises InvalidArgumentError naming the argument and what is
 * allowed — never NaN, never a hang.
 */
import { assertEquals, assertThrows } from "./assert.ts";
import { InvalidArgumentError } from "../core/errors.ts";
import { eye, type Matrix, matrix } from "../solver/matrix.ts";
import { nearestEtf, type NearestEtfOptions } from "../solver/nearest_etf.ts";
import { nearestEtfVjp } from "../solver/nearest_etf_vjp.ts";
import { Rng } from "../core/random.ts";
import { randomPoint } from "../solver/stiefel.ts";
import { randomTarget } from "./helpers.ts";

const d = 6, K = 3;
const Y = randomTarget(1, d, K);
const U = nearestEtf(Y, { solver: "closed-form" }).U;
const prox = randomPoint(new Rng(2), d, K);

function expectError(fn: () => unknown, argument: string, ...includes: string[]): void {
  const e = assertThrows(fn, InvalidArgumentError, ...includes);
  assertEquals(e.argument, argument);
}

Deno.test("errors: shape mismatches of start, prox, U and dU", () => {
  expectError(
    () => nearestEtf(Y, { start: eye(d, K + 1) }),
    "options.start",
    "shape is 6×4, expected 6×3",
  );
  expectError(
    () => nearestEtf(Y, { prox: eye(d + 1, K) }),
    "options.prox",
    "shape is 7×3, expected 6×3",
  );
  expectError(() => nearestEtfVjp(Y, eye(d, 2), U, { prox }), "U", "expected 6×3");
  expectError(() => nearestEtfVjp(Y, U, matrix(K, d), { prox }), "dU", "expected 6×3");
  expectError(
    () => nearestEtf({ rows: 2, cols: 2, data: new Float64Array(3) }),
    "Y",
    "data has 3 entries but the shape is 2×2",
  );
  expectError(
    () => nearestEtf({ rows: 2, cols: 2, data: [1, 2, 3, 4] } as unknown as Matrix),
    "Y",
    "Float64Array",
  );
  expectError(() => nearestEtf(null as unknown as Matrix), "Y", "expected a matrix");
});

Deno.test("errors: d < K and K < 2", () => {
  expectError(() => nearestEtf(randomTarget(3, 3, 5)), "Y", "d=3 < K=5", "d ≥ K");
  expectError(() => nearestEtf(randomTarget(3, 5, 1)), "Y", "K=1", "K ≥ 2");
  expectError(
    () => nearestEtfVjp(randomTarget(3, 2, 4), eye(2, 4), eye(2, 4), { prox: eye(2, 4) }),
    "Y",
    "d ≥ K",
  );
});

Deno.test("errors: non-finite entries name the entry", () => {
  for (const bad of [NaN, Infinity, -Infinity]) {
    const Yb = matrix(d, K, Y.data.slice());
    Yb.data[4] = bad;
    expectError(() => nearestEtf(Yb), "Y", "entry (1, 1)", "must be finite");
    const Pb = matrix(d, K, prox.data.slice());
    Pb.data[0] = bad;
    expectError(() => nearestEtf(Y, { prox: Pb }), "options.prox", "entry (0, 0)");
    expectError(() => nearestEtfVjp(Y, U, Yb, { prox }), "dU", "entry (1, 1)");
  }
});

Deno.test("errors: a start or prox that is not orthonormal says by how much", () => {
  const far = matrix(d, K, prox.data.map((v) => 1.01 * v));
  expectError(
    () => nearestEtf(Y, { start: far }),
    "options.start",
    "max|UᵀU − I| = 2.010e-2",
    "allowed ≤ 0.00001",
  );
  expectError(() => nearestEtf(Y, { prox: far }), "options.prox", "not orthonormal");
  expectError(() => nearestEtfVjp(Y, U, U, { prox: far }), "options.prox", "not orthonormal");
  expectError(() => nearestEtfVjp(Y, far, U, { prox }), "U", "not orthonormal");
});

Deno.test("errors: δ < 0, non-finite δ, δ without prox, δ = 0 in the backward", () => {
  expectError(() => nearestEtf(Y, { prox, delta: -1e-3 }), "options.delta", "got -0.001", "≥ 0");
  expectError(() => nearestEtf(Y, { prox, delta: NaN }), "options.delta", "finite number");
  expectError(() => nearestEtf(Y, { delta: 1e-3 }), "options.delta", "without options.prox");
  expectError(() => nearestEtfVjp(Y, U, U, { prox, delta: 0 }), "options.delta", "> 0");
  expectError(
    () => nearestEtfVjp(Y, U, U, {} as { prox: Matrix }),
    "options.prox",
    "only for the proximal problem",
  );
});

Deno.test("errors: a Y with no spread between classes (Y·M = 0)", () => {
  const flat = matrix(d, K);
  for (let i = 0; i < d; i++) for (let j = 0; j < K; j++) flat.data[i * K + j] = 0.1 * (i + 1);
  expectError(() => nearestEtf(flat), "Y", "no spread between classes");
  expectError(() => nearestEtf(flat, { solver: "closed-form" }), "Y", "no spread between classes");
  expectError(() => nearestEtf(matrix(d, K)), "Y", "no spread between classes");
  expectError(() => nearestEtfVjp(flat, U, U, { prox }), "Y", "no spread between classes");
});

Deno.test("errors: unknown options, solver and method names, bad iteration settings", () => {
  expectError(
    () => nearestEtf(Y, { maxIter: 3 } as NearestEtfOptions),
    "options.maxIter",
    "unknown option",
    "maxIterations",
  );
  expectError(
    () => nearestEtf(Y, { solver: "newton" } as unknown as NearestEtfOptions),
    "options.solver",
    '"newton"',
    "trust-regions, closed-form",
  );
  expectError(() => nearestEtf(Y, { maxIterations: -1 }), "options.maxIterations", "≥ 0");
  expectError(() => nearestEtf(Y, { maxIterations: 2.5 }), "options.maxIterations", "an integer");
  expectError(() => nearestEtf(Y, { minGradientNorm: -1 }), "options.minGradientNorm", "≥ 0");
  expectError(() => nearestEtf(Y, { maxTime: 0 }), "options.maxTime", "> 0");
  expectError(
    () => nearestEtfVjp(Y, U, U, { prox, method: "svd" as "ddn" }),
    "options.method",
    "ddn, closed-form",
  );
});

Deno.test("errors: the DDN backward at a point that is not a minimiser", () => {
  // The maximiser −U⋆ satisfies the first-order conditions but the Lagrangian Hessian is
  // negative definite there.
  const Uo = nearestEtf(Y, { prox, solver: "closed-form" }).U;
  const neg = matrix(d, K, Uo.data.map((v) => -v));
  expectError(
    () => nearestEtfVjp(Y, neg, U, { prox }),
    "U",
    "not a minimiser",
    "not positive definite",
  );
});
