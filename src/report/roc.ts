import { InputError } from '../core/errors.js';
import { assertFiniteScores } from '../core/threshold.js';

/**
 * The ROC curve of a detector, with the library's convention: OOD is the positive class, a sample is flagged where
 * score ≥ threshold. Pure maths, no I/O.
 */
export interface RocPoint {
  /** Share of in-distribution samples flagged at `threshold`. */
  readonly fpr: number;
  /** Share of OOD samples flagged at `threshold`. */
  readonly tpr: number;
  /** The cut: samples with score ≥ threshold are flagged (`Infinity` for the origin, nothing flagged). */
  readonly threshold: number;
}

/**
 * Tie-aware ROC: the origin, then one point per distinct score (descending), each flagging every sample whose score
 * is ≥ that score. Tied ID/OOD samples move together, so the curve takes a diagonal step there and its trapezoid area
 * equals the midrank AUROC.
 */
export function rocCurve(idScores: ArrayLike<number>, oodScores: ArrayLike<number>): RocPoint[] {
  if (!idScores.length || !oodScores.length) throw new InputError('scores', `the ROC curve needs both in-distribution and OOD scores, got ${idScores.length} ID and ${oodScores.length} OOD`);
  assertFiniteScores(idScores, 'idScores');
  assertFiniteScores(oodScores, 'oodScores');
  const id = Float64Array.from(idScores).sort().reverse();
  const ood = Float64Array.from(oodScores).sort().reverse();
  const points: RocPoint[] = [{ fpr: 0, tpr: 0, threshold: Infinity }];
  let i = 0;
  let o = 0;
  while (i < id.length || o < ood.length) {
    // the next distinct threshold: the largest score not yet flagged
    const t = o >= ood.length ? id[i]! : i >= id.length ? ood[o]! : Math.max(id[i]!, ood[o]!);
    while (i < id.length && id[i]! >= t) i++;
    while (o < ood.length && ood[o]! >= t) o++;
    points.push({ fpr: i / id.length, tpr: o / ood.length, threshold: t });
  }
  return points;
}
