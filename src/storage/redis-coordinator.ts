/**
 * The Redis `VersionCoordinator`: how concurrent writers (HTTP functions, worker processes) agree on detector version
 * numbers and on who moves `current.json`.
 *
 * Design (issue 3, "compare-and-swap of the current pointer"):
 * - Version numbers: `INCR <prefix>detector:<detectorKey>:version`. Redis has no persistence here, so a missing counter
 *   is (re)initialised from the highest `v<n>/` already in the store, by a Lua script that raises the counter to that
 *   floor and increments it in one step. A fresh or flushed Redis over an existing bucket therefore never hands out a
 *   version that exists, and concurrent initialisers cannot both get the same number.
 * - Pointer moves: S3 conditional writes are not used. The local S3 (s3rver) accepts `If-Match` but does not enforce
 *   it, so a CAS built on it would pass the tests without being tested. Instead the move is serialised by a Redis lock
 *   (`SET NX PX` with a random token, retried with backoff, released by a Lua script only if the token still matches)
 *   and carries a fencing token (`INCR <prefix>detector:<detectorKey>:fence`, floored at Redis's clock in µs so it
 *   keeps growing across a Redis restart) that is also written into current.json.
 *   DetectorRepository refuses to write the pointer when the stored fence is ≥ its own, so a holder whose lock expired
 *   and was taken over cannot move the pointer back once the newer holder has written.
 *
 * What is not proven here:
 * - The fence check is read-then-write. A holder that pauses for longer than `lockTtlMs` *between* reading the
 *   pointer and its PUT landing is stopped by the store, not by this lock: DetectorRepository writes the pointer with
 *   `If-Match` on the ETag it read, which AWS S3 enforces atomically. s3rver does not, so against it only S3Store's
 *   HEAD just before the PUT stands in for that (not atomic).
 * - Redis is a single instance without persistence. After a restart the version counter is re-derived from the store
 *   and the fence from Redis's clock (so it assumes that clock does not go back); a lock held across the restart is
 *   lost, so the fence check is the only guard for a writer that straddles it.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { ConflictError, ImagedriftError, InputError, StorageError, TransientStorageError } from '../core/errors.js';
import type { VersionCoordinator } from './detector-repository.js';
import type { ObjectStore } from './object-store.js';

/** INCR only if the counter exists; nil otherwise (the caller then initialises it from the store). */
const INCR_IF_EXISTS = `if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('INCR', KEYS[1]) end return false`;
/** Raise the counter to at least ARGV[1], then INCR. */
const RAISE_AND_INCR = `local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if cur < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end
return redis.call('INCR', KEYS[1])`;
/**
 * The next fence: INCR, after raising the counter to Redis's clock in microseconds, so fences stay above every fence
 * already written to a pointer even after Redis lost the counter (restart without persistence). ~1.7e15 < 2^53.
 */
const FENCE = `local t = redis.call('TIME')
local floor = tonumber(t[1]) * 1000000 + tonumber(t[2])
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if cur < floor then redis.call('SET', KEYS[1], string.format('%.0f', floor)) end
return redis.call('INCR', KEYS[1])`;
/** Delete the lock only if we still hold it. */
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

