import { checkHoldoutSize } from '../core/conformal.js';
import { InputError, NotFoundError } from '../core/errors.js';
import { checkModelInputShape } from '../core/preprocess.js';
import { validateLabels } from '../core/threshold.js';
import { decodeLabels, labelFileMaxBytes } from '../io/load.js';
import { formatBytes } from '../io/limits.js';
import type { CalibrateMessage } from '../schemas.js';
import type { ObjectStore } from '../storage/object-store.js';
import { readDatasetManifest } from './datasets.js';
import { loadCurrent } from './detector-cache.js';
import { getWithinLimit, SERVICE_DECODE_LIMITS } from './limits.js';

/**
 * Everything about a calibrate request that can be checked before a job is enqueued, so the caller gets a 400/404 now
 * instead of a failed job later: the detector and the dataset exist; the dataset's shape fits the model the detector
 * was fitted with (`checkModelInputShape`: not a label file uploaded as a dataset, no unconvertible channel count);
 * labels, inline or in a label file, are one 0/1 per sample with both classes present (the rule the labelled
 * threshold applies, `validateLabels`); a label-free holdout has enough samples for targetFpr (`checkHoldoutSize`).
 */
export async function checkCalibrateRequest(store: ObjectStore, msg: CalibrateMessage): Promise<void> {
  const { bundle } = await loadCurrent(store, msg.detector);
  const m = await readDatasetManifest(store, msg.dataset);
  checkModelInputShape(m.shape, bundle.preprocess, 'dataset', m.layout);
  const n = m.shape[0]!;
  if (msg.targetFpr !== undefined) checkHoldoutSize(n, msg.targetFpr, 'dataset');
  if (msg.oodLabels) validateLabels(msg.oodLabels, n, 'oodLabels');
  if (msg.oodLabelsKey) {
    const labels = await readOodLabels(store, msg.oodLabelsKey);
    if (!labels) throw new NotFoundError('oodLabelsKey', `no object ${msg.oodLabelsKey}`);
    validateLabels(labels, n, 'oodLabelsKey');
  }
}

/**
 * The labels in the object `key` (a .npy of shape [N] or [N,1], or JSON), read within the service's size limit;
 * undefined when there is no such object. Every error names `oodLabelsKey`, the request field.
 */
export async function readOodLabels(store: ObjectStore, key: string): Promise<number[] | undefined> {
  const named = (e: unknown): never => {
    throw e instanceof InputError ? new InputError('oodLabelsKey', e.field && e.field !== 'oodLabelsKey' ? `${e.field}: ${e.detail}` : e.detail, { cause: e }) : e;
  };
  // Refused on its HEAD, not read, when it is larger than any label file can be (~31 MiB under the service's limits):
  // a dataset's array named by mistake would otherwise be read whole (up to maxFileBytes) by an HTTP function.
  const size = (await store.head(key))?.size;
  if (size === undefined) return undefined;
  const most = labelFileMaxBytes(SERVICE_DECODE_LIMITS);
  if (size > most) throw new InputError('oodLabelsKey', `${key} is ${formatBytes(size)}, more than a label file of at most ${SERVICE_DECODE_LIMITS.maxSamples} labels can be (${formatBytes(most)}); not read`);
  const bytes = await getWithinLimit(store, key, size).catch(named);
  if (!bytes) return undefined;
  try {
    return decodeLabels(bytes, key, SERVICE_DECODE_LIMITS);
  } catch (e) {
    return named(e);
  }
}
