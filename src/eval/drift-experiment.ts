/**
 * Experiment logic for scripts/drift-experiments.ts (docs/DRIFT.md), kept pure so it can be unit-tested on small
 * synthetic pools:
 * - the exact binomial band of a target false-alarm rate, and the coverage of that band expected for split-conformal
 *   calibration (beta-binomial);
 * - repeated calibrate/test splits of one pool of in-distribution scores (label-free threshold study);
 * - drift-test windows drawn as index samples from precomputed score/feature pools (no model call per window);
 * - `FastMmd`: the permutation MMD test of `mmdDrift` evaluated for many windows against one fixed reference. It
 *   reproduces mmdDrift's result (same distances, median bandwidth, kernel, permutations and p-value; tested for
 *   equality) but reuses reference distances across windows and evaluates each permutation's statistic in O(m²)
 *   instead of O(N²) — see `FastMmd.test`.
 */
import { conformalPValues, conformalRank, conformalThreshold } from '../core/conformal.js';
import { binomialDrift, ksDrift, permutationMmd, rbfFromSqDistances, sqDist, type DriftTestName } from '../core/drift.js';
import { InputError } from '../core/errors.js';
import { kthSmallest } from '../core/stats.js';
import { mulberry32 } from '../core/random.js';
import { binomialTestGreater } from '../core/stats.js';
import type { Matrix } from '../core/tensor.js';
import { applyThreshold } from '../core/threshold.js';

/** Exact central binomial band [lo, hi] (counts) of Bin(m, p): P(X < lo) ≤ (1−level)/2 and P(X > hi) ≤ (1−level)/2, each as tight as possible. */
export function binomialBand(m: number, p: number, level = 0.95): { lo: number; hi: number; coverage: number } {
  const tail = (1 - level) / 2;
  let lo = 0;
  // P(X ≤ k) = 1 − P(X ≥ k+1); lo = smallest k with P(X ≤ k) > tail.
  while (lo < m && 1 - binomialTestGreater(lo + 1, m, p) <= tail) lo++;
  let hi = m;
  // hi = smallest k with P(X > k) = P(X ≥ k+1) ≤ tail.
  while (hi > 0 && binomialTestGreater(hi, m, p) <= tail) hi--;
  const coverage = binomialTestGreater(lo, m, p) - (hi < m ? binomialTestGreater(hi + 1, m, p) : 0);
  return { lo, hi, coverage };
}

/**
 * Distribution of the number of flagged samples among m fresh ID samples for a split-conformal threshold fitted on
 * nCal exchangeable ID samples at level α: the flag probability is F = 1 − U₍r₎ ~ Beta(nCal+1−r, r) with
 * r = ⌈(nCal+1)(1−α)⌉, so the count is BetaBinomial(m, nCal+1−r, r). Returns the pmf over 0..m.
 */
export function conformalCountPmf(nCal: number, m: number, alpha: number): Float64Array {
  const r = conformalRank(nCal, alpha);
  if (r > nCal) throw new InputError('nCal', `${nCal} is too few for α=${alpha}`);
  const a = nCal + 1 - r;
  const b = r;
  const pmf = new Float64Array(m + 1);
  let logp = 0;
  for (let j = 0; j < m; j++) logp += Math.log((b + j) / (a + b + j));
  pmf[0] = Math.exp(logp);
  for (let k = 0; k < m; k++) {
    logp += Math.log(((m - k) / (k + 1)) * ((k + a) / (m - k - 1 + b)));
    pmf[k + 1] = Math.exp(logp);
  }
  return pmf;
}

/** Probability that the realised false-alarm count of a conformal threshold (nCal, α) on m fresh samples falls inside the binomial band of α for m. */
export function expectedBandCoverage(nCal: number, m: number, alpha: number, level = 0.95): number {
  const { lo, hi } = binomialBand(m, alpha, level);
  const pmf = conformalCountPmf(nCal, m, alpha);
  let s = 0;
  for (let k = lo; k <= hi; k++) s += pmf[k]!;
  return s;
}

/** Fisher–Yates permutation of 0..n−1 from a seeded generator. */
export function permutation(n: number, rnd: () => number): Int32Array {
  const p = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    const t = p[i]!;
    p[i] = p[j]!;
    p[j] = t;
  }
  return p;
}

