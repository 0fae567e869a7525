import { z } from 'zod';
import { DRIFT_TESTS, minPermutations } from './core/drift.js';
import { isBase64 } from './io/base64.js';
import { ID_PATTERN, SERVICE_PREFIXES } from './storage/keys.js';
import { isSafeKey } from './storage/object-store.js';
import { DETECTOR_KINDS, detectorSpecSchema, layerDefault, memberSpecSchema, num, PARAM_RULES, type DetectorKind, type DetectorSpec } from './core/detectors.js';
import { InputError, issueField } from './core/errors.js';
import { parseLayerName } from './model/graph.js';

/**
 * One zod schema per message. The same schema validates the HTTP body, the BullMQ job payload and the CLI options;
 * only the way data is referenced differs (a path for the CLI, a store id for the service).
 */
/**
 * A number given as a JSON number or as a numeric string (CLI flags are strings). Unlike `z.coerce.number()`, null,
 * booleans, arrays and empty strings are errors, not 0 or 1: `{"threshold": null}` must not become threshold 0.
 */
const numeric = <T extends z.ZodType<number>>(inner: (n: z.ZodNumber) => T) => fromText(inner(num()));
/** A decimal number as written by people: sign, digits, optional fraction and exponent (not 0x10, 0b1, Infinity). */
const DECIMAL = /^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$/;

/**
 * The schemas that also take their number as a string, with the strings they take: JSON Schema cannot say what a
 * preprocess does, so the OpenAPI document (src/http/openapi.ts) publishes these as "the number, or a string matching
 * `pattern`".
 */
export const numericTextForms = z.registry<{ pattern: RegExp }>();
const asText = <T extends z.ZodType>(schema: T, pattern: RegExp): T => {
  numericTextForms.add(schema, { pattern });
  return schema;
};

/** A core parameter rule that also takes its number as a decimal string (a CLI flag): the same rule, the same message. */
const fromText = <T extends z.ZodType>(rule: T) => asText(z.preprocess((v) => (typeof v === 'string' && DECIMAL.test(v) ? Number(v) : v), rule), DECIMAL);

const layerSchema = z.string().min(1, 'must name a tensor, e.g. "output" or "9"');
const nClusterSchema = fromText(PARAM_RULES.nCluster);
const scoreSchema = PARAM_RULES.score;
const seedSchema = fromText(PARAM_RULES.seed);
export const gridSchema = numeric((n) => n.gt(0, 'must be > 0').lt(1, 'must be < 1'));
export const thresholdSchema = numeric((n) => n.refine(Number.isFinite, 'must be a finite number'));
export const batchSizeSchema = numeric((n) => n.int('must be an integer').min(1, 'must be >= 1').max(65536, 'must be <= 65536'));
const layoutSchema = z.enum(['NCHW', 'NHWC']);

/**
 * Fit parameters common to every caller. `method` picks the detector (CLI `--detector`; default feature-cluster,
 * which needs `nCluster`); the other fields are that detector's parameters.
 */
export const fitParamsSchema = z.object({
  layer: layerSchema.optional(),
  /** A detector kind, or `auto`: the measured default for `layer` (LAYER_DEFAULTS; the seed LeNet5 only). */
  method: z.enum([...DETECTOR_KINDS, 'auto']).optional(),
  nCluster: nClusterSchema.optional(),
  score: scoreSchema.optional(),
  seed: seedSchema.optional(),
  k: fromText(PARAM_RULES.k).optional(),
  metric: PARAM_RULES.metric.optional(),
  maxBank: fromText(PARAM_RULES.maxBank).optional(),
  temperature: fromText(PARAM_RULES.temperature).optional(),
  /** Ensemble members: `[{ layer, detector: { kind, ...params } }, …]` (JSON on the CLI). */
  members: z.array(memberSpecSchema).min(1, 'must list at least one member').max(8, 'at most 8 members').optional(),
  shrinkage: fromText(PARAM_RULES.shrinkage).optional(),
  layout: layoutSchema.optional(),
  /**
   * Pixel scale recorded in the detector and applied to every later input (default: integers ÷255, floats as they
   * are). E.g. 1/65535 for 16-bit images, whose values exceed 255.
   */
  scale: numeric((n) => n.positive('must be > 0')).optional(),
  batchSize: batchSizeSchema.optional(),
});
export type FitParams = z.infer<typeof fitParamsSchema>;

/**
 * The detector spec a set of fit parameters names; errors name the parameter (`nCluster`, `k`, …). `auto` needs the
 * model's sha256 (the defaults are per model) and takes no detector parameters.
 */
