import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createDetector, restoreDetector } from '../../src/core/detectors.js';
import { InputError } from '../../src/core/errors.js';
import { fitKMeans, lloyd, meanVariance, validateNCluster } from '../../src/core/kmeans.js';
import { KnnDetector } from '../../src/core/knn.js';
import { EnergyDetector, MspDetector, mspScores, energyScores } from '../../src/core/logit-detectors.js';
import { ledoitWolfShrinkage, MahalanobisDetector } from '../../src/core/mahalanobis.js';
import { mulberry32, subsampleRows } from '../../src/core/random.js';
import { FittedFeatureCluster } from '../../src/core/feature-cluster.js';
import type { Matrix } from '../../src/core/tensor.js';

const isField = (field: string) => (e: unknown) => e instanceof InputError && e.field === field;
const m = (rows: number[][]): Matrix => ({ data: Float32Array.from(rows.flat()), rows: rows.length, cols: rows[0]!.length });

describe('knn', () => {
  it('a zero query under cosine is at distance 1 from every bank row', () => {
    const f = new KnnDetector({ k: 2, metric: 'cosine' }).fit(m([[1, 0], [0, 1], [1, 1]]));
    assert.deepEqual(Array.from(f.score(m([[0, 0]]))), [1]);
  });

  it('k equal to the bank size is allowed; a bank smaller than k is refused on restore; maxBank must be ≥ 1', () => {
    const X = m([[0], [1], [3]]);
    // k = 3 = bank: the 3rd nearest of 0 is 3 (l2)
    assert.deepEqual(Array.from(new KnnDetector({ k: 3, metric: 'l2' }).fit(X).score(m([[0]]))), [3]);
    assert.throws(() => restoreDetector('knn', { k: 4, metric: 'l2', maxBank: 10, seed: 0 }, 1, 3, {}, { bank: Float32Array.from([0, 1, 3]) }), isField('arrays.bank'));
    assert.throws(() => new KnnDetector({ maxBank: 0 }), isField('maxBank'));
  });
});

describe('msp / energy parameters', () => {
  it('temperature must be positive; checkTrainingSize(0) is refused', () => {
    for (const t of [0, -1]) assert.throws(() => new EnergyDetector({ temperature: t }), isField('temperature'), String(t));
    assert.throws(() => new MspDetector().checkTrainingSize(0), isField('features'));
    assert.throws(() => new EnergyDetector().checkTrainingSize(0), isField('features'));
  });
});

describe('mahalanobis', () => {
  it('Ledoit–Wolf is 0 for a single feature (shrinkage target = the covariance itself), never beta/0', () => {
    // p = 1, centred x = [1, −1, 2, −2]: μ = 2.5, δ = (Σx²/n)² − 2μ·μ + μ² = 6.25 − 12.5 + 6.25 = 0.
    // β = (1/(p·n))·(Σx⁴/n − δ_) = ¼·(34/4 − 6.25) = 0.5625, clipped to min(β, δ) = 0 → 0.
    assert.equal(ledoitWolfShrinkage(Float64Array.from([1, -1, 2, -2]), 4, 1), 0);
  });

  it('rejects shrinkage above 1 and fewer than 2 samples', () => {
    assert.throws(() => new MahalanobisDetector({ shrinkage: 1.5 }), isField('shrinkage'));
    assert.throws(() => new MahalanobisDetector().fit(m([[1, 2]]), { classes: Int32Array.from([0]) }), isField('features'));
  });

  it('shrinkage 0 with a dead (constant) coordinate still fits: the diagonal floor keeps Σ positive definite', () => {
    const X = m([[0, 0], [1, 0], [2, 0], [3, 0]]);
    const f = new MahalanobisDetector({ shrinkage: 0 }).fit(X, { classes: Int32Array.from([0, 0, 0, 0]) });
    assert.ok(f.score(X).every(Number.isFinite));
  });

  it('restore refuses a whitening matrix of the wrong size', () => {
    assert.throws(() => restoreDetector('mahalanobis', { shrinkage: 0.1 }, 2, 4, { shrinkage: 0.1 }, { whitenedMeans: new Float32Array(2), whiten: new Float32Array(3) }), isField('arrays'));
  });
});

