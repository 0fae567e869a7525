import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InputError, NotFittedError } from '../../src/core/errors.js';
import { applyThreshold, exactThreshold, gridThreshold, validateLabels } from '../../src/core/threshold.js';

const isField = (field: string) => (e: unknown) => e instanceof InputError && e.field === field;

describe('exactThreshold: "flag nothing" when the top score is 0', () => {
  it('puts the threshold strictly above a top score of 0 (the 1e-9 step has a floor of 1, not |top|)', () => {
    // sorted: -2 (OOD) | -1 (ID) | 0 (ID). Cuts: flag all 1/3, flag {-1,0} 0/3, flag {0} 1/3, flag none 2/3.
    // Best = flag none (2/3): the threshold must exceed 0, else 0 ≥ t would flag the ID sample at 0.
    const fit = exactThreshold([-2, -1, 0], [1, 0, 0]);
    assert.equal(fit.accuracy, 2 / 3);
    assert.ok(fit.threshold > 0, `threshold ${fit.threshold}`);
    assert.deepEqual(Array.from(applyThreshold([-2, -1, 0], fit.threshold)), [0, 0, 0]);
  });
});

describe('gridThreshold boundaries', () => {
  it('accepts a grid point equal to the top score (flagged = score ≥ t)', () => {
    // step 0.25: grid 0, 0.25, 0.5, 0.75. lo = 0.1 → first grid point above lo is 0.25 = hi, which still separates:
    // t = 0.25 flags 0.25 (OOD) and not 0.1 (ID) → accuracy 1.
    const fit = gridThreshold([0.1, 0.25], [0, 1], 0.25);
    assert.equal(fit.threshold, 0.25);
    assert.equal(fit.accuracy, 1);
  });

  it('refuses scores whose minimum lies above the last grid point', () => {
    // step 0.01: the last grid point is 0.99; lo = 0.995 → no grid t has lo < t ≤ hi, whatever hi is.
    assert.throws(() => gridThreshold([0.995, 1.5], [0, 1], 0.01), isField('grid'));
  });

  it('rejects a step of 1 or more', () => {
    // step 1 would be the one-point grid {0}; the documented range is (0, 1).
    assert.throws(() => gridThreshold([-1, 0.5], [0, 1], 1), isField('grid'));
    assert.throws(() => gridThreshold([-1, 0.5], [0, 1], 1.5), isField('grid'));
  });
});

describe('validateLabels and applyThreshold validation', () => {
  it('refuses labels that are all 0 (no OOD sample)', () => {
    assert.throws(() => validateLabels([0, 0, 0], 3), (e: unknown) => e instanceof InputError && /all 3 labels are 0/.test(e.message));
  });

  it('refuses a non-finite threshold', () => {
    assert.throws(() => applyThreshold([0.1], Number.NaN), isField('threshold'));
    assert.throws(() => applyThreshold([0.1], Infinity), isField('threshold'));
    assert.throws(() => applyThreshold([0.1], undefined), NotFittedError);
  });
});

describe('gridThreshold grid length', () => {
  // Guards the grid size Math.ceil(1/step): with step 0.3 numpy.arange(0, 1, 0.3) = [0, 0.3, 0.6, 0.9] (4 points, not 3).
  it('reaches the grid point 0.9 when 1/step is not an integer', () => {
    // ID 0.85, OOD 0.95: only t = 0.9 separates them (0.85 < 0.9 ≤ 0.95) → accuracy 1.
    const fit = gridThreshold([0.85, 0.95], [0, 1], 0.3);
    assert.ok(Math.abs(fit.threshold - 0.9) < 1e-12, `threshold ${fit.threshold}`);
    assert.equal(fit.accuracy, 1);
  });
});
