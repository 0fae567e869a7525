import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InputError } from '../../src/core/errors.js';
import { rocCurve } from '../../src/report/roc.js';

describe('rocCurve', () => {
  it('refuses an empty OOD set as well as an empty ID set', () => {
    assert.throws(() => rocCurve([1, 2], []), (e: unknown) => e instanceof InputError && e.field === 'scores');
    assert.throws(() => rocCurve([], [1]), (e: unknown) => e instanceof InputError && e.field === 'scores');
  });
});
