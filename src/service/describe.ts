/**
 * What a tenant deployed: one detector version described from its manifest (GET /detectors/{id}, `imagedrift
 * describe`), and the tenant's detectors with their current versions (GET /detectors). Only manifests and pointers are
 * read, never the arrays (a kNN bank can be hundreds of MB): the description names each array with its shape, and
 * says how the threshold was chosen, on what, and which references are stored.
 */
import { parseManifest, type DetectorManifest } from '../core/bundle.js';
import { InputError, NotFoundError, StorageError } from '../core/errors.js';
import { mapBounded } from '../concurrency.js';
import { DEFAULT_LIST_LIMIT, type DescribeMessage, type DetectorDescription, type DetectorList, type ListDetectorsMessage } from '../schemas.js';
import { DetectorRepository } from '../storage/detector-repository.js';
import { DETECTORS_PREFIX, detectorIdOfPrefix, detectorKeys, detectorPrefix, modelIdOfKey } from '../storage/keys.js';
import { canListFolders, readStoredJson, type ObjectStore } from '../storage/object-store.js';
import { noSuchDetector } from './detector-cache.js';

/** The arrays a calibration stores beside the fitted detector's (src/core/bundle.ts). */
const CALIBRATION_SCORES = 'calibrationScores';
const REFERENCE_FEATURES = 'referenceFeatures';
/** Fitted params that only the scorer uses (an ensemble's feature columns per layer): nothing a user can act on. */
const INTERNAL_PARAMS: Readonly<Record<string, readonly string[]>> = { ensemble: ['columns'] };

export interface DescribeRequest {
  /** The detector as the caller names it (an id, or the CLI's directory): the description's `id`, and errors'. */
  readonly id: string;
  /** The detector's folder in `store` (`detectors/<id>/`; '' for a CLI detector directory). */
  readonly prefix: string;
  /** A saved version; omitted: the current one. */
  readonly version?: number;
}

/**
 * Describes a version of the detector at `prefix`. A detector without a pointer is NotFound (`detector`), as is an
 * asked-for version without a manifest (`version`); a pointer, manifest or pointed-to version that cannot be read is
 * damaged state (StorageError: HTTP 500, CLI exit 1), as when the detector is loaded.
 */
export async function describeDetector(store: ObjectStore, req: DescribeRequest): Promise<DetectorDescription> {
  const keys = detectorKeys(req.prefix);
  const ptr = await new DetectorRepository(store).readPointer(req.prefix);
  if (!ptr) throw noSuchDetector(req.id);
  const version = req.version ?? ptr.version;
  const json = await readStoredJson(store, keys.manifest(version), 'manifest');
  if (json === undefined) {
    if (req.version !== undefined) throw new NotFoundError('version', `detector ${req.id} has no version ${version} (its current version is ${ptr.version})`);
    throw new StorageError(keys.current, `names v${version}, which has no manifest`);
  }
  let m: DetectorManifest;
  try {
    m = parseManifest(json, keys.manifest(version));
  } catch (e) {
    if (e instanceof InputError) throw new StorageError(e.field ?? keys.manifest(version), `stored detector v${version} is unusable: ${e.detail}`, { cause: e });
    throw e;
  }
  return describeManifest(m, { id: req.id, version, currentVersion: ptr.version });
}

/** GET /detectors/{id}[?version=n] in a tenant's view of the bucket. */
export function describeStoredDetector(store: ObjectStore, msg: DescribeMessage): Promise<DetectorDescription> {
  return describeDetector(store, { id: msg.detector, prefix: detectorPrefix(msg.detector), ...(msg.version !== undefined ? { version: msg.version } : {}) });
}

/** The description of a parsed manifest: everything a user can read or act on, nothing of the bucket's layout. */
function describeManifest(m: DetectorManifest, at: { id: string; version: number; currentVersion: number }): DetectorDescription {
  const p = m.preprocess;
  const c = m.calibration;
  const arrays = Object.fromEntries(
    Object.entries(m.arrays)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([name, ref]) => [name, { shape: [...ref.shape], dtype: ref.dtype, bytes: ref.shape.reduce((x, y) => x * y, 1) * (ref.dtype === 'float64' ? 8 : 4) }]),
  );
  const hidden = INTERNAL_PARAMS[m.detector.kind] ?? [];
  return {
    id: at.id,
    version: at.version,
    currentVersion: at.currentVersion,
    fitVersion: m.fitVersion ?? null,
    fitId: m.fitId ?? null,
    createdAt: m.createdAt,
    libraryVersion: m.libraryVersion,
    formatVersion: m.formatVersion,
    model: { id: modelIdOfKey(m.model.key) ?? null, sha256: m.model.sha256, batchSize: m.model.batchSize },
    layer: m.model.layer,
    preprocessing: { input: { ...p.input }, layout: p.layout ?? null, scale: p.scale, grey: p.grey, resize: p.resize, range: [p.range[0], p.range[1]] },
    detector: {
      kind: m.detector.kind,
      params: Object.fromEntries(Object.entries(m.detector.params).filter(([k]) => !hidden.includes(k))),
      dim: m.detector.dim,
      nTrain: m.detector.nTrain,
      stats: { ...m.detector.stats },
    },
    arrays,
    calibration: c
      ? {
          kind: c.method === 'conformal' ? 'label-free' : 'labelled',
          method: c.method,
          threshold: c.threshold,
          accuracy: c.accuracy ?? null,
          grid: c.method === 'grid' ? (c.step ?? null) : null,
          targetFpr: c.targetFpr ?? null,
          nEval: c.nEval,
          nOod: c.nOod,
          flaggedRate: c.flaggedRate,
          idFlaggedRate: c.idFlaggedRate,
          scores: m.arrays[CALIBRATION_SCORES]?.shape[0] ?? 0,
          referenceRows: m.arrays[REFERENCE_FEATURES]?.shape[0] ?? 0,
        }
      : null,
  };
}

/** Pointers read at once while listing (each a small GET). */
const POINTER_READS = 16;

/**
 * A page of the tenant's detectors (GET /detectors): the folders under `detectors/` in key order after `after`, each
 * with the version its pointer names. A folder without a pointer (a first save that never completed) is no detector
 * and is skipped, as is a folder no id can name; pages are read on until `limit` detectors are found or the listing
 * ends, and `next` (the last id returned) is set while folders remain. A pointer that cannot be read is damaged state
 * (StorageError), as when the detector is loaded.
 */
export async function listDetectors(store: ObjectStore, msg: ListDetectorsMessage): Promise<DetectorList> {
  if (!canListFolders(store)) throw new StorageError(DETECTORS_PREFIX, `${store.location} cannot list folders`);
  const limit = msg.limit ?? DEFAULT_LIST_LIMIT;
  const repo = new DetectorRepository(store);
  const detectors: DetectorList['detectors'] = [];
  let after = msg.after !== undefined ? detectorPrefix(msg.after) : undefined;
  let more = true;
  while (more && detectors.length < limit) {
    const page = await store.listFolders(DETECTORS_PREFIX, { limit: limit - detectors.length, ...(after !== undefined ? { after } : {}) });
    more = page.more;
    after = page.folders.at(-1) ?? after;
    const ids = page.folders.map(detectorIdOfPrefix).filter((id): id is string => id !== undefined);
    const pointers = await mapBounded(ids, POINTER_READS, (id) => repo.readPointer(detectorPrefix(id)));
    ids.forEach((id, i) => {
      const ptr = pointers[i];
      if (ptr) detectors.push({ id, currentVersion: ptr.version });
    });
  }
  return { detectors, ...(more ? { next: detectors.at(-1)!.id } : {}) };
}

