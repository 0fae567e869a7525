import { InputError } from './errors.js';

/**
 * Exact one-sided binomial test, alternative "greater": the probability of seeing at least `k` successes in `n`
 * independent trials when each succeeds with probability `p`, i.e. P(X >= k) for X ~ Binomial(n, p).
 *
 * Used by the scheduled audit: k = objects flagged as OOD, n = objects scored, p = the flag rate the detector showed
 * on in-distribution data at calibration. A small p-value says the new data is flagged more often than the baseline.
 *
 * The tail is summed term by term from the pmf at k (computed in log space, so large n does not overflow), using
 * pmf(i+1) = pmf(i) · (n−i)/(i+1) · p/(1−p). O(n − k) time.
 */
export function binomialTestGreater(k: number, n: number, p: number): number {
  if (!Number.isSafeInteger(n) || n < 0) throw new InputError('n', `must be a non-negative integer, got ${n}`);
  if (!Number.isSafeInteger(k) || k < 0 || k > n) throw new InputError('k', `must be an integer in 0..n=${n}, got ${k}`);
  if (!(p >= 0 && p <= 1)) throw new InputError('p', `must be a probability in [0, 1], got ${p}`);
  if (k === 0) return 1;
  if (p === 0) return 0;
  if (p === 1) return 1;
  const logQ = Math.log1p(-p);
  const logP = Math.log(p);
  let logChoose = 0;
  for (let i = 1; i <= k; i++) logChoose += Math.log((n - k + i) / i);
  let term = Math.exp(logChoose + k * logP + (n - k) * logQ);
  let sum = term;
  const ratio = p / (1 - p);
  for (let i = k; i < n; i++) {
    term *= ((n - i) / (i + 1)) * ratio;
    sum += term;
    if (term === 0 && i > n * p) break;
  }
  return Math.min(1, sum);
}
