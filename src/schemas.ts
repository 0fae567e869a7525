import { z } from 'zod';
import { SCORE_MODES } from './core/feature-cluster.js';
import { N_CLUSTER_MAX, N_CLUSTER_MIN } from './core/kmeans.js';

/**
 * One zod schema per message. The same schema validates the HTTP body, the BullMQ job payload and the CLI options;
 * only the way data is referenced differs (a path for the CLI, a store id for the service).
 */
export const layerSchema = z.string().min(1, 'must name a tensor, e.g. "output" or "9"');
export const nClusterSchema = z.coerce.number().int('must be an integer').min(N_CLUSTER_MIN, `must be >= ${N_CLUSTER_MIN}`).max(N_CLUSTER_MAX, `must be <= ${N_CLUSTER_MAX}`);
export const scoreSchema = z.enum(SCORE_MODES);
export const seedSchema = z.coerce.number().int('must be an integer');
export const gridSchema = z.coerce.number().gt(0, 'must be > 0').lt(1, 'must be < 1');
export const thresholdSchema = z.coerce.number().refine(Number.isFinite, 'must be a finite number');
export const batchSizeSchema = z.coerce.number().int('must be an integer').min(1, 'must be >= 1').max(65536, 'must be <= 65536');
export const layoutSchema = z.enum(['NCHW', 'NHWC']);

/** Fit parameters common to every caller. */
export const fitParamsSchema = z.object({
  layer: layerSchema,
  nCluster: nClusterSchema,
  score: scoreSchema.optional(),
  seed: seedSchema.optional(),
  layout: layoutSchema.optional(),
  batchSize: batchSizeSchema.optional(),
});
export type FitParams = z.infer<typeof fitParamsSchema>;

export const calibrateParamsSchema = z.object({ grid: gridSchema.optional() });
export const predictParamsSchema = z.object({ threshold: thresholdSchema.optional() });
