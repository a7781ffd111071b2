/**
 * Riemannian trust-regions with truncated conjugate gradients (Absil–Baker–Gallivan), a port
 * of pymanopt 2.2's `TrustRegions` with its defaults and semantics (docs/method.md section 4), over
 * an abstract local model: at each point the problem supplies the Riemannian gradient and
 * Hessian in coordinates of the tangent space that are isometric (the Riemannian inner product
 * is the plain dot product of coordinate vectors), and a retraction from those coordinates.
 *
 * Differences from pymanopt, all deliberate: the gradient norm is tested before the first
 * iteration (an optimal start returns at once with 0 iterations); `maxIterations: 0` returns
 * the start; `innerIterations` counts Hessian applications (pymanopt logs that count minus 1);
 * ρ's regularisation uses float64's machine epsilon (as pymanopt with float64 data).
 *
 * @module
 */

/** Why the outer loop stopped. */
export type StoppingReason = "min-gradient-norm" | "max-iterations" | "max-time" | "closed-form";

/** Why one truncated-CG solve stopped (pymanopt's six reasons). */
export type TcgStopReason =
  | "negative-curvature"
  | "exceeded-trust-region"
  | "reached-target-linear"
  | "reached-target-superlinear"
  | "max-inner-iterations"
  | "model-increased";

/**
 * One outer iteration, as logged.
 *
 * @example
 * ```ts
 * import { randomNormal, Rng } from "../core/random.ts";
 * import { nearestEtf } from "./nearest_etf.ts";
 * const result = nearestEtf(randomNormal(new Rng(0), 16, 4));
 * for (const e of result.log) console.log(e.iteration, e.cost, e.gradientNorm, e.tcgStop);
 * ```
 */
export type IterationLog = {
  /** 1-based outer iteration. */
  iteration: number;
  /** f at the current point after this iteration (the proposal if accepted). */
  cost: number;
  /** Riemannian gradient norm at the current point after this iteration. */
  gradientNorm: number;
  /** The trust-region radius used for this iteration's subproblem. */
  radius: number;
  /** ρ: actual over predicted decrease (regularised as pymanopt). */
  rho: number;
  /** Whether the proposal was accepted. */
  accepted: boolean;
  /** How the radius changed for the next iteration. */
  radiusChange: "increased" | "decreased" | "unchanged";
  /** Hessian applications in the truncated-CG solve. */
  innerIterations: number;
  /** Why the truncated-CG solve stopped. */
  tcgStop: TcgStopReason;
  /** Seconds since the start of the solve. */
  seconds: number;
};

/**
 * The gradient and Hessian of the cost at one point, in isometric tangent coordinates.
 *
 * @example
 * ```ts
 * import { randomNormal, Rng } from "../core/random.ts";
 * import { etfTrustRegionProblem } from "./etf_chart.ts";
 * import { EtfProblem } from "./etf_problem.ts";
 * import { eye } from "./matrix.ts";
 * const problem = etfTrustRegionProblem(new EtfProblem(randomNormal(new Rng(0), 16, 4), null, 0));
 * const x = eye(16, 4);
 * const m = problem.model(x);
 * const v = m.gradient(), out = new Float64Array(m.size);
 * m.gradientNorm; m.hessian(v, out);
 * ```
 */
export interface LocalModel<P> {
  /** Number of coordinates of a tangent vector. */
  readonly size: number;
  /** The Riemannian gradient norm at this point (needed before the coordinates). */
  readonly gradientNorm: number;
  /** The Riemannian gradient in coordinates (may be computed on first call). */
  gradient(): Float64Array;
  /** `out ← Hess f(x)[v]` in coordinates. */
  hessian(v: Float64Array, out: Float64Array): void;
  /** Re-tangentialise v in place (pymanopt's `to_tangent_space`); may be a no-op. */
  toTangent(v: Float64Array): void;
  /** The retraction of the tangent vector with coordinates v. */
  retract(v: Float64Array): P;
  /**
   * Optional: the Hessian is diagonal in these coordinates and constant on groups of them (see
   * {@link DiagonalReduction}); truncated CG then runs on one number per group.
   */
  reduction?(): DiagonalReduction;
}

