import { createHash } from 'node:crypto';
import { sha256Hex } from '../hash.js';
import type { Calibration, DetectorBundle } from '../core/bundle.js';
import { InputError, NotFittedError } from '../core/errors.js';
import { conformalPValues, conformalThreshold, validateAlpha } from '../core/conformal.js';
import { createDetector, type DetectorSpec } from '../core/detectors.js';
import type { FitContext, FittedDetector } from '../core/detector.js';
import { EnsembleDetector } from '../core/ensemble.js';
import { binomialDrift, DRIFT_TESTS, ksDrift, mmdDrift, type DriftResult, type DriftTestName } from '../core/drift.js';
import { subsampleRows } from '../core/random.js';
import type { ScoreMode } from '../core/feature-cluster.js';
import { defaultPreprocess, planModelInput, type BatchFeeder, type ModelInputPlan, type ScaleRule } from '../core/preprocess.js';
import { concatColumns, selectRows, type DecodedArray, type Layout, type Matrix, type Tensor } from '../core/tensor.js';
import { applyThreshold, exactThreshold, gridThreshold, validateLabels } from '../core/threshold.js';
import { argmaxRows } from '../model/extract.js';
import { withExtractor } from './extractor-cache.js';
import { checkMemberLayers, inputSpec, LAYER_SEPARATOR, outputNames, parseLayerName, splitLayers } from '../model/graph.js';
import type { WarnLogger } from '../model/session.js';
import { LIBRARY_VERSION } from '../version.js';

/**
 * The detector workflow, shared by the CLI, the queue processor, the HTTP handlers and the compatibility class:
 * decoded data → preprocessing (recorded in the detector) → named-layer features → core detector / threshold.
 * No maths here: it composes src/core and src/model.
 */
export interface RuntimeOptions {
  readonly batchSize?: number;
  readonly executionProviders?: string[];
  readonly intraOpNumThreads?: number;
  readonly logger?: WarnLogger;
  readonly onProgress?: (done: number, total: number) => void;
  /**
   * Preprocesses the batches of each extraction; default on this thread, between model runs (`fillBatches`). The
   * queue worker passes `prefillOffThread` (src/service/prefill.ts), which overlaps them with the runs: same features.
   * Injected, as `fitter` is, so that the functions' bundles do not carry the worker-thread loader.
   */
  readonly feeder?: BatchFeeder;
}

/** Fits a detector from its spec: `fitOffThread` (src/service/fit-runner.ts) runs it in a worker thread. */
export type Fitter = (spec: DetectorSpec, features: Matrix, ctx: FitContext) => Promise<FittedDetector>;

/** Fit-only runtime options. */
export interface FitRuntimeOptions {
  /**
   * Fits the detector (KMeans, covariance, kNN bank) elsewhere than on this thread; default: in this thread. The queue
   * worker passes `fitOffThread`, since BullMQ renews job locks on the event loop and a large KMeans runs for minutes.
   * Injected rather than imported here, so that the functions' bundles (which never fit) do not carry the worker-thread
   * loader, which needs `import.meta` and a file beside the module.
   */
  readonly fitter?: Fitter;
}

/** The option names each public call takes: a table per request type, which the compiler keeps equal to its interface. */
const RUNTIME_OPTIONS = { batchSize: true, executionProviders: true, intraOpNumThreads: true, logger: true, onProgress: true, feeder: true } as const satisfies Record<keyof RuntimeOptions, true>;

/** Only the runtime options of a larger request (for passing it on to a call that takes nothing else). */
export function runtimeOptions(req: RuntimeOptions): RuntimeOptions {
  return Object.fromEntries(Object.entries(req).filter(([k]) => Object.hasOwn(RUNTIME_OPTIONS, k)));
}

/**
 * Refuses an option the call does not know (an InputError naming it), instead of ignoring it: the types stop a
 * TypeScript caller, but a JavaScript caller's misspelt or outdated option (`batchsize`, or `offThread`, which
 * `fitter: fitOffThread` replaced) would otherwise be dropped without a word.
 */
function refuseUnknownOptions(opts: object, known: Readonly<Record<string, true>>, call: string): void {
  for (const key of Object.keys(opts)) {
    if (!Object.hasOwn(known, key)) {
      const hint = key === 'offThread' ? '; pass fitter: fitOffThread to fit in a worker thread' : '';
      throw new InputError(key, `is not an option of ${call} (it takes ${Object.keys(known).join(', ')})${hint}`);
    }
  }
}

