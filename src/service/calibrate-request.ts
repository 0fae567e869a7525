import { checkHoldoutSize } from '../core/conformal.js';
import { NotFoundError } from '../core/errors.js';
import { validateLabels } from '../core/threshold.js';
import type { CalibrateMessage } from '../schemas.js';
import type { ObjectStore } from '../storage/object-store.js';
import { readDatasetManifest } from './datasets.js';
import { detectorKeys, detectorPrefix } from '../storage/keys.js';

/**
 * Everything about a calibrate request that can be checked before a job is enqueued, so the caller gets a 400/404 now
 * instead of a failed job later: the detector and the dataset exist; inline labels are one 0/1 per sample with both
 * classes present (the rule the labelled threshold applies, `validateLabels`); a label file exists; a label-free
 * holdout has enough samples for targetFpr (`checkHoldoutSize`).
 */
export async function checkCalibrateRequest(store: ObjectStore, msg: CalibrateMessage): Promise<void> {
  if (!(await store.head(detectorKeys(detectorPrefix(msg.detector)).current))) throw new NotFoundError('detector', `no detector ${msg.detector}; fit it first`);
  const n = (await readDatasetManifest(store, msg.dataset)).shape[0]!;
  if (msg.targetFpr !== undefined) checkHoldoutSize(n, msg.targetFpr, 'dataset');
  if (msg.oodLabels) validateLabels(msg.oodLabels, n, 'oodLabels');
  if (msg.oodLabelsKey && !(await store.head(msg.oodLabelsKey))) throw new NotFoundError('oodLabelsKey', `no object ${msg.oodLabelsKey}`);
}
