/**
 * JobClient against a real Redis (127.0.0.1:6379, a unique queue prefix; no mocks of BullMQ): every job belongs to a
 * tenant. A missing or invalid tenant is an InputError naming `tenant`, thrown before anything reaches Redis (enqueue)
 * or the bucket (status).
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { InputError, NotFoundError } from '../../src/core/errors.js';
import { JobClient } from '../../src/queue/client.js';
import type { ObjectStore } from '../../src/storage/object-store.js';
import { until } from '../helpers/procs.js';
import { cleanupPrefix, connectRedis, keysUnder, uniquePrefix } from '../helpers/redis.js';

describe('JobClient: the tenant is required (real Redis)', () => {
  const redis = connectRedis();
  const conn = connectRedis();
  const prefix = uniquePrefix().replace(/:$/, '');
  const client = new JobClient({ connection: conn, prefix, attempts: 3, backoffMs: 100 });
  after(async () => {
    await client.close();
    await conn.quit();
    await cleanupPrefix(redis, `${prefix}:`);
    await redis.quit();
  });

  const payload = { detector: 'd1', model: 'lenet5', dataset: 'eval', layer: 'output', nCluster: 10 };
  const bad: [string, unknown][] = [
    ['missing', undefined],
    ['null', null],
    ['empty', ''],
    ['a path out', '../other'],
    ['a path', 'tenant-a/x'],
    ['upper case', 'Tenant-A'],
    ['64 characters', 'a'.repeat(64)],
    ['a leading hyphen', '-a'],
    ['a number', 42],
  ];
  const isTenantError = (e: unknown) => e instanceof InputError && e.field === 'tenant' && /^tenant: /.test(e.message);
  /** A store that no call may reach. */
  const untouchable = new Proxy({} as ObjectStore, {
    get: (_t, prop) => () => assert.fail(`the store was used (${String(prop)})`),
  });
  /** A tenant's view holding no job results. */
  const empty = { location: 'empty', head: async () => undefined } as unknown as ObjectStore;

  test('enqueue with a missing or invalid tenant throws InputError naming tenant and adds nothing to Redis', async () => {
    // Connected and initialised (BullMQ writes the queue's `meta` key on its own once connected): a refusal below is the
    // validation's, not an unready Redis's, and any key that appears after this is the enqueue's.
    await client.queue.waitUntilReady();
    await until(async () => ((await keysUnder(redis, `${prefix}:`)).length > 0 ? true : undefined), 5000, "the queue's meta key");
    const before = await keysUnder(redis, `${prefix}:`);
    for (const [what, tenant] of bad) {
      await assert.rejects(client.enqueue('fit', payload, tenant as string), isTenantError, what);
    }
    assert.deepEqual(await keysUnder(redis, `${prefix}:`), before, 'no key written under the queue prefix');
    const counts = await client.queue.getJobCounts();
    assert.equal(Object.values(counts).reduce((a, b) => a + b, 0), 0, `no job in any state: ${JSON.stringify(counts)}`);
    // The same call with a tenant enqueues, with the tenant beside the payload (so the checks above could fail).
    const id = await client.enqueue('fit', payload, 'tenant-a');
    assert.deepEqual((await client.queue.getJob(id))?.data, { ...payload, tenant: 'tenant-a' });
    assert.notDeepEqual(await keysUnder(redis, `${prefix}:`), before);
  });

  test('status with a missing or invalid tenant throws InputError naming tenant; a job is only its own tenant\'s', async () => {
    const id = await client.enqueue('fit', payload, 'tenant-a');
    for (const [what, tenant] of bad) {
      await assert.rejects(client.status(id, untouchable, tenant as string), isTenantError, what);
    }
    assert.equal((await client.status(id, untouchable, 'tenant-a')).state, 'waiting');
    await assert.rejects(client.status(id, empty, 'tenant-b'), NotFoundError, "another tenant's job does not exist");
    // A job put on the queue without a tenant (past enqueue) is nobody's.
    await client.queue.add('fit', payload, { jobId: 'no-tenant-1' });
    await assert.rejects(client.status('no-tenant-1', empty, 'tenant-a'), NotFoundError);
  });
});
