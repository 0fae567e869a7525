import type { DetectorBundle } from '../core/bundle.js';
import { NotFoundError } from '../core/errors.js';
import { checkModelLayers, DetectorRepository } from '../storage/detector-repository.js';
import { bindMissing, type Logger } from '../log.js';
import type { ObjectStore } from '../storage/object-store.js';
import { detectorPrefix } from '../storage/keys.js';

/**
 * Loads a detector's current version and its model for in-process scoring (sync predict, audits, S3-event checks).
 * Versions and models are immutable once written, so a warm process caches them by key and reads only the small
 * `current.json` pointer per call; the ORT session itself is cached by extractor-cache.ts.
 */
export interface LoadedForScoring {
  readonly detector: string;
  readonly version: number;
  readonly bundle: DetectorBundle;
  readonly model: Uint8Array;
  readonly warnings: string[];
}

const MAX_ENTRIES = 8;
/** `warned`: the load's warnings (a detector saved by another imagedrift version) were logged once in this process. */
const versions = new Map<string, { bundle: DetectorBundle; warnings: string[]; warned: boolean }>();
const models = new Map<string, Uint8Array>();

function remember<V>(m: Map<string, V>, key: string, v: V): V {
  if (m.size >= MAX_ENTRIES) m.delete(m.keys().next().value as string);
  m.set(key, v);
  return v;
}

/** Entries the process keeps: detector versions and models, at most 8 each (for tests and `npm run soak`). */
export function cachedDetectorCounts(): { versions: number; models: number } {
  return { versions: versions.size, models: models.size };
}

/**
 * A missing detector, named by the caller's id (not by the bucket and tenant layout the repository's own error shows,
 * which is not the caller's business): the functions' 404 and a job's error.
 */
export function noSuchDetector(detectorId: string, cause?: unknown): NotFoundError {
  return new NotFoundError('detector', `no detector ${detectorId}; fit it first`, cause === undefined ? undefined : { cause });
}

/**
 * A detector's current version (bundle and load warnings), cached as `loadForScoring` caches it; no model. With a
 * logger, the load's warnings (e.g. "detector was saved by imagedrift X; this is Y") are logged, once per version
 * and process, as the worker and the CLI log them.
 */
export async function loadCurrent(store: ObjectStore, detectorId: string, logger?: Logger): Promise<{ version: number; bundle: DetectorBundle; warnings: string[] }> {
  const prefix = detectorPrefix(detectorId);
  const repo = new DetectorRepository(store);
  const ptr = await repo.readPointer(prefix);
  // The caller's own id, not the store's location (a bucket name and tenant layout are not the caller's business).
  if (!ptr) throw noSuchDetector(detectorId);
  const cacheKey = `${store.location}/${prefix}v${ptr.version}`;
  let v = versions.get(cacheKey);
  if (!v) {
    const loaded = await repo.load(prefix, ptr); // a pointer to a missing version is damaged state (StorageError)
    v = remember(versions, cacheKey, { bundle: loaded.bundle, warnings: loaded.warnings, warned: false });
  }
  if (logger && !v.warned) {
    // bindMissing: a request's logger already binds the path's detector (a key written twice is a duplicate JSON key).
    for (const w of v.warnings) bindMissing(logger, { detector: detectorId }).warn({ version: ptr.version }, w);
    v.warned = true;
  }
  return { version: ptr.version, bundle: v.bundle, warnings: v.warnings };
}

export async function loadForScoring(store: ObjectStore, detectorId: string, logger?: Logger): Promise<LoadedForScoring> {
  const { version, bundle, warnings } = await loadCurrent(store, detectorId, logger);
  // Keyed by the sha256 too: the cached bytes were checked against one bundle's record, which another detector naming
  // the same key need not share. A hit still checks this bundle's layers (once per model and layer, in modelOf's rule).
  const modelKey = `${store.location}/${bundle.model.key}\0${bundle.model.sha256}`;
  let model = models.get(modelKey);
  if (!model) {
    model = remember(models, modelKey, await new DetectorRepository(store).modelOf(bundle, detectorId));
  } else {
    checkModelLayers(bundle, model, detectorId);
  }
  return { detector: detectorId, version, bundle, model, warnings };
}
