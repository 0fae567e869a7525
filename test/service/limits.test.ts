/** getWithinLimit: an object over the service's maxFileBytes is refused on its size, before any byte is read. */
import assert from 'node:assert/strict';
import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { InputError } from '../../src/core/errors.js';
import { getWithinLimit, SERVICE_DECODE_LIMITS } from '../../src/service/limits.js';
import { LocalDirStore } from '../../src/storage/local-dir-store.js';

describe('getWithinLimit (checkObject and audit read through it)', () => {
  let dir = '';
  let store: LocalDirStore;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'imagedrift-limits-'));
    store = new LocalDirStore(dir);
    // A sparse file: 300 MiB long, no disk used. Reading it would allocate 300 MiB.
    await writeFile(join(dir, 'big.npy'), '');
    await truncate(join(dir, 'big.npy'), 300 * 1024 * 1024);
    await writeFile(join(dir, 'small.npy'), 'abc');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('refuses an object over maxFileBytes from its HEAD, without reading it', async () => {
    const rss = process.memoryUsage().rss;
    await assert.rejects(getWithinLimit(store, 'big.npy'), (e: unknown) => e instanceof InputError && e.field === 'size' && /big\.npy is 314572800 bytes \(300 MiB\), more than maxFileBytes 268435456 bytes \(256 MiB\); not read/.test(e.message));
    assert.ok(process.memoryUsage().rss - rss < 100 * 1024 * 1024, 'the object was not read');
  });

  it('uses a size already known (from a listing) and reads objects within the limit', async () => {
    await assert.rejects(getWithinLimit(store, 'small.npy', SERVICE_DECODE_LIMITS.maxFileBytes! + 1), (e: unknown) => e instanceof InputError && e.field === 'size');
    assert.deepEqual(await getWithinLimit(store, 'small.npy'), new TextEncoder().encode('abc'));
    assert.equal(await getWithinLimit(store, 'gone.npy'), undefined);
  });
});
