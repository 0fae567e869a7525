import { z } from 'zod';
import type { Detector, FittedDetector } from './detector.js';
import { InputError, issueField } from './errors.js';
import { FeatureClusterDetector, FittedFeatureCluster, SCORE_MODES } from './feature-cluster.js';
import { KNN_DEFAULTS, KnnDetector } from './knn.js';
import { EnergyDetector, MspDetector } from './logit-detectors.js';
import { EnsembleDetector, type EnsembleParams, type Registry } from './ensemble.js';
import { MahalanobisDetector } from './mahalanobis.js';
import { N_CLUSTER_MAX, N_CLUSTER_MIN } from './kmeans.js';

/**
 * The registry of detector kinds: one zod schema per kind's parameters, a constructor, and a restorer for saved
 * state. Adding a detector = one file implementing src/core/detector.ts + one entry here.
 */
export const DETECTOR_KINDS = ['feature-cluster', 'msp', 'energy', 'mahalanobis', 'knn', 'ensemble'] as const;
export type DetectorKind = (typeof DETECTOR_KINDS)[number];

/** A number; an infinite one (`1e999` as text) is told apart from one that is not a number at all. */
export const num = () => z.number({ error: (iss) => (iss.input === Infinity || iss.input === -Infinity ? 'must be finite' : 'must be a number') });
const int = () => num().int('must be an integer');
/**
 * Each parameter's rule, once: the per-kind schemas below use them, and so do the CLI's and HTTP's flat fit
 * parameters (src/schemas.ts), so a value gets the same message however it is given.
 */
export const PARAM_RULES = {
  nCluster: int().min(N_CLUSTER_MIN, `must be >= ${N_CLUSTER_MIN}`).max(N_CLUSTER_MAX, `must be <= ${N_CLUSTER_MAX}`),
  score: z.enum(SCORE_MODES),
  seed: int(),
  nInit: int().min(1, 'must be >= 1'),
  maxIterations: int().min(1, 'must be >= 1'),
  temperature: num().positive('must be > 0'),
  shrinkage: z.union([z.literal('ledoit-wolf'), num().min(0, 'must be in [0,1]').max(1, 'must be in [0,1]')], { error: 'must be "ledoit-wolf" or a number in [0,1]' }),
  k: int().min(1, 'must be >= 1'),
  metric: z.enum(['cosine', 'l2']),
  maxBank: int().min(1, 'must be >= 1'),
} as const;
const R = PARAM_RULES;

const detectorParamSchemas = {
  'feature-cluster': z.object({ nCluster: R.nCluster, score: R.score.optional(), seed: R.seed.optional(), nInit: R.nInit.optional(), maxIterations: R.maxIterations.optional() }),
  msp: z.object({}),
  energy: z.object({ temperature: R.temperature.optional() }),
  mahalanobis: z.object({ shrinkage: R.shrinkage.optional() }),
  knn: z.object({ k: R.k.optional(), metric: R.metric.optional(), maxBank: R.maxBank.optional(), seed: R.seed.optional() }),
} as const;

const singleSpecSchema = z.discriminatedUnion('kind', [
  detectorParamSchemas['feature-cluster'].extend({ kind: z.literal('feature-cluster') }),
  detectorParamSchemas.msp.extend({ kind: z.literal('msp') }),
  detectorParamSchemas.energy.extend({ kind: z.literal('energy') }),
  detectorParamSchemas.mahalanobis.extend({ kind: z.literal('mahalanobis') }),
  detectorParamSchemas.knn.extend({ kind: z.literal('knn') }),
]);

/**
 * An ensemble member as a caller writes it (CLI `--members`, HTTP body, job payload): a known kind with its known
 * parameters only. Unknown fields are errors, not passengers (they would ride in the Redis job payload).
 */
export const memberSpecSchema = z
  .object({
    layer: z.string().min(1, 'must name a tensor, e.g. "output" or "9"'),
    detector: z.discriminatedUnion('kind', [
      detectorParamSchemas['feature-cluster'].extend({ kind: z.literal('feature-cluster') }).strict(),
      detectorParamSchemas.msp.extend({ kind: z.literal('msp') }).strict(),
      detectorParamSchemas.energy.extend({ kind: z.literal('energy') }).strict(),
      detectorParamSchemas.mahalanobis.extend({ kind: z.literal('mahalanobis') }).strict(),
      detectorParamSchemas.knn.extend({ kind: z.literal('knn') }).strict(),
    ]),
  })
  .strict();

