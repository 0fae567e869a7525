import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Matrix as MlMatrix, inverse } from 'ml-matrix';
import { createDetector, restoreDetector, DETECTOR_KINDS } from '../../src/core/detectors.js';
import { InputError } from '../../src/core/errors.js';
import { KnnDetector } from '../../src/core/knn.js';
import { kthSmallest } from '../../src/core/stats.js';
import { energyScores, mspScores } from '../../src/core/logit-detectors.js';
import { ledoitWolfShrinkage, MahalanobisDetector } from '../../src/core/mahalanobis.js';
import type { Matrix } from '../../src/core/tensor.js';

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}
function randomMatrix(rows: number, cols: number, seed: number, spread = 1): Matrix {
  const r = lcg(seed);
  return { data: Float32Array.from({ length: rows * cols }, (_, i) => (r() - 0.5) * spread + (i % cols === 0 ? Math.floor(i / cols) % 3 : 0)), rows, cols };
}
const rowsOf = (m: Matrix) => Array.from({ length: m.rows }, (_, r) => Array.from(m.data.subarray(r * m.cols, (r + 1) * m.cols)));

describe('msp and energy', () => {
  it('equal the textbook formulas, stable for large logits', () => {
    const x = Float32Array.from([1, 2, 3, 1000, 1000, 0]);
    const msp = mspScores(x, 2, 3);
    const e = Math.exp;
    assert.ok(Math.abs(msp[0]! + e(3) / (e(1) + e(2) + e(3))) < 1e-12);
    assert.ok(Math.abs(msp[1]! + 0.5) < 1e-12);
    const en = energyScores(x, 2, 3, 2);
    assert.ok(Math.abs(en[0]! + 2 * Math.log(e(0.5) + e(1) + e(1.5))) < 1e-12);
    assert.ok(Number.isFinite(en[1]!) && Math.abs(en[1]! + 2 * (500 + Math.log(2 + e(-500)))) < 1e-9);
  });
  it('reject a one-column "logits" layer naming the layer', () => {
    assert.throws(() => createDetector({ kind: 'energy' }).fit({ data: new Float32Array(3), rows: 3, cols: 1 }), (e: unknown) => e instanceof InputError && e.field === 'layer');
  });
});

describe('mahalanobis', () => {
  it('scores equal min_c (x−μ_c)ᵀ Σ⁻¹ (x−μ_c) with Σ shrunk by a fixed coefficient', () => {
    const X = randomMatrix(60, 4, 3);
    const classes = Int32Array.from({ length: 60 }, (_, i) => i % 3);
    const s = 0.2;
    const f = new MahalanobisDetector({ shrinkage: s }).fit(X, { classes });
    const rows = rowsOf(X);
    const means = [0, 1, 2].map((c) => [0, 1, 2, 3].map((j) => rows.filter((_, i) => classes[i] === c).reduce((a, r) => a + r[j]!, 0) / 20));
    const cov = new MlMatrix(4, 4);
    rows.forEach((r, i) => {
      const d = r.map((v, j) => v - means[classes[i]!]![j]!);
      for (let a = 0; a < 4; a++) for (let b = 0; b < 4; b++) cov.set(a, b, cov.get(a, b) + (d[a]! * d[b]!) / 60);
    });
    const mu = cov.trace() / 4;
    const shrunk = cov.clone().mul(1 - s).add(MlMatrix.eye(4).mul(s * mu + mu * 1e-6));
    const P = inverse(shrunk);
    const Q = randomMatrix(10, 4, 9, 3);
    const got = f.score(Q);
    rowsOf(Q).forEach((q, i) => {
      const want = Math.min(...means.map((m) => { const d = new MlMatrix([q.map((v, j) => v - m[j]!)]); return d.mmul(P).mmul(d.transpose()).get(0, 0); }));
      assert.ok(Math.abs(got[i]! - want) < 1e-3 * Math.max(1, want), `${got[i]} vs ${want}`);
    });
  });

  it('Ledoit–Wolf shrinkage follows scikit-learn\'s formula (naive re-implementation) and lies in [0,1]', () => {
    const X = randomMatrix(50, 5, 11);
    const n = 50, p = 5;
    const x = Float64Array.from(X.data);
    const mean = [0, 1, 2, 3, 4].map((j) => rowsOf(X).reduce((a, r) => a + r[j]!, 0) / n);
    for (let r = 0; r < n; r++) for (let j = 0; j < p; j++) x[r * p + j]! -= mean[j]!;
    const M = new MlMatrix(Array.from({ length: n }, (_, r) => Array.from(x.subarray(r * p, (r + 1) * p))));
    const sq = new MlMatrix(n, p);
    for (let i = 0; i < n; i++) for (let j = 0; j < p; j++) sq.set(i, j, M.get(i, j) ** 2);
    const empTrace = sq.sum('column').map((v) => v / n);
    const mu = empTrace.reduce((a, b) => a + b) / p;
    const beta_ = sq.transpose().mmul(sq).sum();
    const delta_ = M.transpose().mmul(M).to2DArray().flat().reduce((a, v) => a + v * v, 0) / n ** 2;
    const beta = Math.min((1 / (p * n)) * (beta_ / n - delta_), (delta_ - 2 * mu * empTrace.reduce((a, b) => a + b) + p * mu * mu) / p);
    const delta = (delta_ - 2 * mu * empTrace.reduce((a, b) => a + b) + p * mu * mu) / p;
    const want = beta / delta;
    const got = ledoitWolfShrinkage(x, n, p);
    assert.ok(Math.abs(got - want) < 1e-9, `${got} vs ${want}`);
    assert.ok(got >= 0 && got <= 1);
  });

  it('stays finite on rank-deficient features (dead ReLU coordinates) thanks to shrinkage', () => {
    const X = randomMatrix(30, 6, 5);
    for (let r = 0; r < 30; r++) X.data[r * 6 + 5] = 0; // a dead unit
    const f = new MahalanobisDetector().fit(X, { classes: Int32Array.from({ length: 30 }, (_, i) => i % 2) });
    assert.ok(f.score(X).every(Number.isFinite));
  });

  it('requires classes of the right length', () => {
    assert.throws(() => new MahalanobisDetector().fit(randomMatrix(5, 2, 1)), (e: unknown) => e instanceof InputError && e.field === 'classes');
    assert.throws(() => new MahalanobisDetector().fit(randomMatrix(5, 2, 1), { classes: new Int32Array(4) }), (e: unknown) => e instanceof InputError && e.field === 'classes');
  });
});

