/**
 * checkObject: S3 ObjectCreated under the incoming prefix → `results/<key>.json` in the tenant's view. Which records
 * are rejected and which failures are retried is `checkIncomingRecords` in src/service/check-object.ts.
 */
import { getDeps, runtimeOptions } from '../src/http/deps.js';
import { bindMissing } from '../src/log.js';
import type { LambdaContext, S3Event } from '../src/http/events.js';
import { checkIncomingRecords, type CheckedRecords } from '../src/service/check-object.js';

export async function handler(event: S3Event, context?: LambdaContext): Promise<CheckedRecords> {
  const { store, config, logger: base } = getDeps();
  // Lambda's invocation id on every line, to tie them to its START/REPORT (and timeout) lines.
  const logger = bindMissing(base, { awsRequestId: context?.awsRequestId });
  return checkIncomingRecords({ store, logger, runtime: runtimeOptions(config), bucket: config.s3.bucket, incomingPrefix: config.incomingPrefix, ...(config.detectorId ? { detectorId: config.detectorId } : {}) }, event);
}