export function detectorSpecFromParams(p: FitParams, modelSha256?: string): DetectorSpec {
  if (p.method === 'auto') {
    for (const k of ['nCluster', 'score', 'seed', 'k', 'metric', 'maxBank', 'temperature', 'shrinkage', 'members'] as const) {
      if (p[k] !== undefined) throw new InputError(k, 'does not apply to the auto detector (it uses the measured default for the layer)');
    }
    if (p.layer === undefined) throw new InputError('layer', 'is required');
    if (modelSha256 === undefined) throw new InputError('model', 'auto needs the model to choose its default');
    return layerDefault(parseLayerName(p.layer), modelSha256); // the tutorial's 'output[:Tensor]' names layer output
  }
  const method = p.method ?? 'feature-cluster';
  const pick = (keys: (keyof FitParams)[]) => Object.fromEntries(keys.filter((k) => p[k] !== undefined).map((k) => [k, p[k]]));
  const byKind: Record<DetectorKind, (keyof FitParams)[]> = {
    'feature-cluster': ['nCluster', 'score', 'seed'],
    msp: [],
    energy: ['temperature'],
    mahalanobis: ['shrinkage'],
    knn: ['k', 'metric', 'maxBank', 'seed'],
    ensemble: ['members', 'seed'],
  };
  const allowed = new Set(byKind[method]);
  for (const k of ['nCluster', 'score', 'seed', 'k', 'metric', 'maxBank', 'temperature', 'shrinkage', 'members'] as const) {
    if (p[k] !== undefined && !allowed.has(k)) throw new InputError(k, `does not apply to the ${method} detector`);
  }
  if (method === 'feature-cluster' && p.nCluster === undefined) throw new InputError('nCluster', 'is required for the feature-cluster detector');
  if (method !== 'ensemble' && p.layer === undefined) throw new InputError('layer', 'is required');
  if (method === 'ensemble' && p.layer !== undefined) throw new InputError('layer', 'does not apply to an ensemble; each member names its layer');
  if (method === 'ensemble' && p.members === undefined) throw new InputError('members', 'is required for the ensemble detector');
  const r = detectorSpecSchema.safeParse({ kind: method, ...pick(byKind[method]) });
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new InputError(issueField(issue, '', 'detector'), issue.message);
  }
  return r.data;
}

export const calibrateParamsSchema = z.object({
  grid: gridSchema.optional(),
  targetFpr: numeric((n) => n.gt(0, 'must be in (0,1)').lt(1, 'must be in (0,1)')).optional(),
  /** In-distribution feature rows kept as the MMD reference (default REFERENCE_ROWS = 1000; 0 keeps none). */
  referenceRows: numeric((n) => n.int('must be an integer').min(0, 'must be >= 0').max(5000, 'must be <= 5000')).optional(),
});
/** Drift options; `test` defaults to mmd, the one permutation test: `permutations` and `seed` apply to it only. */
export const driftParamsSchema = z
  .object({
    test: z.enum(DRIFT_TESTS).optional(),
    alpha: numeric((n) => n.gt(0, 'must be in (0,1)').lt(1, 'must be in (0,1)')).optional(),
    permutations: numeric((n) => n.int('must be an integer').min(1, 'must be >= 1').max(100000, 'must be <= 100000')).optional(),
    seed: seedSchema.optional(),
  })
  .superRefine((p, ctx) => {
    if (p.test !== 'ks' && p.test !== 'binomial') return;
    for (const k of ['permutations', 'seed'] as const) {
      if (p[k] !== undefined) ctx.addIssue({ code: 'custom', path: [k], message: `does not apply to the ${p.test} test, which draws nothing at random (only the mmd test has permutations and a seed)` });
    }
  });
export const predictParamsSchema = z.object({ threshold: thresholdSchema.optional() });

/*
 * Service messages (HTTP body = BullMQ job payload). A path parameter (the detector id) is merged into the body
 * before parsing, so the handler and the worker validate exactly the same object.
 */

/** Ids of datasets, models and detectors: one key segment, so they can never escape their prefix. */
export const idSchema = z.string().regex(ID_PATTERN, 'must be 1-64 characters of [A-Za-z0-9_-], starting with a letter or digit');
/** String.prototype.isWellFormed (Node >= 20; newer than the ES2022 library this project compiles against). */
const isWellFormed = (s: string): boolean => (s as string & { isWellFormed(): boolean }).isWellFormed();

/** A key in the bucket (for label files): well-formed Unicode, relative, no `..`, no empty segments. */
export const objectKeySchema = z
  .string()
  .min(1, 'must be a key in the bucket')
  // A lone UTF-16 surrogate cannot be encoded as UTF-8 (nor URI-encoded: the S3 client threw URIError, an HTTP 500).
  .refine(isWellFormed, 'must be well-formed Unicode (it holds a lone UTF-16 surrogate, which no S3 key can)')
  // S3 keys are at most 1024 bytes, and this one gets the tenant's prefix (up to 72 bytes) in front.
  .refine((k) => Buffer.byteLength(k, 'utf8') <= 900, 'must be at most 900 bytes (UTF-8)')
  .refine(isSafeKey, 'must be a relative key without "..", "." or empty segments');
