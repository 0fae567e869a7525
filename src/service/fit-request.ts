import { createDetector } from '../core/detectors.js';
import { checkModelInputShape, defaultPreprocess } from '../core/preprocess.js';
import { checkLayers, checkMemberLayers, inputSpec } from '../model/graph.js';
import { detectorSpecFromParams, type FitMessage } from '../schemas.js';
import type { ObjectStore } from '../storage/object-store.js';
import { loadModel, readDatasetManifest } from './datasets.js';
import { sha256Hex } from '../hash.js';

/**
 * Everything about a fit request that can be checked before a job is enqueued, so the caller gets a 400/404 now
 * instead of a failed job later: the detector choice and its parameters, that the model and dataset exist, that the
 * dataset's shape fits the model's input (`checkModelInputShape`), that it has enough samples for the detector
 * (`checkTrainingSize`), and that every layer the detector reads is a tensor of the model.
 */
export async function checkFitRequest(store: ObjectStore, msg: FitMessage): Promise<void> {
  if (msg.method !== 'auto') detectorSpecFromParams(msg); // parameter errors first, before any storage read
  const model = await loadModel(store, msg.model);
  const spec = detectorSpecFromParams(msg, sha256Hex(model));
  const ds = await readDatasetManifest(store, msg.dataset);
  // Data the model could never take (a label file uploaded as a dataset, a wrong channel count, …).
  const input = inputSpec(model);
  const preprocess = defaultPreprocess(input, { ...(msg.layout ? { layout: msg.layout } : {}), ...(msg.scale !== undefined ? { scale: msg.scale } : {}) });
  checkModelInputShape(ds.shape, preprocess, 'dataset', ds.layout);
  createDetector(spec).checkTrainingSize(ds.shape[0]!); // nCluster or k larger than the dataset, …
  if (msg.layer !== undefined) return checkLayers(model, [msg.layer]);
  checkMemberLayers(model, msg.members ?? []);
}
