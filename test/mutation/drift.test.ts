import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { binomialCountDrift, ksStatistic, minPermutations, mmdDrift } from '../../src/core/drift.js';
import { InputError } from '../../src/core/errors.js';

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
