import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bytesToArray, fromStored, toStored } from '../../src/core/bundle.js';
import { InputError } from '../../src/core/errors.js';
import { FeatureClusterDetector } from '../../src/core/feature-cluster.js';
import type { FittedDetector } from '../../src/core/detector.js';
import { KnnDetector } from '../../src/core/knn.js';
import { LIBRARY_VERSION } from '../../src/version.js';
import { bundleOf } from '../helpers/bundles.js';

const base = bundleOf;

describe('toStored', () => {
  it('records a detector matrix as [rows, dim] in the manifest', () => {
    const data = Float32Array.from({ length: 40 * 3 }, (_, i) => ((i * 7919) % 13) / 13 + (i % 3));
    const fitted = new FeatureClusterDetector({ nCluster: 3, score: 'shortfall', seed: 1 }).fit({ data, rows: 40, cols: 3 });
    // 3 centres × 3 features = 9 values → shape [3, 3]
    assert.deepEqual(toStored(base(fitted)).manifest.arrays.centres!.shape, [3, 3]);
  });

  it('refuses a detector array named like one the bundle owns', () => {
    const fake: FittedDetector = { kind: 'knn', params: {}, dim: 1, nTrain: 1, stats: {}, arrays: () => ({ calibrationScores: new Float32Array(1) }), score: () => new Float64Array(0) } as unknown as FittedDetector;
    assert.throws(() => toStored(base(fake)), (e: unknown) => e instanceof InputError && e.field === 'arrays.calibrationScores');
  });
});

describe('bytesToArray', () => {
  it('refuses a byte length that is not a whole number of elements', () => {
    assert.throws(() => bytesToArray(new Uint8Array(5), 'x.bin'), (e: unknown) => e instanceof InputError && e.field === 'x.bin' && /not a multiple of 4/.test(e.message));
    assert.throws(() => bytesToArray(new Uint8Array(12), 'y.bin', 'float64'), (e: unknown) => e instanceof InputError && /not a multiple of 8/.test(e.message));
  });
});

describe('fromStored finiteness check', () => {
  // Guards the load check against non-finite stored values: Infinity (not only NaN) must be refused.
  it('refuses a knn bank holding Infinity, naming the array', () => {
    const data = Float32Array.from({ length: 10 * 2 }, (_, i) => i);
    const fitted = new KnnDetector({ k: 1, metric: 'l2' }).fit({ data, rows: 10, cols: 2 });
    const stored = toStored(base(fitted));
    const bank = Float32Array.from(stored.arrays.get('bank.bin')!);
    bank[5] = Infinity;
    const arrays = new Map(stored.arrays);
    arrays.set('bank.bin', bank);
    assert.throws(() => fromStored(stored.manifest, arrays, LIBRARY_VERSION), (e: unknown) => e instanceof InputError && e.field === 'arrays.bank');
    // sanity: the untouched arrays load
    assert.doesNotThrow(() => fromStored(stored.manifest, stored.arrays, LIBRARY_VERSION));
  });
});
