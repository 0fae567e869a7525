import { InputError } from './errors.js';
import { mulberry32 } from './random.js';
import type { Matrix } from './tensor.js';

/**
 * KMeans, fitted once: seeded greedy k-means++ with several initialisations, keeping the lowest inertia
 * (scikit-learn's `n_init` behaviour). Two engines:
 * - `typed` (default): Lloyd iterations over one flat Float32Array, float64 accumulators, sklearn's tolerance rule
 *   (tol × mean feature variance) and empty clusters relocated to the farthest points. Hand-written because
 *   ml-kmeans converts rows to number[][] and is several times slower than scikit-learn (5-49× in BENCHMARKS.md runs).
 * - another `KMeansEngine`, run once per initialisation: the benchmark passes ml-kmeans (`mlKmeansEngine`,
 *   benchmarks/lib/kmeans-ml.ts) for its comparison. It is a separate module so that nothing else loads ml-kmeans and its
 *   dependencies (about 0.1 s at every CLI start).
 */
export interface KMeansParams {
  readonly nCluster: number;
  readonly seed: number;
  /** Independent k-means++ initialisations; the one with the lowest inertia wins (first one on ties). */
  readonly nInit: number;
  readonly maxIterations: number;
  /** Convergence: total squared centre shift ≤ tolerance × mean per-feature variance (scikit-learn's rule). */
  readonly tolerance: number;
  readonly engine?: 'typed' | KMeansEngine;
}

/** A k-means implementation other than `typed`, run once per initialisation seed. */
export interface KMeansEngine {
  /** Centres (k × dim, row-major) and iterations from one initialisation with `seed`. */
  run(x: Matrix, k: number, seed: number, opts: { readonly maxIterations: number; readonly tolerance: number }): { centres: Float32Array; iterations: number };
}

export const KMEANS_DEFAULTS = { nInit: 4, maxIterations: 300, tolerance: 1e-4 } as const;

export interface KMeansFit {
  /** nCluster × dim, row-major. */
  readonly centres: Float32Array;
  readonly nCluster: number;
  readonly dim: number;
  /** Sum of squared distances of samples to their nearest centre. */
  readonly inertia: number;
  readonly iterations: number;
}

export const N_CLUSTER_MIN = 2;
export const N_CLUSTER_MAX = 100;

export function validateNCluster(nCluster: unknown, nSamples: number, field = 'nCluster'): number {
  if (typeof nCluster !== 'number' || !Number.isInteger(nCluster)) throw new InputError(field, `must be an integer, got ${String(nCluster)}`);
  if (nCluster < N_CLUSTER_MIN || nCluster > N_CLUSTER_MAX) {
    throw new InputError(field, `nCluster=${nCluster} must be in ${N_CLUSTER_MIN}..${N_CLUSTER_MAX}`);
  }
  if (nCluster > nSamples) throw new InputError(field, `n_samples=${nSamples} should be >= nCluster=${nCluster}`);
  return nCluster;
}

/** Seeds for the initialisations, derived from the user's seed (deterministic, distinct). */
function initSeeds(seed: number, n: number): number[] {
  const out: number[] = [];
  let s = (seed >>> 0) ^ 0x9e3779b9;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    out.push(i === 0 ? seed : s);
  }
  return out;
}

/** Squared distance from row r of x to every centre; returns the nearest centre's squared distance. */
function nearestSq(x: Float32Array, r: number, dim: number, centres: Float32Array | Float64Array, k: number): number {
  let best = Infinity;
  const o = r * dim;
  for (let j = 0; j < k; j++) {
    let d = 0;
    const c = j * dim;
    for (let i = 0; i < dim; i++) {
      const t = x[o + i]! - centres[c + i]!;
      d += t * t;
    }
    if (d < best) best = d;
  }
  return best;
}

function inertiaOf(x: Matrix, centres: Float32Array | Float64Array, k: number): number {
  let s = 0;
  for (let r = 0; r < x.rows; r++) s += nearestSq(x.data, r, x.cols, centres, k);
  return s;
}