describe('knn', () => {
  it('k-th smallest equals sorting (property)', () => {
    fc.assert(fc.property(fc.array(fc.double({ noNaN: true, min: -1e6, max: 1e6 }), { minLength: 1, maxLength: 50 }), fc.nat(), (xs, kk) => {
      const k = (kk % xs.length) + 1;
      const sorted = [...xs].sort((a, b) => a - b);
      assert.equal(kthSmallest(Float64Array.from(xs), xs.length, k), sorted[k - 1]);
    }), { numRuns: 300, seed: 5 });
  });

  it('scores equal brute-force k-th neighbour distances, cosine and l2', () => {
    const X = randomMatrix(40, 5, 21);
    const Q = randomMatrix(7, 5, 22, 2);
    for (const metric of ['cosine', 'l2'] as const) {
      const f = new KnnDetector({ k: 3, metric }).fit(X);
      const got = f.score(Q);
      const norm = (v: number[]) => { const n = Math.hypot(...v); return n > 0 ? v.map((t) => t / n) : v; };
      rowsOf(Q).forEach((q, i) => {
        const ds = rowsOf(X).map((x) => metric === 'cosine' ? 1 - norm(q).reduce((a, t, j) => a + t * norm(x)[j]!, 0) : Math.hypot(...q.map((t, j) => t - x[j]!))).sort((a, b) => a - b);
        assert.ok(Math.abs(got[i]! - ds[2]!) < 1e-5, `${metric} row ${i}: ${got[i]} vs ${ds[2]}`);
      });
    }
  });

  it('subsamples the bank deterministically and rejects k above it', () => {
    const X = randomMatrix(100, 3, 2);
    const a = new KnnDetector({ k: 2, maxBank: 20, seed: 4 }).fit(X);
    const b = new KnnDetector({ k: 2, maxBank: 20, seed: 4 }).fit(X);
    assert.deepEqual(a.arrays(), b.arrays());
    assert.equal(a.arrays().bank!.length, 60);
    assert.throws(() => new KnnDetector({ k: 30, maxBank: 20 }).fit(X), (e: unknown) => e instanceof InputError && e.field === 'k');
  });
});

