import { InputError, isImagedriftError, isTransientError } from '../core/errors.js';
import type { S3Event } from '../http/events.js';
import { getWithinLimit, SERVICE_DECODE_LIMITS } from './limits.js';
import { decodeBytes } from '../io/load.js';
import type { Logger } from '../log.js';
import { idSchema } from '../schemas.js';
import { tenantIdSchema } from '../auth/api-keys.js';
import { isSafeKey, type ObjectStore } from '../storage/object-store.js';
import { tenantStore } from '../storage/tenant-store.js';
import { loadForScoring } from './detector-cache.js';
import { predictData, type RuntimeOptions } from './detector-service.js';
import { checkResultKey } from '../storage/keys.js';

/**
 * The event-triggered check: an object created at `incoming/<tenant>/<detector>/<name>` is predicted with that
 * tenant's detector and the result is written to the tenant's `results/incoming/<detector>/<name>.json`
 * (`tenants/<tenant>/results/…` in the bucket; src/storage/tenant-store.ts). With DETECTOR_ID set the key is
 * `incoming/<tenant>/<name>`.
 *
 * Keys arrive URL-encoded in S3 events (spaces as '+'). After decoding, a key must be a safe relative key (no '..',
 * '.', empty segments, leading '/', backslash or NUL) under the configured prefix, with a valid tenant segment.
 * Writing under `incoming/` needs bucket credentials, which only the operator's own systems hold, so the tenant named
 * by the key is trusted; a tenant without that detector simply gets NotFound.
 */
export interface CheckDeps {
  /** The whole bucket: the incoming object is read from it, the tenant's view is derived from the key. */
  readonly store: ObjectStore;
  readonly logger: Logger;
  readonly runtime: Pick<RuntimeOptions, 'executionProviders' | 'intraOpNumThreads'>;
  readonly bucket: string;
  readonly incomingPrefix: string;
  readonly detectorId?: string;
}

export interface CheckResult {
  readonly key: string;
  readonly tenant: string;
  /** In the tenant's view: `tenants/<tenant>/<resultKey>` in the bucket. */
  readonly resultKey: string;
  readonly detector: string;
  readonly detectorVersion: number;
  readonly threshold: number;
  readonly n: number;
  readonly flagged: number;
  readonly result: number[];
  readonly scores: number[];
  /** Conformal p-values against the calibration's ID scores, as in predict (absent: no stored scores). */
  readonly pValues?: number[];
  readonly checkedAt: string;
}

/** What is written at the result's key instead when the object was refused (undecodable, out of range, too large…). */
export interface CheckRejection {
  readonly key: string;
  readonly tenant: string;
  readonly resultKey: string;
  readonly detector: string;
  readonly detectorVersion: number;
  readonly error: { readonly code: string; readonly field: string | null; readonly message: string };
  readonly checkedAt: string;
}

/** S3 event keys are URL-encoded with '+' for spaces. */
function decodeEventKey(raw: string): string {
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' '));
  } catch {
    throw new InputError('key', `${JSON.stringify(raw)} is not a valid URL-encoded key`);
  }
}

/** Validates a decoded key and names the tenant and detector it is checked with, and the result's key in the tenant's view. */
function resolveIncomingKey(key: string, prefix: string, detectorId?: string): { tenant: string; detector: string; resultKey: string } {
  if (!isSafeKey(key)) throw new InputError('key', `${JSON.stringify(key)} is not a safe relative key (no "..", ".", empty segments or leading "/")`);
  if (!key.startsWith(prefix) || key.length === prefix.length) throw new InputError('key', `${JSON.stringify(key)} is not under ${prefix}`);
  const [tenantSeg, ...rest] = key.slice(prefix.length).split('/');
  const shape = detectorId === undefined ? `${prefix}<tenant>/<detectorId>/<name>` : `${prefix}<tenant>/<name> (DETECTOR_ID is set)`;
  if (rest.length < (detectorId === undefined ? 2 : 1)) throw new InputError('key', `${JSON.stringify(key)} must be ${shape}`);
  const t = tenantIdSchema.safeParse(tenantSeg);
  if (!t.success) throw new InputError('key', `tenant segment ${JSON.stringify(tenantSeg)} ${t.error.issues[0]!.message}`);
  let detector = detectorId;
  if (detector === undefined) {
    const r = idSchema.safeParse(rest[0]);
    if (!r.success) throw new InputError('key', `detector segment ${JSON.stringify(rest[0])} ${r.error.issues[0]!.message}`);
    detector = r.data;
  }
  return { tenant: t.data, detector, resultKey: checkResultKey(`${prefix}${rest.join('/')}`) };
}