/** m distinct elements of `pool`, uniformly at random (partial Fisher–Yates on a scratch copy). */
export function sampleWithoutReplacement(pool: ArrayLike<number>, m: number, rnd: () => number, scratch?: Int32Array): Int32Array {
  const n = pool.length;
  if (!(Number.isInteger(m) && m >= 0 && m <= n)) throw new InputError('windowSize', `must be an integer in 0..${n}, got ${m}`);
  const a = scratch && scratch.length >= n ? scratch : new Int32Array(n);
  for (let i = 0; i < n; i++) a[i] = pool[i]!;
  for (let i = 0; i < m; i++) {
    const j = i + Math.floor(rnd() * (n - i));
    const t = a[i]!;
    a[i] = a[j]!;
    a[j] = t;
  }
  return a.slice(0, m);
}

export function gather(values: ArrayLike<number>, idx: ArrayLike<number>): Float64Array {
  const out = new Float64Array(idx.length);
  for (let i = 0; i < idx.length; i++) out[i] = values[idx[i]!]!;
  return out;
}

export function gatherRows(x: Matrix, idx: ArrayLike<number>): Matrix {
  const out = new Float32Array(idx.length * x.cols);
  for (let i = 0; i < idx.length; i++) out.set(x.data.subarray(idx[i]! * x.cols, (idx[i]! + 1) * x.cols), i * x.cols);
  return { data: out, rows: idx.length, cols: x.cols };
}

export interface ConformalSplitOptions {
  readonly nCal: number;
  readonly nTest: number;
  readonly splits: number;
  readonly alpha: number;
  readonly seed: number;
  readonly level?: number;
}

export interface ConformalSplitStudy {
  readonly rates: Float64Array;
  readonly mean: number;
  readonly min: number;
  readonly max: number;
  /** The exact binomial band of α for nTest samples, as counts and rates. */
  readonly band: { lo: number; hi: number; loRate: number; hiRate: number; binomialCoverage: number };
  readonly inBand: number;
  readonly shareInBand: number;
  /** Coverage of the band expected for conformal calibration on nCal samples (beta-binomial). */
  readonly expectedCoverage: number;
  /** Share of test-part conformal p-values at or below each level, pooled over splits. */
  readonly pValueShares: ReadonlyArray<{ level: number; share: number; min: number; max: number }>;
  /** Pooled p-value histogram over 10 equal bins of (0, 1]. */
  readonly pValueDeciles: Float64Array;
}

/** Repeated random splits of one pool of ID scores: calibrate (conformal) on nCal, measure the flag rate on nTest. */
export function conformalSplitStudy(scores: ArrayLike<number>, o: ConformalSplitOptions): ConformalSplitStudy {
  const n = scores.length;
  if (o.nCal + o.nTest > n) throw new InputError('nCal', `nCal + nTest = ${o.nCal + o.nTest} exceeds the ${n} scores`);
  const level = o.level ?? 0.95;
  const rnd = mulberry32(o.seed);
  const band = binomialBand(o.nTest, o.alpha, level);
  const rates = new Float64Array(o.splits);
  const levels = [0.01, o.alpha, 0.1, 0.5];
  const perSplit = levels.map(() => new Float64Array(o.splits));
  const deciles = new Float64Array(10);
  let inBand = 0;
  for (let s = 0; s < o.splits; s++) {
    const p = permutation(n, rnd);
    const cal = gather(scores, p.subarray(0, o.nCal));
    const test = gather(scores, p.subarray(o.nCal, o.nCal + o.nTest));
    const t = conformalThreshold(cal, o.alpha).threshold;
    const flags = applyThreshold(test, t);
    let k = 0;
    for (let i = 0; i < flags.length; i++) k += flags[i]!;
    rates[s] = k / o.nTest;
    if (k >= band.lo && k <= band.hi) inBand++;
    const pv = conformalPValues(cal, test);
    for (let l = 0; l < levels.length; l++) {
      let c = 0;
      for (let i = 0; i < pv.length; i++) if (pv[i]! <= levels[l]!) c++;
      perSplit[l]![s] = c / pv.length;
    }
    for (let i = 0; i < pv.length; i++) deciles[Math.min(9, Math.ceil(pv[i]! * 10) - 1)]++;
  }
  const total = o.splits * o.nTest;
  for (let i = 0; i < 10; i++) deciles[i] /= total;
  const mean = rates.reduce((a, b) => a + b, 0) / o.splits;
  return {
    rates,
    mean,
    min: Math.min(...rates),
    max: Math.max(...rates),
    band: { lo: band.lo, hi: band.hi, loRate: band.lo / o.nTest, hiRate: band.hi / o.nTest, binomialCoverage: band.coverage },
    inBand,
    shareInBand: inBand / o.splits,
    expectedCoverage: expectedBandCoverage(o.nCal, o.nTest, o.alpha, level),
    pValueShares: levels.map((level, l) => {
      const a = perSplit[l]!;
      return { level, share: a.reduce((x, y) => x + y, 0) / o.splits, min: Math.min(...a), max: Math.max(...a) };
    }),
    pValueDeciles: deciles,
  };
}

