/** fit: POST /detectors/{id}/fit {model, dataset, layer, nCluster, score?, seed?, …} → 202 {jobId}. */
import { httpHandler } from '../src/http/handler.js';
import { getJobClient } from '../src/http/queue-deps.js';
import { json, jsonBody, parseWith } from '../src/http/respond.js';
import { withPathDetector } from '../src/http/messages.js';
import { detectorSpecFromParams, fitMessageSchema } from '../src/schemas.js';
import { readDatasetManifest, readModelManifest } from '../src/service/datasets.js';

export const handler = httpHandler(async (event, { store, tenant }) => {
  const msg = parseWith(fitMessageSchema, withPathDetector(event, jsonBody(event)));
  detectorSpecFromParams(msg); // a bad detector choice is a 400 now, not a failed job
  // Missing inputs are reported now (404) rather than as a failed job.
  await readModelManifest(store, msg.model);
  await readDatasetManifest(store, msg.dataset);
  const jobId = await getJobClient().enqueue('fit', msg, tenant);
  return json(202, { jobId, status: `/jobs/${jobId}` });
});
