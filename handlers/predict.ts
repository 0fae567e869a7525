/**
 * predict: POST /detectors/{id}/predict {dataset | images[], threshold?}.
 *
 * ≤ SYNC_PREDICT_MAX_IMAGES samples (default 64) → 200 {result, scores, pValues?, threshold, detectorVersion, n, ms}, computed here;
 * more → 202 {jobId} (a worker job). Why inline for small batches: the function already holds the detector (a few KB)
 * and, once warm, a cached ORT session, so 1-64 LeNet-sized images cost milliseconds of CPU; a job would add a Redis
 * round trip, worker pickup, an S3 result write and client polling, which cost far more than the inference. The cap
 * keeps the work well inside the Lambda timeout and the 6 MB response limit; bigger batches go to the (GPU) worker.
 */
import { httpHandler } from '../src/http/handler.js';
import { runtimeOptions } from '../src/http/deps.js';
import { getJobClient } from '../src/http/queue-deps.js';
import { withPathDetector } from '../src/http/messages.js';
import { json, jsonBody, parseWith } from '../src/http/respond.js';
import { predictMessageSchema, type JobAccepted, type PredictResponse } from '../src/schemas.js';
import { handlePredict } from '../src/service/predict-request.js';

export const handler = httpHandler(async (event, { store, logger, config, tenant }) => {
  const msg = parseWith(predictMessageSchema, withPathDetector(event, jsonBody(event)));
  const out = await handlePredict(
    { store, logger, runtime: runtimeOptions(config), syncMaxImages: config.syncPredictMaxImages, enqueue: (prepare) => getJobClient().enqueuePrepared('predict', tenant, prepare) },
    msg,
  );
  return out.sync ? json(200, out.body satisfies PredictResponse) : json(202, { jobId: out.jobId, n: out.n, status: `/jobs/${out.jobId}` } satisfies JobAccepted);
});
