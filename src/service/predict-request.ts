import { NotFittedError } from '../core/errors.js';
import type { DecodedArray } from '../core/tensor.js';
import { checkModelInput, checkModelInputShape } from '../core/preprocess.js';
import type { Logger } from '../log.js';
import type { DatasetManifest, PredictMessage, PredictResponse } from '../schemas.js';
import type { ObjectStore } from '../storage/object-store.js';
import { deleteDataset, loadDataset, putEphemeralDataset, readDatasetManifest } from './datasets.js';
import { loadForScoring } from './detector-cache.js';
import { predictData, type RuntimeOptions } from './detector-service.js';
import { decodeInlineImages, toNpy } from './inline-images.js';

/**
 * predict's decision: at most `syncMaxImages` samples are scored in this process and answered inline; more become a
 * 'predict' job (inline images are first stored as a dataset, so the job payload is only ids).
 */
export interface PredictRequestDeps {
  readonly store: ObjectStore;
  readonly logger: Logger;
  readonly runtime: Pick<RuntimeOptions, 'executionProviders' | 'intraOpNumThreads'>;
  readonly syncMaxImages: number;
  /**
   * Enqueues a predict job over a stored dataset; returns its id. The tenant's job slot is taken first (a tenant at
   * MAX_JOBS_PER_TENANT is refused then, before `prepare` stores anything), then `prepare` gives the payload
   * (JobClient.enqueuePrepared).
   */
  readonly enqueue: (prepare: () => Promise<PredictMessage & { dataset: string }>) => Promise<string>;
}

export type PredictOutcome =
  | { readonly sync: true; readonly body: PredictResponse }
  | { readonly sync: false; readonly jobId: string; readonly n: number };

export async function handlePredict(deps: PredictRequestDeps, msg: PredictMessage): Promise<PredictOutcome> {
  const det = await loadForScoring(deps.store, msg.detector, deps.logger);
  if (msg.threshold === undefined && !det.bundle.calibration) throw new NotFittedError('threshold', `detector ${msg.detector} v${det.version} has no threshold; calibrate it or pass threshold`);
  let data: DecodedArray | undefined;
  let n: number;
  if (msg.images) {
    data = await decodeInlineImages(msg.images);
    // Checked here, as a dataset's shape is below: over syncMaxImages the images are stored and enqueued, and a batch
    // the model cannot take (rank 2, an unsupported channel count) would only fail in the worker; so would pixels out
    // of range, so those images are checked pixel by pixel too (inline ones are, as they are scored).
    checkModelInputShape(data.shape, det.bundle.preprocess, 'images', data.layout, data.data.length);
    n = data.shape[0] ?? 0;
    if (n > deps.syncMaxImages) checkModelInput(data, det.bundle.preprocess, 'images');
  } else {
    const m = await readDatasetManifest(deps.store, msg.dataset!);
    checkModelInputShape(m.shape, det.bundle.preprocess, 'dataset', m.layout); // e.g. a label file uploaded as a dataset
    n = m.shape[0] ?? 0;
  }
  const { images: _i, dataset, ...params } = msg;
  if (n > deps.syncMaxImages) {
    if (dataset !== undefined) return { sync: false, jobId: await deps.enqueue(async () => ({ ...params, dataset })), n };
    // Inline images are stored as a dataset for the job, once the job's slot is taken (a refused request stores
    // nothing); if the job cannot be enqueued after that (Redis down → 503), the dataset would be an orphan no caller
    // knows the id of, so it is removed before the error is returned. Ephemeral: the worker deletes it once the job's
    // result is written (or the job has failed for good).
    let stored: DatasetManifest | undefined;
    try {
      const jobId = await deps.enqueue(async () => {
        stored = await putEphemeralDataset(deps.store, { name: 'predict-images.npy', bytes: toNpy(data!), field: 'images', ...(data!.layout ? { layout: data!.layout } : {}) });
        return { ...params, dataset: stored.id };
      });
      return { sync: false, jobId, n };
    } catch (e) {
      const orphan = stored;
      if (orphan) await deleteDataset(deps.store, orphan).catch((err: unknown) => deps.logger.warn({ err, dataset: orphan.id }, 'could not remove the dataset of a predict that was not enqueued'));
      throw e;
    }
  }
  const t0 = performance.now();
  data ??= await loadDataset(deps.store, dataset!);
  const r = await predictData(det.bundle, det.model, data, {
    ...(msg.threshold !== undefined ? { threshold: msg.threshold } : {}),
    ...(msg.batchSize !== undefined ? { batchSize: msg.batchSize } : {}),
    ...deps.runtime,
    logger: deps.logger,
    dataField: msg.images ? 'images' : 'dataset',
  });
  return { sync: true, body: { result: r.result, scores: r.scores, ...(r.pValues ? { pValues: r.pValues } : {}), threshold: r.threshold, detectorVersion: det.version, n, ms: performance.now() - t0 } };
}
