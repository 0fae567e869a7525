/** jobStatus: GET /jobs/{id} → {state, progress, result?, error?}. */
import { httpHandler } from '../src/http/handler.js';
import { getJobClient } from '../src/http/queue-deps.js';
import { json, pathParam, publicJobError } from '../src/http/respond.js';
import type { JobStatus } from '../src/schemas.js';

export const handler = httpHandler(async (event, { store, tenant }) => {
  const s = await getJobClient().status(pathParam(event, 'id') ?? '', store, tenant);
  // A failed (or retrying) job's storage or queue failure reads like a 503/500 body: no bucket, key, endpoint or cause.
  return json(200, (s.error ? { ...s, error: publicJobError(s.error) } : s) satisfies JobStatus);
});