export interface FitRequest extends RuntimeOptions, FitRuntimeOptions {
  readonly model: Uint8Array;
  /** Where the model lives in the detector's store (recorded in the manifest). */
  readonly modelKey: string;
  readonly data: DecodedArray;
  /** The feature layer (not used by an ensemble, whose members name their own layers). */
  readonly layer?: string;
  /** Which detector to fit; default: feature-cluster with `nCluster`/`score`/`seed` below (the tutorial's shape). */
  readonly detector?: DetectorSpec;
  readonly nCluster?: number;
  readonly score?: ScoreMode;
  readonly seed?: number;
  /** Class labels of the training samples for detectors that need them (mahalanobis); default: the model's predictions. */
  readonly classes?: Int32Array;
  readonly layout?: Layout;
  readonly scale?: ScaleRule;
  /** The name `data` goes by in errors (default 'train', the CLI flag; the worker's jobs say 'dataset'). */
  readonly dataField?: string;
}


/** Features of `data` for a fitted detector, preprocessed exactly as at fit time. */
export async function detectorFeatures(bundle: DetectorBundle, model: Uint8Array, data: DecodedArray, opts: RuntimeOptions = {}, field = 'data'): Promise<Matrix> {
  const sha = sha256Hex(model);
  if (sha !== bundle.model.sha256) throw new InputError('model', `model sha256 ${sha.slice(0, 12)}… differs from the one the detector was fitted with (${bundle.model.sha256.slice(0, 12)}…)`);
  const input = planModelInput(data, bundle.preprocess, field); // preprocessed batch by batch during extraction
  return (await extractLayers(model, splitLayers(bundle.model.layer), input, { ...opts, batchSize: opts.batchSize ?? bundle.model.batchSize }, sha)).features;
}

/**
 * Features of several layers, concatenated column-wise in the given order, with each layer's column range.
 * One layer is the common case and costs nothing extra.
 */
async function extractLayers(model: Uint8Array, layers: readonly string[], input: Tensor | ModelInputPlan, opts: RuntimeOptions, sha: string): Promise<{ features: Matrix; columns: Record<string, [number, number]> }> {
  const parts: Matrix[] = [];
  for (const l of layers) parts.push(await withExtractor(model, l, opts, sha, (ex) => ex.extract(input, opts.onProgress, opts.feeder)));
  const { matrix, columns } = concatColumns(parts, layers);
  return { features: matrix, columns };
}

/** The detector a fit request names: its `detector` spec, or feature-cluster from `nCluster`/`score`/`seed`. */
function detectorSpecOf(req: Pick<FitRequest, 'detector' | 'nCluster' | 'score' | 'seed'>): DetectorSpec {
  if (req.detector) {
    // The shorthand's fields next to a spec would be silently unused: the spec carries its own parameters.
    for (const k of ['nCluster', 'score', 'seed'] as const) {
      if (req[k] !== undefined) throw new InputError(k, `does not apply when detector is given; put it in the detector spec ({ kind: '${req.detector.kind}', … })`);
    }
    return req.detector;
  }
  if (req.nCluster === undefined) throw new InputError('nCluster', 'is required for the feature-cluster detector');
  return { kind: 'feature-cluster', nCluster: req.nCluster, ...(req.score ? { score: req.score } : {}), ...(req.seed !== undefined ? { seed: req.seed } : {}) };
}

/** The model's predicted class per sample (argmax of its first graph output). */
async function predictedClasses(model: Uint8Array, input: Tensor | ModelInputPlan, opts: RuntimeOptions = {}): Promise<Int32Array> {
  const [logits] = outputNames(model);
  if (!logits) throw new InputError('model', 'has no graph output to take predicted classes from');
  return argmaxRows(await withExtractor(model, logits, opts, sha256Hex(model), (ex) => ex.extract(input, undefined, opts.feeder)));
}

const FIT_OPTIONS = {
  ...RUNTIME_OPTIONS,
  fitter: true, model: true, modelKey: true, data: true, layer: true, detector: true, nCluster: true, score: true, seed: true, classes: true, layout: true, scale: true, dataField: true,
} as const satisfies Record<keyof FitRequest, true>;