export interface MmdOutcome {
  readonly pValue: number;
  readonly statistic: number;
  readonly isDrift: boolean;
}

/**
 * Permutation MMD of windows (m rows from a pool) against reference subsamples (n rows of a reference bank), for many
 * windows. `test(refRows, pool, cross, idx, …)` equals
 * `mmdDrift(gatherRows(bank, refRows), gatherRows(pool, idx), { permutations, seed, alpha })`:
 * - the same squared distances (`sqDist`; bank–bank computed once, bank–pool once per pool, window–window per window);
 * - bandwidth: the median of all pooled pairwise squared distances (`selectKth`, histogram + quickselect: same value);
 * - the same kernel K = exp(−‖x−y‖²/median) (`rbfFromSqDistances`) and the same mulberry32 permutation sequence;
 * - the same permutation test on that kernel: `permutationMmd` from src/core/drift.ts, which mmdDrift also calls.
 * p-value (1 + #{MMD²_π ≥ MMD² − 1e−12}) / (1 + P), drift when p < α, as in mmdDrift.
 */
export class FastMmd {
  /** Rows in the bank. */
  readonly size: number;
  readonly d: number;
  private readonly bankD: Float64Array;

  constructor(readonly bank: Matrix) {
    const { rows: n, cols: d, data } = bank;
    if (n < 2) throw new InputError('reference', 'needs at least 2 samples');
    this.size = n;
    this.d = d;
    this.bankD = new Float64Array(n * n);
    for (let i = 0; i < n; i++) {
      for (let j = i + 1; j < n; j++) {
        const s = sqDist(data, i * d, data, j * d, d);
        this.bankD[i * n + j] = s;
        this.bankD[j * n + i] = s;
      }
    }
  }

  /** Bank × pool squared distances (bank rows × pool.rows), computed once per pool. */
  crossDistances(pool: Matrix): Float64Array {
    if (pool.cols !== this.d) throw new InputError('data', `has ${pool.cols} features; the reference has ${this.d}`);
    const { size: n, d } = this;
    const P = pool.rows;
    const out = new Float64Array(n * P);
    for (let i = 0; i < n; i++) for (let q = 0; q < P; q++) out[i * P + q] = sqDist(this.bank.data, i * d, pool.data, q * d, d);
    return out;
  }

  /** The test of the window made of pool rows `idx` against the reference made of bank rows `refRows`; `cross` = crossDistances(pool). */
  test(refRows: ArrayLike<number>, pool: Matrix, cross: Float64Array, idx: ArrayLike<number>, opts: { permutations: number; seed: number; alpha: number }): MmdOutcome {
    const { d, size: bn } = this;
    const n = refRows.length;
    const m = idx.length;
    if (n < 2 || m < 2) throw new InputError(n < 2 ? 'reference' : 'data', 'needs at least 2 samples');
    const P = opts.permutations;
    const N = n + m;
    const pr = pool.rows;
    // Squared distances (upper triangle) and the packed off-diagonal list for the median.
    const K = new Float64Array(N * N);
    const off = new Float64Array((N * (N - 1)) / 2);
    let q = 0;
    for (let i = 0; i < n; i++) {
      const bi = refRows[i]! * bn;
      for (let j = i + 1; j < n; j++) off[q++] = K[i * N + j] = this.bankD[bi + refRows[j]!]!;
      const ci = refRows[i]! * pr;
      for (let j = 0; j < m; j++) off[q++] = K[i * N + n + j] = cross[ci + idx[j]!]!;
    }
    for (let i = 0; i < m; i++) {
      for (let j = i + 1; j < m; j++) off[q++] = K[(n + i) * N + n + j] = sqDist(pool.data, idx[i]! * d, pool.data, idx[j]! * d, d);
    }
    rbfFromSqDistances(K, N, off, (a, k) => selectKth(a, k - 1)); // selectKth is 0-based
    const { statistic: observed, pValue } = permutationMmd(K, n, m, P, opts.seed); // the permutations of mmdDrift
    return { pValue, statistic: observed, isDrift: pValue < opts.alpha };
  }
}

/**
 * The k-th smallest (0-based) of `a`, exactly, in two linear passes: a 4096-bucket histogram over [min, max] (the
 * bucket map is monotone, so ranks stay in order), then quickselect inside the one bucket that holds rank k.
 */
