import { z } from 'zod';
import { InputError, issueField } from './errors.js';
import type { FittedDetector } from './detector.js';
import { DETECTOR_KINDS, restoreDetector } from './detectors.js';
import type { PreprocessConfig } from './preprocess.js';
import type { Matrix } from './tensor.js';
import type { ThresholdFit } from './threshold.js';

/**
 * A saved detector = one validated JSON manifest + named arrays. No code is ever loaded from saved state.
 * The manifest is stamped with the library version; a different version loads with a warning (returned, not logged:
 * the core does no I/O).
 *
 * Format versions: 1 = every array float32; 2 = calibration scores float64 (the exact values the threshold was chosen
 * from). Both are read; 2 is written, and a reader that knows only 1 refuses it on `formatVersion` (so upgrade every
 * reader, worker and function, before any writer; README "S3 state layout").
 *
 * Fields a reader does not know are ignored (a newer writer may add what an older reader can do without, as
 * `fitVersion` was); anything an older reader must not ignore needs a new format version, which it refuses by name
 * before reading any other field (`parseManifest`).
 */
const MANIFEST_FORMAT = 'imagedrift.detector';
const MANIFEST_FORMAT_VERSION = 2;

export interface ModelRef {
  /** Key of the ONNX model in the same store (CLI: `model.onnx` in the detector dir; S3: `models/<id>.onnx`). */
  readonly key: string;
  readonly sha256: string;
  /** The layer whose output is the feature vector (plain tensor name). */
  readonly layer: string;
  readonly batchSize: number;
}

/**
 * How the threshold was chosen. `exact`/`grid`: best accuracy on a labelled eval set (`accuracy` is on that set).
 * `conformal`: label-free, from held-out in-distribution scores at `targetFpr` (no accuracy, nOod = 0).
 */
export interface Calibration {
  readonly threshold: number;
  readonly method: ThresholdFit['method'] | 'conformal';
  readonly accuracy?: number;
  readonly step?: number;
  readonly targetFpr?: number;
  readonly nEval: number;
  readonly nOod: number;
  /** Share of the eval set flagged at the chosen threshold (baseline for audits). */
  readonly flaggedRate: number;
  /** Flag rate on the eval set's in-distribution part (the baseline false-alarm rate). */
  readonly idFlaggedRate: number;
}

export interface DetectorBundle {
  readonly model: ModelRef;
  readonly preprocess: PreprocessConfig;
  readonly fitted: FittedDetector;
  readonly calibration?: Calibration;
  /** In-distribution scores seen at calibration (sorted ascending): the reference for conformal p-values. */
  readonly calibrationScores?: Float64Array;
  /**
   * A seeded sample of in-distribution feature rows (the detector's layer, as scored) seen at calibration: the
   * reference for the MMD feature-drift test when no reference window is given (audits, `drift` without --reference).
   */
  readonly referenceFeatures?: Matrix;
  /**
   * The identity of the fitted state (sha256 over the model, layer, preprocessing and the fitted detector's params
   * and arrays), set at fit and kept by every calibration of it. Two versions with the same fitId calibrate the same
   * fit; a calibration may only become current over its own fit (src/storage/detector-repository.ts). Absent in
   * detectors saved before it existed.
   */
  readonly fitId?: string;
  readonly createdAt: string;
  readonly libraryVersion: string;
}

const inputSpec = z.object({ channels: z.number().int().positive(), height: z.number().int().positive(), width: z.number().int().positive() });
/** float64 holds the calibration scores exactly as they were compared with the threshold; everything else is float32. */
const arrayRef = z.object({ file: z.string().regex(/^[A-Za-z0-9_.-]+\.bin$/), shape: z.array(z.number().int().nonnegative()), dtype: z.enum(['float32', 'float64']) });
export type StoredArray = Float32Array | Float64Array;

const manifestSchema = z.object({
  format: z.literal(MANIFEST_FORMAT),
  formatVersion: z.union([z.literal(1), z.literal(MANIFEST_FORMAT_VERSION)]),
  libraryVersion: z.string(),
  createdAt: z.string(),
  fitId: z.string().regex(/^[0-9a-f]{64}$/).optional(),
  /**
   * The version number this version's fit was first saved as (a fit: its own; a calibration: its fit's). Written and
   * read by the repository (src/storage/detector-repository.ts) to order fits; absent before it existed.
   */
  fitVersion: z.number().int().positive().optional(),
  model: z.object({ key: z.string().min(1), sha256: z.string().regex(/^[0-9a-f]{64}$/), layer: z.string().min(1), batchSize: z.number().int().positive() }),
  preprocess: z.object({
    input: inputSpec,
    layout: z.enum(['NCHW', 'NHWC']).optional(),
    scale: z.union([z.literal('auto'), z.number().positive()]),
    grey: z.literal('bt601'),
    resize: z.literal('bilinear'),
    range: z.tuple([z.number(), z.number()]),
  }),
  detector: z.object({
    kind: z.enum(DETECTOR_KINDS),
    /** Validated per kind by the registry (src/core/detectors.ts) when the detector is restored. */
    params: z.record(z.string(), z.unknown()),
    dim: z.number().int().positive(),
    nTrain: z.number().int().positive(),
    stats: z.record(z.string(), z.number()),
  }),
  calibration: z
    .object({
      threshold: z.number(),
      accuracy: z.number().min(0).max(1).optional(),
      method: z.enum(['exact', 'grid', 'conformal']),
      step: z.number().positive().optional(),
      targetFpr: z.number().gt(0).lt(1).optional(),
      nEval: z.number().int().positive(),
      nOod: z.number().int().nonnegative(),
      flaggedRate: z.number().min(0).max(1),
      idFlaggedRate: z.number().min(0).max(1),
    })
    .optional(),
  arrays: z.record(z.string(), arrayRef),
});
export type DetectorManifest = z.infer<typeof manifestSchema>;

