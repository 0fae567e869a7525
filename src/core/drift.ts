import { InputError } from './errors.js';
import { mulberry32 } from './random.js';
import { binomialTestGreater, kthSmallest } from './stats.js';
import { assertFinite, type Matrix } from './tensor.js';
import { assertFiniteScores } from './threshold.js';

/** The batch drift tests: (a) flag rate vs the calibrated baseline, (b) MMD on features, (c) KS on scores. */
export const DRIFT_TESTS = ['binomial', 'ks', 'mmd'] as const;
export type DriftTestName = (typeof DRIFT_TESTS)[number];

/**
 * Batch drift tests for audits and streams. One result shape for all (as Alibi Detect):
 * `{ isDrift, pValue, statistic, test, alpha, meta }`.
 */
export interface DriftResult {
  readonly isDrift: boolean;
  readonly pValue: number;
  readonly statistic: number;
  readonly test: DriftTestName;
  readonly alpha: number;
  readonly meta: Readonly<Record<string, number>>;
}

function checkAlpha(alpha: number): void {
  if (!(alpha > 0 && alpha < 1)) throw new InputError('alpha', `must be in (0, 1), got ${alpha}`);
}

/** (a) The window's OOD flag rate exceeds the calibrated baseline rate: exact one-sided binomial test. */
export function binomialDrift(flags: ArrayLike<number>, baselineRate: number, alpha = 0.05): DriftResult {
  let k = 0;
  for (let i = 0; i < flags.length; i++) {
    const f = flags[i];
    if (f !== 0 && f !== 1) throw new InputError(`flags[${i}]`, `must be 0 or 1, got ${String(f)}`);
    k += f;
  }
  return binomialCountDrift(k, flags.length, baselineRate, alpha);
}

/** (a) on counts: `flagged` of `n` samples flagged, against `baselineRate` (for callers that count as they stream). */
export function binomialCountDrift(flagged: number, n: number, baselineRate: number, alpha = 0.05): DriftResult {
  checkAlpha(alpha);
  if (!(baselineRate >= 0 && baselineRate <= 1)) throw new InputError('baselineRate', `must be a probability in [0, 1], got ${baselineRate}`);
  if (n === 0) throw new InputError('data', 'is empty');
  if (!(Number.isInteger(flagged) && flagged >= 0 && flagged <= n)) throw new InputError('flagged', `must be an integer in [0, ${n}], got ${flagged}`);
  const pValue = binomialTestGreater(flagged, n, baselineRate);
  return { isDrift: pValue < alpha, pValue, statistic: flagged / n, test: 'binomial', alpha, meta: { flagged, n, baselineRate } };
}

/**
 * The fewest permutations for which a permutation test can reject at `level`: its p-value (1 + #{≥}) / (1 + P) is at
 * least 1 / (1 + P), and a test rejects when p < level, so with fewer permutations it never rejects, whatever the data.
 * Computed with the same floating-point expression the test compares.
 */
export function minPermutations(level: number): number {
  checkAlpha(level);
  let p = Math.max(1, Math.floor(1 / level) - 1);
  while (!(1 / (1 + p) < level)) p++;
  return p;
}

/**
 * Family-wise decision over several tests (Bonferroni): true when any p-value is below alpha / (number of tests).
 * An empty family never rejects.
 */
