import { InputError } from './errors.js';
import { mulberry32 } from './random.js';
import { binomialTestGreater } from './stats.js';
import { assertFinite, type Matrix } from './tensor.js';

/**
 * Batch drift tests for audits and streams. One result shape for all (as Alibi Detect):
 * `{ isDrift, pValue, statistic, test, threshold: alpha }`.
 */
export interface DriftResult {
  readonly isDrift: boolean;
  readonly pValue: number;
  readonly statistic: number;
  readonly test: 'binomial' | 'mmd' | 'ks';
  readonly alpha: number;
  readonly meta: Readonly<Record<string, number>>;
}

function checkAlpha(alpha: number): void {
  if (!(alpha > 0 && alpha < 1)) throw new InputError('alpha', `must be in (0, 1), got ${alpha}`);
}

/** (a) The window's OOD flag rate exceeds the calibrated baseline rate: exact one-sided binomial test. */
export function binomialDrift(flags: ArrayLike<number>, baselineRate: number, alpha = 0.05): DriftResult {
  checkAlpha(alpha);
  const n = flags.length;
  if (n === 0) throw new InputError('data', 'is empty');
  let k = 0;
  for (let i = 0; i < n; i++) k += flags[i]! ? 1 : 0;
  const pValue = binomialTestGreater(k, n, baselineRate);
  return { isDrift: pValue < alpha, pValue, statistic: k / n, test: 'binomial', alpha, meta: { flagged: k, n, baselineRate } };
}

/** Two-sample Kolmogorov–Smirnov statistic D = sup |F_a − F_b|, exact over the merged sample (ties handled). */
export function ksStatistic(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const x = Float64Array.from(a).sort();
  const y = Float64Array.from(b).sort();
  let i = 0;
  let j = 0;
  let d = 0;
  while (i < x.length && j < y.length) {
    const v = Math.min(x[i]!, y[j]!);
    while (i < x.length && x[i] === v) i++;
    while (j < y.length && y[j] === v) j++;
    d = Math.max(d, Math.abs(i / x.length - j / y.length));
  }
  return d;
}

/** Asymptotic Kolmogorov distribution survival Q(λ) = 2 Σ (−1)^{k−1} e^{−2k²λ²}, with Stephens' small-sample correction. */
export function ksPValue(d: number, n: number, m: number): number {
  const en = Math.sqrt((n * m) / (n + m));
  const lambda = (en + 0.12 + 0.11 / en) * d;
  if (lambda < 1e-3) return 1;
  let sum = 0;
  for (let k = 1; k <= 100; k++) {
    const term = 2 * (k % 2 ? 1 : -1) * Math.exp(-2 * k * k * lambda * lambda);
    sum += term;
    if (Math.abs(term) < 1e-12) break;
  }
  return Math.min(1, Math.max(0, sum));
}

/** (c) KS on detector scores of a reference window vs the new window. */
export function ksDrift(reference: ArrayLike<number>, data: ArrayLike<number>, alpha = 0.05): DriftResult {
  checkAlpha(alpha);
  if (!reference.length || !data.length) throw new InputError(reference.length ? 'data' : 'reference', 'is empty');
  const d = ksStatistic(reference, data);
  const pValue = ksPValue(d, reference.length, data.length);
  return { isDrift: pValue < alpha, pValue, statistic: d, test: 'ks', alpha, meta: { nReference: reference.length, n: data.length } };
}

export interface MmdOptions {
  readonly permutations?: number;
  readonly seed?: number;
  readonly alpha?: number;
}

/**
 * (b) Two-sample MMD² with an RBF kernel k(x,y) = exp(−‖x−y‖² / (2σ²)), bandwidth by the median heuristic:
 * 2σ² = median pairwise squared distance of the pooled sample. Permutation p-value (1 + #{MMD²_π ≥ MMD²}) / (1 + P).
 *
 * Vectorised permutations: with N = n + m pooled points and kernel matrix K, each permutation is a ±-weight vector w_π
 * (1/n on the first block, −1/m on the second), and MMD²_π = w_πᵀ K w_π (biased V-statistic). All P permutations are
 * done at once as W (N×P): one pass over K computes K·W row by row, then each column's dot product — no per-permutation
 * pass over the kernel.
 */
