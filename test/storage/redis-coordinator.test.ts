/** RedisCoordinator against the machine's Redis (unique key prefix per test) and a real s3rver-backed store. */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { ConflictError, StorageError, TransientStorageError } from '../../src/core/errors.js';
import { RedisCoordinator } from '../../src/storage/redis-coordinator.js';
import { cleanupPrefix, connectRedis, keysUnder, uniquePrefix } from '../helpers/redis.js';
import { startRedisServer } from '../helpers/redis-server.js';
import { startTestS3, type TestS3 } from '../helpers/s3.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('RedisCoordinator', () => {
  let t: TestS3;
  let redis: Redis;
  let redis2: Redis;
  let prefix: string;
  before(async () => {
    t = await startTestS3();
    redis = connectRedis();
    redis2 = connectRedis();
  });
  after(async () => {
    redis?.disconnect();
    redis2?.disconnect();
    await t?.stop();
  });
  beforeEach(() => {
    prefix = uniquePrefix();
  });
  afterEach(async () => {
    await cleanupPrefix(redis, prefix);
    assert.deepEqual(await keysUnder(redis, prefix), []);
  });

  it('hands out 1, 2, 3 … for an empty detector, under <prefix>detector:<key>:version', async () => {
    const c = new RedisCoordinator(redis, { keyPrefix: prefix });
    const det = `${t.prefix()}detectors/a/`;
    assert.deepEqual([await c.nextVersion(det, t.store), await c.nextVersion(det, t.store), await c.nextVersion(det, t.store)], [1, 2, 3]);
    assert.equal(await redis.get(`${prefix}detector:${det}:version`), '3');
  });

  it('never hands out one number twice across concurrent callers on two connections', async () => {
    const det = `${t.prefix()}detectors/a/`;
    const a = new RedisCoordinator(redis, { keyPrefix: prefix });
    const b = new RedisCoordinator(redis2, { keyPrefix: prefix });
    const got = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).nextVersion(det, t.store)));
    assert.deepEqual([...got].sort((x, y) => x - y), Array.from({ length: 40 }, (_, i) => i + 1));
  });

  it('starts above the highest v<n>/ already in the store, also after Redis lost its counter', async () => {
    const det = `${t.prefix()}detectors/b/`;
    await t.store.put(`${det}v7/manifest.json`, enc('{}'));
    await t.store.put(`${det}v12/centres.bin`, enc('x')); // an incomplete version still counts as taken
    await t.store.put(`${det}v3/manifest.json`, enc('{}'));
    const fresh = (): RedisCoordinator => new RedisCoordinator(redis, { keyPrefix: prefix });
    assert.equal(await fresh().nextVersion(det, t.store), 13);
    assert.equal(await fresh().nextVersion(det, t.store), 14);
    await cleanupPrefix(redis, prefix); // a Redis restart without persistence
    const [x, y] = await Promise.all([fresh().nextVersion(det, t.store), new RedisCoordinator(redis2, { keyPrefix: prefix }).nextVersion(det, t.store)]);
    assert.deepEqual([x, y].sort((p, q) => p - q), [13, 14]);
  });

  it('runs pointer writers one at a time, with strictly increasing fences', async () => {
    const det = 'detectors/c/';
    const coordinators = [new RedisCoordinator(redis, { keyPrefix: prefix }), new RedisCoordinator(redis2, { keyPrefix: prefix })];
    let active = 0;
    let maxActive = 0;
    const order: number[] = [];
    await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        coordinators[i % 2]!.withPointerLock(det, async (fence) => {
          active++;
          maxActive = Math.max(maxActive, active);
          order.push(fence);
          await sleep(5);
          active--;
        }),
      ),
    );
    assert.equal(maxActive, 1);
    assert.equal(order.length, 12);
    for (let i = 1; i < order.length; i++) assert.ok(order[i]! > order[i - 1]!, `fence ${order[i]} after ${order[i - 1]}`);
    assert.equal(await redis.exists(`${prefix}detector:${det}:lock`), 0, 'lock released');
  });

  it('fences stay above earlier ones after Redis lost the fence counter', async () => {
    const det = 'detectors/d/';
    const c = new RedisCoordinator(redis, { keyPrefix: prefix });
    const before = await c.withPointerLock(det, async (f) => f);
    await cleanupPrefix(redis, prefix);
    const afterRestart = await c.withPointerLock(det, async (f) => f);
    assert.ok(afterRestart > before, `${afterRestart} > ${before}`);
    assert.ok(Number.isSafeInteger(afterRestart));
  });

  it('releases the lock when the writer throws, and passes the error through', async () => {
    const det = 'detectors/e/';
    const c = new RedisCoordinator(redis, { keyPrefix: prefix, acquireTimeoutMs: 200 });
    await assert.rejects(
      c.withPointerLock(det, async () => {
        throw new StorageError('x', 'boom');
      }),
      /boom/,
    );
    assert.equal(await c.withPointerLock(det, async () => 'next'), 'next');
  });

  it("a replica's READONLY reply (an ElastiCache failover) is a transient error, retried, not a permanent one", async () => {
    const primary = await startRedisServer({ appendonly: false });
    const replica = await startRedisServer({ appendonly: false, args: ['--replicaof', '127.0.0.1', String(primary.port)] });
    const r = new Redis(replica.url, { maxRetriesPerRequest: 1 });
    try {
      const c = new RedisCoordinator(r, { keyPrefix: prefix });
      const err = await c.nextVersion(`${t.prefix()}detectors/ro/`, t.store).then(
        () => assert.fail('a replica takes no writes'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof TransientStorageError, String(err));
      assert.match((err as Error).message, /READONLY|LOADING|MASTERDOWN/); // LOADING while the replica takes its first sync
      const lock = await c.withPointerLock(`${t.prefix()}detectors/ro/`, async () => undefined).catch((e: unknown) => e);
      assert.ok(lock instanceof TransientStorageError && /READONLY|LOADING|MASTERDOWN/.test(lock.message), String(lock));
      // Any other error reply stays a lasting StorageError: a counter key of the wrong type (WRONGTYPE in the script).
      const det = `${t.prefix()}detectors/wrongtype/`;
      await redis.hset(`${prefix}detector:${det}:version`, 'a', '1');
      const wrong = await new RedisCoordinator(redis, { keyPrefix: prefix }).nextVersion(det, t.store).catch((e: unknown) => e);
      assert.ok(wrong instanceof StorageError && !(wrong instanceof TransientStorageError), String(wrong));
      assert.match((wrong as Error).message, /WRONGTYPE/);
    } finally {
      r.disconnect();
      await replica.stop();
      await primary.stop();
    }
  });

  it('gives up waiting for a held lock with a transient error', async () => {
    const det = 'detectors/f/';
    const holder = new RedisCoordinator(redis, { keyPrefix: prefix });
    const waiter = new RedisCoordinator(redis2, { keyPrefix: prefix, acquireTimeoutMs: 100 });
    let release!: () => void;
    const held = holder.withPointerLock(det, () => new Promise<void>((r) => (release = r)));
    await sleep(20);
    const started = Date.now();
    await assert.rejects(waiter.withPointerLock(det, async () => 'never'), (e: unknown) => e instanceof TransientStorageError && e.field === 'lock');
    assert.ok(Date.now() - started >= 90);
    release();
    await held;
  });

  it('an expired holder does not release the new holder\'s lock, and learns that its lock expired', async () => {
    const det = 'detectors/g/';
    const lockKey = `${prefix}detector:${det}:lock`;
    const slow = new RedisCoordinator(redis, { keyPrefix: prefix, lockTtlMs: 100 });
    const next = new RedisCoordinator(redis2, { keyPrefix: prefix, lockTtlMs: 5000 });
    let nextHolding!: () => void;
    const nextHolds = new Promise<void>((r) => (nextHolding = r));
    let finishNext!: () => void;
    const slowRun = slow.withPointerLock(det, async () => {
      await nextHolds; // the lock expired and `next` took it
      return 'slow done';
    });
    await sleep(10);
    const nextRun = next.withPointerLock(det, async (fence) => {
      nextHolding();
      await new Promise<void>((r) => (finishNext = r));
      return fence;
    });
    await assert.rejects(slowRun, (e: unknown) => e instanceof ConflictError && /expired/.test(e.message));
    assert.equal(await redis.exists(lockKey), 1, "next's lock is still there");
    finishNext();
    assert.ok((await nextRun) > 0);
    assert.equal(await redis.exists(lockKey), 0);
  });

  it('a Redis that cannot be reached is a transient error', async () => {
    const dead = new Redis({ host: '127.0.0.1', port: 1, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
    dead.on('error', () => undefined);
    try {
      const c = new RedisCoordinator(dead, { keyPrefix: prefix });
      await assert.rejects(c.nextVersion('detectors/h/', t.store), TransientStorageError);
      await assert.rejects(c.withPointerLock('detectors/h/', async () => 1), TransientStorageError);
    } finally {
      dead.disconnect();
    }
  });
});
