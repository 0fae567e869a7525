import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { binomialCountDrift, ksDrift, ksStatistic, minPermutations, mmdDrift } from '../../src/core/drift.js';
import { InputError } from '../../src/core/errors.js';
import { loadData } from '../../src/io/load.js';
import { calibrateDetector, driftCheck, featureDrift, fitDetector, scoreData } from '../../src/service/detector-service.js';
import { closeExtractors } from '../../src/service/extractor-cache.js';
import { REPO, SEED } from '../helpers/paths.js';

const isField = (field: string) => (e: unknown) => e instanceof InputError && e.field === field;

describe('ksStatistic', () => {
  it('is symmetric: D(a, b) = D(b, a)', () => {
    // [1,2,3] vs [2.5,3.5,4.5]: sup |F_a − F_b| = 2/3 (at 2..2.5); swapping the samples must not change it.
    assert.ok(Math.abs(ksStatistic([2.5, 3.5, 4.5], [1, 2, 3]) - 2 / 3) < 1e-15);
    assert.ok(Math.abs(ksStatistic([1, 2, 3], [2.5, 3.5, 4.5]) - 2 / 3) < 1e-15);
  });

  it('moves tied values within one sample together (identical ECDFs give D = 0)', () => {
    // F_a = F_b everywhere: [1,1,1] vs [1]; [0,0,1,1] vs [0,1] (both ECDFs: ½ at 0, 1 at 1).
    assert.equal(ksStatistic([1, 1, 1], [1]), 0);
    assert.equal(ksStatistic([0, 0, 1, 1], [0, 1]), 0);
  });
});

describe('binomialCountDrift', () => {
  it('a p-value equal to alpha is not drift (p < alpha)', () => {
    // n = 1, k = 1, baseline 0.5: P(X ≥ 1) = 0.5 exactly.
    const r = binomialCountDrift(1, 1, 0.5, 0.5);
    assert.equal(r.pValue, 0.5);
    assert.equal(r.isDrift, false);
  });

  it('refuses an empty window', () => {
    assert.throws(() => binomialCountDrift(0, 0, 0.05), isField('data'));
  });
});

describe('mmdDrift', () => {
  it('identical points everywhere (median distance 0) are no drift: statistic 0, p = 1', () => {
    // All pairwise distances are 0, so every permutation's MMD² equals the observed 0: p = (1 + P) / (1 + P) = 1.
    const zeros = (rows: number) => ({ data: new Float32Array(rows * 2), rows, cols: 2 });
    const r = mmdDrift(zeros(4), zeros(3), { permutations: 20 });
    assert.equal(r.statistic, 0);
    assert.equal(r.pValue, 1);
    assert.equal(r.isDrift, false);
  });

  it('rejects fewer than 2 rows and a non-positive or fractional permutation count', () => {
    const m = (rows: number) => ({ data: Float32Array.from({ length: rows * 2 }, (_, i) => i), rows, cols: 2 });
    assert.throws(() => mmdDrift(m(1), m(5)), isField('reference'));
    assert.throws(() => mmdDrift(m(5), m(1)), isField('data'));
    assert.throws(() => mmdDrift(m(5), m(5), { permutations: 0 }), isField('permutations'));
    assert.throws(() => mmdDrift(m(5), m(5), { permutations: 1.5 }), isField('permutations'));
  });
  it('mmdDrift refuses permutations too few to ever reject at alpha (1/(P+1) must be below it), and takes the fewest that can', () => {
    const m = (rows: number, shift: number) => ({ data: Float32Array.from({ length: rows * 2 }, (_, i) => (i % 7) + shift), rows, cols: 2 });
    // 19 permutations at alpha 0.05: the smallest p-value is exactly 0.05, never below it.
    assert.throws(() => mmdDrift(m(20, 0), m(20, 100), { permutations: 19, alpha: 0.05 }), (e: unknown) => isField('permutations')(e) && /must be >= 20 at alpha 0\.05/.test((e as Error).message));
    // Not given: 500, or the floor when it is higher (alpha 0.001: 1000), never a number that cannot reject.
    assert.equal(mmdDrift(m(20, 0), m(20, 100), { alpha: 0.05 }).meta.permutations, 500);
    const strict = mmdDrift(m(20, 0), m(20, 100), { alpha: 0.001 });
    assert.deepEqual([strict.meta.permutations, strict.pValue, strict.isDrift], [1000, 1 / 1001, true]);
    // 20 can: two well-separated samples reach p = 1/21 < 0.05.
    const r = mmdDrift(m(20, 0), m(20, 100), { permutations: 20, alpha: 0.05 });
    assert.equal(r.pValue, 1 / 21);
    assert.equal(r.isDrift, true);
  });
  it('minPermutations is the fewest P with 1/(P+1) < level, in the comparison\'s own floating point', () => {
    for (const [level, want] of [[0.05, 20], [0.01, 100], [0.01 / 3, 300], [0.05 / 3, 60], [0.1, 10], [0.5, 2], [0.02, 50], [0.9, 1]] as const) {
      const p = minPermutations(level);
      assert.equal(p, want, `level ${level}`);
      assert.ok(1 / (1 + p) < level && !(p > 1 && 1 / p < level), `level ${level}: ${p} is the fewest`);
    }
    assert.throws(() => minPermutations(0), isField('alpha'));
  });
});