/** A key prefix: one or more safe segments, ending in "/". */
export const keyPrefixSchema = z
  .string()
  .max(512, 'must be at most 512 characters')
  .regex(/^([A-Za-z0-9_.=-]+\/)+$/, 'must be segments of [A-Za-z0-9_.=-] each ending in "/", e.g. "captures/camera-1/"')
  .refine((p) => p.split('/').every((s) => s !== '.' && s !== '..'), 'must not contain "." or ".." segments');
/**
 * Inline labels travel in the job payload, which Redis keeps with the job (up to 10,000 completed jobs): 10,000
 * labels are ~20 KB. A larger set is a .npy/.json object in the bucket, named by oodLabelsKey.
 */
const MAX_INLINE_LABELS = 10_000;
const oodLabelsSchema = z
  .array(z.union([z.literal(0), z.literal(1)], { error: 'must be 0 (in-distribution) or 1 (OOD)' }))
  .min(1, 'must hold at least one label')
  .max(MAX_INLINE_LABELS, `holds more than ${MAX_INLINE_LABELS} labels; put a larger label set in the bucket (.npy or .json) and pass its key as oodLabelsKey`);

/** POST /detectors/{detector}/fit → job 'fit'. The CLI's fit options are `fitParamsSchema`, the same fields. */
export const fitMessageSchema = fitParamsSchema.extend({ detector: idSchema, model: idSchema, dataset: idSchema }).strict();
export type FitMessage = z.infer<typeof fitMessageSchema>;

/** POST /detectors/{detector}/calibrate → job 'calibrate'. Exactly one of `oodLabels` (inline) and `oodLabelsKey`. */
export const calibrateMessageSchema = calibrateParamsSchema
  .extend({ detector: idSchema, dataset: idSchema, oodLabels: oodLabelsSchema.optional(), oodLabelsKey: objectKeySchema.optional(), batchSize: batchSizeSchema.optional() })
  .strict()
  .superRefine((m, ctx) => {
    if (m.targetFpr !== undefined) {
      // Label-free (conformal): `dataset` is held-out in-distribution data; no labels, no grid.
      for (const k of ['oodLabels', 'oodLabelsKey', 'grid'] as const) {
        if (m[k] !== undefined) ctx.addIssue({ code: 'custom', path: [k], message: 'does not apply with targetFpr (label-free calibration on in-distribution data)' });
      }
      return;
    }
    if ((m.oodLabels === undefined) === (m.oodLabelsKey === undefined)) {
      ctx.addIssue({ code: 'custom', path: [m.oodLabels === undefined ? 'oodLabels' : 'oodLabelsKey'], message: 'give exactly one of oodLabels (an array of 0/1) and oodLabelsKey (a .npy/.json key in the bucket), or targetFpr for label-free calibration' });
    }
  });
export type CalibrateMessage = z.infer<typeof calibrateMessageSchema>;

/** Inline images for predict: base64 PNG/JPEG (one image each) or one base64 .npy holding the batch. */
const inlineImagesSchema = z.array(z.string().min(1, 'must be a base64 PNG, JPEG or .npy')).min(1, 'must hold at least one image');

/**
 * POST /detectors/{detector}/predict. Exactly one of `dataset` (an uploaded dataset id) and `images`. Small requests
 * are answered inline; larger ones become a 'predict' job, whose payload is this message with `dataset` (inline
 * images are stored as a dataset first, so job payloads stay small).
 */
export const predictMessageSchema = predictParamsSchema
  .extend({ detector: idSchema, dataset: idSchema.optional(), images: inlineImagesSchema.optional(), batchSize: batchSizeSchema.optional() })
  .strict()
  .superRefine((m, ctx) => {
    if ((m.dataset === undefined) === (m.images === undefined)) {
      ctx.addIssue({ code: 'custom', path: [m.dataset === undefined ? 'dataset' : 'images'], message: 'give exactly one of dataset (an uploaded dataset id) and images (base64 PNG/JPEG/.npy)' });
    }
  });
export type PredictMessage = z.infer<typeof predictMessageSchema>;

const DIGITS = /^[0-9]+$/;
/**
 * A count or number given as a query parameter or CLI flag (a string of decimal digits) or a JSON integer: `1.0`,
 * `1e3`, `0x10`, `+3`, `""`, null and true are refused, never read as a number.
 */
const positiveCount = (message: string, max?: number) => {
  const n = z.number({ error: message }).int(message).positive(message);
  return asText(z.preprocess((v) => (typeof v === 'string' && DIGITS.test(v) ? Number(v) : v), max === undefined ? n : n.max(max, `must be <= ${max}`)), DIGITS);
};

/** A detector version number (`?version=`, `--version`). */
const versionSchema = positiveCount('must be a positive decimal integer (a version number, e.g. 3)');

/** Which version to describe (CLI `describe --version`); omitted: the current one. */
export const describeParamsSchema = z.object({ version: versionSchema.optional() });

/** GET /detectors/{detector}?version=<n>: the path id merged with the query parameters, which are all this knows. */
export const describeMessageSchema = describeParamsSchema.extend({ detector: idSchema }).strict();
export type DescribeMessage = z.infer<typeof describeMessageSchema>;