/**
 * Everything the initialisations of one fit share, fixed before any of them runs: the validated cluster count, one
 * seed per initialisation, the convergence tolerance and the bound slack. Plain data, so a caller may run the
 * initialisations elsewhere (src/service/fit-runner.ts runs them on several threads) and pick the winner with
 * `bestKMeans`: the result is the same, bit for bit, however they are spread.
 */
export interface KMeansPlan {
  readonly nCluster: number;
  readonly seeds: readonly number[];
  readonly maxIterations: number;
  /** As given (another engine applies its own rule to it). */
  readonly tolerance: number;
  /** tolerance × mean per-feature variance: the typed engine's bound on the total squared centre shift. */
  readonly tol: number;
  readonly slack: number;
}

/** One initialisation's outcome; `undefined` when it ended with an empty cluster (unusable). */
export type KMeansRun = { readonly centres: Float32Array; readonly iterations: number; readonly inertia: number } | undefined;

/** Validates the parameters against x and fixes the plan (one pass over the data for the tolerance and slack). */
export function planKMeans(x: Matrix, params: Omit<KMeansParams, 'engine'>): KMeansPlan {
  const k = validateNCluster(params.nCluster, x.rows);
  if (!Number.isInteger(params.nInit) || params.nInit < 1) throw new InputError('nInit', `must be a positive integer, got ${params.nInit}`);
  if (!Number.isInteger(params.maxIterations) || params.maxIterations < 1) throw new InputError('maxIterations', `must be a positive integer, got ${params.maxIterations}`);
  if (!Number.isInteger(params.seed)) throw new InputError('seed', `must be an integer, got ${params.seed}`);
  const distinct = countDistinctRows(x, k);
  if (distinct < k) {
    const fix = distinct >= N_CLUSTER_MIN ? `use nCluster <= ${distinct} or more varied training data` : `clustering needs at least ${N_CLUSTER_MIN} distinct rows: use more varied training data`;
    throw new InputError('nCluster', `nCluster=${k} but the features have only ${distinct} distinct row${distinct === 1 ? '' : 's'}; ${fix}`);
  }
  return { nCluster: k, seeds: initSeeds(params.seed, params.nInit), maxIterations: params.maxIterations, tolerance: params.tolerance, tol: params.tolerance * meanVariance(x), slack: boundSlack(x) };
}

/** Runs initialisation `i` of the plan: k-means++ from its seed, then Lloyd (or one run of another engine). */
export function runKMeansInit(x: Matrix, plan: KMeansPlan, i: number, engine: KMeansParams['engine'] = 'typed'): KMeansRun {
  const seed = plan.seeds[i];
  if (seed === undefined) throw new RangeError(`initialisation ${i} is not in the plan (0..${plan.seeds.length - 1})`);
  const k = plan.nCluster;
  if (engine !== 'typed') {
    const { centres, iterations } = engine.run(x, k, seed, plan);
    return centres.some((v) => !Number.isFinite(v)) ? undefined : { centres, iterations, inertia: inertiaOf(x, centres, k) };
  }
  const init = seedCentres(x, k, seed);
  const r = lloyd(x, init.centres, k, plan.maxIterations, plan.tol, plan.slack, init);
  return r.centres.some((v) => !Number.isFinite(v)) ? undefined : r;
}

/** The run with the lowest inertia, the first one (in plan order) on ties: scikit-learn's `n_init` rule. */
export function bestKMeans(plan: KMeansPlan, runs: readonly KMeansRun[], dim: number): KMeansFit {
  if (runs.length !== plan.seeds.length) throw new RangeError(`${runs.length} runs for a plan of ${plan.seeds.length} initialisations`);
  let best: KMeansFit | undefined;
  for (const r of runs) {
    if (r && (!best || r.inertia < best.inertia)) best = { centres: r.centres, nCluster: plan.nCluster, dim, inertia: r.inertia, iterations: r.iterations };
  }
  if (!best) {
    throw new InputError('nCluster', `nCluster=${plan.nCluster} leaves empty clusters in every initialisation (${plan.seeds.length} tried)`);
  }
  return best;
}