/**
 * A local model whose Hessian is diagonal, `Hess[v]_i = w_i·v_i`, with equal weights on each of
 * a partition of the coordinates into groups. CG from η = 0 on such a system keeps every
 * iterate (η, r, δ and their Hessian images) equal, on each group g, to a multiple c_g of the
 * gradient's restriction to g (Krylov vectors are polynomials in the diagonal Hessian applied to
 * the gradient). So truncated CG runs exactly, in exact arithmetic, on the G multiples with the
 * Hessian `diag(weights)`, gradient all ones, and the inner product `Σ_g mass_g·a_g·b_g`
 * (`mass_g = ‖gradient on g‖²`): the same iterates, inner products, stopping tests and model
 * values as on the full coordinates, for O(G) work per inner iteration instead of O(size).
 *
 * @example
 * ```ts
 * import { randomNormal, Rng } from "../core/random.ts";
 * import { EtfLocalModel } from "./etf_chart.ts";
 * import { EtfProblem } from "./etf_problem.ts";
 * import { eye } from "./matrix.ts";
 * const model = new EtfLocalModel(new EtfProblem(randomNormal(new Rng(0), 16, 4), null, 0), eye(16, 4));
 * const { weights, mass, expand } = model.reduction();
 * const eta = expand(new Float64Array(weights.length).fill(-1)); // −gradient, in full coordinates
 * ```
 */
export interface DiagonalReduction {
  /** The Hessian's weight on each group. */
  weights: Float64Array;
  /** The squared norm of the gradient's restriction to each group. */
  mass: Float64Array;
  /** Full coordinates of the vector equal to `c[g]` times the gradient on each group g. */
  expand(c: Float64Array): Float64Array;
}

/**
 * A cost on a manifold, seen through local models.
 *
 * @example
 * ```ts
 * import { randomNormal, Rng } from "../core/random.ts";
 * import { EtfLocalModel } from "./etf_chart.ts";
 * import { EtfProblem } from "./etf_problem.ts";
 * import type { Matrix } from "./matrix.ts";
 * import { stiefelDimension } from "./stiefel.ts";
 * const etf = new EtfProblem(randomNormal(new Rng(0), 16, 4), null, 0);
 * const cost = (U: Matrix) => etf.cost(U);
 * const model = (U: Matrix) => new EtfLocalModel(etf, U);
 * const dimension = stiefelDimension(16, 4), typicalDistance = Math.sqrt(4);
 * const problem: TrustRegionProblem<Matrix> = { cost, model, dimension, typicalDistance };
 * ```
 */
export interface TrustRegionProblem<P> {
  /** The cost f(x). */
  cost(x: P): number;
  /** The local model (gradient, Hessian, retraction) at x. */
  model(x: P): LocalModel<P>;
  /** The manifold dimension (the default maximum of inner iterations). */
  readonly dimension: number;
  /** The typical distance (the default maximum radius Δ̄). */
  readonly typicalDistance: number;
}

/**
 * Solver settings; defaults are pymanopt 2.2's.
 *
 * @example
 * ```ts
 * const opts: TrustRegionOptions = { maxIterations: 30, minGradientNorm: 1e-6 };
 * ```
 */
export type TrustRegionOptions = {
  /** Outer iterations, default 1000 (pymanopt); the ETF layer uses 30. */
  maxIterations?: number;
  /** Stop when the gradient norm is below this, default 1e-6. */
  minGradientNorm?: number;
  /** Stop after this many seconds, default 1000. */
  maxTime?: number;
  /** Δ̄, default the problem's typical distance. */
  maxRadius?: number;
  /** Δ₀, default Δ̄/8. */
  initialRadius?: number;
  /** κ, default 0.1. */
  kappa?: number;
  /** θ, default 1. */
  theta?: number;
  /** ρ′, default 0.1. */
  rhoPrime?: number;
  /** ρ regularisation, default 1e3. */
  rhoRegularisation?: number;
  /** Minimum inner iterations before the residual test, default 1. */
  minInner?: number;
  /** Maximum inner iterations, default the manifold dimension. */
  maxInner?: number;
  /** Called after every outer iteration with its log entry (a diagnostic sink). */
  onIteration?: (entry: IterationLog) => void;
};

/**
 * What a solve returns.
 *
 * @example
 * ```ts
 * import { randomNormal, Rng } from "../core/random.ts";
 * import { etfTrustRegionProblem } from "./etf_chart.ts";
 * import { EtfProblem } from "./etf_problem.ts";
 * import { eye } from "./matrix.ts";
 * const p = etfTrustRegionProblem(new EtfProblem(randomNormal(new Rng(0), 16, 4), null, 0));
 * const x0 = eye(16, 4);
 * const { point, cost, gradientNorm, iterations, stoppingReason } = trustRegions(p, x0);
 * ```
 */
export type TrustRegionResult<P> = {
  point: P;
  cost: number;
  gradientNorm: number;
  iterations: number;
  stoppingReason: StoppingReason;
  seconds: number;
  log: IterationLog[];
};

const EPS = 2 ** -52;

function dot(a: Float64Array, b: Float64Array): number {
  let s0 = 0, s1 = 0, i = 0;
  const n = a.length;
  for (; i + 1 < n; i += 2) {
    s0 += a[i] * b[i];
    s1 += a[i + 1] * b[i + 1];
  }
  if (i < n) s0 += a[i] * b[i];
  return s0 + s1;
}