export const DEFAULT_LIST_LIMIT = 100;
const MAX_LIST_LIMIT = 1000;

/** GET /detectors?limit=<n>&after=<id>: a page of the tenant's detectors, after the cursor `after` (the last page's `next`). */
export const listDetectorsMessageSchema = z
  .object({
    limit: positiveCount('must be a positive decimal integer', MAX_LIST_LIMIT).optional(),
    after: idSchema.optional(),
  })
  .strict();
export type ListDetectorsMessage = z.infer<typeof listDetectorsMessageSchema>;

const sha256Schema = z.string().regex(/^[0-9a-f]{64}$/);
const countOf = z.number().int().nonnegative();

/**
 * What a stored detector version is, read off its manifest: the body of GET /detectors/{id} and the output of
 * `imagedrift describe --json` (src/service/describe.ts builds it). Arrays are named with their shapes, never their
 * values; no bucket key appears (the model is named by its id, where the version was fitted through the service).
 */
export const detectorDescriptionSchema = z
  .object({
    /** The detector id (HTTP) or directory (CLI) as the caller named it. */
    id: z.string(),
    /** The version described: the current one unless another was asked for. */
    version: z.number().int().positive(),
    currentVersion: z.number().int().positive(),
    /** The version this version's fit was first saved as (a calibration shares its fit's); null in detectors saved before it was recorded. */
    fitVersion: z.number().int().positive().nullable(),
    /** The fitted state's identity: two versions with the same fitId are calibrations of one fit; null before it was recorded. */
    fitId: sha256Schema.nullable(),
    /** When this version was made (its fit or calibration), ISO 8601. */
    createdAt: z.string(),
    /** The imagedrift that wrote it, and its detector format version. */
    libraryVersion: z.string(),
    formatVersion: z.number().int().positive(),
    /** The model it was fitted with: its id (null for a CLI directory's own model.onnx) and sha256; the extraction batch size. */
    model: z.object({ id: idSchema.nullable(), sha256: sha256Schema, batchSize: z.number().int().positive() }).strict(),
    /** The layer (tensor) the features come from; an ensemble's layers joined by "+". */
    layer: z.string(),
    preprocessing: z
      .object({
        input: z.object({ channels: z.number().int().positive(), height: z.number().int().positive(), width: z.number().int().positive() }).strict(),
        /** Recorded at fit for shapes ambiguous both ways; null: read off each input's shape. */
        layout: z.enum(['NCHW', 'NHWC']).nullable(),
        scale: z.union([z.literal('auto'), z.number().positive()]),
        grey: z.string(),
        resize: z.string(),
        range: z.tuple([z.number(), z.number()]),
      })
      .strict(),
    detector: z
      .object({
        kind: z.enum(DETECTOR_KINDS),
        params: z.record(z.string(), z.unknown()),
        /** Feature width and training rows. */
        dim: z.number().int().positive(),
        nTrain: z.number().int().positive(),
        stats: z.record(z.string(), z.number()),
      })
      .strict(),
    /** Every stored array by name: shape, dtype and size in bytes (never the values). */
    arrays: z.record(z.string(), z.object({ shape: z.array(countOf), dtype: z.enum(['float32', 'float64']), bytes: countOf }).strict()),
    /** How the threshold was chosen; null while the version is uncalibrated. */
    calibration: z
      .object({
        /** `labelled`: best accuracy on an eval set with OOD labels (method exact or grid); `label-free`: conformal, from held-out ID data. */
        kind: z.enum(['labelled', 'label-free']),
        method: z.enum(['exact', 'grid', 'conformal']),
        threshold: z.number(),
        /** Accuracy on the labelled eval set (labelled only). */
        accuracy: z.number().min(0).max(1).nullable(),
        /** The grid step (method grid only). */
        grid: z.number().positive().nullable(),
        /** The target false-alarm rate (label-free only). */
        targetFpr: z.number().gt(0).lt(1).nullable(),
        /** Samples calibrated on, and how many of them were labelled OOD (0 for label-free). */
        nEval: z.number().int().positive(),
        nOod: countOf,
        /** Share of those samples flagged at the threshold, and of their in-distribution part (the audits' baseline). */
        flaggedRate: z.number().min(0).max(1),
        idFlaggedRate: z.number().min(0).max(1),
        /** In-distribution scores stored (p-values, the KS test); 0 in detectors saved before they were. */
        scores: countOf,
        /** In-distribution feature rows stored as the MMD reference; 0: none (drift needs --reference, audits report featureShift null). */
        referenceRows: countOf,
      })
      .strict()
      .nullable(),
  })
  .strict();
export type DetectorDescription = z.infer<typeof detectorDescriptionSchema>;

