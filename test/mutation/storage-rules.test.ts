/**
 * isSafeKey (src/storage/object-store.ts) and base64 decoding (src/io/base64.ts): rules no fast test pinned (found by
 * mutation testing). The object-store contract (test/storage/object-store-contract.ts, s3rver) covers "..", ".",
 * empty segments and a leading "/"; these are the rest: S3's 1024-byte key length, backslashes, NUL; and that a
 * data-URI prefix is stripped before decoding, but only at the start.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { decodeBase64, isBase64 } from '../../src/io/base64.js';
import { LocalDirStore } from '../../src/storage/local-dir-store.js';
import { isSafeKey } from '../../src/storage/object-store.js';

describe('isSafeKey', () => {
  it('at most 1024 characters (S3’s key limit)', () => {
    assert.equal(isSafeKey('k'.repeat(1024)), true);
    assert.equal(isSafeKey('k'.repeat(1025)), false);
  });
  it('no backslash (a Windows path separator for LocalDirStore) and no NUL', () => {
    assert.equal(isSafeKey('a\\..\\b'), false);
    assert.equal(isSafeKey('a\\b'), false);
    assert.equal(isSafeKey('a/b\0c'), false);
    assert.equal(isSafeKey('a/b.c'), true);
  });
});

describe('base64 with a data URI prefix', () => {
  it('decodes to the bytes encoded, the prefix and line breaks stripped', () => {
    const bytes = new TextEncoder().encode('imagedrift: a PNG, say');
    const b64 = Buffer.from(bytes).toString('base64');
    assert.deepEqual(decodeBase64(`data:image/png;base64,${b64}`, 'data'), bytes);
    assert.deepEqual(decodeBase64(`data:application/octet-stream;base64,${b64.slice(0, 8)}\n${b64.slice(8)}`, 'data'), bytes);
  });
  it('the prefix is only recognised at the start', () => {
    assert.equal(isBase64('AAAAdata:image/png;base64,AAAA'), false);
  });
});

describe('LocalDirStore.list', () => {
  // Guards the filter on in-flight temp files: a half-written `<key>.tmp-<n>` must not be listed as an object.
  it('skips temp files left by an atomic write', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'imagedrift-list-'));
    try {
      await writeFile(join(dir, 'a.json'), '{}');
      await writeFile(join(dir, 'b.json.tmp-1234'), '{');
      assert.deepEqual((await new LocalDirStore(dir).list('')).map((o) => o.key), ['a.json']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