const ensembleParamSchema = z.object({
  members: z.array(z.object({ layer: z.string().min(1), detector: singleSpecSchema })).min(1, 'must list at least one member').max(8, 'at most 8 members'),
  holdout: num().gt(0, 'must be > 0').lt(1, 'must be < 1').optional(),
  seed: R.seed.optional(),
});
/** What createDetector accepts for an ensemble: known fields only, at every level (saved params, read back, may hold more). */
const ensembleCreateSchema = ensembleParamSchema.extend({ members: z.array(memberSpecSchema).min(1, 'must list at least one member').max(8, 'at most 8 members') }).strict();

/** `{kind, ...params}`: the one message shape naming a detector, used by the CLI, HTTP bodies and jobs. */
export const detectorSpecSchema = z.discriminatedUnion('kind', [...singleSpecSchema.options, ensembleParamSchema.extend({ kind: z.literal('ensemble') })]);
export type DetectorSpec = z.infer<typeof detectorSpecSchema>;

/** The feature-cluster layer recommended for LeNet5, chosen by measurement (docs/SCORE-MODES.md). */
export const RECOMMENDED_LAYER = '9';

/**
 * The best configuration measured for LeNet5 on MNIST (docs/RESULTS.md): the logits' energy plus the Euclidean
 * distance to the nearest training image in the first pooling layer's space (LeNet5's layer `3`, 6×14×14), over the
 * whole training set, each standardised on held-out training rows. The energy catches what the classifier finds
 * unfamiliar (far OOD); the low-level nearest neighbour catches strokes no digit has (letters, near OOD).
 */
export const RECOMMENDED_ENSEMBLE: Extract<DetectorSpec, { kind: 'ensemble' }> = {
  kind: 'ensemble',
  members: [
    { layer: 'output', detector: { kind: 'energy' } },
    { layer: '3', detector: { kind: 'knn', k: 1, metric: 'l2', maxBank: 60000, seed: 0 } },
  ],
};

/**
 * The default detector for each layer of the converted seed LeNet5 (`models/lenet5.onnx`), chosen by measurement on
 * docs/RESULTS.md's single-detector table (fitted on the 60,000 MNIST train images): among the detectors whose
 * MNIST → CIFAR-10 AUROC is at least `minFarAuroc` (far OOD stays reliable), the one with the highest
 * MNIST → EMNIST letters AUROC. `fit --detector auto` uses it. It is keyed by the model's sha256 because a layer name
 * means nothing across models: another model has no measured defaults. test/core/layer-defaults.test.ts re-derives
 * the choice from RESULTS.md.
 */
export const LAYER_DEFAULTS = {
  modelSha256: '6a2ff364eea61a92d6469072bd2102989938bd7cefbf2edddd9a8ee3744916f9',
  minFarAuroc: 0.99,
  layers: {
    '3': { kind: 'knn', k: 50, metric: 'cosine', maxBank: 20000, seed: 0 },
    '7': { kind: 'knn', k: 50, metric: 'cosine', maxBank: 20000, seed: 0 },
    '8': { kind: 'knn', k: 50, metric: 'cosine', maxBank: 20000, seed: 0 },
    '9': { kind: 'knn', k: 50, metric: 'cosine', maxBank: 20000, seed: 0 },
    '10': { kind: 'feature-cluster', nCluster: 10, score: 'shortfall', seed: 0 },
    '11': { kind: 'feature-cluster', nCluster: 10, score: 'shortfall', seed: 0 },
    output: { kind: 'msp' },
  } satisfies Record<string, DetectorSpec>,
} as const;

/** The measured default detector for `layer` of the model with this sha256 (`--detector auto`). */
export function layerDefault(layer: string, modelSha256: string): DetectorSpec {
  if (modelSha256 !== LAYER_DEFAULTS.modelSha256) {
    throw new InputError('method', `auto: per-layer defaults were measured for the seed LeNet5 (sha256 ${LAYER_DEFAULTS.modelSha256.slice(0, 12)}…) only; this model (${modelSha256.slice(0, 12)}…) has none, so name a detector`);
  }
  const spec = (LAYER_DEFAULTS.layers as Record<string, DetectorSpec>)[layer];
  if (!spec) throw new InputError('layer', `auto: no measured default for layer ${JSON.stringify(layer)}; measured layers: ${Object.keys(LAYER_DEFAULTS.layers).join(', ')}`);
  return spec;
}