/** GET /detectors: the tenant's detectors with their current versions, in key order; `next` (the `after` of the next page) while more remain. */
export const detectorListSchema = z
  .object({
    detectors: z.array(z.object({ id: idSchema, currentVersion: z.number().int().positive() }).strict()),
    next: idSchema.optional(),
  })
  .strict();
export type DetectorList = z.infer<typeof detectorListSchema>;

/*
 * HTTP response bodies: what each route answers (docs/openapi.json is generated from these and the route table in
 * src/http/openapi.ts). Every object is strict, so the contract test (test/handlers/openapi-contract.test.ts) fails on a
 * field a handler sends that is not described here. Handlers and services type the bodies they build with the
 * inferred types; nothing validates them at run time.
 */

/** The codes of `{error:{code,…}}` (src/http/respond.ts maps each to its status). */
export const ERROR_CODES = ['INVALID_INPUT', 'UNAUTHORIZED', 'NOT_FOUND', 'CONFLICT', 'NOT_FITTED', 'PAYLOAD_TOO_LARGE', 'MODEL_ERROR', 'TOO_MANY_JOBS', 'UNAVAILABLE', 'STORAGE_ERROR', 'INTERNAL', 'CONFIGURATION'] as const;
/** Every error response: a code, a message (a fixed sentence for a 5xx) and the field it is about, where there is one. */
export const errorBodySchema = z
  .object({ error: z.object({ code: z.enum(ERROR_CODES), message: z.string(), field: z.string().optional() }).strict() })
  .strict();
export type ErrorBody = z.infer<typeof errorBodySchema>;

/** GET /health. */
export const healthSchema = z.object({ status: z.literal('ok'), version: z.string() }).strict();
export type Health = z.infer<typeof healthSchema>;

/** The format a dataset was recognised as (its stored file's extension is picked from it). */
export const DATASET_FORMATS = ['npy', 'npy+gzip', 'npz', 'idx', 'idx+gzip', 'cifar-bin', 'png', 'jpeg'] as const;
export type DatasetFormat = (typeof DATASET_FORMATS)[number];

/** A dataset's manifest (`datasets/<id>/manifest.json`): the 201 of POST /datasets and POST /uploads/{id}/complete. */
export const datasetManifestSchema = z
  .object({
    id: idSchema,
    /** The data object's key in the tenant's part of the bucket. */
    key: z.string(),
    format: z.enum(DATASET_FORMATS),
    shape: z.array(countOf),
    dtype: z.string(),
    layout: z.enum(['NCHW', 'NHWC']).optional(),
    npzKey: z.string().optional(),
    sha256: sha256Schema,
    bytes: countOf,
    createdAt: z.string(),
    originalName: z.string(),
    /** Stored by the service for one job (a predict's inline images), deleted once that job is done (or failed for good). */
    ephemeral: z.literal(true).optional(),
  })
  .strict();
export type DatasetManifest = z.infer<typeof datasetManifestSchema>;

/** A model's manifest (`models/<id>.json`): the 201 of POST /models. */
export const modelManifestSchema = z
  .object({
    id: idSchema,
    key: z.string(),
    sha256: sha256Schema,
    bytes: z.number().int().positive(),
    inputSpec: z
      .object({
        name: z.string(),
        /** The declared input shape; symbolic dimensions (a batch axis) are their names. */
        shape: z.array(z.union([z.number(), z.string()])),
        channels: z.number().int().positive(),
        height: z.number().int().positive(),
        width: z.number().int().positive(),
        layout: z.enum(['NCHW', 'NHWC']),
      })
      .strict(),
    tensorCount: z.number().int().positive(),
    createdAt: z.string(),
  })
  .strict();
export type ModelManifest = z.infer<typeof modelManifestSchema>;

/** POST /uploads (or POST /datasets with presign: true): where to PUT the file, then what to call. */
export const presignedUploadSchema = z
  .object({
    id: idSchema,
    /** The staging key the URL writes to (not the dataset's key). */
    key: z.string(),
    url: z.string(),
    /** Seconds the URL is valid. */
    expiresIn: z.number().int().positive(),
    method: z.literal('PUT'),
    /** Headers the PUT must send (the URL is signed for exactly this length). */
    headers: z.object({ 'content-length': z.string() }).strict(),
    /** The path to POST once the file is PUT. */
    complete: z.string(),
  })
  .strict();
export type PresignedUploadBody = z.infer<typeof presignedUploadSchema>;

/** 202 of fit, calibrate and a predict too large to answer inline: the job's id and its GET /jobs/{id} path; `n`, a predict's samples. */
export const jobAcceptedSchema = z.object({ jobId: z.string(), status: z.string(), n: countOf.optional() }).strict();
export type JobAccepted = z.infer<typeof jobAcceptedSchema>;

/** Per-sample output of a predict: 0/1 flags, scores (higher is more OOD) and, for a calibrated detector, conformal p-values. */
const predictionFields = {
  result: z.array(z.number().int().min(0).max(1)),
  scores: z.array(z.number()),
  pValues: z.array(z.number().min(0).max(1)).optional(),
};