describe('ensemble standardisation', () => {
  // Two logit layers: a = cols 0..2, b = cols 3..5. msp/energy learn nothing, so member scores are known functions.
  const n = 40;
  const data = Float32Array.from({ length: n * 6 }, (_, i) => Math.sin(i * 1.7) * 3 + (i % 5));
  const X = { data, rows: n, cols: 6 };
  const cols = { a: [0, 3], b: [3, 6] } as const;
  const one = (kind: 'msp' | 'energy', layer: 'a' | 'b') => createDetector({ kind: 'ensemble', members: [{ layer, detector: { kind } }], holdout: 0.25, seed: 3 } as never).fit(X, { columns: cols });

  it('each member is z-scored on the held-out rows: mean 0 and population std 1 there', () => {
    const hold = Array.from(subsampleRows(n, 10, 3)); // round(40 · 0.25) = 10 held-out rows, seed 3
    for (const [kind, layer] of [['msp', 'a'], ['energy', 'b']] as const) {
      const s = one(kind, layer).score(X);
      const h = hold.map((r) => s[r]!);
      const mean = h.reduce((x, y) => x + y, 0) / h.length;
      const variance = h.reduce((x, y) => x + (y - mean) ** 2, 0) / h.length;
      assert.ok(Math.abs(mean) < 1e-5, `${kind} mean ${mean}`);
      assert.ok(Math.abs(variance - 1) < 1e-5, `${kind} variance ${variance}`);
    }
  });

  it('the ensemble score is the sum of the members\' standardised scores', () => {
    const both = createDetector({ kind: 'ensemble', members: [{ layer: 'a', detector: { kind: 'msp' } }, { layer: 'b', detector: { kind: 'energy' } }], holdout: 0.25, seed: 3 } as never).fit(X, { columns: cols });
    const sa = one('msp', 'a').score(X);
    const sb = one('energy', 'b').score(X);
    const s = both.score(X);
    for (let r = 0; r < n; r++) assert.ok(Math.abs(s[r]! - (sa[r]! + sb[r]!)) < 1e-9, `row ${r}`);
    // sanity: the members' raw scores are what they are independently of the ensemble
    assert.ok(mspScores(data.subarray(0, 3), 1, 3)[0]! < 0 && Number.isFinite(energyScores(data.subarray(3, 6), 1, 3)[0]!));
  });

  it('holdout = round(n · share), at least 2, leaving at least 2 rows to fit; share must be < 1', () => {
    // n = 30, share 0.25 → 7.5 → 8 held out, members fitted on 22.
    const Y = { data: data.subarray(0, 30 * 6), rows: 30, cols: 6 };
    const f = createDetector({ kind: 'ensemble', members: [{ layer: 'a', detector: { kind: 'msp' } }], holdout: 0.25, seed: 0 } as never).fit(Y, { columns: cols });
    assert.equal(f.stats['m0.nTrain'], 22);
    // n = 3, share 0.1 → max(2, 0) = 2 held out → 1 row left: too few.
    const Z = { data: data.subarray(0, 3 * 6), rows: 3, cols: 6 };
    assert.throws(() => createDetector({ kind: 'ensemble', members: [{ layer: 'a', detector: { kind: 'msp' } }], holdout: 0.1, seed: 0 } as never).fit(Z, { columns: cols }), isField('features'));
    assert.throws(() => createDetector({ kind: 'ensemble', members: [{ layer: 'a', detector: { kind: 'msp' } }], holdout: 1 } as never), (e: unknown) => e instanceof InputError && /holdout/.test(e.field ?? ''));
  });
});