function ensembleSpec(params: unknown, field: string, schema: typeof ensembleParamSchema | typeof ensembleCreateSchema = ensembleParamSchema): EnsembleParams {
  const r = schema.safeParse(params);
  if (!r.success) throw issueError(r.error.issues[0]!, field);
  return { members: r.data.members.map((m) => ({ layer: m.layer, detector: m.detector })), holdout: r.data.holdout ?? 0.1, seed: r.data.seed ?? 0 };
}

/** A zod issue as the InputError naming its path under `field`; an unknown key is named itself, with `unknown` as detail. */
function issueError(issue: z.core.$ZodIssue, field: string, unknown = 'is not a known field here'): InputError {
  return new InputError(issueField(issue, field), issue.code === 'unrecognized_keys' ? unknown : issue.message);
}

const REGISTRY: Registry = {
  create: (spec) => createDetector(spec as DetectorSpec),
  restore: (kind, params, dim, nTrain, stats, arrays) => restoreDetector(kind, params, dim, nTrain, stats, arrays),
};

/**
 * A kind's parameters, validated. `strict` (createDetector: a caller's spec) refuses a field the kind does not take, so a
 * misspelt parameter (`K` for `k`) is an error, not a default silently used in its place.
 */
function parseParams<K extends keyof typeof detectorParamSchemas>(kind: K, params: unknown, field: string, strict = false): z.infer<(typeof detectorParamSchemas)[K]> {
  const schema = detectorParamSchemas[kind];
  const r = (strict ? schema.strict() : schema).safeParse(params);
  if (!r.success) throw issueError(r.error.issues[0]!, field, `is not a parameter of ${kind} (it takes ${Object.keys(schema.shape).join(', ') || 'none'})`);
  return r.data as z.infer<(typeof detectorParamSchemas)[K]>;
}

export function createDetector(spec: DetectorSpec): Detector {
  const { kind, ...params } = spec as { kind: DetectorKind } & Record<string, unknown>;
  switch (kind) {
    case 'feature-cluster':
      return new FeatureClusterDetector(parseParams(kind, params, 'detector', true));
    case 'msp':
      parseParams(kind, params, 'detector', true);
      return new MspDetector();
    case 'energy':
      return new EnergyDetector(parseParams(kind, params, 'detector', true));
    case 'mahalanobis':
      return new MahalanobisDetector(parseParams(kind, params, 'detector', true));
    case 'knn':
      return new KnnDetector(parseParams(kind, params, 'detector', true));
    case 'ensemble': {
      const p = ensembleSpec(params, 'detector', ensembleCreateSchema);
      return new EnsembleDetector(p, REGISTRY);
    }
    default:
      throw new InputError('detector', `unknown detector '${String(kind)}'; expected one of ${DETECTOR_KINDS.join(', ')}`);
  }
}

/** Rebuilds a fitted detector from its saved parts. The params are the fitted detector's own (fully resolved). */
export function restoreDetector(kind: string, params: unknown, dim: number, nTrain: number, stats: Record<string, number>, arrays: Record<string, Float32Array>): FittedDetector {
  switch (kind) {
    case 'feature-cluster': {
      const p = new FeatureClusterDetector(parseParams(kind, params, 'manifest.detector.params')).params;
      return FittedFeatureCluster.restore(p, dim, nTrain, stats, arrays);
    }
    case 'msp':
      return MspDetector.restore(dim, nTrain);
    case 'energy':
      return EnergyDetector.restore(new EnergyDetector(parseParams(kind, params, 'manifest.detector.params')).params, dim, nTrain);
    case 'mahalanobis':
      return MahalanobisDetector.restore(new MahalanobisDetector(parseParams(kind, params, 'manifest.detector.params')).params, dim, nTrain, stats, arrays);
    case 'knn':
      return KnnDetector.restore({ ...KNN_DEFAULTS, ...parseParams(kind, params, 'manifest.detector.params') }, dim, nTrain, arrays);
    case 'ensemble': {
      const p = ensembleSpec(params, 'manifest.detector.params');
      const columns = z.record(z.string(), z.tuple([z.number().int(), z.number().int()])).safeParse((params as { columns?: unknown }).columns);
      if (!columns.success) throw new InputError('manifest.detector.params.columns', 'is missing or malformed');
      return EnsembleDetector.restore({ ...p, columns: columns.data }, dim, nTrain, stats, arrays, REGISTRY);
    }
    default:
      throw new InputError('manifest.detector.kind', `unknown detector '${kind}'; expected one of ${DETECTOR_KINDS.join(', ')}`);
  }
}