export function fitKMeans(x: Matrix, params: KMeansParams): KMeansFit {
  const plan = planKMeans(x, params);
  return bestKMeans(plan, plan.seeds.map((_, i) => runKMeansInit(x, plan, i, params.engine)), x.cols);
}

/**
 * The number of distinct rows of x, counting only up to `limit` (it stops there, so on ordinary data it reads about
 * `limit` rows). With fewer distinct rows than clusters some centres must coincide or be empty: an input error, the
 * same one whichever way the iterations go. −0 and +0 count as equal.
 */
export function countDistinctRows(x: Matrix, limit: number): number {
  const seen = new Set<string>();
  const row = new Float32Array(x.cols);
  const bytes = new Uint8Array(row.buffer);
  const decoder = new TextDecoder('latin1');
  for (let r = 0; r < x.rows && seen.size < limit; r++) {
    for (let c = 0; c < x.cols; c++) row[c] = x.data[r * x.cols + c]! + 0;
    seen.add(decoder.decode(bytes));
  }
  return seen.size;
}

/** Mean per-feature variance: the scale of scikit-learn's tolerance rule. */
export function meanVariance(x: Matrix): number {
  const { data, rows, cols } = x;
  const mean = new Float64Array(cols);
  for (let r = 0; r < rows; r++) for (let i = 0; i < cols; i++) mean[i] += data[r * cols + i]!;
  for (let i = 0; i < cols; i++) mean[i] /= rows;
  let v = 0;
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < cols; i++) {
      const t = data[r * cols + i]! - mean[i]!;
      v += t * t;
    }
  }
  return v / (rows * cols);
}

function sqDist(a: Float32Array, ao: number, b: Float32Array | Float64Array, bo: number, d: number): number {
  // Unrolled by four with the one accumulator, so the additions happen in the same order (the same rounding) as the
  // plain loop: only the loop overhead goes. (drift.ts's sqDist sums in four lanes, which is faster but rounds
  // differently; here the plain order keeps every centre and assignment those of the plain algorithm.)
  let s = 0;
  let i = 0;
  for (const end = d - 3; i < end; i += 4) {
    const t0 = a[ao + i]! - b[bo + i]!;
    const t1 = a[ao + i + 1]! - b[bo + i + 1]!;
    const t2 = a[ao + i + 2]! - b[bo + i + 2]!;
    const t3 = a[ao + i + 3]! - b[bo + i + 3]!;
    s += t0 * t0;
    s += t1 * t1;
    s += t2 * t2;
    s += t3 * t3;
  }
  for (; i < d; i++) {
    const t = a[ao + i]! - b[bo + i]!;
    s += t * t;
  }
  return s;
}

/**
 * The squared distances from a[ao..ao+d) to b[b0..b0+d) and to b[b1..b1+d), into out[at] and out[at + 1]: each sum in
 * index order, as `sqDist` adds (the same rounding), in two independent chains the CPU overlaps, reading a once.
 */
function sqDistPair(a: Float32Array, ao: number, b: Float32Array, b0: number, b1: number, d: number, out: Float64Array, at: number): void {
  let s0 = 0;
  let s1 = 0;
  for (let i = 0; i < d; i++) {
    const v = a[ao + i]!;
    const t0 = v - b[b0 + i]!;
    const t1 = v - b[b1 + i]!;
    s0 += t0 * t0;
    s1 += t1 * t1;
  }
  out[at] = s0;
  out[at + 1] = s1;
}

/**
 * `sqDistPair` for four rows of b (into out[at..at+3]): four independent chains of additions, each in index order. One
 * chain alone waits on each addition's latency; four chains fill that wait.
 */
function sqDistQuad(a: Float32Array, ao: number, b: Float32Array, b0: number, b1: number, b2: number, b3: number, d: number, out: Float64Array, at: number): void {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  for (let i = 0; i < d; i++) {
    const v = a[ao + i]!;
    const t0 = v - b[b0 + i]!;
    const t1 = v - b[b1 + i]!;
    const t2 = v - b[b2 + i]!;
    const t3 = v - b[b3 + i]!;
    s0 += t0 * t0;
    s1 += t1 * t1;
    s2 += t2 * t2;
    s3 += t3 * t3;
  }
  out[at] = s0;
  out[at + 1] = s1;
  out[at + 2] = s2;
  out[at + 3] = s3;
}