/** 200 of POST /detectors/{id}/predict (at most SYNC_PREDICT_MAX_IMAGES samples); `ms` the scoring time. */
export const predictResponseSchema = z
  .object({ ...predictionFields, threshold: z.number(), detectorVersion: z.number().int().positive(), n: countOf, ms: z.number().nonnegative() })
  .strict();
export type PredictResponse = z.infer<typeof predictResponseSchema>;

/** What a finished job leaves at `jobs/<jobId>/result.json` (src/queue/processor.ts), one per job kind. */
export const fitJobResultSchema = z
  .object({
    kind: z.literal('fit'),
    jobId: z.string(),
    detector: idSchema,
    version: z.number().int().positive(),
    model: idSchema,
    dataset: idSchema,
    layer: z.string(),
    /** The detector's kind (the fit's `method`, `auto` resolved). */
    detectorKind: z.string(),
    params: z.record(z.string(), z.unknown()),
    stats: z.record(z.string(), z.number()),
    dim: z.number().int().positive(),
    nTrain: z.number().int().positive(),
  })
  .strict();
export const calibrateJobResultSchema = z
  .object({
    kind: z.literal('calibrate'),
    jobId: z.string(),
    detector: idSchema,
    version: z.number().int().positive(),
    /** The version calibrated (absent in results written before it was recorded). */
    baseVersion: z.number().int().positive().optional(),
    dataset: idSchema,
    threshold: z.number(),
    method: z.enum(['exact', 'grid', 'conformal']),
    /** Accuracy on the labelled eval set (labelled only). */
    accuracy: z.number().min(0).max(1).optional(),
    /** The grid step (method grid only). */
    step: z.number().positive().optional(),
    /** The target false-alarm rate (label-free only). */
    targetFpr: z.number().gt(0).lt(1).optional(),
    nEval: z.number().int().positive(),
    nOod: countOf,
    flaggedRate: z.number().min(0).max(1),
    idFlaggedRate: z.number().min(0).max(1),
  })
  .strict();
const predictJobSummaryFields = {
  kind: z.literal('predict'),
  jobId: z.string(),
  detector: idSchema,
  detectorVersion: z.number().int().positive(),
  dataset: idSchema,
  threshold: z.number(),
  n: countOf,
  flagged: countOf,
};
export const predictJobResultSchema = z.object({ ...predictJobSummaryFields, ...predictionFields }).strict();
export type FitJobResult = z.infer<typeof fitJobResultSchema>;
export type CalibrateJobResult = z.infer<typeof calibrateJobResultSchema>;
export type PredictJobResult = z.infer<typeof predictJobResultSchema>;
export type JobResult = FitJobResult | CalibrateJobResult | PredictJobResult;

/** The summary a job returns to BullMQ (Redis): its result with the result object's key, minus predict's per-sample arrays. */
const resultKey = z.string();
export const jobResultSummarySchema = z.union([
  fitJobResultSchema.extend({ resultKey }).strict(),
  calibrateJobResultSchema.extend({ resultKey }).strict(),
  z.object({ ...predictJobSummaryFields, resultKey }).strict(),
]);
export type JobResultSummary = z.infer<typeof jobResultSummarySchema>;

/** A result over 4 MiB, not inlined: its key and size, and where the store can presign, a download URL (15 minutes). */
export const largeJobResultSchema = z
  .object({ resultKey, bytes: countOf, url: z.string().optional(), urlExpiresIn: z.number().int().positive().optional(), note: z.string() })
  .strict();
export type LargeJobResult = z.infer<typeof largeJobResultSchema>;

/** A job's error in GET /jobs/{id}: a failed job's, or a retrying job's last (a fixed sentence when the cause is on the server side). */
const jobErrorSchema = z.object({ code: z.string(), message: z.string(), field: z.string().optional() }).strict();
export type JobError = z.infer<typeof jobErrorSchema>;

/** A field one state never has: callers may read `status.result` or `status.error` of any state (the document leaves it out). */
const absent = z.never().optional();
const jobStatusFields = {
  id: z.string(),
  /** The job's kind; `unknown` for a job the queue has forgotten whose result is too large to read here. */
  kind: z.enum(['fit', 'calibrate', 'predict', 'unknown']),
  /** Percent done. */
  progress: z.number().min(0).max(100),
  /** Attempts made so far (0 for a job the queue has forgotten whose result is stored). */
  attemptsMade: countOf,
};
/**
 * Queue states of a job that has not finished; a job waiting for a retry (`delayed`) carries its last error. A queued
 * job is reported `waiting`; `prioritized` (BullMQ's name for a queued job with a priority) is not sent any more, and
 * stays listed for clients written against earlier releases.
 */
export const PENDING_JOB_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'waiting-children'] as const;

/**
 * GET /jobs/{id}: by state. Completed: the result (result.json, else the queue's summary of it, or the large-result
 * form); failed: the error; otherwise progress, and a retrying job's last error.
 */