export function selectKth(a: Float64Array, k: number): number {
  const len = a.length;
  if (!(Number.isInteger(k) && k >= 0 && k < len)) throw new InputError('k', `must be an integer in 0..${len - 1}, got ${k}`);
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < len; i++) {
    const v = a[i]!;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (!(hi > lo)) return lo;
  const B = 4096;
  const scale = B / (hi - lo);
  const bucket = (v: number) => Math.min(B - 1, Math.floor((v - lo) * scale));
  const counts = new Int32Array(B);
  for (let i = 0; i < len; i++) counts[bucket(a[i]!)]++;
  let b = 0;
  let before = 0;
  while (before + counts[b]! <= k) before += counts[b++]!;
  const inB = new Float64Array(counts[b]!);
  let q = 0;
  for (let i = 0; i < len; i++) if (bucket(a[i]!) === b) inB[q++] = a[i]!;
  return kthSmallest(inB, inB.length, k - before + 1);
}

/** What the windows are compared against: the calibrated baseline (binomial), reference scores (ks), reference features (mmd). */
export interface DriftReference {
  readonly threshold: number;
  readonly baselineRate: number;
  readonly scores: ArrayLike<number>;
  /** MMD reference bank (e.g. all reference features). */
  readonly mmd?: FastMmd;
  /**
   * MMD reference per window: a number = that many bank rows drawn afresh (seeded) for every window, so the false-alarm
   * rate is averaged over reference subsamples; an index list = the same bank rows for every window (one fixed
   * reference, as a deployed monitor has).
   */
  readonly mmdReference?: number | Int32Array;
}

/** A precomputed pool (one corruption at one severity, or clean): scores and features of every image, and the rows windows may use. */
export interface DriftPool {
  readonly scores: ArrayLike<number>;
  readonly features?: Matrix;
  /** FastMmd.crossDistances(features), when the mmd test is run. */
  readonly cross?: Float64Array;
  readonly indices: ArrayLike<number>;
}

export interface CellOptions {
  readonly windowSize: number;
  readonly windows: number;
  readonly alpha: number;
  readonly seed: number;
  readonly tests: readonly DriftTestName[];
  readonly permutations?: number;
}

export interface CellResult {
  readonly windows: number;
  /** Number of windows each test flagged as drift. */
  readonly rejections: Partial<Record<DriftTestName, number>>;
  /** rejections / windows. */
  readonly rate: Partial<Record<DriftTestName, number>>;
}

/** Windows of `windowSize` rows drawn without replacement from the pool's indices; each test at level α. */
export function runDriftCell(ref: DriftReference, pool: DriftPool, o: CellOptions): CellResult {
  const rnd = mulberry32(o.seed);
  const refRnd = mulberry32((o.seed ^ 0x5bd1e995) >>> 0);
  const scratch = new Int32Array(pool.indices.length);
  const bankRows = ref.mmd ? Int32Array.from({ length: ref.mmd.size }, (_, i) => i) : new Int32Array(0);
  const bankScratch = new Int32Array(bankRows.length);
  const rej: Partial<Record<DriftTestName, number>> = {};
  for (const t of o.tests) rej[t] = 0;
  for (let w = 0; w < o.windows; w++) {
    const idx = sampleWithoutReplacement(pool.indices, o.windowSize, rnd, scratch);
    const s = gather(pool.scores, idx);
    for (const t of o.tests) {
      let drift: boolean;
      if (t === 'binomial') drift = binomialDrift(applyThreshold(s, ref.threshold), ref.baselineRate, o.alpha).isDrift;
      else if (t === 'ks') drift = ksDrift(ref.scores, s, o.alpha).isDrift;
      else {
        if (!ref.mmd || !pool.features || !pool.cross) throw new InputError('mmd', 'needs a reference FastMmd and pool features with cross distances');
        const spec = ref.mmdReference ?? ref.mmd.size;
        const refRows = typeof spec === 'number' ? sampleWithoutReplacement(bankRows, spec, refRnd, bankScratch).sort() : spec;
        drift = ref.mmd.test(refRows, pool.features, pool.cross, idx, { permutations: o.permutations ?? 200, seed: (o.seed * 7919 + w) >>> 0, alpha: o.alpha }).isDrift;
      }
      if (drift) rej[t]!++;
    }
  }
  const rate: Partial<Record<DriftTestName, number>> = {};
  for (const t of o.tests) rate[t] = rej[t]! / o.windows;
  return { windows: o.windows, rejections: rej, rate };
}