/** `Σ m_i·a_i·b_i`. */
function weightedDot(m: Float64Array, a: Float64Array, b: Float64Array): number {
  let s0 = 0, s1 = 0, i = 0;
  const n = a.length;
  for (; i + 1 < n; i += 2) {
    s0 += m[i] * a[i] * b[i];
    s1 += m[i + 1] * a[i + 1] * b[i + 1];
  }
  if (i < n) s0 += m[i] * a[i] * b[i];
  return s0 + s1;
}

/** What truncated CG needs of a local model: gradient, Hessian, inner product, projection. */
type CgOperator = {
  g: Float64Array;
  hessian(v: Float64Array, out: Float64Array): void;
  dot(a: Float64Array, b: Float64Array): number;
  toTangent(v: Float64Array): void;
  /** Full coordinates of a vector of this operator's space. */
  expand(v: Float64Array): Float64Array;
};

function cgOperator<P>(model: LocalModel<P>): CgOperator {
  const reduction = model.reduction?.();
  if (reduction === undefined) {
    return {
      g: model.gradient(),
      hessian: (v, out) => model.hessian(v, out),
      dot,
      toTangent: (v) => model.toTangent(v),
      expand: (v) => v,
    };
  }
  const { weights: w, mass, expand } = reduction;
  return {
    g: new Float64Array(w.length).fill(1),
    hessian(v, out) {
      for (let i = 0; i < w.length; i++) out[i] = w[i] * v[i];
    },
    dot: (a, b) => weightedDot(mass, a, b),
    toTangent() {},
    expand,
  };
}

/** Workspace for truncated CG, reused across outer iterations. */
class TcgWorkspace {
  eta: Float64Array;
  Heta: Float64Array;
  r: Float64Array;
  delta: Float64Array;
  Hdelta: Float64Array;
  etaNew: Float64Array;
  HetaNew: Float64Array;
  constructor(n: number) {
    this.etaNew = new Float64Array(n);
    this.HetaNew = new Float64Array(n);
    this.eta = new Float64Array(n);
    this.Heta = new Float64Array(n);
    this.r = new Float64Array(n);
    this.delta = new Float64Array(n);
    this.Hdelta = new Float64Array(n);
  }
}

/**
 * Truncated (Steihaug–Toint) CG for `min ⟨g, η⟩ + ½⟨η, Hη⟩, ‖η‖ ≤ Δ` from η = 0, without
 * preconditioning, exactly as pymanopt 2.2. Leaves η and Hη in the workspace.
 */
function truncatedCg(
  model: CgOperator,
  radius: number,
  theta: number,
  kappa: number,
  minInner: number,
  maxInner: number,
  w: TcgWorkspace,
): { inner: number; stop: TcgStopReason } {
  const { eta, Heta, r, delta, Hdelta } = w;
  const { g, dot } = model;
  const n = g.length;
  eta.fill(0);
  Heta.fill(0);
  r.set(g);
  let ePe = 0;
  const rr = dot(r, r);
  const normR0 = Math.sqrt(rr);
  let zr = rr;
  let dPd = zr;
  for (let i = 0; i < n; i++) delta[i] = -r[i];
  let ePd = 0;
  let modelValue = 0;
  let stop: TcgStopReason = "max-inner-iterations";
  let j = 0;
  const radius2 = radius * radius;
  for (; j < maxInner; j++) {
    model.hessian(delta, Hdelta);
    const dHd = dot(delta, Hdelta);
    let alpha = 0, ePeNew = ePe;
    if (dHd !== 0) {
      alpha = zr / dHd;
      ePeNew = ePe + 2 * alpha * ePd + alpha * alpha * dPd;
    }
    if (dHd <= 0 || ePeNew >= radius2) {
      const tau = (-ePd + Math.sqrt(ePd * ePd + dPd * (radius2 - ePe))) / dPd;
      for (let i = 0; i < n; i++) {
        eta[i] += tau * delta[i];
        Heta[i] += tau * Hdelta[i];
      }
      stop = dHd <= 0 ? "negative-curvature" : "exceeded-trust-region";
      break;
    }
    ePe = ePeNew;
    const { etaNew, HetaNew } = w;
    for (let i = 0; i < n; i++) {
      etaNew[i] = eta[i] + alpha * delta[i];
      HetaNew[i] = Heta[i] + alpha * Hdelta[i];
    }
    const newModel = dot(etaNew, g) + 0.5 * dot(etaNew, HetaNew);
    if (newModel >= modelValue) {
      stop = "model-increased";
      break;
    }
    eta.set(etaNew);
    Heta.set(HetaNew);
    for (let i = 0; i < n; i++) r[i] += alpha * Hdelta[i];
    modelValue = newModel;
    const normR = Math.sqrt(dot(r, r));
    if (j >= minInner && normR <= normR0 * Math.min(normR0 ** theta, kappa)) {
      stop = kappa < normR0 ** theta ? "reached-target-linear" : "reached-target-superlinear";
      break;
    }
    const zrOld = zr;
    zr = dot(r, r);
    const beta = zr / zrOld;
    for (let i = 0; i < n; i++) delta[i] = -r[i] + beta * delta[i];
    model.toTangent(delta);
    ePd = beta * (ePd + alpha * dPd);
    dPd = zr + beta * beta * dPd;
  }
  return { inner: Math.min(j + 1, maxInner), stop };
}