describe('registry', () => {
  it('every kind fits, scores and round-trips through restoreDetector with identical scores', () => {
    const X = randomMatrix(80, 6, 31, 4);
    const classes = Int32Array.from({ length: 80 }, (_, i) => i % 4);
    for (const kind of DETECTOR_KINDS) {
      const spec =
        kind === 'feature-cluster' ? { kind, nCluster: 3 }
        : kind === 'knn' ? { kind, k: 5 }
        : kind === 'ensemble' ? { kind, members: [{ layer: 'x', detector: { kind: 'mahalanobis' } }, { layer: 'x', detector: { kind: 'feature-cluster', nCluster: 2 } }] }
        : { kind };
      const f = createDetector(spec as never).fit(X, { classes, columns: { x: [0, 6] } });
      const g = restoreDetector(f.kind, JSON.parse(JSON.stringify(f.params)), f.dim, f.nTrain, f.stats, f.arrays());
      assert.deepEqual(g.score(X), f.score(X), kind);
      assert.equal(f.score(X).length, 80);
    }
  });
  it('every kind refuses a feature table whose data is not rows × cols values, in fit and in score', () => {
    const X = randomMatrix(80, 6, 31, 4);
    const classes = Int32Array.from({ length: 80 }, (_, i) => i % 4);
    const short = { data: X.data.subarray(0, 6 * 2), rows: 3, cols: 6 }; // row 2 would be read past the end
    const fractional = { data: X.data.subarray(0, 6 * 2), rows: 2.5, cols: 6 };
    for (const kind of DETECTOR_KINDS) {
      const spec =
        kind === 'feature-cluster' ? { kind, nCluster: 3 }
        : kind === 'knn' ? { kind, k: 5 }
        : kind === 'ensemble' ? { kind, members: [{ layer: 'x', detector: { kind: 'energy' } }] }
        : { kind };
      const d = createDetector(spec as never);
      const f = d.fit(X, { classes, columns: { x: [0, 6] } });
      for (const bad of [short, fractional]) {
        assert.throws(() => f.score(bad), (e: unknown) => e instanceof InputError && e.field === 'features', `${kind} score rows=${bad.rows}`);
      }
      const longer = { data: X.data, rows: 90, cols: 6 };
      assert.throws(() => d.fit(longer, { classes: new Int32Array(90), columns: { x: [0, 6] } }), (e: unknown) => e instanceof InputError && e.field === 'features', `${kind} fit`);
    }
  });
  it('restoreDetector refuses an ensemble whose column ranges fall outside its feature width, and mahalanobis without means', () => {
    const X = randomMatrix(80, 6, 31, 4);
    const f = createDetector({ kind: 'ensemble', members: [{ layer: 'a', detector: { kind: 'energy' } }, { layer: 'b', detector: { kind: 'knn', k: 3 } }] } as never).fit(X, { columns: { a: [0, 3], b: [3, 6] } });
    const params = JSON.parse(JSON.stringify(f.params));
    assert.throws(() => restoreDetector('ensemble', params, 5, f.nTrain, f.stats, f.arrays()), (e: unknown) => e instanceof InputError && e.field === 'members[1].layer');
    assert.throws(() => restoreDetector('ensemble', { ...params, columns: { a: [-1, 2], b: [3, 6] } }, 6, f.nTrain, f.stats, f.arrays()), (e: unknown) => e instanceof InputError && e.field === 'members[0].layer');
    assert.throws(() => restoreDetector('mahalanobis', {}, 2, 10, {}, { whitenedMeans: new Float32Array(0), whiten: Float32Array.of(1, 0, 0, 1) }), (e: unknown) => e instanceof InputError && e.field === 'arrays');
  });
  it('names the bad parameter', () => {
    assert.throws(() => createDetector({ kind: 'knn', k: 0 } as never), (e: unknown) => e instanceof InputError && e.field === 'detector.k');
    assert.throws(() => createDetector({ kind: 'bogus' } as never), (e: unknown) => e instanceof InputError && e.field === 'detector');
  });
});

describe('ensemble', () => {
  it('standardises each member on held-out ID rows and sums; round-trips through restoreDetector', () => {
    const A = randomMatrix(200, 4, 41, 3);
    const B = randomMatrix(200, 3, 42, 3);
    const data = new Float32Array(200 * 7);
    for (let r = 0; r < 200; r++) {
      data.set(A.data.subarray(r * 4, r * 4 + 4), r * 7);
      data.set(B.data.subarray(r * 3, r * 3 + 3), r * 7 + 4);
    }
    const X = { data, rows: 200, cols: 7 };
    const spec = { kind: 'ensemble', members: [{ layer: 'a', detector: { kind: 'energy' } }, { layer: 'b', detector: { kind: 'knn', k: 3 } }], holdout: 0.2, seed: 1 } as const;
    const f = createDetector(spec as never).fit(X, { columns: { a: [0, 4], b: [4, 7] } });
    // by hand: the same members fitted on the same 160 rows, standardised on the same 40
    const s = f.score(X);
    const st = f.stats;
    const eA = createDetector({ kind: 'energy' }).fit(A).score(A);
    for (const i of [0, 17, 199]) {
      const partA = (eA[i]! - st['m0.mean']!) / st['m0.std']!;
      assert.ok(Number.isFinite(s[i]!) && Number.isFinite(partA));
    }
    assert.equal(st['m0.nTrain'], 160);
    const g = restoreDetector('ensemble', JSON.parse(JSON.stringify(f.params)), f.dim, f.nTrain, f.stats, f.arrays());
    assert.deepEqual(g.score(X), s);
    // held-out standardisation: member z-scores on the held-out rows have mean 0, std 1 → the sum's mean is ≈ 0 there
    assert.ok(Math.abs(st['m1.std']!) > 0);
  });

  it('rejects nesting, missing columns and empty member lists, naming the field', () => {
    assert.throws(() => createDetector({ kind: 'ensemble', members: [] } as never), (e: unknown) => e instanceof InputError && /members/.test(e.field ?? ''));
    assert.throws(() => createDetector({ kind: 'ensemble', members: [{ layer: 'a', detector: { kind: 'ensemble', members: [] } }] } as never), (e: unknown) => e instanceof InputError);
    const d = createDetector({ kind: 'ensemble', members: [{ layer: 'a', detector: { kind: 'msp' } }] } as never);
    assert.throws(() => d.fit(randomMatrix(20, 3, 1)), (e: unknown) => e instanceof InputError && e.field === 'columns');
  });
});
