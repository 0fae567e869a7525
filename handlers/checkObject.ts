/**
 * checkObject: S3 ObjectCreated under the incoming prefix → `results/<key>.json` in the tenant's view. Which records
 * are rejected and which failures are retried is `checkIncomingRecords` in src/service/check-object.ts.
 */
import { getDeps, runtimeOptions } from '../src/http/deps.js';
import type { S3Event } from '../src/http/events.js';
import { checkIncomingRecords, type CheckedRecords } from '../src/service/check-object.js';

export async function handler(event: S3Event): Promise<CheckedRecords> {
  const { store, logger, config } = getDeps();
  return checkIncomingRecords({ store, logger, runtime: runtimeOptions(config), bucket: config.s3.bucket, incomingPrefix: config.incomingPrefix, ...(config.detectorId ? { detectorId: config.detectorId } : {}) }, event);
}
