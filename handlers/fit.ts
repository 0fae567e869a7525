/** fit: POST /detectors/{id}/fit {model, dataset, layer, nCluster, score?, seed?, …} → 202 {jobId}. */
import { httpHandler } from '../src/http/handler.js';
import { getJobClient } from '../src/http/queue-deps.js';
import { json, jsonBody, parseWith } from '../src/http/respond.js';
import { withPathDetector } from '../src/http/messages.js';
import { fitMessageSchema, type JobAccepted } from '../src/schemas.js';
import { checkFitRequest } from '../src/service/fit-request.js';

export const handler = httpHandler(async (event, { store, tenant }) => {
  const msg = parseWith(fitMessageSchema, withPathDetector(event, jsonBody(event)));
  await checkFitRequest(store, msg); // bad parameters → 400, missing model/dataset → 404, unknown layer → 400
  const jobId = await getJobClient().enqueue('fit', msg, tenant);
  return json(202, { jobId, status: `/jobs/${jobId}` } satisfies JobAccepted);
});