const CALIBRATION_SCORES = 'calibrationScores';
const REFERENCE_FEATURES = 'referenceFeatures';
/** Arrays the bundle itself owns (the rest belong to the fitted detector). */
const BUNDLE_ARRAYS: readonly string[] = [CALIBRATION_SCORES, REFERENCE_FEATURES];

export interface StoredDetector {
  readonly manifest: DetectorManifest;
  /** Keyed by the array's file name in `manifest.arrays` (e.g. `centres.bin`). */
  readonly arrays: ReadonlyMap<string, StoredArray>;
}

export function toStored(b: DetectorBundle): StoredDetector {
  const f = b.fitted;
  const arrays = new Map<string, StoredArray>();
  const refs: Record<string, z.infer<typeof arrayRef>> = {};
  for (const [name, a] of Object.entries(f.arrays())) {
    if (BUNDLE_ARRAYS.includes(name)) throw new InputError(`arrays.${name}`, 'is a name the bundle reserves for its own arrays');
    const file = `${name}.bin`;
    arrays.set(file, a);
    refs[name] = { file, shape: a.length % f.dim === 0 && a.length > f.dim ? [a.length / f.dim, f.dim] : [a.length], dtype: 'float32' };
  }
  if (b.calibrationScores) {
    arrays.set(`${CALIBRATION_SCORES}.bin`, b.calibrationScores);
    refs[CALIBRATION_SCORES] = { file: `${CALIBRATION_SCORES}.bin`, shape: [b.calibrationScores.length], dtype: 'float64' };
  }
  if (b.referenceFeatures) {
    arrays.set(`${REFERENCE_FEATURES}.bin`, b.referenceFeatures.data);
    refs[REFERENCE_FEATURES] = { file: `${REFERENCE_FEATURES}.bin`, shape: [b.referenceFeatures.rows, b.referenceFeatures.cols], dtype: 'float32' };
  }
  const manifest: DetectorManifest = {
    format: MANIFEST_FORMAT,
    formatVersion: MANIFEST_FORMAT_VERSION,
    libraryVersion: b.libraryVersion,
    createdAt: b.createdAt,
    ...(b.fitId ? { fitId: b.fitId } : {}),
    model: { ...b.model },
    preprocess: { ...b.preprocess, range: [b.preprocess.range[0], b.preprocess.range[1]] },
    detector: { kind: f.kind as DetectorManifest['detector']['kind'], params: { ...f.params }, dim: f.dim, nTrain: f.nTrain, stats: { ...f.stats } },
    ...(b.calibration ? { calibration: { ...b.calibration } } : {}),
    arrays: refs,
  };
  return { manifest, arrays };
}

/**
 * The first format-1 manifests (the first release's feature-cluster detector) recorded `detector.inertia` where later
 * ones record `detector.stats: {inertia}`; they are read as the latter, which is all it meant.
 */
function upgradeFormat1(json: Record<string, unknown>): Record<string, unknown> {
  const d = json.detector as Record<string, unknown> | undefined;
  if (json.formatVersion !== 1 || typeof d !== 'object' || d === null || d.stats !== undefined || typeof d.inertia !== 'number') return json;
  const { inertia, ...rest } = d;
  return { ...json, detector: { ...rest, stats: { inertia } } };
}

/**
 * Validates a manifest (unknown JSON) and returns its issues as an InputError naming the first bad path. A manifest of
 * another format, or of a format version this reader does not know (a newer imagedrift's), is refused on that alone,
 * naming the version and the writer, before any other field is read: its other fields may mean something else.
 */
export function parseManifest(json: unknown, field = 'manifest'): DetectorManifest {
  if (typeof json === 'object' && json !== null && !Array.isArray(json)) {
    const { format, formatVersion, libraryVersion } = json as Record<string, unknown>;
    const writer = typeof libraryVersion === 'string' ? `imagedrift ${libraryVersion}` : 'another imagedrift';
    if (format === MANIFEST_FORMAT && formatVersion !== 1 && formatVersion !== MANIFEST_FORMAT_VERSION) {
      const newer = typeof formatVersion === 'number' && Number.isInteger(formatVersion) && formatVersion > MANIFEST_FORMAT_VERSION;
      throw new InputError(
        `${field}.formatVersion`,
        newer
          ? `is ${formatVersion}, written by ${writer}; this imagedrift reads detector formats 1 to ${MANIFEST_FORMAT_VERSION}: upgrade it to load this detector`
          : `must be 1 or ${MANIFEST_FORMAT_VERSION} (found ${JSON.stringify(formatVersion)})`,
      );
    }
    json = upgradeFormat1(json as Record<string, unknown>);
  }
  const r = manifestSchema.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new InputError(issueField(issue, field), issue.message);
  }
  return r.data;
}

