/**
 * A BullMQ Queue whose one-time connection setup failed is replaced (src/queue/renewing-queue.ts), against a private
 * redis-server that stops answering (SIGSTOP) just after a connection came up, so BullMQ's version request times out.
 * The control shows the hazard on a bare BullMQ Queue: it stays broken after Redis answers again.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { JobClient } from '../../src/queue/client.js';
import { rerankTenant } from '../../src/queue/fair-order.js';
import { QUEUE_NAME } from '../../src/queue/names.js';
import { RenewingQueue } from '../../src/queue/renewing-queue.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';

const FIT = { detector: 'd', model: 'm', dataset: 'x', layer: 'output', nCluster: 5, seed: 0 } as const;
const outcome = (p: Promise<unknown>): Promise<string> =>
  p.then(
    () => 'ok',
    (e: Error) => e.message,
  );

describe('a Queue whose connection setup failed is replaced (private redis-server)', () => {
  let rs: RedisServer;
  const conns: Redis[] = [];
  const closers: (() => Promise<unknown>)[] = [];

  before(async () => {
    rs = await startRedisServer({ appendonly: false });
  });
  after(async () => {
    rs.resume();
    for (const c of closers) await c().catch(() => undefined);
    for (const c of conns) c.disconnect();
    await rs.stop();
  });

  /** A fail-fast connection (as the functions' job client and the worker's re-ranks use) that is up, on a Redis that then stops answering. */
  const stalledConnection = async (): Promise<Redis> => {
    const c = new Redis(rs.url, { maxRetriesPerRequest: 1, commandTimeout: 500 });
    conns.push(c);
    await new Promise((resolve) => c.once('ready', resolve));
    rs.suspend();
    return c;
  };

  test('control: a bare BullMQ Queue made during the stall fails every call after Redis answers again', async () => {
    const conn = await stalledConnection();
    const q = new Queue(QUEUE_NAME, { connection: conn, prefix: 'renew-control' });
    q.on('error', () => undefined);
    closers.push(() => q.close());
    assert.equal(await outcome(q.add('fit', FIT)), 'Command timed out');
    rs.resume();
    assert.equal(await conn.ping(), 'PONG', 'the connection itself recovered');
    assert.equal(await outcome(q.add('fit', FIT)), 'Command timed out', 'the Queue did not');
    assert.equal(await outcome(q.getJobCounts()), 'Command timed out');
  });

  test('JobClient: the call that met the failed setup fails; the next one, with Redis back, enqueues', async () => {
    const conn = await stalledConnection();
    const client = new JobClient({ connection: conn, prefix: 'renew-client', attempts: 1, backoffMs: 100 });
    closers.push(() => client.close());
    const stalled = client.queue;
    assert.equal(await outcome(client.enqueue('fit', FIT, 't')), 'Command timed out');
    rs.resume();
    const id = await client.enqueue('fit', FIT, 't');
    assert.notEqual(client.queue, stalled, 'a new Queue');
    assert.equal((await client.queue.getJob(id))?.data.tenant, 't');
  });

  test('RenewingQueue keeps a healthy Queue, and re-ranks (fair-order) work on its replacement', async () => {
    const healthyConn = new Redis(rs.url, { maxRetriesPerRequest: 1 });
    conns.push(healthyConn);
    const healthy = new RenewingQueue(healthyConn, 'renew-healthy');
    closers.push(() => healthy.close());
    await healthy.get().getJobCounts();
    await healthy.get().getJobCounts();
    assert.equal(healthy.made, 1, 'never replaced while its setup holds');

    const conn = await stalledConnection();
    const rq = new RenewingQueue(conn, 'renew-rank');
    closers.push(() => rq.close());
    assert.equal(await outcome(rq.get().waitUntilReady()), 'Command timed out', 'the setup failed');
    rs.resume();
    // A tenant job left at rank 2 (its elder removed), so the re-rank must reach the queue to move it.
    const client = new JobClient({ connection: conn, prefix: 'renew-rank', attempts: 1, backoffMs: 100 });
    closers.push(() => client.close());
    const [first, second] = [await client.enqueue('fit', FIT, 't'), await client.enqueue('fit', FIT, 't')];
    await client.queue.remove(first);
    assert.equal(await rerankTenant(rq.get(), conn, 'renew-rank', 't'), 1, 'the replacement answers');
    assert.equal((await client.queue.getJob(second))?.priority, 1);
    assert.equal(rq.made, 2);
  });
});