/**
 * out[j] = sqDist(a, ao, b, off[j], d) for j < count, bit for bit, computed four rows (then two, then one) at a time so
 * that the chains of additions overlap.
 */
function sqDistMany(a: Float32Array, ao: number, b: Float32Array, off: Int32Array, count: number, d: number, out: Float64Array): void {
  let j = 0;
  for (; j + 3 < count; j += 4) sqDistQuad(a, ao, b, off[j]!, off[j + 1]!, off[j + 2]!, off[j + 3]!, d, out, j);
  if (j + 1 < count) {
    sqDistPair(a, ao, b, off[j]!, off[j + 1]!, d, out, j);
    j += 2;
  }
  if (j < count) out[j] = sqDist(a, ao, b, off[j]!, d);
}

/** sums[so..so+d) += data[o..o+d), unrolled by four (each element's additions stay in row order). */
function addRow(sums: Float64Array, so: number, data: Float32Array, o: number, d: number): void {
  let i = 0;
  for (const end = d - 3; i < end; i += 4) {
    sums[so + i] += data[o + i]!;
    sums[so + i + 1] += data[o + i + 1]!;
    sums[so + i + 2] += data[o + i + 2]!;
    sums[so + i + 3] += data[o + i + 3]!;
  }
  for (; i < d; i++) sums[so + i] += data[o + i]!;
}

/**
 * Absolute slack for the triangle-inequality shortcuts below: 1e-9 × a bound on every distance in the data's hull.
 * Rounding in the bounds is ~1e-13 of that scale, so a point is only skipped when the skip is certain; every other
 * point is computed exactly as the plain algorithm does, which keeps results identical to it.
 */
function boundSlack(x: Matrix): number {
  let m = 0;
  for (let i = 0; i < x.data.length; i++) {
    const v = Math.abs(x.data[i]!);
    if (v > m) m = v;
  }
  return 1e-9 * m * Math.sqrt(x.cols);
}

/**
 * Greedy k-means++ (scikit-learn's variant: 2 + ⌊ln k⌋ candidates per step, keep the one that lowers the potential most).
 * All candidates of a step are scored in one pass over the data, each point's distances to all of them computed
 * together. No point is skipped: a triangle-inequality skip (a point whose nearest chosen centre is closer than half its
 * distance to a candidate) was tried and saved ~40% of the distances, but whether a point is skipped is unpredictable
 * from one point to the next, and the mispredicted branches cost more than the distances they saved (on 60k×10, 60k×84
 * and k 50 alike).
 */
export function kmeansPlusPlus(x: Matrix, k: number, seed: number): Float32Array {
  return seedCentres(x, k, seed).centres;
}

/**
 * Where k-means++ leaves every point: its nearest chosen centre (the first one on ties, as a full scan picks it) and
 * the squared distance to it, computed as a full scan computes it. Lloyd's first assignment, without its scan.
 */
export interface SeedAssignment {
  readonly assign: Int32Array;
  readonly dist2: Float64Array;
}

