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

  it('standardiser uses the population std (divide by n) and leaves a constant coordinate unscaled', () => {
    // column 0: values 0, 4 → mean 2, population std 2 → invStd 0.5. column 1: constant 5 → std 0, below the floor
    // max(2 · 1e-6, 1e-12): centred, not scaled (invStd 1, as scikit-learn's StandardScaler), so a dead unit cannot
    // dominate the score (a floored std gave it 1/2e-6 = 500,000).
    const { mean, invStd } = standardiser(Float32Array.from([0, 5, 4, 5]), 2, 2);
    assert.deepEqual(Array.from(mean), [2, 5]);
    assert.deepEqual(Array.from(invStd), [0.5, 1]);
    // all columns constant: every coordinate unscaled
    const z = standardiser(Float32Array.from([3, 3, 3, 3]), 2, 2);
    assert.deepEqual(Array.from(z.invStd), [1, 1]);
  });

  it('nearestCentreDistances applies z = (x − shift) · mul before measuring', () => {
    // x = 3, shift 1, mul 2 → z = 4; centre 0 → distance 4.
    const d = nearestCentreDistances(Float32Array.from([3]), 1, 1, Float32Array.from([0]), 1, Float32Array.from([1]), Float32Array.from([2]));
    assert.deepEqual(Array.from(d), [4]);
  });
});

describe('standardiser relative std floor', () => {
  // Guards the floor max(maxStd·eps, 1e-12): a tiny-but-nonzero std far below eps·maxStd must stay unscaled, not 1e-12.
  it('leaves a nearly constant column unscaled when another column has std ≈ 0.707', () => {
    // col 0: 999 zeros and one 1e-6 → population std ≈ 3.1607e-8 (numpy); col 1: sin(r), std ≈ 0.70676.
    // floor = 0.70676 · 1e-6 ≈ 7.07e-7 > 3.16e-8 → invStd[0] = 1 (an absolute floor of 1e-12 would give ≈ 3.16e7).
    const rows = 1000;
    const x = new Float32Array(rows * 2);
    x[0] = 1e-6;
    for (let r = 0; r < rows; r++) x[r * 2 + 1] = Math.sin(r);
    const { invStd } = standardiser(x, rows, 2);
    assert.equal(invStd[0], 1);
    assert.ok(Math.abs(invStd[1]! - 1 / 0.7067593951133297) < 1e-4, `invStd[1] ${invStd[1]}`);
  });
});
