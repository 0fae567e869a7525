import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cosineDistances, l2Normalise, nearestCentreDistances, shortfallScores, positiveMass, standardiser } from '../../src/core/scores.js';

describe('score maths on hand-computed cases', () => {
  it('cosine distance of a zero feature vector is 1', () => {
    // centre (1, 0) is a unit vector; x = (0, 0) has no direction → 1 − 0 = 1 (as documented), not NaN.
    const d = cosineDistances(Float32Array.from([0, 0, 3, 0]), 2, 2, Float32Array.from([1, 0]), 1);
    assert.deepEqual(Array.from(d), [1, 0]);
  });

  it('l2Normalise leaves a zero row at zero', () => {
    assert.deepEqual(Array.from(l2Normalise(Float32Array.from([0, 0, 3, 4]), 2, 2)), [0, 0, Math.fround(0.6), Math.fround(0.8)]); // 3/5, 4/5 in float32
  });

  it('shortfall ignores centre coordinates that are exactly 0', () => {
    // centre (2, 0), x = (2, −1): only coordinate 0 is positive and it is reached → shortfall 0 / 2 = 0.
    // (Counting the 0 coordinate would add max(0, 0 − (−1)) = 1 → 1/2.)
    const C = Float32Array.from([2, 0]);
    const s = shortfallScores(Float32Array.from([2, -1]), 1, 2, C, 1, positiveMass(C, 1, 2));
    assert.deepEqual(Array.from(s), [0]);
  });

  it('standardiser uses the population std (divide by n) and floors a zero std', () => {
    // column 0: values 0, 2 → mean 1, population std 1 → invStd 1. column 1: constant 5 → std 0, floored at
    // max(1 · 1e-6, 1e-12) = 1e-6 → invStd 1e6 (finite).
    const { mean, invStd } = standardiser(Float32Array.from([0, 5, 2, 5]), 2, 2);
    assert.deepEqual(Array.from(mean), [1, 5]);
    assert.equal(invStd[0], 1);
    assert.equal(invStd[1], Math.fround(1e6));
    // all columns constant: maxStd = 0 → floor 1e-12 → invStd 1e12, still finite
    const z = standardiser(Float32Array.from([3, 3, 3, 3]), 2, 2);
    assert.ok(z.invStd.every(Number.isFinite));
  });

  it('nearestCentreDistances applies z = (x − shift) · mul before measuring', () => {
    // x = 3, shift 1, mul 2 → z = 4; centre 0 → distance 4.
    const d = nearestCentreDistances(Float32Array.from([3]), 1, 1, Float32Array.from([0]), 1, Float32Array.from([1]), Float32Array.from([2]));
    assert.deepEqual(Array.from(d), [4]);
  });
});