export const jobStatusSchema = z.discriminatedUnion('state', [
  z.object({ ...jobStatusFields, state: z.literal('completed'), result: z.union([fitJobResultSchema, calibrateJobResultSchema, predictJobResultSchema, largeJobResultSchema, jobResultSummarySchema]), error: absent }).strict(),
  z.object({ ...jobStatusFields, state: z.literal('failed'), result: absent, error: jobErrorSchema }).strict(),
  z.object({ ...jobStatusFields, state: z.enum(PENDING_JOB_STATES), result: absent, error: jobErrorSchema.optional() }).strict(),
]);
export type JobStatus = z.infer<typeof jobStatusSchema>;

const DEFAULT_MMD_PERMUTATIONS = 200;
const MAX_MMD_PERMUTATIONS = 2000;

/**
 * The fewest permutations an audit's MMD test can fire with (`least`), and why: its p-value is at least
 * 1/(permutations+1), and it is compared with alpha for its own isDrift, alpha / alertOn.length (Bonferroni) when it
 * can raise the alert.
 */
function mmdFloor(alpha: number, alertOn: readonly string[]): { least: number; why: string } {
  if (!alertOn.includes('mmd')) return { least: minPermutations(alpha), why: `alpha ${alpha}` };
  const level = alpha / alertOn.length;
  return { least: minPermutations(level), why: `alpha ${alpha} / ${alertOn.length} tests in alertOn = ${Number(level.toPrecision(3))}` };
}

/** The audit config stored at `audits/<name>/config.json`. */
export const auditConfigSchema = z
  .object({
    detector: idSchema,
    /** Objects under this prefix are scored (each object: one image or an array file of samples). */
    prefix: keyPrefixSchema.refine((p) => !SERVICE_PREFIXES.some((own) => p.startsWith(own)), `must not be under a prefix the service writes to (${SERVICE_PREFIXES.join(', ')})`),
    /** Alert when the one-sided binomial p-value is below alpha. */
    alpha: z.number().gt(0, 'must be > 0').lt(1, 'must be < 1').default(0.01),
    /** Baseline flag rate from the calibration: on its in-distribution part ('id', default) or the whole eval set. */
    baseline: z.enum(['id', 'all']).default('id'),
    /** At most this many objects per run; the rest wait for the next run (the cursor keeps their place). */
    maxObjects: z.number().int().min(1).max(100_000).default(1000),
    /**
     * Feature drift (MMD against the reference rows stored at calibration): at most this many of the run's feature
     * rows, a seeded uniform sample, enter the test (bounds its N² kernel); 0 turns the test off.
     */
    mmdWindow: z
      .number()
      .int('must be an integer')
      .min(0, 'must be >= 0')
      .max(2000, 'must be <= 2000 (the kernel is N² in memory)')
      // A window of 1 row can never be tested (MMD needs 2): every run with 2 or more samples failed on it.
      .refine((n) => n !== 1, 'must be 0 (off) or >= 2: the MMD test needs at least 2 rows')
      .default(1000),
    /**
     * Permutations of the MMD p-value (its resolution is 1 / (permutations + 1)). Omitted: 200, or the fewest that let
     * the MMD p-value fall below its level if that is more (see mmdFloor); given: at least that many (checked below).
     */
    mmdPermutations: z.number().int('must be an integer').min(1, 'must be >= 1').max(MAX_MMD_PERMUTATIONS, `must be <= ${MAX_MMD_PERMUTATIONS}`).optional(),
    /** Tests whose p-value raises the alert (Bonferroni: each is compared with alpha / alertOn.length). */
    alertOn: z
      .array(z.enum(DRIFT_TESTS))
      .min(1, 'must name at least one test')
      .refine((a) => new Set(a).size === a.length, 'must not repeat a test')
      .default(['binomial']),
  })
  .strict()
  .refine((c) => !(c.alertOn.includes('mmd') && c.mmdWindow === 0), { path: ['alertOn'], message: 'includes mmd, but mmdWindow 0 turns the MMD test off' })
  .superRefine((c, ctx) => {
    // (Refinements also run when another field already failed: check only a config whose fields are themselves valid.)
    if (c.mmdWindow === 0 || !(c.alpha > 0 && c.alpha < 1) || !Array.isArray(c.alertOn) || c.alertOn.length === 0) return;
    const { least, why } = mmdFloor(c.alpha, c.alertOn);
    if (least > MAX_MMD_PERMUTATIONS) {
      const path = c.mmdPermutations === undefined ? 'alpha' : 'mmdPermutations';
      ctx.addIssue({ code: 'custom', path: [path], message: `${why} needs more than ${MAX_MMD_PERMUTATIONS} MMD permutations (the most allowed) before the MMD test can fire: raise alpha, name fewer tests in alertOn, or set mmdWindow 0` });
    } else if (c.mmdPermutations !== undefined && c.mmdPermutations < least) {
      ctx.addIssue({ code: 'custom', path: ['mmdPermutations'], message: `must be >= ${least}: the MMD p-value is at least 1/(mmdPermutations+1), which must be below ${why}, or the test could never fire` });
    }
  })
  .transform((c) => ({ ...c, mmdPermutations: c.mmdPermutations ?? (c.mmdWindow === 0 ? DEFAULT_MMD_PERMUTATIONS : Math.max(DEFAULT_MMD_PERMUTATIONS, mmdFloor(c.alpha, c.alertOn).least)) }));
