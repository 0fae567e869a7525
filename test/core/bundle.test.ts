import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { arrayToBytes, bytesToArray, fromStored, parseManifest, toStored, type DetectorBundle } from '../../src/core/bundle.js';
import { InputError } from '../../src/core/errors.js';
import { FeatureClusterDetector } from '../../src/core/feature-cluster.js';
import { LIBRARY_VERSION } from '../../src/version.js';
import { REPO } from '../helpers/paths.js';
import { bundleOf } from '../helpers/bundles.js';

function bundle(score: 'standardized' | 'shortfall'): DetectorBundle {
  const data = Float32Array.from({ length: 40 * 3 }, (_, i) => ((i * 7919) % 13) / 13 + (i % 3));
  return bundleOf(new FeatureClusterDetector({ nCluster: 3, score, seed: 1 }).fit({ data, rows: 40, cols: 3 }));
}

describe('saved detector format', () => {
  it('LIBRARY_VERSION equals package.json', () => {
    assert.equal(LIBRARY_VERSION, JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')).version);
  });

  it('round-trips manifest + arrays through JSON, for modes with extra arrays', () => {
    for (const score of ['standardized', 'shortfall'] as const) {
      const b = bundle(score);
      const { manifest, arrays } = toStored(b);
      const back = fromStored(parseManifest(JSON.parse(JSON.stringify(manifest))), arrays, LIBRARY_VERSION);
      assert.deepEqual(back.warnings, []);
      assert.deepEqual(back.bundle.fitted.arrays(), b.fitted.arrays());
      assert.deepEqual(back.bundle.fitted.params, b.fitted.params);
      assert.deepEqual(back.bundle.fitted.stats, b.fitted.stats);
      assert.deepEqual(back.bundle.preprocess, b.preprocess);
    }
  });

  it('warns (does not fail) on a library version mismatch', () => {
    const { manifest, arrays } = toStored(bundle('shortfall'));
    const r = fromStored({ ...manifest, libraryVersion: '0.0.1' }, arrays, LIBRARY_VERSION);
    assert.match(r.warnings[0]!, /saved by imagedrift 0\.0\.1/);
  });

  it('rejects a malformed manifest naming the path, and arrays of the wrong size', () => {
    const { manifest, arrays } = toStored(bundle('shortfall'));
    const bad = JSON.parse(JSON.stringify(manifest));
    bad.detector.params.nCluster = 500;
    assert.throws(() => fromStored(parseManifest(bad), arrays, LIBRARY_VERSION), (e: unknown) => e instanceof InputError && e.field === 'manifest.detector.params.nCluster');
    bad.detector.kind = 'isolation-forest';
    assert.throws(() => parseManifest(bad), (e: unknown) => e instanceof InputError && e.field === 'manifest.detector.kind');
    const short = new Map(arrays);
    short.set('centres.bin', new Float32Array(2));
    assert.throws(() => fromStored(manifest, short, LIBRARY_VERSION), (e: unknown) => e instanceof InputError && e.field === 'arrays.centres');
  });

  it('refuses a newer format version by name, whatever else changed in it, and says which imagedrift wrote it', () => {
    const { manifest } = toStored(bundle('shortfall'));
    const newer = { ...JSON.parse(JSON.stringify(manifest)), formatVersion: 3, libraryVersion: '0.4.0' };
    newer.detector = { kind: 'vit-knn', params: {}, dim: 3 }; // a future shape: the version is what is wrong, not this
    assert.throws(
      () => parseManifest(newer),
      (e: unknown) => e instanceof InputError && e.field === 'manifest.formatVersion' && /is 3, written by imagedrift 0\.4\.0; this imagedrift reads detector formats 1 to 2: upgrade it/.test(e.message),
    );
    assert.throws(() => parseManifest({ ...newer, formatVersion: '2' }), (e: unknown) => e instanceof InputError && e.field === 'manifest.formatVersion' && /must be 1 or 2 \(found "2"\)/.test(e.message));
  });

  it('loads a first-release format-1 manifest (detector.inertia, no stats) as the detector it saved', () => {
    const b = bundle('standardized');
    const { manifest, arrays } = toStored(b);
    const first = JSON.parse(JSON.stringify({ ...manifest, formatVersion: 1 }));
    first.detector.inertia = first.detector.stats.inertia;
    delete first.detector.stats;
    const back = fromStored(parseManifest(first), arrays, LIBRARY_VERSION).bundle;
    assert.deepEqual(back.fitted.stats, b.fitted.stats);
    assert.deepEqual(back.fitted.arrays(), b.fitted.arrays());
    const x = { data: Float32Array.from({ length: 4 * 3 }, (_, i) => i / 5), rows: 4, cols: 3 };
    assert.deepEqual(back.fitted.score(x), b.fitted.score(x));
    // Only format 1 had that shape.
    assert.throws(() => parseManifest({ ...first, formatVersion: 2 }), (e: unknown) => e instanceof InputError && e.field === 'manifest.detector.stats');
  });

  it('round-trips the calibration reference (scores and feature rows) and checks the rows are the detector width', () => {
    const b = bundle('shortfall');
    const ref = { data: Float32Array.from({ length: 5 * 3 }, (_, i) => i / 7), rows: 5, cols: 3 };
    // Scores are kept as float64: exactly the values the threshold was compared with (0.1 is not a float32).
    const withRef: DetectorBundle = { ...b, calibrationScores: Float64Array.of(0.1, 0.2, 0.3), referenceFeatures: ref };
    const { manifest, arrays } = toStored(withRef);
    assert.deepEqual(manifest.arrays.referenceFeatures, { file: 'referenceFeatures.bin', shape: [5, 3], dtype: 'float32' });
    assert.deepEqual(manifest.arrays.calibrationScores, { file: 'calibrationScores.bin', shape: [3], dtype: 'float64' });
    assert.deepEqual(bytesToArray(arrayToBytes(arrays.get('calibrationScores.bin')!), 'x', 'float64'), withRef.calibrationScores);
    const back = fromStored(parseManifest(JSON.parse(JSON.stringify(manifest))), arrays, LIBRARY_VERSION).bundle;
    assert.deepEqual(back.referenceFeatures, ref);
    assert.deepEqual(back.calibrationScores, withRef.calibrationScores);
    // A detector saved before float64 scores (dtype float32) still loads, with the values it stored.
    assert.equal(manifest.formatVersion, 2, 'float64 scores are format 2');
    const old = parseManifest(JSON.parse(JSON.stringify({ ...manifest, formatVersion: 1, arrays: { ...manifest.arrays, calibrationScores: { file: 'calibrationScores.bin', shape: [3], dtype: 'float32' } } })));
    const oldArrays = new Map(arrays).set('calibrationScores.bin', Float32Array.of(0.1, 0.2, 0.3));
    assert.deepEqual(fromStored(old, oldArrays, LIBRARY_VERSION).bundle.calibrationScores, Float64Array.from(Float32Array.of(0.1, 0.2, 0.3)));
    // The dtype the manifest names must be the dtype read.
    assert.throws(() => fromStored(old, arrays, LIBRARY_VERSION), (e: unknown) => e instanceof InputError && /is not float32/.test(e.message));
    // The release before format 2 wrote float64 scores under format 1 (each array names its dtype): they load as stored.
    const between = parseManifest(JSON.parse(JSON.stringify({ ...manifest, formatVersion: 1 })));
    assert.deepEqual(fromStored(between, arrays, LIBRARY_VERSION).bundle.calibrationScores, withRef.calibrationScores);
    // A format this reader does not know is refused on its version.
    assert.throws(() => parseManifest(JSON.parse(JSON.stringify({ ...manifest, formatVersion: 3 }))), (e: unknown) => e instanceof InputError && e.field === 'manifest.formatVersion');
    assert.deepEqual(back.fitted.arrays(), b.fitted.arrays(), 'the bundle arrays do not leak into the detector');
    const bad = JSON.parse(JSON.stringify(manifest));
    bad.arrays.referenceFeatures.shape = [3, 5];
    assert.throws(() => fromStored(parseManifest(bad), arrays, LIBRARY_VERSION), (e: unknown) => e instanceof InputError && e.field === 'arrays.referenceFeatures' && /not \[rows, 3\]/.test(e.message));
  });
});