/** `kmeansPlusPlus`, also returning the points' assignment to the chosen centres. */
function seedCentres(x: Matrix, k: number, seed: number): { centres: Float32Array } & SeedAssignment {
  const { data, rows: n, cols: d } = x;
  const rnd = mulberry32(seed);
  const centres = new Float32Array(k * d);
  const trials = 2 + Math.floor(Math.log(k));
  const first = Math.floor(rnd() * n);
  centres.set(data.subarray(first * d, (first + 1) * d), 0);
  const closest = new Float64Array(n);
  const near = new Int32Array(n); // index of the chosen centre at distance² closest[r]
  let pot = 0;
  for (let r = 0; r < n; r++) pot += closest[r] = sqDist(data, r * d, centres, 0, d);
  const cand = new Float64Array(trials * n);
  const idx = new Int32Array(trials);
  const pots = new Float64Array(trials);
  const off = new Int32Array(trials); // row offsets of the candidates
  const dist = new Float64Array(trials);
  for (let c = 1; c < k; c++) {
    for (let t = 0; t < trials; t++) {
      // sample proportional to closest distance²
      let u = rnd() * pot;
      let i = 0;
      for (; i < n - 1; i++) {
        u -= closest[i]!;
        if (u <= 0) break;
      }
      idx[t] = i;
      off[t] = i * d;
    }
    pots.fill(0);
    for (let r = 0; r < n; r++) {
      const cl = closest[r]!;
      sqDistMany(data, r * d, data, off, trials, d, dist);
      for (let t = 0; t < trials; t++) {
        // the nearer of the chosen centres and candidate t, as a full scan in centre order keeps it (strictly nearer)
        const dd = dist[t]!;
        const v = dd < cl ? dd : cl;
        cand[t * n + r] = v;
        pots[t] += v;
      }
    }
    let bestPot = Infinity;
    let best = 0;
    for (let t = 0; t < trials; t++) {
      if (pots[t]! < bestPot) {
        bestPot = pots[t]!;
        best = t;
      }
    }
    const bi = idx[best]!;
    centres.set(data.subarray(bi * d, (bi + 1) * d), c * d);
    const o = best * n;
    for (let r = 0; r < n; r++) {
      if (cand[o + r]! < closest[r]!) {
        closest[r] = cand[o + r]!;
        near[r] = c;
      }
    }
    pot = bestPot;
  }
  return { centres, assign: near, dist2: closest };
}

/** Half the distance from each centre to its nearest other centre. */
function halfGaps(centres: Float32Array, k: number, d: number, out: Float64Array): void {
  out.fill(Infinity);
  for (let j = 0; j < k; j++) {
    for (let l = j + 1; l < k; l++) {
      const g = Math.sqrt(sqDist(centres, j * d, centres, l * d, d)) / 2;
      if (g < out[j]!) out[j] = g;
      if (g < out[l]!) out[l] = g;
    }
  }
}

/**
 * Assigns every point its nearest centre (first one on ties), as a full scan would, skipping the scan where Hamerly's
 * bounds prove the current centre nearest by more than `slack`: `upper[r]` ≥ distance to the assigned centre,
 * `lower[r]` ≤ distance to every other one. Returns how many assignments changed.
 */
function assignNearest(x: Matrix, centres: Float32Array, k: number, assign: Int32Array, upper: Float64Array, lower: Float64Array, half: Float64Array, slack: number): number {
  const { data, rows: n, cols: d } = x;
  const off = new Int32Array(k);
  for (let j = 0; j < k; j++) off[j] = j * d;
  const dist = new Float64Array(k);
  halfGaps(centres, k, d, half);
  let changed = 0;
  for (let r = 0; r < n; r++) {
    const a = assign[r]!;
    const o = r * d;
    if (a >= 0) {
      const h = half[a]!;
      const bound = (h > lower[r]! ? h : lower[r]!) - slack;
      if (upper[r]! < bound) continue;
      const u = Math.sqrt(sqDist(data, o, centres, a * d, d));
      upper[r] = u;
      if (u < bound) continue;
    }
    // all distances first (overlapping chains of additions), then compared in centre order
    sqDistMany(data, o, centres, off, k, d, dist);
    let best = Infinity;
    let second = Infinity;
    let bj = 0;
    for (let j = 0; j < k; j++) {
      const dd = dist[j]!;
      if (dd < best) {
        second = best;
        best = dd;
        bj = j;
      } else if (dd < second) second = dd;
    }
    if (a !== bj) changed++;
    assign[r] = bj;
    upper[r] = Math.sqrt(best);
    lower[r] = Math.sqrt(second);
  }
  return changed;
}