/**
 * Minimises `problem` from `x0` by Riemannian trust-regions (pymanopt 2.2 semantics).
 *
 * @example
 * ```ts
 * import { randomNormal, Rng } from "../core/random.ts";
 * import { etfTrustRegionProblem } from "./etf_chart.ts";
 * import { EtfProblem } from "./etf_problem.ts";
 * import { eye } from "./matrix.ts";
 * const problem = etfTrustRegionProblem(new EtfProblem(randomNormal(new Rng(0), 16, 4), null, 0));
 * const x0 = eye(16, 4);
 * const result = trustRegions(problem, x0, { maxIterations: 30 });
 * ```
 */
export function trustRegions<P>(
  problem: TrustRegionProblem<P>,
  x0: P,
  options: TrustRegionOptions = {},
): TrustRegionResult<P> {
  const start = performance.now();
  const maxIterations = options.maxIterations ?? 1000;
  const minGradientNorm = options.minGradientNorm ?? 1e-6;
  const maxTime = options.maxTime ?? 1000;
  const maxRadius = options.maxRadius ?? problem.typicalDistance;
  let radius = options.initialRadius ?? maxRadius / 8;
  const kappa = options.kappa ?? 0.1, theta = options.theta ?? 1;
  const rhoPrime = options.rhoPrime ?? 0.1, rhoReg = options.rhoRegularisation ?? 1e3;
  const minInner = options.minInner ?? 1, maxInner = options.maxInner ?? problem.dimension;
  const elapsed = () => (performance.now() - start) / 1000;

  let x = x0;
  let fx = problem.cost(x);
  let model = problem.model(x);
  const log: IterationLog[] = [];
  const finish = (reason: StoppingReason, iterations: number): TrustRegionResult<P> => ({
    point: x,
    cost: fx,
    gradientNorm: model.gradientNorm,
    iterations,
    stoppingReason: reason,
    seconds: elapsed(),
    log,
  });
  if (maxIterations === 0) return finish("max-iterations", 0);
  if (model.gradientNorm < minGradientNorm) return finish("min-gradient-norm", 0);

  let work: TcgWorkspace | null = null;
  for (let iteration = 1;; iteration++) {
    const op = cgOperator(model);
    if (work === null || work.eta.length !== op.g.length) work = new TcgWorkspace(op.g.length);
    const { inner, stop } = truncatedCg(op, radius, theta, kappa, minInner, maxInner, work);
    const xProp = model.retract(op.expand(work.eta));
    const fProp = problem.cost(xProp);
    const reg = Math.max(1, Math.abs(fx)) * EPS * rhoReg;
    const rhoNum = fx - fProp + reg;
    const rhoDen = -op.dot(op.g, work.eta) - 0.5 * op.dot(work.eta, work.Heta) + reg;
    const modelDecreased = rhoDen >= 0;
    const rho = rhoNum / rhoDen;
    const usedRadius = radius;
    let radiusChange: IterationLog["radiusChange"] = "unchanged";
    if (rho < 0.25 || !modelDecreased || Number.isNaN(rho)) {
      radius /= 4;
      radiusChange = "decreased";
    } else if (rho > 0.75 && (stop === "negative-curvature" || stop === "exceeded-trust-region")) {
      radius = Math.min(2 * radius, maxRadius);
      radiusChange = "increased";
    }
    const accepted = modelDecreased && rho > rhoPrime;
    if (accepted) {
      x = xProp;
      fx = fProp;
      model = problem.model(x);
    }
    const entry: IterationLog = {
      iteration,
      cost: fx,
      gradientNorm: model.gradientNorm,
      radius: usedRadius,
      rho,
      accepted,
      radiusChange,
      innerIterations: inner,
      tcgStop: stop,
      seconds: elapsed(),
    };
    log.push(entry);
    options.onIteration?.(entry);
    // pymanopt's order: time, iterations, gradient norm.
    if (entry.seconds >= maxTime) return finish("max-time", iteration);
    if (iteration >= maxIterations) return finish("max-iterations", iteration);
    if (model.gradientNorm < minGradientNorm) return finish("min-gradient-norm", iteration);
  }
}