describe('kmeans', () => {
  it('nCluster bounds are inclusive: 100 clusters and nCluster = n samples are allowed', () => {
    assert.equal(validateNCluster(100, 1000), 100);
    assert.equal(validateNCluster(5, 5), 5);
  });

  it('nInit must be a positive integer, named as such', () => {
    const X = m([[0], [1], [5], [6]]);
    assert.throws(() => fitKMeans(X, { nCluster: 2, seed: 0, nInit: 0, maxIterations: 10, tolerance: 1e-4 }), isField('nInit'));
  });

  it('meanVariance is the mean of the per-feature population variances', () => {
    // rows (0,0), (2,4): feature 0 mean 1 var 1; feature 1 mean 2 var 4 → (1 + 4) / 2 = 2.5.
    assert.equal(meanVariance(m([[0, 0], [2, 4]])), 2.5);
  });

  it('an empty cluster is moved to the point FARTHEST from its centre', () => {
    // points 0, 1, 10; initial centres 0 and 100: all three join centre 0, centre 1 is empty.
    // Distances to their centre: 0, 1, 10 → the farthest, 10, becomes cluster 1 → centres 0.5 and 10 (stable).
    const r = lloyd(m([[0], [1], [10]]), Float32Array.from([0, 100]), 2, 100, 0);
    assert.deepEqual(Array.from(r.centres), [0.5, 10]);
    assert.equal(r.inertia, 0.5); // 0.25 + 0.25 + 0
  });
});

describe('knn l2 rounding and bank sampling', () => {
  // Guards the clamp at 0 before sqrt: |q|² + |b|² − 2q·b can round below 0 for a near-duplicate query → NaN score.
  it('a query one float32 ulp from a bank row scores finite and ≥ 0 (l2, k = 1)', () => {
    const rnd = mulberry32(12345);
    const dim = 256;
    for (let t = 0; t < 200; t++) {
      const row = Float32Array.from({ length: dim }, () => rnd() * 10);
      const q = Float32Array.from(row);
      const bits = new Int32Array(q.buffer);
      bits[Math.floor(rnd() * dim)]! += 1; // +1 ulp on one coordinate (all values ≥ 0)
      const f = createDetector({ kind: 'knn', k: 1, metric: 'l2' } as never).fit({ data: row, rows: 1, cols: dim });
      const s = f.score({ data: q, rows: 1, cols: dim })[0]!;
      assert.ok(Number.isFinite(s) && s >= 0, `trial ${t}: score ${s}`);
    }
  });

  // Guards that the bank subsample uses the configured seed (not a fixed 0).
  it('maxBank subsample follows params.seed', () => {
    const X = { data: Float32Array.from({ length: 100 }, (_, i) => i), rows: 100, cols: 1 };
    const bank = (seed: number) => Array.from(new KnnDetector({ k: 1, metric: 'l2', maxBank: 5, seed }).fit(X).arrays().bank!);
    const b1 = bank(1);
    const b2 = bank(2);
    assert.deepEqual(b1, Array.from(subsampleRows(100, 5, 1))); // row i holds the value i
    assert.deepEqual(b2, Array.from(subsampleRows(100, 5, 2)));
    assert.notDeepEqual(b1, b2);
  });
});

describe('feature-cluster restore validation', () => {
  const params = (score: string) => ({ nCluster: 2, score, seed: 0, nInit: 1, maxIterations: 10 }) as never;
  // Guards the mindarmour zero-mass check: a centre with no mass over its top coordinates must be refused, not divided by.
  it('mindarmour refuses a centre whose top coordinates sum to 0, naming it', () => {
    const state = { kind: 'feature-cluster', params: params('mindarmour'), dim: 2, nTrain: 4, inertia: 0, centres: Float32Array.from([1, 2, 0, 0]) } as const;
    assert.throws(() => new FittedFeatureCluster(state), isField('centres[1]'));
  });

  // Guards the standardized-mode presence check for mean/invStd on restore.
  it('standardized refuses a restore without mean and invStd', () => {
    assert.throws(() => restoreDetector('feature-cluster', { nCluster: 2, score: 'standardized' }, 2, 4, { inertia: 0 }, { centres: Float32Array.from([1, 2, 3, 4]) }), isField('mean'));
  });
});
