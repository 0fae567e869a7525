import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeBase64, isBase64 } from '../../src/io/base64.js';
import { base64Schema } from '../../src/schemas.js';
import { throwsInput } from './assert-input.js';

describe('base64 file content: one rule for the upload schema and the decoder', () => {
  const cases: [string, boolean][] = [
    ['AAAA', true],
    ['AA==', true],
    ['QUJD\nREVG', true], // line breaks, as base64 tools write them
    ['data:image/png;base64,AAAA', true], // a data URI (the upload schema used to refuse it; predict accepted it)
    ['AAA', false], // not a multiple of 4 (the upload schema used to accept it, then the decoder refused it)
    ['A===', false],
    ['AA=A', false],
    ['AA-_', false], // the URL-safe alphabet is another encoding
    ['', false],
    ['   ', false],
  ];
  for (const [text, ok] of cases) {
    it(`${JSON.stringify(text)} is ${ok ? 'accepted' : 'refused'} by both`, () => {
      assert.equal(isBase64(text), ok);
      assert.equal(base64Schema.safeParse(text).success, ok);
      if (ok) assert.ok(decodeBase64(text, 'data') instanceof Uint8Array);
      else throwsInput(() => decodeBase64(text, 'data'), 'data', /is not valid base64/);
    });
  }

  it('decodes to the bytes encoded', () => {
    assert.deepEqual(decodeBase64(Buffer.from('imagedrift').toString('base64'), 'x'), new TextEncoder().encode('imagedrift'));
  });
});
