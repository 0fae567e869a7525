/**
 * The ObjectStore contract, as one suite that every implementation runs (LocalDirStore over a temp dir, S3Store over
 * a real s3rver). `setup` returns a store and a root prefix under which the suite owns every key.
 */
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { after, before, describe, it as test } from 'node:test';
import { ConflictError, InputError } from '../../src/core/errors.js';
import { canListFolders, compareKeys, type ObjectStore } from '../../src/storage/object-store.js';

export interface ContractFixture {
  readonly store: ObjectStore;
  /** A fresh prefix ending in `/` (may be '' for a store of its own). */
  readonly root: string;
  teardown(): Promise<void>;
}

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const md5 = (b: Uint8Array): string => createHash('md5').update(b).digest('hex');

export function objectStoreContract(name: string, setup: () => Promise<ContractFixture>): void {
  describe(`ObjectStore contract: ${name}`, () => {
    const it = (title: string, fn: () => Promise<void>): void => {
      test(title, fn);
    };
    let f: ContractFixture;
    let store: ObjectStore;
    // Each test works under its own sub-prefix so tests do not see each other's keys.
    const sub = (): string => `${f.root}${randomUUID().slice(0, 8)}/`;

    before(async () => {
      f = await setup();
      store = f.store;
    });
    after(async () => {
      await f?.teardown();
    });

    it('get and head of a missing key return undefined', async () => {
      const p = sub();
      assert.equal(await store.get(`${p}nope.bin`), undefined);
      assert.equal(await store.head(`${p}nope.bin`), undefined);
    });

    it('round-trips binary bytes, with the size and an ETag (S3: the md5 of the bytes) from head', async () => {
      const p = sub();
      const bytes = new Uint8Array(70_000);
      for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 31 + 7) & 0xff;
      await store.put(`${p}a/b/data.bin`, bytes, { contentType: 'application/octet-stream' });
      const got = await store.get(`${p}a/b/data.bin`);
      assert.ok(got instanceof Uint8Array);
      assert.deepEqual(Buffer.from(got), Buffer.from(bytes));
      const info = await store.head(`${p}a/b/data.bin`);
      const { etag, ...rest } = info!;
      assert.deepEqual(rest, { key: `${p}a/b/data.bin`, size: bytes.length });
      assert.equal(typeof etag, 'string');
      if (store.location.startsWith('s3://')) assert.equal(etag, md5(bytes), "S3's ETag is the md5 of the bytes");
    });

    it('ifMatch writes only over the object as head saw it: a changed or deleted object is a ConflictError and is kept as it is', async () => {
      const p = sub();
      const key = `${p}ptr.json`;
      await store.put(key, enc('{"v":1}'));
      const seen = (await store.head(key))!.etag!;
      await store.put(key, enc('{"v":2}'), { ifMatch: seen });
      assert.equal(new TextDecoder().decode(await store.get(key)), '{"v":2}', 'written over the version it was read at');
      const now = (await store.head(key))!.etag!;
      assert.notEqual(now, seen, 'the ETag changes with a write');
      // A writer still holding the first ETag (it read before the second write) must not overwrite it.
      await assert.rejects(store.put(key, enc('{"v":3}'), { ifMatch: seen }), (e: unknown) => e instanceof ConflictError && /changed since it was read/.test(e.message));
      assert.equal(new TextDecoder().decode(await store.get(key)), '{"v":2}');
      await store.delete(key);
      await assert.rejects(store.put(key, enc('{"v":4}'), { ifMatch: now }), ConflictError, 'nor recreate one deleted since');
      assert.equal(await store.get(key), undefined);
    });

    it('stores an empty object', async () => {
      const p = sub();
      await store.put(`${p}empty`, new Uint8Array(0));
      assert.equal((await store.get(`${p}empty`))?.length, 0);
      assert.equal((await store.head(`${p}empty`))?.size, 0);
    });

    it('put overwrites; ifNoneMatch refuses an existing key with ConflictError and keeps the old bytes', async () => {
      const p = sub();
      await store.put(`${p}k.json`, enc('{"v":1}'));
      await store.put(`${p}k.json`, enc('{"v":2}'));
      assert.equal(new TextDecoder().decode(await store.get(`${p}k.json`)), '{"v":2}');
      await assert.rejects(store.put(`${p}k.json`, enc('{"v":3}'), { ifNoneMatch: true }), ConflictError);
      assert.equal(new TextDecoder().decode(await store.get(`${p}k.json`)), '{"v":2}');
      await store.put(`${p}fresh.json`, enc('{}'), { ifNoneMatch: true });
      assert.equal(new TextDecoder().decode(await store.get(`${p}fresh.json`)), '{}');
    });

    it('delete removes the key; deleting a missing key is a no-op', async () => {
      const p = sub();
      await store.put(`${p}x`, enc('x'));
      await store.delete(`${p}x`);
      assert.equal(await store.get(`${p}x`), undefined);
      await store.delete(`${p}x`);
      await store.delete(`${p}never/was`);
    });

    it('keeps keys with spaces, +, = and non-ASCII characters distinct and intact', async () => {
      const p = sub();
      const keys = [`${p}name with space.npy`, `${p}a+b=c.bin`, `${p}grüße/α.json`];
      for (const [i, k] of keys.entries()) await store.put(k, enc(String(i)));
      for (const [i, k] of keys.entries()) assert.equal(new TextDecoder().decode(await store.get(k)), String(i));
      assert.deepEqual((await store.list(p)).map((o) => o.key), [...keys].sort());
    });

    it('lists keys under a prefix in lexicographic order, with sizes; the prefix is a plain string prefix', async () => {
      const p = sub();
      const names = ['b/2', 'a/1', 'a/10', 'a/2', 'ab', 'c'];
      for (const n of names) await store.put(`${p}${n}`, enc(n.repeat(3)));
      await store.put(`${f.root}elsewhere-${randomUUID()}`, enc('-'));
      const all = await store.list(p);
      assert.deepEqual(all.map((o) => o.key), ['a/1', 'a/10', 'a/2', 'ab', 'b/2', 'c'].map((n) => p + n));
      assert.deepEqual(all.map((o) => o.size), ['a/1', 'a/10', 'a/2', 'ab', 'b/2', 'c'].map((n) => n.length * 3));
      assert.deepEqual((await store.list(`${p}a`)).map((o) => o.key.slice(p.length)), ['a/1', 'a/10', 'a/2', 'ab']);
      assert.deepEqual((await store.list(`${p}a/`)).map((o) => o.key.slice(p.length)), ['a/1', 'a/10', 'a/2']);
      assert.deepEqual(await store.list(`${p}zzz`), []);
    });

    it("lists in S3's order, the keys' UTF-8 bytes: a character above U+FFFF after U+E000-U+FFFF, as compareKeys says", async () => {
      // JavaScript's < compares UTF-16 code units and puts the surrogate pair of U+1F600 (0xD83D…) before U+FF5E.
      const p = sub();
      const keys = [`${p}\u{1F600}.npy`, `${p}\uFF5E.npy`, `${p}z.npy`];
      for (const k of keys) await store.put(k, enc('-'));
      const bytesOrder = [`${p}z.npy`, `${p}\uFF5E.npy`, `${p}\u{1F600}.npy`];
      assert.deepEqual([...keys].sort(compareKeys), bytesOrder);
      assert.deepEqual((await store.list(p)).map((o) => o.key), bytesOrder);
      assert.deepEqual((await store.list(p, { after: `${p}\uFF5E.npy` })).map((o) => o.key), [`${p}\u{1F600}.npy`]);
    });

    it("lists whole keys in S3's order, not segment by segment: 'a-b/x' and 'a.b/x' before 'a/x' ('-' and '.' before '/'); paged with after, every key once", async () => {
      // s3rver walks one directory per segment and listed a/x first; its after-filter compares whole keys, so a listing
      // resumed after a/x's group (at 'a0', as the retention sweep resumes) never saw a-b/ or a.b/.
      const p = sub();
      const order = ['a-b/x', 'a-b/y', 'a.b/x', 'a/x', 'a/y', 'a0/x', 'a_b/x', 'a~/x'].map((n) => p + n);
      for (const k of [...order].reverse()) await store.put(k, enc('-'));
      assert.deepEqual([...order].sort(compareKeys), order);
      assert.deepEqual((await store.list(p)).map((o) => o.key), order);
      const seen: string[] = [];
      let cursor: string | undefined;
      for (let page = 0; page < 10; page++) {
        const got = await store.list(p, { limit: 3, ...(cursor !== undefined ? { after: cursor } : {}) });
        if (got.length === 0) break;
        seen.push(...got.map((o) => o.key));
        cursor = got.at(-1)!.key;
      }
      assert.deepEqual(seen, order, 'every key once, in order');
      assert.deepEqual((await store.list(p, { after: `${p}a-b0` })).map((o) => o.key), order.slice(2), 'after the group a-b/');
      assert.deepEqual((await store.list(p, { after: `${p}a0` })).map((o) => o.key), order.slice(5), 'after the group a/');
    });

    it('pages through a listing with limit and after, visiting every key exactly once', async () => {
      const p = sub();
      const keys = Array.from({ length: 23 }, (_, i) => `${p}k${String(i).padStart(3, '0')}`);
      await Promise.all(keys.map((k) => store.put(k, enc(k))));
      const seen: string[] = [];
      let cursor: string | undefined;
      for (let page = 0; page < 10; page++) {
        const got = await store.list(p, { limit: 5, ...(cursor !== undefined ? { after: cursor } : {}) });
        assert.ok(got.length <= 5, `page ${page} has ${got.length} keys`);
        if (got.length === 0) break;
        seen.push(...got.map((o) => o.key));
        cursor = got[got.length - 1]!.key;
      }
      assert.deepEqual(seen, keys);
      assert.deepEqual((await store.list(p, { after: keys[20]! })).map((o) => o.key), keys.slice(21));
      assert.deepEqual(await store.list(p, { limit: 0 }), []);
      assert.deepEqual((await store.list(p, { after: `${p}k0105` })).map((o) => o.key), keys.slice(11));
    });

    it('lists the folders directly under a prefix (S3 CommonPrefixes) in key order, paged with limit and after', async () => {
      assert.ok(canListFolders(store), `${name} lists folders`);
      const p = sub();
      // Folders holding an object, some more at depth; a key directly under the prefix is no folder. Key order is the
      // order of `<name>/`: 'a-b/' sorts before 'a/' ('-' before '/'), 'B' before 'a'.
      const names = ['a', 'a-b', 'a_b', 'B', 'b0', 'm', 'm-1', 'm0', 'z'];
      await Promise.all([
        ...names.map((n) => store.put(`${p}${n}/x.json`, enc(n))),
        ...names.filter((_, i) => i % 2).map((n) => store.put(`${p}${n}/deep/er/y.json`, enc(n))),
        store.put(`${p}a/y.json`, enc('y')),
        store.put(`${p}loose.json`, enc('loose')),
      ]);
      const expected = names.map((n) => `${p}${n}/`).sort();
      assert.deepEqual(expected.slice(0, 4), [`${p}B/`, `${p}a-b/`, `${p}a/`, `${p}a_b/`]);
      assert.deepEqual(await store.listFolders(p, { limit: 100 }), { folders: expected, more: false });
      assert.deepEqual(await store.listFolders(p, { limit: expected.length }), { folders: expected, more: false }, 'exactly limit: no more');
      const seen: string[] = [];
      let after: string | undefined;
      for (let page = 0; ; page++) {
        assert.ok(page < 10, 'paging ends');
        const got = await store.listFolders(p, { limit: 2, ...(after !== undefined ? { after } : {}) });
        seen.push(...got.folders);
        if (!got.more) break;
        assert.equal(got.folders.length, 2);
        after = got.folders.at(-1);
      }
      assert.deepEqual(seen, expected, 'every folder once, in order');
      // After a folder that holds many keys (a/ holds two, a-b/ one at depth): none of them comes back as that folder.
      assert.deepEqual((await store.listFolders(p, { limit: 3, after: `${p}a/` })).folders, [`${p}a_b/`, `${p}b0/`, `${p}m-1/`]);
      assert.deepEqual((await store.listFolders(p, { limit: 3, after: `${p}m-0/` })).folders, [`${p}m-1/`, `${p}m/`, `${p}m0/`], 'after a folder that does not exist');
      assert.deepEqual(await store.listFolders(p, { limit: 3, after: `${p}z/` }), { folders: [], more: false });
      assert.deepEqual(await store.listFolders(`${p}nothing/`, { limit: 3 }), { folders: [], more: false });
      for (const [opts, field] of [[{ limit: 0 }, 'limit'], [{ limit: 1, after: 'elsewhere/' }, 'after'], [{ limit: 1, after: `${p}a/b/` }, 'after']] as const) {
        await assert.rejects(store.listFolders(p, opts), (e: unknown) => e instanceof InputError && e.field === field, JSON.stringify(opts));
      }
      await assert.rejects(store.listFolders(`${p}a`, { limit: 1 }), (e: unknown) => e instanceof InputError && e.field === 'prefix');
    });

    it('rejects unsafe keys with InputError (field key) on put, get, head and delete', async () => {
      for (const bad of ['../escape', '/abs/key', 'a//b', 'a/./b', 'a/../b', '', 'trailing/']) {
        for (const [op, call] of [
          ['put', () => store.put(bad, enc('x'))],
          ['get', () => store.get(bad)],
          ['head', () => store.head(bad)],
          ['delete', () => store.delete(bad)],
        ] as const) {
          await assert.rejects(call(), InputError, `${op} ${JSON.stringify(bad)}`);
        }
      }
    });
  });
}
