/** calibrate: POST /detectors/{id}/calibrate {dataset, oodLabels | oodLabelsKey, grid?} or {dataset (held-out ID), targetFpr} → 202 {jobId}. */
import { httpHandler } from '../src/http/handler.js';
import { getJobClient } from '../src/http/queue-deps.js';
import { withPathDetector } from '../src/http/messages.js';
import { json, jsonBody, parseWith } from '../src/http/respond.js';
import { calibrateMessageSchema, type JobAccepted } from '../src/schemas.js';
import { checkCalibrateRequest } from '../src/service/calibrate-request.js';

export const handler = httpHandler(async (event, { store, tenant }) => {
  const msg = parseWith(calibrateMessageSchema, withPathDetector(event, jsonBody(event)));
  await checkCalibrateRequest(store, msg); // unknown detector/dataset/label file → 404, bad labels or holdout too small → 400
  const jobId = await getJobClient().enqueue('calibrate', msg, tenant);
  return json(202, { jobId, status: `/jobs/${jobId}` } satisfies JobAccepted);
});
