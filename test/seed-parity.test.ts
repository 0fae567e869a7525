/**
 * Acceptance on the tutorial's own files (../shared/seed-example): parity with MindArmour, the recommended
 * configuration, determinism, and the compatibility class.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { OodDetectorFeatureCluster } from '../src/compat/mindarmour.js';
import { RECOMMENDED_ENSEMBLE } from '../src/core/detectors.js';
import { InputError } from '../src/core/errors.js';
import { DEFAULT_SCORE_MODE } from '../src/core/feature-cluster.js';
import { accuracy } from '../src/core/metrics.js';
import type { DecodedArray } from '../src/core/tensor.js';
import { RECOMMENDED_LAYER } from '../src/core/detectors.js';
import { decodeNpy } from '../src/io/npy.js';
import { calibrateDetector, fitDetector, predictData } from '../src/service/detector-service.js';
import { closeExtractors } from '../src/service/extractor-cache.js';
import { REPO, SEED } from './helpers/paths.js';

const evalLabels = Array.from({ length: 100 }, (_, i) => (i < 50 ? 0 : 1));
const truth = Array.from({ length: 400 }, (_, i) => (i < 200 ? 0 : 1));
let model: Uint8Array;
let train: DecodedArray;
let ev: DecodedArray;
let test: DecodedArray;

before(() => {
  model = new Uint8Array(readFileSync(join(REPO, 'models/lenet5.onnx')));
  const npy = (f: string) => decodeNpy(new Uint8Array(readFileSync(join(SEED, f))));
  [train, ev, test] = [npy('concept_train_lenet.npy'), npy('concept_test_lenet1.npy'), npy('concept_test_lenet2.npy')];
});
after(closeExtractors);

async function run(layer: string, score: 'mindarmour' | typeof DEFAULT_SCORE_MODE, seed: number, grid?: number) {
  const fitted = await fitDetector({ model, modelKey: 'model.onnx', data: train, layer, nCluster: 10, score, seed });
  const { bundle } = await calibrateDetector(fitted, model, { data: ev, oodLabels: evalLabels, ...(grid ? { grid } : {}) });
  const pred = await predictData(bundle, model, test);
  return { fitted, bundle, pred, acc: accuracy(pred.result, truth) };
}

describe('seed example', () => {
  it('parity: layer output, nCluster 10, mindarmour, grid 0.01 → test accuracy within 0.872–0.912', async () => {
    const r = await run('output', 'mindarmour', 0, 0.01);
    assert.ok(r.acc >= 0.872 && r.acc <= 0.912, `test accuracy ${r.acc}`);
    assert.equal(r.pred.result.length, 400);
    assert.ok(Number.isInteger(Math.round(r.pred.threshold * 100)) && Math.abs(r.pred.threshold * 100 - Math.round(r.pred.threshold * 100)) < 1e-9, 'grid threshold is a multiple of 0.01');
  });

  it(`the recommended configuration (layer ${RECOMMENDED_LAYER}, ${DEFAULT_SCORE_MODE}, exact threshold) reaches ≥ 0.98 and beats parity mode's best layer (0.972)`, async () => {
    const accs: number[] = [];
    for (const seed of [0, 1, 2]) accs.push((await run(RECOMMENDED_LAYER, DEFAULT_SCORE_MODE, seed)).acc);
    const mean = accs.reduce((a, b) => a + b) / accs.length;
    assert.ok(mean >= 0.98, `mean test accuracy ${mean} (${accs.join(', ')})`);
  });

  it('the best configuration (ensemble energy@output + knn(k=1, l2)@3, exact threshold from lenet1) reaches ≥ 0.99 for each seed', async () => {
    const accs: number[] = [];
    for (const seed of [0, 1, 2]) {
      const fitted = await fitDetector({ model, modelKey: 'model.onnx', data: train, detector: { ...RECOMMENDED_ENSEMBLE, seed } });
      const { bundle } = await calibrateDetector(fitted, model, { data: ev, oodLabels: evalLabels });
      accs.push(accuracy((await predictData(bundle, model, test)).result, truth));
    }
    assert.ok(accs.every((a) => a >= 0.99), `test accuracy per seed: ${accs.join(', ')}`);
  });

  it('is deterministic: same inputs and seed give identical centres, threshold and result', async () => {
    const a = await run('9', 'mindarmour', 3, 0.01);
    const b = await run('9', 'mindarmour', 3, 0.01);
    assert.deepEqual(a.fitted.fitted.arrays(), b.fitted.fitted.arrays());
    assert.equal(a.pred.threshold, b.pred.threshold);
    assert.deepEqual(a.pred.result, b.pred.result);
    assert.deepEqual(a.pred.scores, b.pred.scores);
  });

  it('OodDetectorFeatureCluster behaves like the tutorial and fits once', async () => {
    const det = new OodDetectorFeatureCluster(model, train, 10, 'output[:Tensor]');
    const t = await det.getOptimalThreshold(evalLabels, ev);
    const r1 = await det.oodPredict(t, test);
    const r2 = await det.oodPredict(t, test);
    assert.deepEqual(r1, r2, 'no refit between calls');
    const direct = await run('output', 'mindarmour', 0, 0.01);
    assert.equal(t, direct.pred.threshold);
    assert.deepEqual(r1, direct.pred.result);
    const acc = accuracy(r1, truth);
    assert.ok(acc >= 0.872 && acc <= 0.912, `accuracy ${acc}`);
  });

  it('OodDetectorFeatureCluster copies the training data and checks nCluster and layer at construction', async () => {
    const data = Float32Array.from(train.data);
    const mine = { ...train, data };
    const det = new OodDetectorFeatureCluster(model, mine, 10, 'output[:Tensor]');
    data.fill(0); // the caller reuses its buffer before the first call: the fit must not see it
    const t = await det.getOptimalThreshold(evalLabels, ev);
    assert.equal(t, (await run('output', 'mindarmour', 0, 0.01)).pred.threshold);
    assert.throws(() => new OodDetectorFeatureCluster(model, train, 1001, 'output'), (e: unknown) => e instanceof InputError && e.field === 'nCluster');
    assert.throws(() => new OodDetectorFeatureCluster(model, train, 10, 'fc99'), (e: unknown) => e instanceof InputError && e.field === 'layer');
  });

  it('a tensor whose data length does not match its shape is refused, never truncated or read past', async () => {
    const det = new OodDetectorFeatureCluster(model, train, 10, 'output');
    for (const shape of [[50, 1, 32, 32], [200, 1, 32, 32], [100, 1, 32, 31]]) {
      await assert.rejects(det.oodPredict(0.5, { ...ev, shape }), (e: unknown) => e instanceof InputError && e.field === 'data' && /holds 102400 values but its shape/.test(e.message), JSON.stringify(shape));
    }
  });

  it('an ensemble over several layers fits through the service, survives save/load, and scores identically', async () => {
    const { DetectorRepository } = await import('../src/storage/detector-repository.js');
    const { LocalDirStore } = await import('../src/storage/local-dir-store.js');
    const { mkdtemp, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const b = await fitDetector({
      model,
      modelKey: 'model.onnx',
      data: train,
      detector: { kind: 'ensemble', members: [{ layer: 'output', detector: { kind: 'energy' } }, { layer: '9', detector: { kind: 'feature-cluster', nCluster: 10, score: 'shortfall' } }] },
    });
    assert.equal(b.model.layer, 'output+9');
    assert.equal(b.fitted.dim, 10 + 120);
    const dir = await mkdtemp(join(tmpdir(), 'imagedrift-ens-'));
    try {
      const repo = new DetectorRepository(new LocalDirStore(dir));
      await repo.save('', b);
      const loaded = (await repo.load('')).bundle;
      const direct = await predictData(b, model, test, { threshold: 0 });
      const again = await predictData(loaded, model, test, { threshold: 0 });
      assert.deepEqual(again.scores, direct.scores);
      const { bundle } = await calibrateDetector(loaded, model, { data: ev, oodLabels: evalLabels });
      const acc = accuracy((await predictData(bundle, model, test)).result, truth);
      assert.ok(acc > 0.95, `ensemble test accuracy ${acc}`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