export interface RedisCoordinatorOptions {
  /** Prefix for every Redis key (tests use a unique one). Default `imagedrift:`. */
  readonly keyPrefix?: string;
  /** How long a pointer lock lives if its holder dies. Default 30 000 ms. */
  readonly lockTtlMs?: number;
  /** How long to wait for the lock before giving up with a transient error. Default 2 × lockTtlMs. */
  readonly acquireTimeoutMs?: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class RedisCoordinator implements VersionCoordinator {
  readonly keyPrefix: string;
  readonly lockTtlMs: number;
  readonly acquireTimeoutMs: number;

  constructor(
    private readonly redis: Redis,
    opts: RedisCoordinatorOptions = {},
  ) {
    const ttl = opts.lockTtlMs ?? 30_000;
    if (!Number.isInteger(ttl) || ttl < 1) throw new InputError('lockTtlMs', `must be a positive integer, got ${ttl}`);
    const wait = opts.acquireTimeoutMs ?? 2 * ttl;
    if (!Number.isInteger(wait) || wait < 0) throw new InputError('acquireTimeoutMs', `must be a non-negative integer, got ${wait}`);
    this.keyPrefix = opts.keyPrefix ?? 'imagedrift:';
    this.lockTtlMs = ttl;
    this.acquireTimeoutMs = wait;
  }

  private redisKey(detectorKey: string, what: 'version' | 'fence' | 'lock'): string {
    return `${this.keyPrefix}detector:${detectorKey}:${what}`;
  }

  /**
   * INCR of the version counter. When the counter is missing (first use, or Redis restarted without persistence) it is
   * first raised to the highest `v<n>/` already in the store, atomically with the INCR.
   */
  async nextVersion(detectorKey: string, store: ObjectStore): Promise<number> {
    const key = this.redisKey(detectorKey, 'version');
    const n = await this.call('version', () => this.redis.eval(INCR_IF_EXISTS, 1, key));
    if (typeof n === 'number') return n;
    const floor = await highestVersion(store, detectorKey);
    return toInt(await this.call('version', () => this.redis.eval(RAISE_AND_INCR, 1, key, String(floor))), 'version');
  }

  /**
   * Holds `<prefix>detector:<detectorKey>:lock` while `write(fence)` runs. Waits (jittered exponential backoff, 5 ms
   * up to 250 ms) at most `acquireTimeoutMs`, then throws a TransientStorageError. If the lock expired while `write`
   * ran (the holder was slower than `lockTtlMs`), throws a ConflictError after `write` returns, so the caller knows
   * its write was not protected.
   */
  async withPointerLock<T>(detectorKey: string, write: (fence: number) => Promise<T>): Promise<T> {
    const lockKey = this.redisKey(detectorKey, 'lock');
    const token = randomBytes(16).toString('hex');
    const deadline = Date.now() + this.acquireTimeoutMs;
    for (let delay = 5; ; delay = Math.min(250, delay * 2)) {
      const ok = await this.call('lock', () => this.redis.set(lockKey, token, 'PX', this.lockTtlMs, 'NX'));
      if (ok === 'OK') break;
      if (Date.now() >= deadline) {
        throw new TransientStorageError('lock', `could not acquire the pointer lock for ${detectorKey} within ${this.acquireTimeoutMs} ms`);
      }
      await sleep(Math.min(delay / 2 + Math.random() * delay, Math.max(1, deadline - Date.now())));
    }
    let released = false;
    try {
      const fence = toInt(await this.call('fence', () => this.redis.eval(FENCE, 1, this.redisKey(detectorKey, 'fence'))), 'fence');
      const result = await write(fence);
      released = (await this.release(lockKey, token)) === 1;
      if (!released) {
        throw new ConflictError('lock', `the pointer lock for ${detectorKey} expired while fence ${fence} was being written (lockTtlMs=${this.lockTtlMs})`);
      }
      return result;
    } finally {
      if (!released) await this.release(lockKey, token).catch(() => undefined);
    }
  }

  private async release(lockKey: string, token: string): Promise<number> {
    return toInt(await this.call('lock', () => this.redis.eval(RELEASE, 1, lockKey, token)), 'lock');
  }

  /** Runs a Redis command; connection problems become TransientStorageError, Redis replies become StorageError. */
  private async call<T>(field: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      if (e instanceof ImagedriftError) throw e;
      const err = e as Error;
      // Replies of a Redis that is failing over, loading or out of memory pass; any other reply is a lasting error.
      if (err.name === 'ReplyError' && !isTransientRedisReply(err)) throw new StorageError(field, `redis: ${err.message}`, { cause: e });
      throw new TransientStorageError(field, `redis: ${err.message}`, { cause: e });
    }
  }
}

/**
 * Error replies that a retry can outlive: a replica promoted or demoted in a failover (READONLY, MASTERDOWN), a server
 * still loading its data (LOADING), a busy script, a cluster reconfiguring (TRYAGAIN, CLUSTERDOWN), memory full
 * (OOM, until finished jobs expire). As permanent errors they failed a fit at once during an ElastiCache failover.
 */
const TRANSIENT_REPLY = /^(READONLY|LOADING|MASTERDOWN|BUSY|TRYAGAIN|CLUSTERDOWN|OOM)\b/;

/** An ioredis error reply (ReplyError) that a retry can outlive: see TRANSIENT_REPLY. */
export function isTransientRedisReply(e: unknown): boolean {
  const err = e as { name?: string; message?: string } | undefined;
  return err?.name === 'ReplyError' && TRANSIENT_REPLY.test(err.message ?? '');
}

function toInt(v: unknown, field: string): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' ? Number(v) : NaN;
  if (!Number.isSafeInteger(n)) throw new StorageError(field, `redis returned ${JSON.stringify(v)}, expected an integer`);
  return n;
}

/** The highest n for which any `<detectorKey>v<n>/…` object exists (0 when none). */
async function highestVersion(store: ObjectStore, detectorKey: string): Promise<number> {
  let max = 0;
  for (const { key } of await store.list(`${detectorKey}v`)) {
    const m = /^v(\d+)\//.exec(key.slice(detectorKey.length));
    if (m) max = Math.max(max, Number(m[1]));
  }
  return max;
}

