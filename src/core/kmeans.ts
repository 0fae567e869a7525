import { kmeans } from 'ml-kmeans';
import { InputError } from './errors.js';
import { mulberry32 } from './random.js';
import type { Matrix } from './tensor.js';

/**
 * KMeans, fitted once: seeded greedy k-means++ with several initialisations, keeping the lowest inertia
 * (scikit-learn's `n_init` behaviour). Two engines:
 * - `typed` (default): Lloyd iterations over one flat Float32Array, float64 accumulators, sklearn's tolerance rule
 *   (tol × mean feature variance) and empty clusters relocated to the farthest points. Hand-written because
 *   ml-kmeans converts rows to number[][] and was ~50× slower than scikit-learn on 60k×10 (BENCHMARKS.md).
 * - `ml-kmeans`: the library, kept for comparison in the benchmark.
 */
export interface KMeansParams {
  readonly nCluster: number;
  readonly seed: number;
  /** Independent k-means++ initialisations; the one with the lowest inertia wins (first one on ties). */
  readonly nInit: number;
  readonly maxIterations: number;
  /** Convergence: total squared centre shift ≤ tolerance × mean per-feature variance (scikit-learn's rule). */
  readonly tolerance: number;
  readonly engine?: 'typed' | 'ml-kmeans';
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

export function inertiaOf(x: Matrix, centres: Float32Array | Float64Array, k: number): number {
  let s = 0;
  for (let r = 0; r < x.rows; r++) s += nearestSq(x.data, r, x.cols, centres, k);
  return s;
}

export function fitKMeans(x: Matrix, params: KMeansParams): KMeansFit {
  const k = validateNCluster(params.nCluster, x.rows);
  if (!Number.isInteger(params.nInit) || params.nInit < 1) throw new InputError('nInit', `must be a positive integer, got ${params.nInit}`);
  if (!Number.isInteger(params.seed)) throw new InputError('seed', `must be an integer, got ${params.seed}`);
  let best: KMeansFit | undefined;
  let rows: number[][] | undefined;
  const tol = params.tolerance * meanVariance(x);
  for (const seed of initSeeds(params.seed, params.nInit)) {
    let centres: Float32Array;
    let iterations: number;
    if (params.engine === 'ml-kmeans') {
      rows ??= Array.from({ length: x.rows }, (_, r) => Array.from(x.data.subarray(r * x.cols, (r + 1) * x.cols)));
      const res = kmeans(rows, k, { initialization: 'kmeans++', seed, maxIterations: params.maxIterations, tolerance: params.tolerance });
      centres = new Float32Array(k * x.cols);
      for (let j = 0; j < k; j++) centres.set(res.centroids[j]!, j * x.cols);
      iterations = res.iterations;
    } else {
      ({ centres, iterations } = lloyd(x, kmeansPlusPlus(x, k, seed), k, params.maxIterations, tol));
    }
    if (centres.some((v) => !Number.isFinite(v))) continue; // an empty cluster: this initialisation is unusable
    const inertia = inertiaOf(x, centres, k);
    if (!best || inertia < best.inertia) best = { centres, nCluster: k, dim: x.cols, inertia, iterations };
  }
  if (!best) {
    throw new InputError('nCluster', `nCluster=${k} leaves empty clusters in every initialisation; the features have fewer than ${k} distinct values`);
  }
  return best;
}

function meanVariance(x: Matrix): number {
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
  let s = 0;
  for (let i = 0; i < d; i++) {
    const t = a[ao + i]! - b[bo + i]!;
    s += t * t;
  }
  return s;
}

/** Greedy k-means++ (scikit-learn's variant: 2 + ⌊ln k⌋ candidates per step, keep the one that lowers the potential most). */
export function kmeansPlusPlus(x: Matrix, k: number, seed: number): Float32Array {
  const { data, rows: n, cols: d } = x;
  const rnd = mulberry32(seed);
  const centres = new Float32Array(k * d);
  const trials = 2 + Math.floor(Math.log(k));
  let first = Math.floor(rnd() * n);
  centres.set(data.subarray(first * d, (first + 1) * d), 0);
  const closest = new Float64Array(n);
  let pot = 0;
  for (let r = 0; r < n; r++) pot += closest[r] = sqDist(data, r * d, centres, 0, d);
  const cand = new Float64Array(n);
  const bestD = new Float64Array(n);
  for (let c = 1; c < k; c++) {
    let bestPot = Infinity;
    let bestIdx = -1;
    for (let t = 0; t < trials; t++) {
      // sample proportional to closest distance²
      let u = rnd() * pot;
      let idx = 0;
      for (; idx < n - 1; idx++) {
        u -= closest[idx]!;
        if (u <= 0) break;
      }
      let p = 0;
      for (let r = 0; r < n; r++) {
        const dd = sqDist(data, r * d, data, idx * d, d);
        cand[r] = dd < closest[r]! ? dd : closest[r]!;
        p += cand[r]!;
      }
      if (p < bestPot) {
        bestPot = p;
        bestIdx = idx;
        bestD.set(cand);
      }
    }
    first = bestIdx;
    centres.set(data.subarray(bestIdx * d, (bestIdx + 1) * d), c * d);
    closest.set(bestD);
    pot = bestPot;
  }
  return centres;
}

/** Lloyd iterations from the given centres until the total squared shift ≤ tol or maxIterations. */
export function lloyd(x: Matrix, init: Float32Array, k: number, maxIterations: number, tol: number): { centres: Float32Array; iterations: number } {
  const { data, rows: n, cols: d } = x;
  let centres = Float32Array.from(init);
  const sums = new Float64Array(k * d);
  const counts = new Float64Array(k);
  const assign = new Int32Array(n);
  const dist = new Float64Array(n);
  assign.fill(-1);
  let it = 0;
  while (it < maxIterations) {
    it++;
    sums.fill(0);
    counts.fill(0);
    let changed = 0;
    for (let r = 0; r < n; r++) {
      let best = Infinity;
      let bj = 0;
      for (let j = 0; j < k; j++) {
        const dd = sqDist(data, r * d, centres, j * d, d);
        if (dd < best) {
          best = dd;
          bj = j;
        }
      }
      if (assign[r] !== bj) changed++;
      assign[r] = bj;
      dist[r] = best;
      counts[bj]++;
      const o = r * d;
      const so = bj * d;
      for (let i = 0; i < d; i++) sums[so + i] += data[o + i]!;
    }
    // relocate empty clusters to the points farthest from their centre (scikit-learn's rule)
    for (let j = 0; j < k; j++) {
      if (counts[j]! > 0) continue;
      let far = 0;
      for (let r = 1; r < n; r++) if (dist[r]! > dist[far]!) far = r;
      const from = assign[far]!;
      counts[from]--;
      for (let i = 0; i < d; i++) sums[from * d + i] -= data[far * d + i]!;
      counts[j] = 1;
      for (let i = 0; i < d; i++) sums[j * d + i] = data[far * d + i]!;
      assign[far] = j;
      dist[far] = 0;
    }
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
    centres = next;
    if (shift <= tol) break;
  }
  return { centres, iterations: it };
}
