import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { InputError } from '../../src/core/errors.js';
import { FeatureClusterDetector, FittedFeatureCluster, SCORE_MODES } from '../../src/core/feature-cluster.js';
import { mindarmourScores, shortfallScores, topCoordinates, topMass, positiveMass, cosineDistances, nearestCentreDistances } from '../../src/core/scores.js';

/** MindArmour's _get_ood_score inner loops, ported literally (heapq.nlargest + list.index, plain arrays). */
function mindarmourReference(x: number[][], centres: number[][], nCluster: number): number[] {
  return x.map((row) => {
    const dis = centres.map((c) => {
      const largest = [...c].sort((a, b) => b - a).slice(0, nCluster);
      const loc = largest.map((v) => c.indexOf(v));
      let num = 0;
      let den = 0;
      for (const i of loc) {
        num += Math.abs(c[i]! - row[i]!);
        den += Math.abs(c[i]!);
      }
      return num / den;
    });
    return Math.min(...dis);
  });
}

function shortfallReference(x: number[][], centres: number[][]): number[] {
  return x.map((row) => Math.min(...centres.map((c) => c.reduce((s, v, i) => s + (v > 0 ? Math.max(0, v - row[i]!) : 0), 0) / c.reduce((s, v) => s + (v > 0 ? v : 0), 0))));
}

const f32 = fc.float({ min: -10, max: 10, noNaN: true, noDefaultInfinity: true }).map(Math.fround);
const problem = fc.integer({ min: 1, max: 12 }).chain((dim) =>
  fc.record({
    dim: fc.constant(dim),
    k: fc.integer({ min: 1, max: 5 }),
    m: fc.integer({ min: 1, max: 15 }),
    rows: fc.array(fc.array(f32, { minLength: dim, maxLength: dim }), { minLength: 1, maxLength: 8 }),
    cents: fc.array(fc.array(fc.float({ min: Math.fround(0.01), max: 10, noNaN: true }).map(Math.fround), { minLength: dim, maxLength: dim }), { minLength: 5, maxLength: 5 }),
  }),
);

describe('vectorised scores equal the plain reference (property)', () => {
  it('mindarmour', () => {
    fc.assert(
      fc.property(problem, ({ dim, k, m, rows, cents }) => {
        const c = cents.slice(0, k);
        const C = Float32Array.from(c.flat());
        const top = topCoordinates(C, k, dim, m);
        const got = mindarmourScores(Float32Array.from(rows.flat()), rows.length, dim, C, k, top, topMass(C, dim, top, k));
        const want = mindarmourReference(rows, c, m);
        for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i]! - want[i]!) <= 1e-9 * Math.max(1, Math.abs(want[i]!)), `row ${i}: ${got[i]} vs ${want[i]}`);
      }),
      { numRuns: 400, seed: 1 },
    );
  });

  it('mindarmour index sets repeat the first index for repeated values, as list.index does', () => {
    const C = Float32Array.from([3, 1, 3, 0]);
    assert.deepEqual(Array.from(topCoordinates(C, 1, 4, 3)), [0, 0, 1]);
  });

  it('shortfall', () => {
    fc.assert(
      fc.property(problem, ({ dim, k, rows, cents }) => {
        const c = cents.slice(0, k);
        const C = Float32Array.from(c.flat());
        const got = shortfallScores(Float32Array.from(rows.flat()), rows.length, dim, C, k, positiveMass(C, k, dim));
        const want = shortfallReference(rows, c);
        for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i]! - want[i]!) <= 1e-9 * Math.max(1, want[i]!));
      }),
      { numRuns: 400, seed: 2 },
    );
  });

  it('euclidean and cosine', () => {
    fc.assert(
      fc.property(problem, ({ dim, k, rows, cents }) => {
        const c = cents.slice(0, k);
        const C = Float32Array.from(c.flat());
        const X = Float32Array.from(rows.flat());
        const eu = nearestCentreDistances(X, rows.length, dim, C, k, null, null);
        const unit = c.map((v) => { const n = Math.hypot(...v); return v.map((t) => t / n); });
        const cos = cosineDistances(X, rows.length, dim, Float32Array.from(unit.flat()), k);
        rows.forEach((r, i) => {
          const e = Math.min(...c.map((v) => Math.hypot(...v.map((t, j) => t - r[j]!))));
          assert.ok(Math.abs(eu[i]! - e) <= 1e-6 * Math.max(1, e));
          const n = Math.hypot(...r);
          const cs = n === 0 ? 1 : 1 - Math.max(...unit.map((u) => u.reduce((s, t, j) => s + t * r[j]!, 0))) / n;
          assert.ok(Math.abs(cos[i]! - cs) <= 1e-5);
        });
      }),
      { numRuns: 200, seed: 3 },
    );
  });
});

