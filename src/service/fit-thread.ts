/**
 * Worker-thread entry: fits one detector on features sent by `fitOffThread` (src/service/fit-runner.ts) and sends back
 * its plain state. Only pure core code runs here.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createDetector, type DetectorSpec } from '../core/detectors.js';
import { isImagedriftError } from '../core/errors.js';
import type { FitContext } from '../core/detector.js';
import type { Matrix } from '../core/tensor.js';

const { spec, features, ctx } = workerData as { spec: DetectorSpec; features: Matrix; ctx: FitContext };
try {
  const f = createDetector(spec).fit(features, ctx);
  const arrays = f.arrays();
  parentPort!.postMessage({ ok: true, kind: f.kind, params: f.params, dim: f.dim, nTrain: f.nTrain, stats: { ...f.stats }, arrays });
} catch (e) {
  parentPort!.postMessage({
    ok: false,
    error: isImagedriftError(e)
      ? { code: e.code, field: e.field, detail: e.detail }
      : e instanceof Error
        ? { name: e.name, message: e.message, ...(e.stack ? { stack: e.stack } : {}) }
        : { name: 'Error', message: String(e) },
  });
}
