/**
 * A job payload and an HTTP body are validated with the same message schemas (src/schemas.ts); a failure names the
 * same field, spelt the same way, whichever route it came by (core/errors.ts issueField).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InputError } from '../../src/core/errors.js';
import { parseWith } from '../../src/http/respond.js';
import { parseJobPayload } from '../../src/queue/jobs.js';
import { fitMessageSchema, predictMessageSchema } from '../../src/schemas.js';

/** The field of the InputError `fn` throws. */
function fieldOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof InputError, String(e));
    return e.field;
  }
  assert.fail('expected an InputError');
}

const fit = { detector: 'd', model: 'm', dataset: 'x', method: 'ensemble' };

describe('job payload and HTTP body name a bad field alike', () => {
  it('an array element: images[1]', () => {
    const bad = { detector: 'd', images: ['aGk=', ''] };
    const job = fieldOf(() => parseJobPayload('predict', bad));
    assert.equal(job, 'images[1]');
    assert.equal(fieldOf(() => parseWith(predictMessageSchema, bad)), job);
  });

  it('a nested parameter: members[0].detector.k', () => {
    const bad = { ...fit, members: [{ layer: 'output', detector: { kind: 'knn', k: 0 } }] };
    const job = fieldOf(() => parseJobPayload('fit', bad));
    assert.equal(job, 'members[0].detector.k');
    assert.equal(fieldOf(() => parseWith(fitMessageSchema, bad)), job);
  });

  it('a nested unknown key is named itself: members[1].detector.K', () => {
    const bad = { ...fit, members: [{ layer: 'output', detector: { kind: 'energy' } }, { layer: '3', detector: { kind: 'knn', K: 1 } }] };
    const job = fieldOf(() => parseJobPayload('fit', bad));
    assert.equal(job, 'members[1].detector.K');
    assert.equal(fieldOf(() => parseWith(fitMessageSchema, bad)), job);
  });
});
