/**
 * Keyring rules of src/auth/api-keys.ts that no fast test pinned (found by mutation testing): the tenant and key-id
 * patterns, the hash format, the README limits (256-character keys, 10,000 keys) and the constant-time lookup that
 * compares the presented key with every entry, without stopping at a match (README "Security and limits").
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { syncBuiltinESMExports } from 'node:module';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { hashApiKey, Keyring, MAX_API_KEY_LENGTH, parseKeyring, type KeyringEntry } from '../../src/auth/api-keys.js';
import { InputError } from '../../src/core/errors.js';

const entry = (over: Partial<KeyringEntry> = {}): KeyringEntry => ({ id: 'k1', tenant: 'acme', sha256: hashApiKey('secret'), ...over });
const parses = (entries: unknown[]) => assert.equal(parseKeyring(entries, 'API_KEYS').size, entries.length);
const refused = (entries: unknown[], re: RegExp) =>
  assert.throws(() => parseKeyring(entries, 'API_KEYS'), (e: unknown) => e instanceof InputError && e.field === 'API_KEYS' && re.test(e.message), JSON.stringify(entries).slice(0, 200));

describe('keyring entries', () => {
  it('tenant: 1-63 characters of [a-z0-9-], starting with a letter or digit (it becomes tenants/<tenant>/)', () => {
    parses([entry({ tenant: 'a'.repeat(63) })]);
    parses([entry({ tenant: '0-team' })]);
    refused([entry({ tenant: 'a'.repeat(64) })], /\[0\]\.tenant must be 1-63 characters/);
    refused([entry({ tenant: '-acme' })], /\[0\]\.tenant/);
    refused([entry({ tenant: 'Acme' })], /\[0\]\.tenant/);
  });

  it('id: 1-64 characters of [A-Za-z0-9_.-], starting with a letter or digit', () => {
    parses([entry({ id: 'K'.repeat(64) })]);
    parses([entry({ id: 'acme-ci.2024_01' })]);
    refused([entry({ id: 'K'.repeat(65) })], /\[0\]\.id must be 1-64 characters/);
    refused([entry({ id: '.hidden' })], /\[0\]\.id/);
  });

  it('sha256: exactly 64 lower-case hex digits', () => {
    refused([entry({ sha256: hashApiKey('secret').toUpperCase() })], /\[0\]\.sha256 must be the hex SHA-256/);
    refused([entry({ sha256: `${hashApiKey('secret')}0` })], /\[0\]\.sha256/);
    refused([entry({ sha256: hashApiKey('secret').slice(1) })], /\[0\]\.sha256/);
  });

  it('hashApiKey is the hex SHA-256 of the key’s UTF-8 bytes', () => {
    assert.equal(hashApiKey('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    assert.equal(hashApiKey('é'), crypto.createHash('sha256').update(Buffer.from('c3a9', 'hex')).digest('hex'));
  });

  it('a keyring holds at most 10,000 keys', () => {
    const many = (n: number) => Array.from({ length: n }, (_, i) => entry({ id: `k${i}`, sha256: hashApiKey(`key-${i}`) }));
    parses(many(10_000));
    refused(many(10_001), /at most 10000 keys/);
  });
});

describe('verify', () => {
  it('a presented key of up to 256 characters is looked up; a longer one never matches, even if its hash is in the keyring', () => {
    assert.equal(MAX_API_KEY_LENGTH, 256);
    const k256 = 'k'.repeat(256);
    const k257 = 'k'.repeat(257);
    const ring = new Keyring([entry({ id: 'a', sha256: hashApiKey(k256) }), entry({ id: 'b', sha256: hashApiKey(k257) })]);
    assert.equal(ring.verify(k256)?.id, 'a');
    assert.equal(ring.verify(k257), undefined);
  });

  it('an empty key never matches, even if a keyring entry holds the hash of ""', () => {
    const ring = new Keyring([entry({ sha256: hashApiKey('') })]);
    assert.equal(ring.verify(''), undefined);
  });

  it('the key is hashed as UTF-8', () => {
    const ring = new Keyring([entry({ sha256: hashApiKey('clé-ü') })]);
    assert.equal(ring.verify('clé-ü')?.id, 'k1');
  });

  describe('constant time: timingSafeEqual against every entry, whatever matched', () => {
    let spy: ReturnType<typeof mock.method>;
    beforeEach(() => {
      spy = mock.method(crypto, 'timingSafeEqual');
      syncBuiltinESMExports(); // the module's named import follows the patched builtin
    });
    afterEach(() => {
      spy.mock.restore();
      syncBuiltinESMExports();
    });

    const keys = ['key-a', 'key-b', 'key-c', 'key-d'];
    const ring = () => new Keyring(keys.map((k, i) => entry({ id: `id${i}`, tenant: `t${i}`, sha256: hashApiKey(k) })));

    for (const [name, presented, want] of [
      ['a match on the first entry', 'key-a', 'id0'],
      ['a match in the middle', 'key-c', 'id2'],
      ['a match on the last entry', 'key-d', 'id3'],
      ['no match', 'key-x', undefined],
    ] as const) {
      it(`${name}: ${keys.length} comparisons`, () => {
        const r = ring();
        spy.mock.resetCalls();
        assert.equal(r.verify(presented)?.id, want);
        assert.equal(spy.mock.callCount(), keys.length);
      });
    }
  });
});

describe('one key, one entry', () => {
  it('two entries with the same key hash are refused (which tenant the key acts for would depend on their order)', () => {
    const sha256 = 'a'.repeat(64);
    assert.throws(
      () => parseKeyring([{ id: 'k1', tenant: 'acme', sha256 }, { id: 'k2', tenant: 'other', sha256 }], 'API_KEYS'),
      (e: unknown) => e instanceof InputError && e.field === 'API_KEYS' && /\[1\]\.sha256 is the same key as entry \[0\]/.test(e.message),
    );
  });
});
