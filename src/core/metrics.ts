import { InputError } from './errors.js';
import { assertFiniteScores } from './threshold.js';

/**
 * Detection metrics. Convention (also in the README): OOD is the positive class, higher score = more OOD,
 * a sample is flagged where score ≥ threshold.
 */
export interface DetectionMetrics {
  /** Area under the ROC curve; ties count one half (Mann–Whitney). */
  readonly auroc: number;
  /** Average precision with OOD as the positive class (higher score = OOD). */
  readonly auprOut: number;
  /** Average precision with ID as the positive class (lower score = ID). */
  readonly auprIn: number;
  /** 1 − min over thresholds of ½·FPR + ½·(1 − TPR) (Liang et al.'s detection accuracy). */
  readonly detectionAccuracy: number;
  /** Share of ID samples flagged at the threshold that catches 95% of the OOD samples. */
  readonly fpr95: number;
  /** The score threshold that catches 95% of OOD (the one fpr95 is measured at). */
  readonly threshold95: number;
  readonly nId: number;
  readonly nOod: number;
}

function split(scores: ArrayLike<number>, labels: ArrayLike<number>): { id: Float64Array; ood: Float64Array } {
  if (labels.length !== scores.length) throw new InputError('labels', `has ${labels.length} entries but there are ${scores.length} scores`);
  assertFiniteScores(scores);
  const id: number[] = [];
  const ood: number[] = [];
  for (let i = 0; i < scores.length; i++) {
    const l = labels[i];
    if (l === 1) ood.push(scores[i]!);
    else if (l === 0) id.push(scores[i]!);
    else throw new InputError(`labels[${i}]`, `must be 0 or 1, got ${l}`);
  }
  if (!id.length || !ood.length) throw new InputError('labels', 'metrics need both in-distribution (0) and OOD (1) samples');
  return { id: Float64Array.from(id), ood: Float64Array.from(ood) };
}

/** AUROC by midranks: (R_ood − n_ood(n_ood+1)/2) / (n_id·n_ood). */
export function auroc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const { id, ood } = split(scores, labels);
  return aurocOf(id, ood);
}

export function aurocOf(id: ArrayLike<number>, ood: ArrayLike<number>): number {
  const n = id.length + ood.length;
  const v = new Float64Array(n);
  const isOod = new Uint8Array(n);
  for (let i = 0; i < id.length; i++) v[i] = id[i]!;
  for (let i = 0; i < ood.length; i++) {
    v[id.length + i] = ood[i]!;
    isOod[id.length + i] = 1;
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => v[a]! - v[b]!);
  let rankSum = 0;
  let i = 0;
  while (i < n) {
    let j = i;
    while (j < n && v[order[j]!] === v[order[i]!]) j++;
    const mid = (i + 1 + j) / 2; // average of ranks i+1..j
    for (let t = i; t < j; t++) if (isOod[order[t]!]) rankSum += mid;
    i = j;
  }
  const no = ood.length;
  return (rankSum - (no * (no + 1)) / 2) / (id.length * no);
}

/** FPR at 95% TPR: the threshold is the largest score that still flags ≥ 95% of OOD samples. */
export function fprAtTpr(id: ArrayLike<number>, ood: ArrayLike<number>, tpr = 0.95): { fpr: number; threshold: number } {
  const sorted = Float64Array.from(ood).sort(); // ascending
  const need = Math.ceil(tpr * sorted.length - 1e-9);
  const threshold = sorted[sorted.length - need]!;
  let flagged = 0;
  for (let i = 0; i < id.length; i++) if (id[i]! >= threshold) flagged++;
  return { fpr: flagged / id.length, threshold };
}

/**
 * Average precision of `pos` against `neg` where higher = positive (scikit-learn's average_precision_score:
 * Σ_n (R_n − R_{n−1}) P_n over distinct thresholds, ties grouped).
 */
export function averagePrecision(pos: ArrayLike<number>, neg: ArrayLike<number>): number {
  const n = pos.length + neg.length;
  const v = new Float64Array(n);
  const y = new Uint8Array(n);
  for (let i = 0; i < pos.length; i++) {
    v[i] = pos[i]!;
    y[i] = 1;
  }
  for (let i = 0; i < neg.length; i++) v[pos.length + i] = neg[i]!;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => v[b]! - v[a]!);
  let tp = 0;
  let fp = 0;
  let prevRecall = 0;
  let ap = 0;
  let i = 0;
  while (i < n) {
    let j = i;
    while (j < n && v[order[j]!] === v[order[i]!]) {
      if (y[order[j]!]) tp++;
      else fp++;
      j++;
    }
    const recall = tp / pos.length;
    ap += (recall - prevRecall) * (tp / (tp + fp));
    prevRecall = recall;
    i = j;
  }
  return ap;
}

/** 1 − min_t [½·FPR(t) + ½·(1 − TPR(t))] over every cut between distinct scores. */
export function detectionAccuracyOf(id: ArrayLike<number>, ood: ArrayLike<number>): number {
  const all = [...Array.from(id, (s) => [s, 0] as const), ...Array.from(ood, (s) => [s, 1] as const)].sort((a, b) => b[0] - a[0]);
  let tp = 0;
  let fp = 0;
  let best = 0.5; // flag nothing: TPR 0, FPR 0
  let i = 0;
  while (i < all.length) {
    let j = i;
    while (j < all.length && all[j]![0] === all[i]![0]) {
      if (all[j]![1]) tp++;
      else fp++;
      j++;
    }
    best = Math.min(best, 0.5 * (fp / id.length) + 0.5 * (1 - tp / ood.length));
    i = j;
  }
  return 1 - best;
}

export function detectionMetrics(scores: ArrayLike<number>, labels: ArrayLike<number>): DetectionMetrics {
  const { id, ood } = split(scores, labels);
  return detectionMetricsOf(id, ood);
}

export function detectionMetricsOf(id: ArrayLike<number>, ood: ArrayLike<number>): DetectionMetrics {
  if (!id.length || !ood.length) throw new InputError('labels', 'metrics need both in-distribution and OOD samples');
  assertFiniteScores(id, 'id');
  assertFiniteScores(ood, 'ood');
  const { fpr, threshold } = fprAtTpr(id, ood);
  const negId = Float64Array.from(id, (s) => -s);
  const negOod = Float64Array.from(ood, (s) => -s);
  return {
    auroc: aurocOf(id, ood),
    auprOut: averagePrecision(ood, id),
    auprIn: averagePrecision(negId, negOod),
    detectionAccuracy: detectionAccuracyOf(id, ood),
    fpr95: fpr,
    threshold95: threshold,
    nId: id.length,
    nOod: ood.length,
  };
}

/** Share of predictions equal to the truth. */
export function accuracy(pred: ArrayLike<number>, truth: ArrayLike<number>): number {
  if (pred.length !== truth.length) throw new InputError('truth', `has ${truth.length} entries but there are ${pred.length} predictions`);
  if (pred.length === 0) throw new InputError('truth', 'is empty');
  let c = 0;
  for (let i = 0; i < pred.length; i++) if (pred[i] === truth[i]) c++;
  return c / pred.length;
}