/**
 * Lloyd iterations from the given centres until no assignment changes, the total squared shift ≤ tol, or
 * maxIterations; also returns the inertia of the returned centres. Hamerly's bounds skip distance scans that cannot
 * change an assignment, so assignments, centres, iteration count and inertia equal those of plain Lloyd. `start`:
 * k-means++'s assignment to `init` (`seedCentres`), whose arrays Lloyd takes over as its own.
 */
export function lloyd(x: Matrix, init: Float32Array, k: number, maxIterations: number, tol: number, slack = boundSlack(x), start?: SeedAssignment): { centres: Float32Array; iterations: number; inertia: number } {
  const { data, rows: n, cols: d } = x;
  let centres = Float32Array.from(init);
  const sums = new Float64Array(k * d);
  const counts = new Float64Array(k);
  const assign = start ? start.assign : new Int32Array(n).fill(-1);
  const upper = start ? start.dist2 : new Float64Array(n).fill(Infinity);
  // Given k-means++'s assignment (each point's nearest centre, found as the first scan finds it), the first scan is
  // skipped: the upper bound is that distance, and 0 bounds the distance to every other centre from below.
  if (start) for (let r = 0; r < n; r++) upper[r] = Math.sqrt(upper[r]!);
  const lower = new Float64Array(n);
  const half = new Float64Array(k);
  const move = new Float64Array(k);
  let dist: Float64Array | undefined;
  let it = 0;
  while (it < maxIterations) {
    it++;
    // every point changes in the first assignment (from none to its nearest centre)
    const changed = start && it === 1 ? n : assignNearest(x, centres, k, assign, upper, lower, half, slack);
    sums.fill(0);
    counts.fill(0);
    for (let r = 0; r < n; r++) {
      const bj = assign[r]!;
      counts[bj]++;
      addRow(sums, bj * d, data, r * d, d);
    }
    // relocate empty clusters to the points farthest from their centre (scikit-learn's rule)
    for (let j = 0; j < k; j++) {
      if (counts[j]! > 0) continue;
      if (!dist) {
        dist = new Float64Array(n);
        for (let r = 0; r < n; r++) dist[r] = sqDist(data, r * d, centres, assign[r]! * d, d);
      }
      let far = 0;
      for (let r = 1; r < n; r++) if (dist[r]! > dist[far]!) far = r;
      const from = assign[far]!;
      counts[from]--;
      for (let i = 0; i < d; i++) sums[from * d + i] -= data[far * d + i]!;
      counts[j] = 1;
      for (let i = 0; i < d; i++) sums[j * d + i] = data[far * d + i]!;
      assign[far] = j;
      dist[far] = 0;
      upper[far] = Infinity; // its bounds no longer hold: scan it next time
      lower[far] = 0;
    }
    dist = undefined;
    if (changed === 0) break; // strict convergence: centres are already the means of their clusters
    const next = new Float32Array(k * d);
    let shift = 0;
    for (let j = 0; j < k; j++) {
      for (let i = 0; i < d; i++) {
        const v = sums[j * d + i]! / counts[j]!;
        next[j * d + i] = v;
        const t = v - centres[j * d + i]!;
        shift += t * t;
      }
    }
    // move the bounds with the centres
    let max1 = 0;
    let max2 = 0;
    let arg1 = -1;
    for (let j = 0; j < k; j++) {
      const m = Math.sqrt(sqDist(next, j * d, centres, j * d, d));
      move[j] = m;
      if (m > max1) {
        max2 = max1;
        max1 = m;
        arg1 = j;
      } else if (m > max2) max2 = m;
    }
    for (let r = 0; r < n; r++) {
      const a = assign[r]!;
      upper[r] += move[a]!;
      lower[r] -= a === arg1 ? max2 : max1;
    }
    centres = next;
    if (shift <= tol) break;
  }
  // inertia of the final centres: nearest distance² per point, summed in row order
  assignNearest(x, centres, k, assign, upper, lower, half, slack);
  let inertia = 0;
  for (let r = 0; r < n; r++) inertia += sqDist(data, r * d, centres, assign[r]! * d, d);
  return { centres, iterations: it, inertia };
}