export async function fitDetector(req: FitRequest): Promise<DetectorBundle> {
  refuseUnknownOptions(req, FIT_OPTIONS, 'fitDetector');
  const detector = createDetector(detectorSpecOf(req));
  const spec = inputSpec(req.model);
  const preprocess = defaultPreprocess(
    { channels: spec.channels, height: spec.height, width: spec.width },
    { ...(req.layout ? { layout: req.layout } : {}), ...(req.scale !== undefined ? { scale: req.scale } : {}) },
  );
  const input = planModelInput(req.data, preprocess, req.dataField ?? 'train'); // preprocessed batch by batch: bounded memory at 60k images
  const sha = sha256Hex(req.model);
  if (!(detector instanceof EnsembleDetector) && !req.layer) throw new InputError('layer', 'is required');
  if (detector instanceof EnsembleDetector && req.layer !== undefined) throw new InputError('layer', 'does not apply to an ensemble; each member names its layer');
  // An ensemble's layers, each named by its member (`members[1].layer`), before any extraction.
  if (detector instanceof EnsembleDetector) checkMemberLayers(req.model, detector.params.members);
  const layers = detector instanceof EnsembleDetector ? detector.layers() : [req.layer!];
  const layer = layers.map(parseLayerName).join(LAYER_SEPARATOR);
  const batchSize = req.batchSize ?? 256;
  const { features, columns } = await extractLayers(req.model, layers, input, { ...req, batchSize }, sha);
  let classes = req.classes;
  if (detector.needsClasses && !classes) classes = await predictedClasses(req.model, input, req);
  const ctx = { ...(classes ? { classes } : {}), columns };
  const fitted = req.fitter ? await req.fitter(detectorSpecOf(req), features, ctx) : detector.fit(features, ctx);
  const bundle: DetectorBundle = {
    model: { key: req.modelKey, sha256: sha, layer, batchSize },
    preprocess,
    fitted,
    createdAt: new Date().toISOString(),
    libraryVersion: LIBRARY_VERSION,
  };
  return { ...bundle, fitId: fitIdentity(bundle) };
}

/**
 * sha256 over what a fit produced and nothing a calibration changes: model sha256 and layer, preprocessing, detector
 * kind and params, then every fitted array's bytes in name order. Deterministic: the same fit gives the same id.
 */
function fitIdentity(b: DetectorBundle): string {
  const h = createHash('sha256');
  const f = b.fitted;
  h.update(JSON.stringify({ model: b.model.sha256, layer: b.model.layer, preprocess: b.preprocess, kind: f.kind, params: f.params, dim: f.dim, nTrain: f.nTrain }));
  const arrays = f.arrays();
  for (const name of Object.keys(arrays).sort()) {
    const a = arrays[name]!;
    h.update(name);
    h.update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  }
  return h.digest('hex');
}

/** Scores; `field` names the data in errors (`id[7]: sample 7 contains a NaN pixel`). */
export async function scoreData(bundle: DetectorBundle, model: Uint8Array, data: DecodedArray, opts: RuntimeOptions = {}, field = 'data'): Promise<Float64Array> {
  refuseUnknownOptions(opts, RUNTIME_OPTIONS, 'scoreData');
  return bundle.fitted.score(await detectorFeatures(bundle, model, data, opts, field));
}

/** Options shared by both calibrations: how many in-distribution feature rows to keep as the MMD reference. */
export interface ReferenceOptions {
  /** Rows kept (seeded subsample of the in-distribution rows); 0 keeps none. Default REFERENCE_ROWS. */
  readonly referenceRows?: number;
  /** Seed of that subsample (default 0). */
  readonly seed?: number;
}
const REFERENCE_OPTIONS = { referenceRows: true, seed: true } as const satisfies Record<keyof ReferenceOptions, true>;

/**
 * In-distribution rows kept with a calibrated detector as the MMD reference. 1,000 rows keep the fixed-reference
 * false-alarm rate near α (docs/DRIFT.md, "Fixed vs fresh MMD reference") and cost 1000 × width × 4 bytes.
 */
export const REFERENCE_ROWS = 1000;

