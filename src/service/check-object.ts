import { InputError } from '../core/errors.js';
import { decodeBytes } from '../io/load.js';
import type { Logger } from '../log.js';
import { idSchema } from '../schemas.js';
import { isSafeKey, type ObjectStore } from '../storage/object-store.js';
import { loadForScoring } from './detector-cache.js';
import { predictData, type RuntimeOptions } from './detector-service.js';

/**
 * The event-triggered check: an object created under the incoming prefix is predicted and the result is written to
 * `results/<key>.json` (so `incoming/cam1/x.png` → `results/incoming/cam1/x.png.json`).
 *
 * Keys arrive URL-encoded in S3 events (spaces as '+'). After decoding, a key must be a safe relative key (no '..',
 * '.', empty segments, leading '/', backslash or NUL) under the configured prefix. The detector is DETECTOR_ID, or the
 * first segment after the prefix (`incoming/<detectorId>/…`).
 */
export interface CheckDeps {
  readonly store: ObjectStore;
  readonly logger: Logger;
  readonly runtime: Pick<RuntimeOptions, 'executionProviders' | 'intraOpNumThreads'>;
  readonly bucket: string;
  readonly incomingPrefix: string;
  readonly detectorId?: string;
}

export interface CheckResult {
  readonly key: string;
  readonly resultKey: string;
  readonly detector: string;
  readonly detectorVersion: number;
  readonly threshold: number;
  readonly n: number;
  readonly flagged: number;
  readonly result: number[];
  readonly scores: number[];
  readonly checkedAt: string;
}

/** S3 event keys are URL-encoded with '+' for spaces. */
export function decodeEventKey(raw: string): string {
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' '));
  } catch {
    throw new InputError('key', `${JSON.stringify(raw)} is not a valid URL-encoded key`);
  }
}

/** Validates a decoded key and names the detector it is checked with. */
export function resolveIncomingKey(key: string, prefix: string, detectorId?: string): { detector: string; resultKey: string } {
  if (!isSafeKey(key)) throw new InputError('key', `${JSON.stringify(key)} is not a safe relative key (no "..", ".", empty segments or leading "/")`);
  if (!key.startsWith(prefix) || key.length === prefix.length) throw new InputError('key', `${JSON.stringify(key)} is not under ${prefix}`);
  let detector = detectorId;
  if (detector === undefined) {
    const rest = key.slice(prefix.length).split('/');
    if (rest.length < 2) throw new InputError('key', `${JSON.stringify(key)} must be ${prefix}<detectorId>/<name> (DETECTOR_ID is not set)`);
    const r = idSchema.safeParse(rest[0]);
    if (!r.success) throw new InputError('key', `detector segment ${JSON.stringify(rest[0])} ${r.error.issues[0]!.message}`);
    detector = r.data;
  }
  return { detector, resultKey: `results/${key}.json` };
}

export async function checkIncomingObject(deps: CheckDeps, rec: { bucket: string; rawKey: string }): Promise<CheckResult> {
  if (rec.bucket !== deps.bucket) throw new InputError('bucket', `event for bucket ${JSON.stringify(rec.bucket)}, this function serves ${JSON.stringify(deps.bucket)}`);
  const key = decodeEventKey(rec.rawKey);
  const { detector, resultKey } = resolveIncomingKey(key, deps.incomingPrefix, deps.detectorId);
  const bytes = await deps.store.get(key);
  if (!bytes) throw new InputError('key', `${key} no longer exists`);
  const data = await decodeBytes(bytes, key);
  const det = await loadForScoring(deps.store, detector);
  const r = await predictData(det.bundle, det.model, data, { ...deps.runtime, logger: deps.logger });
  const out: CheckResult = {
    key,
    resultKey,
    detector,
    detectorVersion: det.version,
    threshold: r.threshold,
    n: r.result.length,
    flagged: r.result.reduce((a, b) => a + b, 0),
    result: r.result,
    scores: r.scores,
    checkedAt: new Date().toISOString(),
  };
  await deps.store.put(resultKey, new TextEncoder().encode(JSON.stringify(out)), { contentType: 'application/json' });
  return out;
}
