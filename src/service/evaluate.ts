import type { DetectorBundle } from '../core/bundle.js';
import { accuracy, detectionMetricsOf, type DetectionMetrics } from '../core/metrics.js';
import type { DecodedArray } from '../core/tensor.js';
import { applyThreshold, exactThreshold } from '../core/threshold.js';
import { runtimeOptions, scoreData, type RuntimeOptions } from './detector-service.js';

/**
 * Evaluating a detector on labelled data (in-distribution vs OOD): the one workflow behind `imagedrift evaluate` and
 * the HTML report. Convention: OOD is the positive class (src/core/metrics.ts).
 */
export interface EvaluationThreshold {
  readonly value: number;
  readonly source: 'calibrated' | 'best-accuracy';
  /** One line for people: where the threshold comes from. */
  readonly detail: string;
}

/** The detector's calibrated threshold, else the accuracy-maximising threshold on these scores (an oracle choice). */
export function evaluationThreshold(bundle: Pick<DetectorBundle, 'calibration'>, idScores: ArrayLike<number>, oodScores: ArrayLike<number>): EvaluationThreshold {
  const c = bundle.calibration;
  if (c) {
    const how =
      c.method === 'conformal'
        ? `label-free conformal quantile of ${c.nEval} held-out ID scores, target false-alarm rate ${c.targetFpr}`
        : `best accuracy (${c.method}${c.step !== undefined ? `, step ${c.step}` : ''}) on ${c.nEval} labelled samples${c.accuracy !== undefined ? `, accuracy ${c.accuracy.toFixed(4)}` : ''}`;
    return { value: c.threshold, source: 'calibrated', detail: `calibrated: ${how}` };
  }
  const scores = Float64Array.from([...Array.from(idScores), ...Array.from(oodScores)]);
  const truth = new Uint8Array(scores.length).fill(1, idScores.length);
  const t = exactThreshold(scores, truth);
  return { value: t.threshold, source: 'best-accuracy', detail: 'best accuracy on this data (the detector is not calibrated, so this is an optimistic, oracle choice)' };
}

export interface Evaluation {
  readonly idScores: Float64Array;
  readonly oodScores: Float64Array;
  readonly metrics: DetectionMetrics;
  readonly threshold: EvaluationThreshold;
  /** Share of all samples classified correctly at `threshold` (flagged = score ≥ threshold). */
  readonly accuracy: number;
}

/** Scores both sets (errors name `id` / `ood` and the sample), then the metrics, the threshold and its accuracy. */
export async function evaluateOnData(bundle: DetectorBundle, model: Uint8Array, req: RuntimeOptions & { readonly id: DecodedArray; readonly ood: DecodedArray }): Promise<Evaluation> {
  const runtime = runtimeOptions(req);
  const idScores = await scoreData(bundle, model, req.id, runtime, 'id');
  const oodScores = await scoreData(bundle, model, req.ood, runtime, 'ood');
  const metrics = detectionMetricsOf(idScores, oodScores);
  const threshold = evaluationThreshold(bundle, idScores, oodScores);
  const all = Float64Array.from([...idScores, ...oodScores]);
  const truth = new Uint8Array(all.length).fill(1, idScores.length);
  return { idScores, oodScores, metrics, threshold, accuracy: accuracy(applyThreshold(all, threshold.value), truth) };
}
