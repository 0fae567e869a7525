import { InputError } from './errors.js';
import { assertFiniteScores } from './threshold.js';

/**
 * Label-free thresholds (split conformal). Given n held-out in-distribution scores, the threshold is the
 * ⌈(n+1)(1−α)⌉-th smallest of them; a fresh in-distribution sample is then flagged (score > threshold) with
 * probability ≤ α, and ≥ α − 1/(n+1) (exchangeability, ties broken at random).
 * Since imagedrift flags score ≥ threshold, the threshold returned is the next representable number above that
 * order statistic, so "≥" and the conformal "strictly greater" coincide.
 * The conformal p-value of a score s is (1 + #{cal ≥ s}) / (n + 1): uniform (super-uniform) for ID data.
 */
export interface ConformalThreshold {
  readonly threshold: number;
  readonly targetFpr: number;
  readonly n: number;
  /** The 1-based rank of the order statistic used. */
  readonly rank: number;
}

export function validateAlpha(alpha: number, field = 'targetFpr'): number {
  if (!(alpha > 0 && alpha < 1)) throw new InputError(field, `must be in (0, 1), got ${alpha}`);
  return alpha;
}

/**
 * ⌈(n+1)(1−α)⌉, the conformal rank, with α taken as the decimal the caller wrote (its shortest round-trip
 * representation, `String(α)`), in exact integer arithmetic. In floating point, (n+1)·(1−α) can land one ulp above an
 * integer (n=149, α=0.18: 123.00000000000001), which would move the threshold one order statistic up.
 */
export function conformalRank(n: number, alpha: number): number {
  const m = /^(\d+)(?:\.(\d*))?(?:e([+-]?\d+))?$/.exec(String(alpha));
  if (!m) throw new InputError('targetFpr', `must be a finite number, got ${alpha}`);
  const frac = m[2] ?? '';
  const exp = Number(m[3] ?? 0) - frac.length;
  let num = BigInt(m[1]! + frac);
  let den = 1n;
  if (exp >= 0) num *= 10n ** BigInt(exp);
  else den = 10n ** BigInt(-exp);
  const top = BigInt(n + 1) * (den - num); // (n+1)(1−α)·den
  return Number((top + den - 1n) / den);
}

function nextUp(x: number): number {
  if (x === 0) return Number.MIN_VALUE;
  const b = new Float64Array([x]);
  const u = new BigInt64Array(b.buffer);
  u[0] = x > 0 ? u[0]! + 1n : u[0]! - 1n;
  return b[0]!;
}

/** The conformal rank for n held-out samples at α, or the InputError saying how many samples α needs. */
export function checkHoldoutSize(n: number, alpha: number, field = 'idHoldout'): number {
  validateAlpha(alpha);
  const rank = conformalRank(n, alpha);
  if (rank > n) {
    // (n+1)(1−α) ≤ n ⟺ n ≥ 1/α − 1; start just below that and step to the first n that conformalRank accepts.
    let need = Math.max(n + 1, Math.ceil(1 / alpha) - 3);
    while (conformalRank(need, alpha) > need) need++;
    throw new InputError(field, `${n} held-out samples are too few for targetFpr=${alpha}; need at least ${need}`);
  }
  return rank;
}

export function conformalThreshold(idScores: ArrayLike<number>, alpha: number): ConformalThreshold {
  validateAlpha(alpha);
  assertFiniteScores(idScores, 'idScores');
  const n = idScores.length;
  const rank = checkHoldoutSize(n, alpha);
  const sorted = Float64Array.from(idScores).sort();
  return { threshold: nextUp(sorted[rank - 1]!), targetFpr: alpha, n, rank };
}

/** Conformal p-values (1 + #{cal ≥ s}) / (n + 1) for each score, by binary search over the sorted calibration scores. */
export function conformalPValues(calibration: ArrayLike<number>, scores: ArrayLike<number>): Float64Array {
  if (calibration.length === 0) throw new InputError('calibration', 'has no scores');
  assertFiniteScores(calibration, 'calibration');
  const cal = Float64Array.from(calibration).sort();
  const n = cal.length;
  assertFiniteScores(scores);
  const out = new Float64Array(scores.length);
  for (let i = 0; i < scores.length; i++) {
    const s = scores[i]!;
    let lo = 0;
    let hi = n; // first index with cal[idx] >= s
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cal[mid]! < s) lo = mid + 1;
      else hi = mid;
    }
    out[i] = (1 + (n - lo)) / (n + 1);
  }
  return out;
}