export interface CalibrateRequest extends RuntimeOptions, ReferenceOptions {
  readonly data: DecodedArray;
  readonly oodLabels: ArrayLike<number>;
  /** MindArmour's grid step (0.01 reproduces the tutorial); omitted = exact search. */
  readonly grid?: number;
  /** The name `data` goes by in errors (default 'data'; the worker's jobs say 'dataset', the request field). */
  readonly dataField?: string;
}

/** Scores and the in-distribution reference that a calibrated bundle carries (scores sorted; features subsampled). */
function calibrationReference(features: Matrix, scores: Float64Array, isId: (i: number) => boolean, opts: ReferenceOptions): Pick<DetectorBundle, 'calibrationScores' | 'referenceFeatures'> {
  const rows = Array.from({ length: features.rows }, (_, i) => i).filter(isId);
  const max = referenceRowsOf(opts);
  const pick = Array.from(subsampleRows(rows.length, max, opts.seed ?? 0), (i) => rows[i]!);
  return {
    calibrationScores: Float64Array.from(rows, (i) => scores[i]!).sort(),
    ...(pick.length >= 2 ? { referenceFeatures: selectRows(features, pick) } : {}),
  };
}

/** The validated row count (checked before any feature extraction). */
function referenceRowsOf(opts: ReferenceOptions): number {
  const max = opts.referenceRows ?? REFERENCE_ROWS;
  if (!Number.isInteger(max) || max < 0) throw new InputError('referenceRows', `must be a non-negative integer, got ${max}`);
  return max;
}

function calibrated(bundle: DetectorBundle, calibration: Calibration, reference: Pick<DetectorBundle, 'calibrationScores' | 'referenceFeatures'>): DetectorBundle {
  const { referenceFeatures: _old, ...rest } = bundle; // a reference from an earlier calibration must not outlive it
  return { ...rest, calibration, ...reference, createdAt: new Date().toISOString(), libraryVersion: LIBRARY_VERSION };
}

const CALIBRATE_OPTIONS = { ...RUNTIME_OPTIONS, ...REFERENCE_OPTIONS, data: true, oodLabels: true, grid: true, dataField: true } as const satisfies Record<keyof CalibrateRequest, true>;

/** Chooses the accuracy-maximising threshold on a labelled eval set; returns a new bundle carrying it. */
export async function calibrateDetector(bundle: DetectorBundle, model: Uint8Array, req: CalibrateRequest): Promise<{ bundle: DetectorBundle; scores: Float64Array }> {
  refuseUnknownOptions(req, CALIBRATE_OPTIONS, 'calibrateDetector');
  const n = req.data.shape[0] ?? 0;
  const labels = validateLabels(req.oodLabels, n);
  referenceRowsOf(req);
  const features = await detectorFeatures(bundle, model, req.data, req, req.dataField ?? 'data');
  const scores = bundle.fitted.score(features);
  const fit = req.grid === undefined ? exactThreshold(scores, labels) : gridThreshold(scores, labels, req.grid);
  const flags = applyThreshold(scores, fit.threshold);
  let nOod = 0;
  let flagged = 0;
  let idFlagged = 0;
  for (let i = 0; i < n; i++) {
    nOod += labels[i]!;
    flagged += flags[i]!;
    if (!labels[i]) idFlagged += flags[i]!;
  }
  const calibration: Calibration = { ...fit, nEval: n, nOod, flaggedRate: flagged / n, idFlaggedRate: idFlagged / (n - nOod) };
  return { bundle: calibrated(bundle, calibration, calibrationReference(features, scores, (i) => labels[i] === 0, req)), scores };
}

export interface LabelFreeCalibrateRequest extends RuntimeOptions, ReferenceOptions {
  /** Held-out in-distribution data (not used in fit). */
  readonly idHoldout: DecodedArray;
  /** Target false-alarm rate α on in-distribution data. */
  readonly targetFpr: number;
  /** The name `idHoldout` goes by in errors (default 'idHoldout', the CLI flag; the worker's jobs say 'dataset'). */
  readonly dataField?: string;
}

const LABEL_FREE_OPTIONS = { ...RUNTIME_OPTIONS, ...REFERENCE_OPTIONS, idHoldout: true, targetFpr: true, dataField: true } as const satisfies Record<keyof LabelFreeCalibrateRequest, true>;

