import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { issueField } from '../../src/core/errors.js';

/** The first issue zod reports for `input` (the one every adapter names). */
function firstIssue(schema: z.ZodType, input: unknown): z.core.$ZodIssue {
  const r = schema.safeParse(input);
  assert.equal(r.success, false, `${JSON.stringify(input)} should fail`);
  return r.error!.issues[0]!;
}

const schema = z
  .object({
    images: z.array(z.string().min(1)).optional(),
    detector: z.object({ kind: z.string(), params: z.object({ k: z.number().min(1) }).strict().optional() }).strict().optional(),
    members: z.array(z.object({ layer: z.string(), detector: z.object({ k: z.number() }).strict() }).strict()).optional(),
  })
  .strict();

describe('issueField: one spelling of a zod issue path', () => {
  it('array indices are bracketed, object keys dotted', () => {
    assert.equal(issueField(firstIssue(schema, { images: ['a', 'b', 'c', ''] })), 'images[3]');
    assert.equal(issueField(firstIssue(schema, { members: [{ layer: 'x', detector: { k: 1 } }, { layer: 'y', detector: { k: 'two' } }] })), 'members[1].detector.k');
    assert.equal(issueField(firstIssue(z.array(z.array(z.number())), [[1], [2, 'x']])), '[1][1]');
  });

  it('nested objects are dotted, and a base is prefixed', () => {
    const issue = firstIssue(schema, { detector: { kind: 'knn', params: { k: 0 } } });
    assert.equal(issueField(issue), 'detector.params.k');
    assert.equal(issueField(issue, 'manifest'), 'manifest.detector.params.k');
    assert.equal(issueField(firstIssue(z.array(z.number()), [1, 'x']), 'IMAGEDRIFT_KEYS'), 'IMAGEDRIFT_KEYS[1]');
  });

  it('an unrecognised key is named itself, at any depth', () => {
    const top = firstIssue(schema, { colour: 'blue' });
    assert.equal(top.code, 'unrecognized_keys');
    assert.equal(issueField(top), 'colour');
    assert.equal(issueField(top, 'body'), 'body.colour');
    assert.equal(issueField(firstIssue(schema, { detector: { kind: 'knn', params: { k: 5, K: 5 } } })), 'detector.params.K');
    assert.equal(issueField(firstIssue(schema, { members: [{ layer: 'x', detector: { k: 1, K: 1 } }] })), 'members[0].detector.K');
  });

  it('an empty path names the base, or the root default', () => {
    const issue = firstIssue(schema, 5); // not an object at all: the issue has no path
    assert.deepEqual(issue.path, []);
    assert.equal(issueField(issue), '(root)');
    assert.equal(issueField(issue, '', 'body'), 'body');
    assert.equal(issueField(issue, '', ''), '');
    assert.equal(issueField(issue, 'detector'), 'detector');
  });
});
