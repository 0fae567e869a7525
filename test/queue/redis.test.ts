/**
 * closeRedis (src/queue/redis.ts) against a private redis-server (test/helpers/redis-server.ts) that is killed or
 * suspended: a connection it closes never reconnects, and a process that closed its connections exits by itself.
 *
 * The hazard it guards against is ioredis's own, shown first as a control: a QUIT sent while Redis is down waits behind
 * a command that is waiting for a reconnect, is flushed with that command's MaxRetriesPerRequestError, and leaves the
 * connection reconnecting forever. This hung a test file's process (test/faults/redis-down.test.ts, via closeJobClient)
 * in CI once in several runs, depending on whether a timed-out command was still queued when the file's `after` ran.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Redis, type RedisOptions } from 'ioredis';
import { closeRedis } from '../../src/queue/redis.js';
import { exitsByItself, freePort, sleep, until } from '../helpers/procs.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';

/** The HTTP functions' job-queue connection options (src/http/queue-deps.ts). */
const FUNCTION_OPTIONS: RedisOptions = { maxRetriesPerRequest: 1, connectTimeout: 5000, commandTimeout: 5000 };
/**
 * The same, reconnecting every 500 ms instead of ioredis's default 50 ms, 100 ms, ...: the queue holds a command until
 * the second failed reconnect flushes it, and this leaves the test 500 ms rather than 50 to queue QUIT behind it.
 */
const QUEUED_OPTIONS: RedisOptions = { ...FUNCTION_OPTIONS, retryStrategy: () => 500 };
/** Longer than ioredis's longest default reconnect delay (2 s): a live connection reconnects at least once in it. */
const WATCH_MS = 3000;

function watched(url: string, opts: RedisOptions): { conn: Redis; reconnects: () => number } {
  const conn = new Redis(url, opts);
  conn.on('error', () => undefined);
  let n = 0;
  conn.on('reconnecting', () => n++);
  return { conn, reconnects: () => n };
}

/** Kills the server under a ready connection and, once the connection has noticed, queues one command for the reconnect. */
async function downWithQueuedCommand(rs: RedisServer, conn: Redis): Promise<{ queued: Promise<unknown> }> {
  await conn.ping();
  await rs.kill('SIGKILL');
  await until(async () => (conn.status === 'ready' ? undefined : true), 5000, 'the connection to notice the kill', 5);
  // Wrapped: an async function returning the promise itself would wait for it.
  return { queued: conn.get('imagedrift:never').catch((e: Error) => e) };
}

describe('closeRedis', () => {
  let rs: RedisServer;
  before(async () => {
    rs = await startRedisServer({ appendonly: false });
  });
  after(() => rs.stop());

  test('control: ioredis quit() while Redis is down behind a queued command rejects and leaves the connection reconnecting', async () => {
    if (!rs.running()) await rs.start();
    const { conn, reconnects } = watched(rs.url, QUEUED_OPTIONS);
    try {
      const { queued } = await downWithQueuedCommand(rs, conn);
      const quit = await conn.quit().then(() => undefined, (e: Error) => e);
      assert.ok(quit instanceof Error && /max retries per request/i.test(quit.message), `quit: ${String(quit)}`);
      const before = reconnects();
      await sleep(WATCH_MS);
      assert.ok(reconnects() > before, 'the scenario no longer reproduces the hazard (has ioredis changed?)');
      await queued;
    } finally {
      conn.disconnect();
    }
  });

  test('the same state: closeRedis returns, and no reconnect follows', async () => {
    if (!rs.running()) await rs.start();
    const { conn, reconnects } = watched(rs.url, QUEUED_OPTIONS);
    const { queued } = await downWithQueuedCommand(rs, conn);
    await closeRedis(conn);
    const before = reconnects();
    await sleep(WATCH_MS);
    assert.equal(reconnects(), before);
    assert.ok((await queued) instanceof Error);
  });

  test('the same state in a process of its own: after closeRedis the process exits by itself', async () => {
    if (!rs.running()) await rs.start();
    // The property that failed in CI: nothing but the connection keeps this child alive, and it never calls exit.
    const r = await exitsByItself(
      `const { Redis } = await import('ioredis');
      const { closeRedis } = await import('./src/queue/redis.ts');
      const conn = new Redis(${JSON.stringify(rs.url)}, { ...${JSON.stringify(FUNCTION_OPTIONS)}, retryStrategy: () => 500 });
      conn.on('error', () => undefined);
      await conn.ping();`,
      () => rs.kill('SIGKILL'),
      `while (conn.status === 'ready') await new Promise((r) => setTimeout(r, 5));
      conn.get('imagedrift:never').catch(() => undefined);
      await closeRedis(conn);`,
      // The queued command times out after commandTimeout (5 s); the process then has nothing left to wait for.
      20_000,
    );
    assert.equal(r.code, 0, `the child did not exit by itself (${String(r.code)}); output: ${r.output}`);
    assert.match(r.output, /done/);
  });

  test('a ready connection: QUIT reaches the server (its client list drops the connection)', async () => {
    if (!rs.running()) await rs.start();
    const { conn, reconnects } = watched(rs.url, { ...FUNCTION_OPTIONS, connectionName: 'imagedrift-close-probe' });
    const observer = new Redis(rs.url);
    try {
      await conn.ping();
      assert.match(String(await observer.client('LIST')), /name=imagedrift-close-probe/);
      await closeRedis(conn);
      assert.equal(conn.status, 'end');
      assert.doesNotMatch(String(await observer.client('LIST')), /name=imagedrift-close-probe/);
      assert.equal(reconnects(), 0);
    } finally {
      observer.disconnect();
    }
  });

  test('a server that stopped answering (SIGSTOP): closeRedis gives up on QUIT after its timeout and drops the socket', async () => {
    if (!rs.running()) await rs.start();
    // The worker's connections have no commandTimeout: a QUIT to a silent server would wait forever.
    const { conn, reconnects } = watched(rs.url, { maxRetriesPerRequest: null });
    await conn.ping();
    rs.suspend();
    try {
      const started = Date.now();
      await closeRedis(conn, 300);
      const took = Date.now() - started;
      assert.ok(took >= 250 && took < 5000, `closeRedis took ${took} ms`);
      await until(async () => (conn.status === 'end' ? true : undefined), 2000, 'the dropped socket to end the connection');
      await sleep(WATCH_MS);
      assert.equal(reconnects(), 0);
    } finally {
      rs.resume();
    }
  });

  test('a connection that never connected (nobody listens on its port): no reconnect follows', async () => {
    const { conn, reconnects } = watched(`redis://127.0.0.1:${await freePort()}`, FUNCTION_OPTIONS);
    await sleep(200);
    assert.notEqual(conn.status, 'ready');
    await closeRedis(conn);
    const before = reconnects();
    await sleep(WATCH_MS);
    assert.equal(reconnects(), before);
  });
});
