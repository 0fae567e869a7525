/**
 * Worker-thread entry, started by src/service/fit-runner.ts: fits one detector on the features sent and sends back
 * its plain state. Only pure core code runs here.
 */
import { workerData } from 'node:worker_threads';
import { createDetector, type DetectorSpec } from '../core/detectors.js';
import type { FitContext } from '../core/detector.js';
import type { Matrix } from '../core/tensor.js';
import { replyWith } from './thread-reply.js';

const { spec, features, ctx } = workerData as { spec: DetectorSpec; features: Matrix; ctx: FitContext };
replyWith(() => {
  const f = createDetector(spec).fit(features, ctx);
  return { kind: f.kind, params: f.params, dim: f.dim, nTrain: f.nTrain, stats: { ...f.stats }, arrays: f.arrays() };
});