/** Label-free calibration: the conformal (1−α) quantile of held-out ID scores; p-values use the same scores. */
export async function calibrateLabelFree(bundle: DetectorBundle, model: Uint8Array, req: LabelFreeCalibrateRequest): Promise<{ bundle: DetectorBundle; scores: Float64Array }> {
  refuseUnknownOptions(req, LABEL_FREE_OPTIONS, 'calibrateLabelFree');
  validateAlpha(req.targetFpr);
  referenceRowsOf(req);
  const features = await detectorFeatures(bundle, model, req.idHoldout, req, req.dataField ?? 'idHoldout');
  const scores = bundle.fitted.score(features);
  const c = conformalThreshold(scores, req.targetFpr);
  const flagged = scores.reduce((a, s) => a + (s >= c.threshold ? 1 : 0), 0);
  const calibration: Calibration = { threshold: c.threshold, method: 'conformal', targetFpr: c.targetFpr, nEval: c.n, nOod: 0, flaggedRate: flagged / c.n, idFlaggedRate: flagged / c.n };
  return { bundle: calibrated(bundle, calibration, calibrationReference(features, scores, () => true, req)), scores };
}

export interface Prediction {
  readonly threshold: number;
  readonly result: number[];
  readonly scores: number[];
  /** Conformal p-values against the calibration's in-distribution scores (small = unlike ID), when calibrated. */
  readonly pValues?: number[];
}

export type PredictOptions = RuntimeOptions & {
  readonly threshold?: number;
  /** The name `data` goes by in errors (default 'data'; the service says 'dataset' or 'images', the request field). */
  readonly dataField?: string;
};
const PREDICT_OPTIONS = { ...RUNTIME_OPTIONS, threshold: true, dataField: true } as const satisfies Record<keyof PredictOptions, true>;

/** 0/1 per input sample, in input order, plus the scores; `threshold` overrides the calibrated one. */
export async function predictData(bundle: DetectorBundle, model: Uint8Array, data: DecodedArray, opts: PredictOptions = {}): Promise<Prediction> {
  return (await predictWithFeatures(bundle, model, data, opts)).prediction;
}

/** `predictData` plus the feature rows it scored (for audits, which also test the features for drift). */
export async function predictWithFeatures(bundle: DetectorBundle, model: Uint8Array, data: DecodedArray, opts: PredictOptions = {}): Promise<{ prediction: Prediction; features: Matrix }> {
  refuseUnknownOptions(opts, PREDICT_OPTIONS, 'predictData');
  // Given, it must be a number: a null (a JavaScript caller's "no threshold") is not read as "use the calibrated one".
  if (opts.threshold !== undefined && (typeof opts.threshold !== 'number' || !Number.isFinite(opts.threshold))) {
    throw new InputError('threshold', `must be a finite number, got ${String(opts.threshold)}`);
  }
  const threshold = opts.threshold ?? bundle.calibration?.threshold;
  if (threshold === undefined) throw new NotFittedError('threshold', 'the detector has no threshold; calibrate it or pass one');
  const features = await detectorFeatures(bundle, model, data, opts, opts.dataField ?? 'data');
  const scores = bundle.fitted.score(features);
  const result = applyThreshold(scores, threshold);
  const cal = bundle.calibrationScores;
  const prediction = { threshold, result: Array.from(result), scores: Array.from(scores), ...(cal && cal.length ? { pValues: Array.from(conformalPValues(cal, scores)) } : {}) };
  return { prediction, features };
}

export type DriftTest = DriftTestName;

export interface DriftRequest extends RuntimeOptions {
  readonly test: DriftTest;
  /**
   * In-distribution reference window (ks, mmd). Omitted: the reference stored at calibration (its in-distribution
   * scores for ks, its reference feature rows for mmd). binomial compares against the calibrated baseline instead.
   */
  readonly reference?: DecodedArray;
  readonly data: DecodedArray;
  readonly alpha?: number;
  readonly permutations?: number;
  readonly seed?: number;
  /** Reference rows used by MMD at most (seeded subsample, keeps the N² kernel bounded). */
  readonly maxReference?: number;
}

const DRIFT_OPTIONS = { ...RUNTIME_OPTIONS, test: true, reference: true, data: true, alpha: true, permutations: true, seed: true, maxReference: true } as const satisfies Record<keyof DriftRequest, true>;

/**
 * Batch drift test of a window `data`:
 * - `binomial`: OOD flag rate vs the calibrated in-distribution flag rate (exact binomial, one-sided);
 * - `ks`: Kolmogorov–Smirnov on detector scores, reference vs window;
 * - `mmd`: RBF-kernel MMD on the detector's layer features, permutation p-value.
 */
