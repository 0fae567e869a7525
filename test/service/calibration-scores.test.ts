/**
 * The calibration scores a detector stores are the exact scores its threshold was chosen from, so a sample's conformal
 * p-value and its flag agree (flagged ⟺ p ≤ target), and a stored KS reference equals the same data given explicitly.
 * They used to be stored as float32 while the threshold and new scores were float64: a sample scored just above its
 * float32 rounding got p ≤ α while not flagged, and KS of the holdout against its own stored scores gave D > 0.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { DetectorBundle } from '../../src/core/bundle.js';
import type { DecodedArray } from '../../src/core/tensor.js';
import { loadData } from '../../src/io/load.js';
import { calibrateLabelFree, driftCheck, fitDetector, predictData } from '../../src/service/detector-service.js';
import { closeExtractors } from '../../src/service/extractor-cache.js';
import { REPO, SEED } from '../helpers/paths.js';

const model = new Uint8Array(readFileSync(join(REPO, 'models/lenet5.onnx')));
const rows = (a: DecodedArray, from: number, to: number): DecodedArray => {
  const per = a.data.length / a.shape[0]!;
  return { ...a, data: a.data.slice(from * per, to * per), shape: [to - from, ...a.shape.slice(1)] };
};

describe('stored calibration scores are the scores the threshold was chosen from (seed MNIST, layer 9)', () => {
  let train: DecodedArray;
  let holdout: DecodedArray;
  const fitted: DetectorBundle[] = [];
  before(async () => {
    const all = await loadData(join(SEED, 'concept_train_lenet.npy'));
    train = rows(all, 0, 800);
    holdout = rows(all, 800, 1000);
    for (const seed of [0, 1, 2]) {
      fitted.push(await fitDetector({ model, modelKey: 'model.onnx', data: train, layer: '9', detector: { kind: 'feature-cluster', nCluster: 10, seed } }));
    }
  });
  after(closeExtractors);

  for (const targetFpr of [0.05, 0.1, 0.2]) {
    it(`target ${targetFpr}: every holdout sample is flagged exactly when its conformal p-value is ≤ ${targetFpr}`, async () => {
      for (const fit of fitted) {
        const { bundle } = await calibrateLabelFree(fit, model, { idHoldout: holdout, targetFpr });
        assert.equal(bundle.calibrationScores!.length, 200);
        const r = await predictData(bundle, model, holdout);
        const disagree = r.result.flatMap((flag, i) => ((flag === 1) !== (r.pValues![i]! <= targetFpr) ? [i] : []));
        assert.deepEqual(disagree, [], `samples whose flag and p-value disagree (threshold ${r.threshold})`);
      }
    });
  }

  it('KS of the holdout against its stored scores is D = 0, the same as against the holdout given explicitly', async () => {
    const { bundle } = await calibrateLabelFree(fitted[0]!, model, { idHoldout: holdout, targetFpr: 0.1 });
    const stored = await driftCheck(bundle, model, { test: 'ks', data: holdout });
    const explicit = await driftCheck(bundle, model, { test: 'ks', data: holdout, reference: holdout });
    assert.equal(stored.statistic, 0);
    assert.deepEqual(stored, explicit);
  });
});
