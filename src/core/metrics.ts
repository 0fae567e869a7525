import { InputError } from './errors.js';
import { assertFiniteScores } from './threshold.js';

/**
 * Detection metrics. Convention (also in the README): OOD is the positive class, higher score = more OOD,
 * a sample is flagged where score ≥ threshold.
 */
export interface DetectionMetrics {
  /** Area under the ROC curve; ties count one half (Mann–Whitney). */
  readonly auroc: number;
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

export function detectionMetrics(scores: ArrayLike<number>, labels: ArrayLike<number>): DetectionMetrics {
  const { id, ood } = split(scores, labels);
  const { fpr, threshold } = fprAtTpr(id, ood);
  return { auroc: aurocOf(id, ood), fpr95: fpr, threshold95: threshold, nId: id.length, nOod: ood.length };
}

/** Share of predictions equal to the truth. */
export function accuracy(pred: ArrayLike<number>, truth: ArrayLike<number>): number {
  if (pred.length !== truth.length) throw new InputError('truth', `has ${truth.length} entries but there are ${pred.length} predictions`);
  if (pred.length === 0) throw new InputError('truth', 'is empty');
  let c = 0;
  for (let i = 0; i < pred.length; i++) if (pred[i] === truth[i]) c++;
  return c / pred.length;
}