export async function driftCheck(bundle: DetectorBundle, model: Uint8Array, req: DriftRequest): Promise<DriftResult> {
  refuseUnknownOptions(req, DRIFT_OPTIONS, 'driftCheck');
  // An unknown or missing test is refused, not run as mmd: `test: 'kss'` would otherwise answer with another test.
  if (!DRIFT_TESTS.includes(req.test)) throw new InputError('test', `must be one of ${DRIFT_TESTS.join(', ')}, got ${String(req.test)}`);
  const runtime = runtimeOptions(req);
  const alpha = req.alpha ?? 0.05;
  if (req.test === 'binomial' || req.test === 'ks') {
    // Options of the mmd permutation test alone: silently unused here, they would look like they had been applied.
    for (const k of ['permutations', 'seed', 'maxReference'] as const) {
      if (req[k] !== undefined) throw new InputError(k, `does not apply to the ${req.test} test, which draws nothing at random (only the mmd test has permutations, a seed and a reference subsample)`);
    }
  }
  if (req.test === 'binomial') {
    // Its baseline is the calibration's flag rate, a fixed rate: a reference sample would be silently unused.
    if (req.reference) throw new InputError('reference', 'does not apply to the binomial test, which tests the flag rate against the calibration\'s in-distribution flag rate; use the ks or mmd test to compare with a reference');
    const c = bundle.calibration;
    if (!c) throw new NotFittedError('detector', 'is not calibrated; the binomial drift test needs a calibrated detector (its in-distribution flag rate is the baseline)');
    const scores = await scoreData(bundle, model, req.data, runtime);
    return binomialDrift(applyThreshold(scores, c.threshold), c.idFlaggedRate, alpha);
  }
  if (req.test === 'ks') {
    const ref = req.reference ? await scoreData(bundle, model, req.reference, runtime, 'reference') : storedReference(bundle, 'ks');
    return ksDrift(ref, await scoreData(bundle, model, req.data, runtime), alpha);
  }
  const ref = req.reference ? await detectorFeatures(bundle, model, req.reference, req, 'reference') : storedReference(bundle, 'mmd');
  const cur = await detectorFeatures(bundle, model, req.data, req);
  return featureDrift(ref, cur, { alpha, ...(req.permutations !== undefined ? { permutations: req.permutations } : {}), ...(req.seed !== undefined ? { seed: req.seed } : {}), ...(req.maxReference !== undefined ? { maxReference: req.maxReference } : {}) });
}

/** The reference a calibrated bundle carries for a test: its in-distribution scores (ks) or feature rows (mmd). */
function storedReference(bundle: DetectorBundle, test: 'ks'): Float64Array;
function storedReference(bundle: DetectorBundle, test: 'mmd'): Matrix;
function storedReference(bundle: DetectorBundle, test: 'ks' | 'mmd'): Float64Array | Matrix {
  const ref = test === 'ks' ? bundle.calibrationScores : bundle.referenceFeatures;
  const has = ref !== undefined && (test === 'ks' ? (ref as Float64Array).length > 0 : (ref as Matrix).rows >= 2);
  if (!has) {
    throw new InputError('reference', bundle.calibration ? `is required for the ${test} test: this detector's calibration stored no ${test === 'ks' ? 'in-distribution scores' : 'reference features (calibrated before they were kept, or with referenceRows 0); calibrate it again'}` : `is required for the ${test} test: the detector is not calibrated, so it holds no reference`);
  }
  return ref!;
}

/** MMD on features, with the reference subsampled (seeded) to at most `maxReference` rows (default 1000). */
export function featureDrift(reference: Matrix, data: Matrix, opts: { alpha: number; permutations?: number; seed?: number; maxReference?: number }): DriftResult {
  const pick = subsampleRows(reference.rows, opts.maxReference ?? REFERENCE_ROWS, opts.seed ?? 0);
  const ref = pick.length === reference.rows ? reference : selectRows(reference, pick);
  return mmdDrift(ref, data, { alpha: opts.alpha, ...(opts.permutations !== undefined ? { permutations: opts.permutations } : {}), ...(opts.seed !== undefined ? { seed: opts.seed } : {}) });
}
