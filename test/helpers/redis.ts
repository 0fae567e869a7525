/** The machine's Redis (127.0.0.1:6379) for tests, with a unique key prefix per test and SCAN-based cleanup. */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';

export const REDIS_URL = process.env.IMAGEDRIFT_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export function connectRedis(): Redis {
  return new Redis(REDIS_URL, { maxRetriesPerRequest: 2, lazyConnect: false });
}

/** `imagedrift-test:<uuid>:` — no glob characters, so it can be used verbatim in a SCAN MATCH pattern. */
export function uniquePrefix(): string {
  return `imagedrift-test:${randomUUID()}:`;
}

/** Deletes every key under `prefix` (SCAN, not KEYS). Returns how many were deleted. */
export async function cleanupPrefix(redis: Redis, prefix: string): Promise<number> {
  if (!/^[A-Za-z0-9:_-]+$/.test(prefix)) throw new Error(`refusing to clean up an unusual prefix ${JSON.stringify(prefix)}`);
  let cursor = '0';
  let n = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
    cursor = next;
    if (keys.length) n += await redis.del(...keys);
  } while (cursor !== '0');
  return n;
}

export async function keysUnder(redis: Redis, prefix: string): Promise<string[]> {
  const out: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
    cursor = next;
    out.push(...keys);
  } while (cursor !== '0');
  return out.sort();
}
