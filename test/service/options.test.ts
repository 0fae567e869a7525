/**
 * The public service calls refuse an option they do not know, naming it, before any work: TypeScript stops such a
 * call at compile time, but a JavaScript caller's misspelt or outdated option (`batchsize`, or `offThread`, which
 * `fitter: fitOffThread` replaced) used to be ignored without a word (the fit then ran on the event loop).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { DetectorBundle } from '../../src/core/bundle.js';
import { InputError } from '../../src/core/errors.js';
import type { DecodedArray } from '../../src/core/tensor.js';
import { loadData } from '../../src/io/load.js';
import { calibrateDetector, calibrateLabelFree, driftCheck, fitDetector, predictData, scoreData } from '../../src/service/detector-service.js';
import { closeExtractors } from '../../src/service/extractor-cache.js';
import { REPO, SEED } from '../helpers/paths.js';

const model = new Uint8Array(readFileSync(join(REPO, 'models/lenet5.onnx')));

/** An InputError on `field` whose detail names the call and lists `known` among what it takes. */
const unknownOption = (field: string, call: string, known: string) => (e: unknown) =>
  e instanceof InputError && e.field === field && e.detail.startsWith(`is not an option of ${call} (it takes `) && e.detail.includes(known);

describe('unknown options are refused by name (seed MNIST, LeNet5)', () => {
  let data: DecodedArray;
  let bundle: DetectorBundle;
  before(async () => {
    data = await loadData(join(SEED, 'concept_test_lenet1.npy'));
    const fitted = await fitDetector({ model, modelKey: 'model.onnx', data, layer: 'output', nCluster: 5, seed: 0 });
    bundle = (await calibrateLabelFree(fitted, model, { idHoldout: data, targetFpr: 0.1 })).bundle;
  });
  after(closeExtractors);

  it('fitDetector: offThread (with what replaced it) and a misspelt option', async () => {
    await assert.rejects(fitDetector({ model, modelKey: 'model.onnx', data, layer: 'output', offThread: true } as never), (e: unknown) => unknownOption('offThread', 'fitDetector', 'fitter')(e) && /pass fitter: fitOffThread/.test((e as InputError).detail));
    await assert.rejects(fitDetector({ model, modelKey: 'model.onnx', data, layer: 'output', batchsize: 32 } as never), unknownOption('batchsize', 'fitDetector', 'batchSize'));
  });

  it('calibrateDetector, calibrateLabelFree, predictData, scoreData and driftCheck', async () => {
    const labels = Array.from({ length: data.shape[0]! }, (_, i) => (i < 50 ? 0 : 1));
    await assert.rejects(calibrateDetector(bundle, model, { data, oodLabels: labels, threshold: 0.5 } as never), unknownOption('threshold', 'calibrateDetector', 'oodLabels'));
    await assert.rejects(calibrateLabelFree(bundle, model, { idHoldout: data, targetFPR: 0.05 } as never), unknownOption('targetFPR', 'calibrateLabelFree', 'targetFpr'));
    await assert.rejects(predictData(bundle, model, data, { treshold: 0.5 } as never), unknownOption('treshold', 'predictData', 'threshold'));
    // A threshold that is not a number is refused, not replaced by the calibrated one (null used to be).
    for (const bad of [null, '0.5', Number.NaN, Infinity]) {
      await assert.rejects(predictData(bundle, model, data, { threshold: bad } as never), (e: unknown) => e instanceof InputError && e.field === 'threshold' && /must be a finite number/.test(e.message), String(bad));
    }
    await assert.rejects(scoreData(bundle, model, data, { threshold: 0.5 } as never), unknownOption('threshold', 'scoreData', 'batchSize'));
    await assert.rejects(driftCheck(bundle, model, { test: 'ks', data, level: 0.01 } as never), unknownOption('level', 'driftCheck', 'alpha'));
    // Options of the mmd test alone are refused by the others, which used to ignore them (the CLI refuses them too).
    for (const test of ['ks', 'binomial'] as const) {
      for (const extra of [{ permutations: 7 }, { seed: 3 }, { maxReference: 10 }]) {
        const k = Object.keys(extra)[0]!;
        await assert.rejects(driftCheck(bundle, model, { test, data, ...extra }), (e: unknown) => e instanceof InputError && e.field === k && new RegExp(`does not apply to the ${test} test`).test(e.message), `${test} ${k}`);
      }
    }
  });

  it('fitDetector refuses what a detector spec would silently leave unused: shorthand fields beside it, a misspelt parameter, a layer for an ensemble', async () => {
    const base = { model, modelKey: 'model.onnx', data, layer: '9' };
    for (const extra of [{ nCluster: 10 }, { score: 'euclidean' as const }, { seed: 3 }]) {
      const k = Object.keys(extra)[0]!;
      await assert.rejects(fitDetector({ ...base, detector: { kind: 'knn', k: 5 }, ...extra }), (e: unknown) => e instanceof InputError && e.field === k && /does not apply when detector is given/.test(e.detail), k);
    }
    await assert.rejects(fitDetector({ ...base, detector: { kind: 'knn', K: 5 } as never }), (e: unknown) => e instanceof InputError && e.field === 'detector.K' && /not a parameter of knn \(it takes k, /.test(e.detail));
    await assert.rejects(fitDetector({ ...base, detector: { kind: 'msp', temperature: 2 } as never }), (e: unknown) => e instanceof InputError && e.field === 'detector.temperature');
    await assert.rejects(fitDetector({ ...base, detector: { kind: 'ensemble', members: [{ layer: 'output', detector: { kind: 'knn', K: 1 } as never }] } }), (e: unknown) => e instanceof InputError && e.field === 'detector.members[0].detector.K');
    await assert.rejects(fitDetector({ ...base, detector: { kind: 'ensemble', members: [{ layer: 'output', detector: { kind: 'energy' } }] } }), (e: unknown) => e instanceof InputError && e.field === 'layer' && /does not apply to an ensemble/.test(e.detail));
  });

  it('driftCheck refuses an unknown or missing test instead of running mmd', async () => {
    for (const test of ['kss', undefined]) {
      await assert.rejects(driftCheck(bundle, model, { test, data } as never), (e: unknown) => e instanceof InputError && e.field === 'test' && /must be one of binomial, ks, mmd/.test(e.detail), String(test));
    }
  });

  it('the same calls with known options still run (runtime options pass through to extraction)', async () => {
    const p = await predictData(bundle, model, data, { batchSize: 7, threshold: bundle.calibration!.threshold });
    assert.equal(p.result.length, data.shape[0]);
    const r = await driftCheck(bundle, model, { test: 'ks', data, reference: data, alpha: 0.05, batchSize: 7 });
    assert.equal(r.statistic, 0, 'KS of a window against itself');
  });
});