export type AuditConfig = z.infer<typeof auditConfigSchema>;

/**
 * A scheduled function's input (`schedule.input` in serverless.yml: the audit's, the retention sweep's), parsed with
 * `schema`. A rule without `input` delivers EventBridge's own event (`source: "aws.events"`, `detail-type`, `time`…),
 * whose fields are ignored; a rule's own input is exactly the schema's fields, so anything else in it (a misspelt
 * `tenants`) is refused by name rather than ignored, which would have run over every tenant. `takes` completes that
 * error's message: what the input does take.
 */
export function parseScheduleInput<S extends z.ZodObject>(schema: S, event: unknown, takes: string): z.output<S> {
  const isEventBridgeEvent = typeof event === 'object' && event !== null && (event as { source?: unknown }).source === 'aws.events';
  const r = (isEventBridgeEvent ? schema.loose() : schema.strict()).safeParse(event ?? {});
  if (!r.success) {
    const issue = r.error.issues[0]!;
    if (issue.code === 'unrecognized_keys') throw new InputError(issue.keys[0]!, `is not a field of the ${takes}`);
    throw new InputError(issueField(issue, '', 'event'), issue.message);
  }
  return r.data as z.output<S>;
}

/**
 * An age of the retention policy, in days (decimals allowed). At least one day: younger state may still be in use (a
 * pending upload's URL lives up to an hour, a save in flight writes its version over seconds to minutes, a calibration
 * reads its base version while it runs).
 */
const retentionDays = numeric((n) => n.min(1, 'must be >= 1 (days)').max(36_500, 'must be <= 36500 (days)'));

/**
 * The retention sweep's policy (src/storage/retention.ts; defaults there): the `retention` function's schedule input
 * (with `tenant` and `dryRun`) and the CLI's `prune` flags (`--keep-versions`, `--min-age`).
 */
export const retentionPolicySchema = z
  .object({
    /** Pending presigned uploads (`uploads/<id>/`) older than this many days go. */
    uploadRetention: retentionDays.optional(),
    /** A job's claim and result (`jobs/<jobId>/`) older than this many days go, once the queue no longer has the job. */
    jobRetention: retentionDays.optional(),
    /** Detector versions below the current one that are always kept, newest first (at least 1: see src/storage/retention.ts). */
    keepVersions: numeric((n) => n.int('must be an integer').min(1, 'must be >= 1 (the version before the current one is always kept)').max(10_000, 'must be <= 10000')).optional(),
    /** No detector version younger than this many days goes. */
    versionMinAge: retentionDays.optional(),
    /** Audit run summaries (`audits/<name>/<timestamp>.json`) older than this many days go. */
    auditSummaryRetention: retentionDays.optional(),
  })
  .strict();
export type RetentionPolicyInput = z.input<typeof retentionPolicySchema>;

/** Base64 file content inside a JSON body. */
export const base64Schema = z.string().min(1, 'must be base64 file content').refine(isBase64, 'is not valid base64');

/** POST /datasets with a JSON body: the file inline as base64 (request ≤ 6 MB). */
export const datasetUploadSchema = z.object({ id: idSchema.optional(), name: z.string().min(1, 'must be the original file name'), data: base64Schema, npzKey: z.string().min(1).optional() }).strict();
/** POST /uploads (or POST /datasets with presign:true): a presigned PUT URL for a large dataset. */
export const presignUploadSchema = z
  .object({
    presign: z.literal(true).optional(),
    id: idSchema.optional(),
    name: z.string().min(1, 'must be the original file name'),
    contentLength: numeric((n) => n.int('must be an integer').positive('must be > 0')),
    npzKey: z.string().min(1).optional(),
    /**
     * Seconds the URL is valid, at most 3600: a URL signed with a function role's temporary credentials stops working
     * when those expire (about an hour), whatever longer expiry it claims.
     */
    expiresIn: numeric((n) => n.int('must be an integer').min(1, 'must be >= 1').max(3600, 'must be <= 3600 (URLs signed with temporary credentials expire with them)')).optional(),
  })
  .strict();
/** POST /models with a JSON body: the ONNX file inline as base64. */
export const modelUploadSchema = z.object({ id: idSchema.optional(), data: base64Schema }).strict();

/** The same uploads with a raw body: the file is the body, the other fields are query parameters. */
export const rawDatasetUploadQuerySchema = datasetUploadSchema.omit({ data: true });
export const rawModelUploadQuerySchema = modelUploadSchema.omit({ data: true });