export function bonferroniRejects(pValues: readonly number[], alpha: number): boolean {
  checkAlpha(alpha);
  return pValues.some((p) => p < alpha / pValues.length);
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

/**
 * Asymptotic Kolmogorov distribution survival Q(λ) with Stephens' small-sample correction λ = (√N + 0.12 + 0.11/√N)·D,
 * N = nm/(n+m). Two series for the same function, each used where it converges in a few terms:
 * λ ≥ 1.18: Q = 2 Σ_{k≥1} (−1)^{k−1} e^{−2k²λ²};
 * λ < 1.18: Q = 1 − (√(2π)/λ) Σ_{k≥1} e^{−(2k−1)²π²/(8λ²)} (the theta-function form; the alternating series would
 * need thousands of terms as λ → 0, and a truncated partial sum is far from the true value, which tends to 1).
 * This is scipy's `kstwobign.sf((√N + 0.12 + 0.11/√N)·D)` (Numerical Recipes' probks), not `ks_2samp`'s default exact
 * p-value: up to ~6% apart at 200–1,000 rows a side, 25–45% at 10–50 (README, drift tests; test/core/reference-sklearn.test.ts).
 */
export function ksPValue(d: number, n: number, m: number): number {
  const en = Math.sqrt((n * m) / (n + m));
  const lambda = (en + 0.12 + 0.11 / en) * d;
  if (lambda <= 0) return 1;
  if (lambda < 1.18) {
    const c = (Math.PI * Math.PI) / (8 * lambda * lambda);
    let cdf = 0;
    for (let k = 1; k <= 20; k++) {
      const term = Math.exp(-(2 * k - 1) * (2 * k - 1) * c);
      cdf += term;
      if (term < 1e-17 * cdf) break;
    }
    return Math.min(1, Math.max(0, 1 - (Math.sqrt(2 * Math.PI) / lambda) * cdf));
  }
  let sum = 0;
  for (let k = 1; k <= 20; k++) {
    const term = 2 * (k % 2 ? 1 : -1) * Math.exp(-2 * k * k * lambda * lambda);
    sum += term;
    if (Math.abs(term) < 1e-17) break;
  }
  return Math.min(1, Math.max(0, sum));
}

/** (c) KS on detector scores of a reference window vs the new window. */
export function ksDrift(reference: ArrayLike<number>, data: ArrayLike<number>, alpha = 0.05): DriftResult {
  checkAlpha(alpha);
  if (!reference.length || !data.length) throw new InputError(reference.length ? 'data' : 'reference', 'is empty');
  assertFiniteScores(reference, 'reference');
  assertFiniteScores(data, 'data');
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
 * 2σ² = median pairwise squared distance of the pooled sample. Permutation p-value (1 + #{MMD²_π ≥ MMD²}) / (1 + P),
 * the biased V-statistic MMD² = wᵀKw with w = 1/n on the reference-assigned and −1/m on the window-assigned points.
 *
 * No pass over the kernel per permutation. The kernel is built once (N²·d/2, `pooledKernel`) with its row sums r
 * and total S. Writing w = g·1 + a·u_G, where G is the smaller of the two groups a permutation forms (size s), u_G its
 * indicator, g the other group's weight and a = (G's weight) − g, every permutation's statistic is
 *   wᵀKw = g²·S + 2·g·a·Σ_{i∈G} r_i + a²·Σ_{i,j∈G} K_ij,
 * i.e. s + s²/2 kernel reads instead of N²: at audit size (1,000 reference rows, 200-row window) 20,000 reads per
 * permutation instead of 720,000. BENCHMARKS.md §6 compares it with one pass per permutation and with all
 * permutations as one K·W product (the textbook vectorisation), on the same kernel, with identical p-values.
 */
export function mmdDrift(reference: Matrix, data: Matrix, opts: MmdOptions = {}): DriftResult {
  const alpha = opts.alpha ?? 0.05;
  checkAlpha(alpha);
  // Default: 500, or the fewest that can reject at alpha if that is more. Fewer could never reject: a silent "no
  // drift" whatever the data, so a smaller number given is refused.
  const least = minPermutations(alpha);
  const P = opts.permutations ?? Math.max(500, least);
  if (!Number.isInteger(P) || P < 1) throw new InputError('permutations', `must be a positive integer, got ${P}`);
  if (P < least) throw new InputError('permutations', `must be >= ${least} at alpha ${alpha}: the p-value is at least 1/(permutations+1) = ${Number((1 / (1 + P)).toPrecision(3))}, so ${P} could never show drift`);
  if (reference.cols !== data.cols) throw new InputError('data', `has ${data.cols} features; the reference has ${reference.cols}`);
  const n = reference.rows;
  const m = data.rows;
  if (n < 2 || m < 2) throw new InputError(n < 2 ? 'reference' : 'data', 'needs at least 2 samples');
  assertFinite(reference.data, reference.cols, 'reference', 'feature');
  assertFinite(data.data, data.cols, 'data', 'feature');
  const seed = opts.seed ?? 0;
  if (!Number.isSafeInteger(seed)) throw new InputError('seed', `must be an integer, got ${seed}`);
  const { K, medianSqDist: med } = pooledKernel(reference, data);
  const { statistic: observed, pValue } = permutationMmd(K, n, m, P, seed);
  return { isDrift: pValue < alpha, pValue, statistic: observed, test: 'mmd', alpha, meta: { permutations: P, bandwidthSq: med / 2, nReference: n, n: m } };
}

/**
 * The permutation test of `mmdDrift` on a built kernel: K (N×N, N = n + m) holds the kernel of the pooled rows
 * (reference first, then the window) in its upper triangle (i < j; the diagonal is taken as 1 and the lower half is not
 * read). Returns the observed biased MMD² and the permutation p-value, the permutations being mulberry32(seed)
 * Fisher–Yates shuffles of the pooled order in sequence, with the first n positions as the reference group.
 */
export function permutationMmd(K: Float64Array, n: number, m: number, permutations: number, seed: number): { statistic: number; pValue: number } {
  const N = n + m;
  // Row sums of K (unit diagonal) and their total.
  const r = new Float64Array(N).fill(1);
  for (let i = 0; i < N; i++) {
    const row = i * N;
    let acc = 0;
    for (let j = i + 1; j < N; j++) {
      const k = K[row + j]!;
      acc += k;
      r[j] += k;
    }
    r[i] += acc;
  }
  let S = 0;
  for (let i = 0; i < N; i++) S += r[i]!;
  // G = the window-assigned group when m ≤ n, else the reference-assigned one; g = the other group's weight.
  const windowSmall = m <= n;
  const size = windowSmall ? m : n;
  const g = windowSmall ? 1 / n : -1 / m;
  const a = windowSmall ? -1 / m - 1 / n : 1 / n + 1 / m;
  const G = new Int32Array(size);
  const statOf = (): number => {
    G.sort(); // row-major reads of the G×G block, upper triangle only
    let sr = 0;
    let sk = size; // the diagonal: K_ii = 1
    for (let x = 0; x < size; x++) {
      const i = G[x]!;
      sr += r[i]!;
      const row = i * N;
      let acc = 0;
      for (let y = x + 1; y < size; y++) acc += K[row + G[y]!]!;
      sk += 2 * acc;
    }
    return g * g * S + 2 * g * a * sr + a * a * sk;
  };
  const perm = Int32Array.from({ length: N }, (_, i) => i);
  const fill = () => {
    for (let x = 0; x < size; x++) G[x] = perm[windowSmall ? n + x : x]!;
  };
  fill();
  const observed = statOf();
  const rnd = mulberry32(seed);
  let ge = 0;
  for (let c = 0; c < permutations; c++) {
    for (let i = N - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1));
      const t = perm[i]!;
      perm[i] = perm[j]!;
      perm[j] = t;
    }
    fill();
    if (statOf() >= observed - 1e-12) ge++;
  }
  return { statistic: observed, pValue: (1 + ge) / (1 + permutations) };
}

