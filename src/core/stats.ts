import { InputError } from './errors.js';

/**
 * Exact one-sided binomial test, alternative "greater": the probability of seeing at least `k` successes in `n`
 * independent trials when each succeeds with probability `p`, i.e. P(X >= k) for X ~ Binomial(n, p).
 *
 * Used by the scheduled audit: k = objects flagged as OOD, n = objects scored, p = the flag rate the detector showed
 * on in-distribution data at calibration. A small p-value says the new data is flagged more often than the baseline.
 *
 * Terms start from a pmf value computed in log space (so a large n neither overflows nor underflows to a wrong
 * answer) and follow pmf(i+1) = pmf(i) · (n−i)/(i+1) · p/(1−p). Above the mean the upper tail is summed directly;
 * at or below it the result is 1 − the lower tail, which is then at most about 1/2, so there is no cancellation.
 * O(n) time. Accuracy: relative error below 1e-9 up to n = 1e7 (scipy.stats.binom.sf, checked in test/core/stats.test.ts).
 */
export function binomialTestGreater(k: number, n: number, p: number): number {
  if (!Number.isSafeInteger(n) || n < 0) throw new InputError('n', `must be a non-negative integer, got ${n}`);
  if (!Number.isSafeInteger(k) || k < 0 || k > n) throw new InputError('k', `must be an integer in 0..n=${n}, got ${k}`);
  if (!(p >= 0 && p <= 1)) throw new InputError('p', `must be a probability in [0, 1], got ${p}`);
  if (k === 0) return 1;
  if (p === 0) return 0;
  if (p === 1) return 1;
  const logPmf = (i: number): number => {
    // log C(n, i) as a compensated (Neumaier) sum: a plain running sum of ~n/2 logarithms loses about 1e-6 at n = 1e7.
    const m = Math.min(i, n - i);
    let logChoose = 0;
    let carry = 0;
    for (let j = 1; j <= m; j++) {
      const x = Math.log((n - m + j) / j);
      const t = logChoose + x;
      carry += Math.abs(logChoose) >= Math.abs(x) ? logChoose - t + x : x - t + logChoose;
      logChoose = t;
    }
    return logChoose + carry + i * Math.log(p) + (n - i) * Math.log1p(-p);
  };
  const ratio = p / (1 - p);
  if (k > n * p) {
    // Above the mean the pmf decreases from k on: sum the upper tail directly.
    let term = Math.exp(logPmf(k));
    let sum = term;
    for (let i = k; i < n && term > 0; i++) {
      term *= ((n - i) / (i + 1)) * ratio;
      sum += term;
    }
    return Math.min(1, sum);
  }
  // At or below the mean: 1 − P(X <= k−1), the lower tail summed downwards from k−1 (its largest term).
  let term = Math.exp(logPmf(k - 1));
  let lower = term;
  for (let i = k - 1; i > 0 && term > 0; i--) {
    term *= (i / (n - i + 1)) / ratio;
    lower += term;
  }
  return Math.max(0, 1 - lower);
}

/** k-th smallest of a[0..n) (1-based k), in place (Hoare quickselect, deterministic middle pivot). */
export function kthSmallest(a: Float64Array, n: number, k: number): number {
  let lo = 0;
  let hi = n - 1;
  const target = k - 1;
  while (lo < hi) {
    const pivot = a[(lo + hi) >> 1]!;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i]! < pivot) i++;
      while (a[j]! > pivot) j--;
      if (i <= j) {
        const t = a[i]!;
        a[i] = a[j]!;
        a[j] = t;
        i++;
        j--;
      }
    }
    if (target <= j) hi = j;
    else if (target >= i) lo = i;
    else return a[target]!;
  }
  return a[target]!;
}
