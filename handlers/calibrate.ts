/** calibrate: POST /detectors/{id}/calibrate {dataset, oodLabels | oodLabelsKey, grid?} or {dataset (held-out ID), targetFpr} → 202 {jobId}. */
import { InputError, NotFoundError } from '../src/core/errors.js';
import { httpHandler } from '../src/http/handler.js';
import { getJobClient } from '../src/http/queue-deps.js';
import { withPathDetector } from '../src/http/messages.js';
import { json, jsonBody, parseWith } from '../src/http/respond.js';
import { calibrateMessageSchema } from '../src/schemas.js';
import { readDatasetManifest } from '../src/service/datasets.js';
import { detectorPrefix } from '../src/service/detector-cache.js';

export const handler = httpHandler(async (event, { store, tenant }) => {
  const msg = parseWith(calibrateMessageSchema, withPathDetector(event, jsonBody(event)));
  if (!(await store.head(`${detectorPrefix(msg.detector)}current.json`))) throw new NotFoundError('detector', `no detector ${msg.detector}; fit it first`);
  const ds = await readDatasetManifest(store, msg.dataset);
  if (msg.oodLabels && msg.oodLabels.length !== ds.shape[0]) {
    throw new InputError('oodLabels', `has ${msg.oodLabels.length} labels but dataset ${msg.dataset} has ${ds.shape[0]} samples`);
  }
  if (msg.oodLabelsKey && !(await store.head(msg.oodLabelsKey))) throw new NotFoundError('oodLabelsKey', `no object ${msg.oodLabelsKey}`);
  const jobId = await getJobClient().enqueue('calibrate', msg, tenant);
  return json(202, { jobId, status: `/jobs/${jobId}` });
});
