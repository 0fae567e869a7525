import { kmeans } from 'ml-kmeans';
import { InputError } from './errors.js';
import type { Matrix } from './tensor.js';

/**
 * KMeans, fitted once: seeded k-means++ with several initialisations, keeping the lowest inertia
 * (scikit-learn's `n_init` behaviour). Backed by ml-kmeans; inertia is computed here in float64.
 */
export interface KMeansParams {
  readonly nCluster: number;
  readonly seed: number;
  /** Independent k-means++ initialisations; the one with the lowest inertia wins (first one on ties). */
  readonly nInit: number;
  readonly maxIterations: number;
  readonly tolerance: number;
}

export const KMEANS_DEFAULTS = { nInit: 4, maxIterations: 300, tolerance: 1e-6 } as const;

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
  const rows: number[][] = new Array(x.rows);
  for (let r = 0; r < x.rows; r++) rows[r] = Array.from(x.data.subarray(r * x.cols, (r + 1) * x.cols));
  let best: KMeansFit | undefined;
  for (const seed of initSeeds(params.seed, params.nInit)) {
    const res = kmeans(rows, k, { initialization: 'kmeans++', seed, maxIterations: params.maxIterations, tolerance: params.tolerance });
    const centres = new Float32Array(k * x.cols);
    for (let j = 0; j < k; j++) centres.set(res.centroids[j]!, j * x.cols);
    if (centres.some((v) => !Number.isFinite(v))) continue; // an empty cluster: this initialisation is unusable
    const inertia = inertiaOf(x, centres, k);
    if (!best || inertia < best.inertia) best = { centres, nCluster: k, dim: x.cols, inertia, iterations: res.iterations };
  }
  if (!best) {
    throw new InputError('nCluster', `nCluster=${k} leaves empty clusters in every initialisation; the features have fewer than ${k} distinct values`);
  }
  return best;
}