async function checkIncomingObject(deps: CheckDeps, rec: { bucket: string; rawKey: string }): Promise<CheckResult> {
  if (rec.bucket !== deps.bucket) throw new InputError('bucket', `event for bucket ${JSON.stringify(rec.bucket)}, this function serves ${JSON.stringify(deps.bucket)}`);
  const key = decodeEventKey(rec.rawKey);
  const { tenant, detector, resultKey } = resolveIncomingKey(key, deps.incomingPrefix, deps.detectorId);
  // The detector first: an object for an unknown tenant or detector is rejected without being read or decoded.
  const store = tenantStore(deps.store, tenant);
  const det = await loadForScoring(store, detector, deps.logger);
  const checkedAt = (): string => new Date().toISOString();
  // The tenant has this detector, so the object's uploader looks for its result: a rejection is written where the
  // result would be (the event is asynchronous; otherwise only the log would say why). Not for a transient error,
  // which is retried. Never over an existing record: an event S3 delivers twice, or a slow run of an earlier upload
  // to the same key, must not replace a result; a rejection is only ever written where there is none yet.
  const refused = async (e: unknown): Promise<never> => {
    if (isImagedriftError(e) && !isTransientError(e) && e.code !== 'STORAGE_ERROR') {
      const rejected: CheckRejection = { key, tenant, resultKey, detector, detectorVersion: det.version, error: { code: e.code, field: e.field ?? null, message: e.message }, checkedAt: checkedAt() };
      await store.put(resultKey, new TextEncoder().encode(JSON.stringify(rejected)), { contentType: 'application/json', ifNoneMatch: true }).catch((err: unknown) => {
        if (!(isImagedriftError(err) && err.code === 'CONFLICT')) throw err; // written meanwhile: that record stands
      });
    }
    throw e;
  };
  // The version of the object this check reads (its ETag; see the result write below).
  const read = await deps.store.head(key);
  // Too large is refused on its size before it is read, and gets its rejection like any object the detector cannot take.
  const bytes = read && (await getWithinLimit(deps.store, key, read.size).catch(refused));
  if (!read || !bytes) throw new InputError('key', `${key} no longer exists`); // nothing to report on: no record is written
  let r: Awaited<ReturnType<typeof predictData>>;
  try {
    const data = await decodeBytes(bytes, key, { limits: SERVICE_DECODE_LIMITS });
    r = await predictData(det.bundle, det.model, data, { ...deps.runtime, logger: deps.logger });
  } catch (e) {
    return refused(e);
  }
  const out: CheckResult = {
    key,
    tenant,
    resultKey,
    detector,
    detectorVersion: det.version,
    threshold: r.threshold,
    n: r.result.length,
    flagged: r.result.reduce((a, b) => a + b, 0),
    result: r.result,
    scores: r.scores,
    ...(r.pValues ? { pValues: r.pValues } : {}),
    checkedAt: checkedAt(),
  };
  // A slow check of an earlier upload must not replace the result of a newer upload to the same key, written
  // meanwhile by that upload's own event: the result is written only while the object is still the one read (else
  // the newer upload's event writes its own; the window left is this HEAD's round trip).
  const current = await deps.store.head(key);
  if (current?.etag !== read.etag) {
    deps.logger.info({ key, readEtag: read.etag, currentEtag: current?.etag ?? null }, 'object replaced or deleted while it was checked; its result is not written');
    return out;
  }
  await store.put(resultKey, new TextEncoder().encode(JSON.stringify(out)), { contentType: 'application/json' });
  return out;
}

export interface CheckedRecords {
  readonly processed: { key: string; tenant: string; resultKey: string; flagged: number; n: number }[];
  readonly rejected: { key: string; error: string }[];
}

/**
 * Every ObjectCreated record of an S3 event. A bad record (unsafe key, outside the prefix, other bucket, undecodable
 * object, unknown tenant or detector) is rejected and logged, not retried: no retry can fix it. An object refused for
 * the tenant's existing detector also gets a `CheckRejection` at its result key, where no record is yet. A transient or storage
 * failure is thrown, so that Lambda's asynchronous retry runs the event again (result writes are idempotent).
 */
export async function checkIncomingRecords(deps: CheckDeps, event: S3Event | null | undefined): Promise<CheckedRecords> {
  const processed: CheckedRecords['processed'] = [];
  const rejected: CheckedRecords['rejected'] = [];
  for (const rec of event?.Records ?? []) {
    if (!rec?.eventName?.startsWith('ObjectCreated')) continue;
    const rawKey = rec.s3?.object?.key ?? '';
    const t0 = performance.now();
    const ms = (): number => Math.round(performance.now() - t0);
    try {
      const r = await checkIncomingObject(deps, { bucket: rec.s3?.bucket?.name ?? '', rawKey });
      processed.push({ key: r.key, tenant: r.tenant, resultKey: r.resultKey, flagged: r.flagged, n: r.n });
      // One line per object, as per request: without it a checked object leaves no trace in the log.
      deps.logger.info({ key: r.key, tenant: r.tenant, detector: r.detector, detectorVersion: r.detectorVersion, resultKey: r.resultKey, n: r.n, flagged: r.flagged, ms: ms() }, 'incoming object checked');
    } catch (e) {
      if (!isImagedriftError(e) || isTransientError(e) || e.code === 'STORAGE_ERROR') {
        // A transient outage (S3 or Redis answering 503/timeouts) is retried and usually passes: a warning; anything
        // else (damaged state, a bug) is the service's fault: an error.
        deps.logger[isTransientError(e) ? 'warn' : 'error']({ key: rawKey, err: e, ms: ms() }, 'incoming object check failed; the event is retried');
        throw e;
      }
      // The uploader's mistake (or a misrouted event), not the service's: a warning, with the code and field it got.
      deps.logger.warn({ key: rawKey, code: e.code, field: e.field, err: e.message, ms: ms() }, 'incoming object rejected');
      rejected.push({ key: rawKey, error: e.message });
    }
  }
  return { processed, rejected };
}