/**
 * Squared Euclidean distance between row ai of a and row bi of b (d columns), in float64 with four partial sums (the
 * kernel build's inner loop). The one distance every MMD kernel here uses, so kernels built from it agree bit for bit.
 */
export function sqDist(a: Float32Array, ai: number, b: Float32Array, bi: number, d: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let t = 0;
  for (; t + 4 <= d; t += 4) {
    const u0 = a[ai + t]! - b[bi + t]!;
    const u1 = a[ai + t + 1]! - b[bi + t + 1]!;
    const u2 = a[ai + t + 2]! - b[bi + t + 2]!;
    const u3 = a[ai + t + 3]! - b[bi + t + 3]!;
    s0 += u0 * u0;
    s1 += u1 * u1;
    s2 += u2 * u2;
    s3 += u3 * u3;
  }
  for (; t < d; t++) {
    const u = a[ai + t]! - b[bi + t]!;
    s0 += u * u;
  }
  return s0 + s1 + s2 + s3;
}

/**
 * Turns squared distances in K's upper triangle (N×N; `off` = the same N(N−1)/2 values, consumed) into the RBF
 * kernel with the median heuristic, in place: K[i·N+j] = exp(−‖x_i−x_j‖² / median) for i < j. Returns the median
 * (2σ² of the RBF): the upper median, the ⌊L/2⌋+1-th smallest of the L values (for an even L, np.median would average it
 * with the one below). `kth` picks the median (k-th smallest, 1-based) from `off`; the default is quickselect.
 */
export function rbfFromSqDistances(K: Float64Array, N: number, off: Float64Array, kth: (a: Float64Array, k: number) => number = (a, k) => kthSmallest(a, a.length, k)): number {
  const med = off.length ? kth(off, Math.floor(off.length / 2) + 1) : 0;
  const gamma = med > 0 ? 1 / med : 1; // exp(−‖x−y‖²/med) = RBF with 2σ² = median
  for (let i = 0; i < N; i++) for (let j = i + 1; j < N; j++) K[i * N + j] = Math.exp(-gamma * K[i * N + j]!);
  return med;
}

/**
 * The RBF kernel (median heuristic) of the pooled rows, reference first then data: K (N×N, N = n + m) in its upper
 * triangle only (the diagonal is 1 and the lower half is not written), and the median pairwise squared distance.
 * Cost N²·d/2 for the distances.
 */
export function pooledKernel(reference: Matrix, data: Matrix): { K: Float64Array; N: number; medianSqDist: number } {
  const n = reference.rows;
  const N = n + data.rows;
  const d = reference.cols;
  const X = new Float32Array(N * d);
  X.set(reference.data.subarray(0, n * d));
  X.set(data.data.subarray(0, data.rows * d), n * d);
  const K = new Float64Array(N * N);
  const off = new Float64Array((N * (N - 1)) / 2);
  let q = 0;
  for (let i = 0; i < N; i++) {
    for (let j = i + 1; j < N; j++) {
      const s = sqDist(X, i * d, X, j * d, d);
      K[i * N + j] = s;
      off[q++] = s;
    }
  }
  return { K, N, medianSqDist: rbfFromSqDistances(K, N, off) };
}
