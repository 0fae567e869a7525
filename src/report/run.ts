import type { DetectorBundle } from '../core/bundle.js';
import type { DetectionMetrics } from '../core/metrics.js';
import { toModelInput } from '../core/preprocess.js';
import type { DecodedArray } from '../core/tensor.js';
import type { RuntimeOptions } from '../service/detector-service.js';
import { evaluateOnData } from '../service/evaluate.js';
import { buildReport, type ReportInput, type ReportThreshold } from './report.js';

/**
 * The report workflow for the CLI (and any other caller holding a detector and two data sets): score both sets,
 * preprocess them exactly as the detector does (the thumbnails show what the model saw), compute the metrics and
 * build the page. Composition only; the maths lives in src/core and src/report.
 */
export interface ReportRequest extends RuntimeOptions {
  readonly id: DecodedArray;
  readonly ood: DecodedArray;
  readonly title: string;
  readonly sources?: ReportInput['sources'];
}

export async function reportOnData(bundle: DetectorBundle, model: Uint8Array, req: ReportRequest): Promise<{ html: string; metrics: DetectionMetrics; threshold: ReportThreshold }> {
  const { idScores, oodScores, metrics, threshold } = await evaluateOnData(bundle, model, req);
  const html = await buildReport({
    bundle,
    idScores,
    oodScores,
    idImages: toModelInput(req.id, bundle.preprocess, 'id'),
    oodImages: toModelInput(req.ood, bundle.preprocess, 'ood'),
    metrics,
    threshold,
    title: req.title,
    ...(req.sources ? { sources: req.sources } : {}),
  });
  return { html, metrics, threshold };
}
