/**
 * The soak's functions phase (benchmarks/soak.ts runs it with `node --expose-gc --import tsx`): a warm predict function
 * in one process, called in-process through its handler as test/handlers do (real s3rver, the machine's Redis), over
 * more detectors and models than its caches keep (8 each), so detectors, models and ORT sessions are evicted and
 * loaded again all the time. Every `--every` calls it prints a sample (soak-probe.mjs: fds, threads, heap after a
 * forced GC, RSS, handles, ORT sessions, cached detectors) as one JSON line on stdout.
 *
 *   node --expose-gc --import tsx benchmarks/children/soak-functions.ts [--calls 3000] [--detectors 12] [--every 250] [--seed 1]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { handler as predict } from '../../handlers/predict.js';
import { mulberry32 } from '../../src/core/random.js';
import { decodeNpy, encodeNpy } from '../../src/io/npy.js';
import { putDataset, putModel } from '../../src/service/datasets.js';
import { httpEvent, parse } from '../../test/helpers/http-event.js';
import { modelVariant } from '../../test/helpers/model-variants.js';
import { startServiceFixture } from '../../test/helpers/service.js';
import { PATHS, REPO } from '../lib/data.js';
// @ts-expect-error: a plain .mjs module without types (also preloaded into the worker by the soak).
import { sample } from './soak-probe.mjs';

const { values } = parseArgs({ options: { calls: { type: 'string', default: '3000' }, detectors: { type: 'string', default: '12' }, every: { type: 'string', default: '250' }, seed: { type: 'string', default: '1' } } });
const calls = Number(values.calls);
const nDet = Number(values.detectors);
const every = Number(values.every);
const emit = (o: object): void => void process.stdout.write(`${JSON.stringify(o)}\n`);

const fx = await startServiceFixture();
try {
  const lenet = new Uint8Array(readFileSync(`${REPO}models/lenet5.onnx`));
  await putDataset(fx.store, { id: 'train', name: 'train.npy', bytes: new Uint8Array(readFileSync(PATHS.seedTrain)) });
  await putDataset(fx.store, { id: 'eval', name: 'eval.npy', bytes: new Uint8Array(readFileSync(PATHS.seedEval)) });
  const oodLabels = Array.from({ length: 100 }, (_, i) => (i < 50 ? 0 : 1));
  // Detector i: its own model file (so the model cache and the ORT session cache see nDet distinct models), layer
  // `output` or `9` in turn.
  for (let i = 0; i < nDet; i++) {
    await putModel(fx.store, { id: `m${i}`, bytes: modelVariant(lenet, i) });
    await fx.runJob(`fit-${i}`, 'fit', { detector: `d${i}`, model: `m${i}`, dataset: 'train', layer: i % 2 ? '9' : 'output', nCluster: 10, seed: 0 });
    await fx.runJob(`cal-${i}`, 'calibrate', { detector: `d${i}`, dataset: 'eval', oodLabels });
  }
  // 1–4 seed test images per call, as a base64 .npy (float32 [n,1,32,32]).
  const test = decodeNpy(new Uint8Array(readFileSync(PATHS.seedTest)));
  const rnd = mulberry32(Number(values.seed));
  const bodies = Array.from({ length: 16 }, (_, k) => {
    const n = 1 + (k % 4);
    const from = (k * 23) % (test.shape[0]! - n);
    return [Buffer.from(encodeNpy(test.data.slice(from * 1024, (from + n) * 1024), [n, 1, 32, 32], 'float32')).toString('base64')];
  });
  emit({ setup: 'done', detectors: nDet });
  let non200 = 0;
  let firstError: unknown;
  emit({ calls: 0, ...(await sample()) });
  for (let c = 1; c <= calls; c++) {
    const id = `d${Math.floor(rnd() * nDet)}`;
    const images = bodies[Math.floor(rnd() * bodies.length)]!;
    const r = parse(await predict(httpEvent({ path: `/detectors/${id}/predict`, route: '/detectors/{id}/predict', pathParameters: { id }, json: { images } })));
    if (r.status !== 200) {
      non200++;
      firstError ??= { status: r.status, body: r.body };
    }
    if (c % every === 0 || c === calls) emit({ calls: c, non200, ...(await sample()) });
  }
  emit({ done: true, calls, non200, ...(firstError ? { firstError } : {}) });
} finally {
  await fx.stop();
}