describe('FeatureClusterDetector', () => {
  const blob = (n: number, dim: number, seed: number): Float32Array => {
    let s = seed;
    const rnd = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32);
    return Float32Array.from({ length: n * dim }, (_, i) => (i % dim < 2 ? 5 * ((Math.floor(i / dim) % 3) + 1) : 0) + rnd());
  };

  it('cosine: centres are unit vectors, and a sample along a centre scores 0 (1 − max cosine similarity)', () => {
    // 10 copies of e1 and 10 unit vectors at ±45° from e2 towards ±e3: the second centre is their mean, (0, 0.707, 0)
    // before normalising. Unnormalised, the score was 1 − |c|·cos: 0.29 for a sample exactly along that centre.
    const rows: number[][] = [];
    for (let i = 0; i < 10; i++) rows.push([1, 0, 0]);
    for (let i = 0; i < 10; i++) rows.push([0, Math.SQRT1_2, i % 2 ? Math.SQRT1_2 : -Math.SQRT1_2]);
    const fitted = new FeatureClusterDetector({ nCluster: 2, score: 'cosine', seed: 0 }).fit({ data: Float32Array.from(rows.flat()), rows: 20, cols: 3 });
    const c = fitted.state.centres;
    for (let j = 0; j < 2; j++) assert.ok(Math.abs(Math.hypot(c[3 * j]!, c[3 * j + 1]!, c[3 * j + 2]!) - 1) < 1e-6, `centre ${j} has unit length`);
    const s = fitted.score({ data: Float32Array.from([0, 3, 0, 2, 0, 0, 1, 1, 0]), rows: 3, cols: 3 });
    assert.ok(Math.abs(s[0]!) < 1e-6, `along the e2 centre: ${s[0]}`);
    assert.ok(Math.abs(s[1]!) < 1e-6, `along e1: ${s[1]}`);
    assert.ok(Math.abs(s[2]! - (1 - Math.SQRT1_2)) < 1e-6, `45° from both: ${s[2]}`);
  });

  it('is deterministic for a seed: identical centres and scores', () => {
    const X = { data: blob(300, 6, 9), rows: 300, cols: 6 };
    for (const score of SCORE_MODES) {
      const a = new FeatureClusterDetector({ nCluster: 3, score, seed: 5 }).fit(X);
      const b = new FeatureClusterDetector({ nCluster: 3, score, seed: 5 }).fit(X);
      assert.deepEqual(a.state.centres, b.state.centres, score);
      assert.deepEqual(a.score(X), b.score(X), score);
    }
  });

  it('does not change its parameters or state when scoring', () => {
    const X = { data: blob(100, 4, 1), rows: 100, cols: 4 };
    const d = new FeatureClusterDetector({ nCluster: 3, score: 'mindarmour', seed: 0 });
    const f = d.fit(X);
    const before = Float32Array.from(f.state.centres);
    f.score(X);
    assert.deepEqual(f.state.centres, before);
    assert.deepEqual(d.params, { nCluster: 3, score: 'mindarmour', seed: 0, nInit: 4, maxIterations: 300 });
  });

  it('rejects nCluster out of range, above the sample count, or not an integer, naming nCluster', () => {
    const X = { data: blob(20, 3, 2), rows: 20, cols: 3 };
    for (const k of [1, 101, 2.5]) assert.throws(() => new FeatureClusterDetector({ nCluster: k }).fit(X), (e: unknown) => e instanceof InputError && e.field === 'nCluster', String(k));
    assert.throws(() => new FeatureClusterDetector({ nCluster: 21 }).fit(X), (e: unknown) => e instanceof InputError && e.field === 'nCluster' && /n_samples=20 should be >= nCluster=21/.test(e.message));
  });

  it('rejects an unknown score mode, NaN features and a feature-count mismatch', () => {
    assert.throws(() => new FeatureClusterDetector({ nCluster: 2, score: 'nope' as never }), (e: unknown) => e instanceof InputError && e.field === 'score');
    const X = { data: blob(20, 3, 2), rows: 20, cols: 3 };
    const f = new FeatureClusterDetector({ nCluster: 2 }).fit(X);
    assert.throws(() => f.score({ data: new Float32Array(8), rows: 2, cols: 4 }), (e: unknown) => e instanceof InputError && /fitted on 3/.test(e.message));
    const bad = Float32Array.from(X.data);
    bad[3 * 7 + 1] = Number.NaN;
    assert.throws(() => f.score({ data: bad, rows: 20, cols: 3 }), (e: unknown) => e instanceof InputError && e.field === 'features[7]');
  });

  it('round-trips through its plain-data state', () => {
    const X = { data: blob(50, 4, 3), rows: 50, cols: 4 };
    const f = new FeatureClusterDetector({ nCluster: 4, score: 'shortfall' }).fit(X);
    const g = new FittedFeatureCluster(structuredClone(f.state));
    assert.deepEqual(g.score(X), f.score(X));
  });
});
