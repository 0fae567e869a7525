/**
 * checkObject: S3 ObjectCreated under the incoming prefix → `results/<key>.json`. Invalid keys (`..`, absolute, not
 * under the prefix, other bucket) and undecodable objects are rejected and logged, not retried; transient failures
 * throw so that Lambda's asynchronous retry runs the record again (the result write is idempotent).
 */
import { isImagedriftError } from '../src/core/errors.js';
import { getDeps, runtimeOptions } from '../src/http/deps.js';
import type { S3Event } from '../src/http/events.js';
import { checkIncomingObject } from '../src/service/check-object.js';
import { isTransientError } from '../src/storage/s3-store.js';

export async function handler(event: S3Event): Promise<{ processed: { key: string; tenant: string; resultKey: string; flagged: number; n: number }[]; rejected: { key: string; error: string }[] }> {
  const { store, logger, config } = getDeps();
  const deps = { store, logger, runtime: runtimeOptions(config), bucket: config.s3.bucket, incomingPrefix: config.incomingPrefix, ...(config.detectorId ? { detectorId: config.detectorId } : {}) };
  const processed = [];
  const rejected = [];
  for (const rec of event.Records ?? []) {
    const rawKey = rec.s3?.object?.key ?? '';
    if (!rec.eventName?.startsWith('ObjectCreated')) continue;
    try {
      const r = await checkIncomingObject(deps, { bucket: rec.s3?.bucket?.name ?? '', rawKey });
      processed.push({ key: r.key, tenant: r.tenant, resultKey: r.resultKey, flagged: r.flagged, n: r.n });
    } catch (e) {
      if (!isImagedriftError(e) || isTransientError(e) || e.code === 'STORAGE_ERROR') throw e;
      logger.warn({ key: rawKey, err: e.message }, 'incoming object rejected');
      rejected.push({ key: rawKey, error: e.message });
    }
  }
  return { processed, rejected };
}