export function mmdDrift(reference: Matrix, data: Matrix, opts: MmdOptions = {}): DriftResult {
  const alpha = opts.alpha ?? 0.05;
  checkAlpha(alpha);
  const P = opts.permutations ?? 500;
  if (!Number.isInteger(P) || P < 1) throw new InputError('permutations', `must be a positive integer, got ${P}`);
  if (reference.cols !== data.cols) throw new InputError('data', `has ${data.cols} features; the reference has ${reference.cols}`);
  const n = reference.rows;
  const m = data.rows;
  if (n < 2 || m < 2) throw new InputError(n < 2 ? 'reference' : 'data', 'needs at least 2 samples');
  assertFinite(reference.data, reference.cols, 'reference', 'feature');
  assertFinite(data.data, data.cols, 'data', 'feature');
  const N = n + m;
  const d = reference.cols;
  const row = (i: number) => (i < n ? reference.data.subarray(i * d, (i + 1) * d) : data.data.subarray((i - n) * d, (i - n + 1) * d));
  const D2 = new Float64Array(N * N);
  for (let i = 0; i < N; i++) {
    const a = row(i);
    for (let j = i + 1; j < N; j++) {
      const b = row(j);
      let s = 0;
      for (let t = 0; t < d; t++) {
        const u = a[t]! - b[t]!;
        s += u * u;
      }
      D2[i * N + j] = s;
      D2[j * N + i] = s;
    }
  }
  const off = new Float64Array((N * (N - 1)) / 2);
  let q = 0;
  for (let i = 0; i < N; i++) for (let j = i + 1; j < N; j++) off[q++] = D2[i * N + j]!;
  off.sort();
  const med = off[Math.floor(off.length / 2)]!;
  const gamma = med > 0 ? 1 / med : 1; // exp(−‖x−y‖²/med) = RBF with 2σ² = median
  const K = D2; // the kernel overwrites the distances in place: one N×N buffer instead of two
  for (let i = 0; i < K.length; i++) K[i] = Math.exp(-gamma * K[i]!);
  // Weight matrix W: column 0 is the observed split, columns 1..P random permutations.
  const cols = P + 1;
  const W = new Float64Array(N * cols);
  const rnd = mulberry32(opts.seed ?? 0);
  const perm = Int32Array.from({ length: N }, (_, i) => i);
  for (let c = 0; c < cols; c++) {
    if (c > 0) {
      for (let i = N - 1; i > 0; i--) {
        const j = Math.floor(rnd() * (i + 1));
        const t = perm[i]!;
        perm[i] = perm[j]!;
        perm[j] = t;
      }
    }
    for (let i = 0; i < N; i++) W[(c === 0 ? i : perm[i]!) * cols + c] = i < n ? 1 / n : -1 / m;
  }
  // KW = K·W, then mmd_c = Σ_i W[i,c]·KW[i,c].
  const mmd = new Float64Array(cols);
  const kw = new Float64Array(cols);
  for (let i = 0; i < N; i++) {
    kw.fill(0);
    for (let j = 0; j < N; j++) {
      const kij = K[i * N + j]!;
      const wr = j * cols;
      for (let c = 0; c < cols; c++) kw[c] += kij * W[wr + c]!;
    }
    const wi = i * cols;
    for (let c = 0; c < cols; c++) mmd[c] += W[wi + c]! * kw[c]!;
  }
  const observed = mmd[0]!;
  let ge = 0;
  for (let c = 1; c < cols; c++) if (mmd[c]! >= observed - 1e-12) ge++;
  const pValue = (1 + ge) / (1 + P);
  return { isDrift: pValue < alpha, pValue, statistic: observed, test: 'mmd', alpha, meta: { permutations: P, bandwidthSq: med / 2, nReference: n, n: m } };
}
