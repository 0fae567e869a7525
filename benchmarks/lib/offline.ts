/**
 * `serverless offline` serving the functions over loopback HTTP against a service fixture (s3rver + Redis), plus a
 * calibrated seed detector in the fixture's tenant: what the service benchmark and the load run (`npm run load`) hit.
 */
import { putDataset, putModel } from '../../src/service/datasets.js';
import { TEST_API_KEY } from '../../test/helpers/http-event.js';
import { startServerlessOffline, type ServerlessOffline } from '../../test/helpers/offline.js';
import type { ServiceFixture } from '../../test/helpers/service.js';
import { workerEnv } from '../../test/helpers/workers.js';
import { PATHS, readBytes } from './data.js';

/** Headers of an authenticated JSON request as the fixture's tenant. */
export const API_HEADERS: Readonly<Record<string, string>> = Object.freeze({ 'content-type': 'application/json', 'x-api-key': TEST_API_KEY });

/** Stores the LeNet5 model and the seed train/eval sets, fits `det` (output, mindarmour, k=10) and calibrates it. */
export async function seedDetector(fx: ServiceFixture, model: Uint8Array, evalLabels: ArrayLike<number>): Promise<void> {
  const store = fx.store;
  await putModel(store, { id: 'lenet5', bytes: model });
  await putDataset(store, { id: 'train', name: 'concept_train_lenet.npy', bytes: readBytes(PATHS.seedTrain) });
  await putDataset(store, { id: 'eval', name: 'concept_test_lenet1.npy', bytes: readBytes(PATHS.seedEval) });
  // As the worker runs them, as the fixture's tenant (so in fx.store).
  await fx.runJob('bench-fit', 'fit', { detector: 'det', model: 'lenet5', dataset: 'train', layer: 'output', nCluster: 10, score: 'mindarmour', seed: 0 });
  await fx.runJob('bench-cal', 'calibrate', { detector: 'det', dataset: 'eval', oodLabels: Array.from(evalLabels), grid: 0.01 });
}

export type Offline = ServerlessOffline;

/** The functions against the fixture's bucket, Redis and keyring (test/helpers/offline.ts starts them, stage local). */
export function startOffline(fx: ServiceFixture, extraEnv: Record<string, string> = {}): Promise<Offline> {
  return startServerlessOffline({ ...workerEnv(fx.config), LOG_LEVEL: 'warn', ...extraEnv });
}
