import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InputError } from '../../src/core/errors.js';
import { resolveLimits } from '../../src/io/limits.js';
import { decodeNpy, encodeNpy } from '../../src/io/npy.js';

const isField = (field: string) => (e: unknown) => e instanceof InputError && e.field === field;

describe('maxElements boundary', () => {
  // Guards the element-count limit being inclusive: an array of exactly maxElements values is allowed (count > max, not ≥).
  it('a 4-element array decodes under maxElements 4 and is refused under 3', () => {
    const bytes = encodeNpy(new Float32Array(4), [4], 'float32');
    assert.equal(decodeNpy(bytes, 'x', { maxElements: 4 }).data.length, 4);
    assert.throws(() => decodeNpy(bytes, 'x', { maxElements: 3 }), (e: unknown) => isField('x.header.shape')(e) && /maxElements 3/.test((e as Error).message));
  });
});

describe('resolveLimits validation', () => {
  // Guards the integer check on limits: a fractional limit (2.5 samples) must be refused, not silently accepted.
  it('refuses a fractional limit, naming it', () => {
    assert.throws(() => resolveLimits({ maxSamples: 2.5 }), isField('limits.maxSamples'));
    assert.throws(() => resolveLimits({ maxElements: 1.5 }), isField('limits.maxElements'));
    assert.equal(resolveLimits({ maxSamples: 3 }).maxSamples, 3);
  });
});