export function fromStored(manifest: DetectorManifest, arrays: ReadonlyMap<string, StoredArray>, libraryVersion: string): { bundle: DetectorBundle; warnings: string[] } {
  const warnings: string[] = [];
  if (manifest.libraryVersion !== libraryVersion) {
    warnings.push(`detector was saved by imagedrift ${manifest.libraryVersion}; this is ${libraryVersion}`);
  }
  let calibrationScores: Float64Array | undefined;
  let referenceFeatures: Matrix | undefined;
  const named: Record<string, Float32Array> = {};
  for (const [name, ref] of Object.entries(manifest.arrays)) {
    const a = arrays.get(ref.file);
    if (!a) throw new InputError(`arrays.${name}`, `array file ${ref.file} is missing`);
    if ((a instanceof Float64Array ? 'float64' : 'float32') !== ref.dtype) throw new InputError(`arrays.${name}`, `${ref.file} is not ${ref.dtype}`);
    if (ref.dtype === 'float64' && name !== CALIBRATION_SCORES) throw new InputError(`arrays.${name}`, 'only calibrationScores is stored as float64');
    const n = ref.shape.reduce((x, y) => x * y, 1);
    if (a.length !== n) throw new InputError(`arrays.${name}`, `${ref.file} holds ${a.length} values, manifest says [${ref.shape.join(',')}]`);
    // Saved state is checked like input: a NaN centre would silently drop out of the nearest-centre minimum, a NaN
    // calibration score would stall a rank test. Every array comes from finite fits and scores.
    for (let i = 0; i < a.length; i++) {
      if (!Number.isFinite(a[i]!)) throw new InputError(`arrays.${name}`, `${ref.file} holds a non-finite value (${a[i]}) at index ${i}`);
    }
    // Detectors saved before float64 scores hold them as float32; they are read as the values stored.
    if (name === CALIBRATION_SCORES) calibrationScores = Float64Array.from(a);
    else if (!(a instanceof Float32Array)) throw new InputError(`arrays.${name}`, 'must be float32');
    else if (name === REFERENCE_FEATURES) {
      if (ref.shape.length !== 2 || ref.shape[1] !== manifest.detector.dim) throw new InputError(`arrays.${name}`, `shape [${ref.shape.join(',')}] is not [rows, ${manifest.detector.dim}] (the detector's feature width)`);
      referenceFeatures = { data: a, rows: ref.shape[0]!, cols: ref.shape[1] };
    } else named[name] = a;
  }
  const d = manifest.detector;
  const p = manifest.preprocess;
  const bundle: DetectorBundle = {
    model: manifest.model,
    preprocess: { input: p.input, scale: p.scale, grey: p.grey, resize: p.resize, range: p.range, ...(p.layout ? { layout: p.layout } : {}) },
    fitted: restoreDetector(d.kind, d.params, d.dim, d.nTrain, d.stats, named),
    ...(manifest.calibration ? { calibration: manifest.calibration } : {}),
    ...(calibrationScores ? { calibrationScores } : {}),
    ...(referenceFeatures ? { referenceFeatures } : {}),
    ...(manifest.fitId ? { fitId: manifest.fitId } : {}),
    createdAt: manifest.createdAt,
    libraryVersion: manifest.libraryVersion,
  };
  return { bundle, warnings };
}

/** Float32Array / Float64Array ⇄ little-endian bytes (the `.bin` array files; the manifest records the dtype). */
export function arrayToBytes(a: StoredArray): Uint8Array {
  const width = a.BYTES_PER_ELEMENT;
  const out = new Uint8Array(a.length * width);
  const dv = new DataView(out.buffer);
  if (a instanceof Float64Array) for (let i = 0; i < a.length; i++) dv.setFloat64(i * 8, a[i]!, true);
  else for (let i = 0; i < a.length; i++) dv.setFloat32(i * 4, a[i]!, true);
  return out;
}

export function bytesToArray(b: Uint8Array, field: string, dtype: 'float32' | 'float64' = 'float32'): StoredArray {
  const width = dtype === 'float64' ? 8 : 4;
  if (b.byteLength % width !== 0) throw new InputError(field, `has ${b.byteLength} bytes, not a multiple of ${width} (${dtype})`);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (dtype === 'float64') {
    const out = new Float64Array(b.byteLength / 8);
    for (let i = 0; i < out.length; i++) out[i] = dv.getFloat64(i * 8, true);
    return out;
  }
  const out = new Float32Array(b.byteLength / 4);
  for (let i = 0; i < out.length; i++) out[i] = dv.getFloat32(i * 4, true);
  return out;
}