describe('ksDrift', () => {
  // Guards the empty-sample check: an empty reference or window must be an InputError naming it, not a bogus p-value.
  it('refuses an empty reference or an empty window, naming which', () => {
    assert.throws(() => ksDrift([], [1, 2]), isField('reference'));
    assert.throws(() => ksDrift([1], []), isField('data'));
  });

  // Guards the strict rejection rule: a KS p-value equal to alpha is not drift (p < alpha, not ≤).
  it('a p-value equal to alpha is not drift', () => {
    const ref = [1, 2, 3, 4, 5];
    const data = [3.5, 4.5, 5.5, 6.5];
    const p = ksDrift(ref, data).pValue;
    assert.ok(p > 0 && p < 1, `p ${p}`);
    assert.equal(ksDrift(ref, data, p).isDrift, false);
  });
});

describe('featureDrift', () => {
  // Guards that opts.maxReference caps the MMD reference (the service used to subsample to the default instead).
  it('subsamples the reference to maxReference rows', () => {
    const ref = { data: Float32Array.from({ length: 100 * 2 }, (_, i) => Math.sin(i)), rows: 100, cols: 2 };
    const data = { data: Float32Array.from({ length: 20 * 2 }, (_, i) => Math.cos(i)), rows: 20, cols: 2 };
    const r = featureDrift(ref, data, { alpha: 0.05, maxReference: 10 });
    assert.equal(r.meta.nReference, 10);
    assert.equal(r.meta.n, 20);
  });
});

describe('driftCheck binomial baseline (seed LeNet5)', () => {
  after(closeExtractors);
  // Guards the binomial baseline: the in-distribution flag rate idFlaggedRate, not the overall flaggedRate.
  it('tests the window against calibration.idFlaggedRate', async () => {
    const model = new Uint8Array(readFileSync(join(REPO, 'models/lenet5.onnx')));
    const train = await loadData(join(SEED, 'concept_train_lenet.npy'));
    const test = await loadData(join(SEED, 'concept_test_lenet1.npy'));
    const fitted = await fitDetector({ model, modelKey: 'model.onnx', data: train, layer: 'output', nCluster: 5, seed: 0 });
    const labels = Array.from({ length: 100 }, (_, i) => (i < 50 ? 0 : 1));
    const { bundle } = await calibrateDetector(fitted, model, { data: test, oodLabels: labels });
    const c = bundle.calibration!;
    assert.notEqual(c.flaggedRate, c.idFlaggedRate);
    const r = await driftCheck(bundle, model, { test: 'binomial', data: test });
    assert.equal(r.meta.baselineRate, c.idFlaggedRate);
    // Independent count and tail: k = #scores ≥ threshold, P(X ≥ k) for X ~ Binomial(n, idFlaggedRate), summed term by term.
    const scores = await scoreData(bundle, model, test);
    const n = scores.length;
    const k = scores.filter((s) => s >= c.threshold).length;
    const q = c.idFlaggedRate;
    let tail = 0;
    let term = (1 - q) ** n; // P(X = 0)
    for (let j = 0; j <= n; j++) {
      if (j >= k) tail += term;
      term *= ((n - j) / (j + 1)) * (q / (1 - q));
    }
    assert.equal(r.meta.flagged, k);
    assert.ok(Math.abs(r.pValue - tail) <= 1e-9 * tail, `p ${r.pValue} vs ${tail}`);
  });
});
