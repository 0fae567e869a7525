import { InputError, NotFittedError } from './errors.js';

/**
 * Thresholds and 0/1 decisions, shared by every detector. Convention: a higher score is more OOD, and a sample is
 * flagged (1 = OOD) where score ≥ threshold. Labels: 0 = in-distribution, 1 = OOD.
 */
export interface ThresholdFit {
  readonly threshold: number;
  /** Accuracy of the threshold on the labelled set it was chosen on. */
  readonly accuracy: number;
  readonly method: 'exact' | 'grid';
  readonly step?: number;
}

/** Checks 0/1 labels against the scores they belong to. */
export function validateLabels(labels: ArrayLike<number>, n: number, field = 'oodLabels'): Uint8Array {
  if (labels.length !== n) throw new InputError(field, `has ${labels.length} labels but the data has ${n} samples`);
  const out = new Uint8Array(n);
  let ones = 0;
  for (let i = 0; i < n; i++) {
    const v = labels[i]!;
    if (v !== 0 && v !== 1) throw new InputError(`${field}[${i}]`, `must be 0 (in-distribution) or 1 (OOD), got ${v}`);
    out[i] = v;
    ones += v;
  }
  if (ones === 0 || ones === n) throw new InputError(field, `all ${n} labels are ${ones ? 1 : 0}; calibration needs both in-distribution (0) and OOD (1) samples`);
  return out;
}

export function assertFiniteScores(scores: ArrayLike<number>, field = 'scores'): void {
  for (let i = 0; i < scores.length; i++) {
    const v = scores[i]!;
    if (!Number.isFinite(v)) throw new InputError(`${field}[${i}]`, `sample ${i} has a ${Number.isNaN(v) ? 'NaN' : 'infinite'} score`);
  }
}

/**
 * Exact search: the accuracy-maximising cut over every gap between distinct sorted scores (ties stay on one side).
 * The threshold is the midpoint of the winning gap; the lowest such cut wins when several tie.
 */
export function exactThreshold(scores: ArrayLike<number>, labels: ArrayLike<number>): ThresholdFit {
  const n = scores.length;
  assertFiniteScores(scores);
  const y = validateLabels(labels, n);
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[a]! - scores[b]! || a - b);
  let pos = 0;
  for (let i = 0; i < n; i++) pos += y[i]!;
  // Cut before index 0: everything flagged → correct = #positives.
  let correct = pos;
  let bestCorrect = correct;
  let bestCut = 0; // index in sorted order of the first flagged sample; n = none flagged
  let i = 0;
  while (i < n) {
    let j = i;
    // move the whole tie group [i, j) from flagged to not-flagged
    while (j < n && scores[order[j]!]! === scores[order[i]!]!) {
      correct += y[order[j]!] ? -1 : 1;
      j++;
    }
    if (correct > bestCorrect) {
      bestCorrect = correct;
      bestCut = j;
    }
    i = j;
  }
  let threshold: number;
  if (bestCut === 0) threshold = scores[order[0]!]!;
  else if (bestCut === n) {
    const top = scores[order[n - 1]!]!;
    threshold = top + Math.max(Math.abs(top), 1) * 1e-9;
  } else {
    // Midway between the last score kept and the first flagged (flagged = score ≥ threshold). When the two are
    // adjacent doubles the midpoint rounds onto the lower one, which would flag it too: take the upper one then.
    const lo = scores[order[bestCut - 1]!]!;
    const hi = scores[order[bestCut]!]!;
    const mid = lo / 2 + hi / 2;
    threshold = mid > lo && mid <= hi ? mid : hi;
  }
  return { threshold, accuracy: bestCorrect / n, method: 'exact' };
}

/**
 * MindArmour's search: the smallest t in 0, step, 2·step, … (< 1, as numpy.arange(0, 1, step)) with maximal accuracy.
 */
export function gridThreshold(scores: ArrayLike<number>, labels: ArrayLike<number>, step = 0.01): ThresholdFit {
  if (!(step > 0 && step < 1)) throw new InputError('grid', `step must be in (0, 1), got ${step}`);
  const n = scores.length;
  assertFiniteScores(scores);
  const y = validateLabels(labels, n);
  const count = Math.ceil(1 / step);
  // The grid is MindArmour's 0, step, …, (count−1)·step. When no grid point t has lo < t ≤ hi (energy and msp scores
  // are all negative, for example), every grid threshold puts all samples on one side: the "best" would be a
  // meaningless 0 at chance accuracy, so it is refused instead of returned.
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < n; i++) {
    lo = Math.min(lo, scores[i]!);
    hi = Math.max(hi, scores[i]!);
  }
  const last = (count - 1) * step;
  const firstAbove = lo < 0 ? 0 : Math.floor(lo / step) + 1; // the first grid index whose point is > lo
  if (firstAbove > count - 1 || firstAbove * step > hi) {
    throw new InputError('grid', `the scores lie in [${lo.toPrecision(4)}, ${hi.toPrecision(4)}], outside the grid 0..${last.toPrecision(4)} in steps of ${step}; no grid threshold separates them (omit grid for the exact threshold)`);
  }
  let best = -1;
  let bestT = 0;
  for (let g = 0; g < count; g++) {
    const t = g * step;
    let c = 0;
    for (let i = 0; i < n; i++) {
      const s = scores[i]!;
      if ((s < t && y[i] === 0) || (s >= t && y[i] === 1)) c++;
    }
    if (c > best) {
      best = c;
      bestT = t;
    }
  }
  return { threshold: bestT, accuracy: best / n, method: 'grid', step };
}

/** 1 where score ≥ threshold, else 0; one entry per input, in input order. */
export function applyThreshold(scores: ArrayLike<number>, threshold: number | undefined): Uint8Array {
  if (threshold === undefined) throw new NotFittedError('threshold', 'the detector has no threshold; calibrate it or pass one');
  if (!Number.isFinite(threshold)) throw new InputError('threshold', `must be a finite number, got ${threshold}`);
  assertFiniteScores(scores);
  const out = new Uint8Array(scores.length);
  for (let i = 0; i < scores.length; i++) out[i] = scores[i]! >= threshold ? 1 : 0;
  return out;
}
