/**
 * Round robin across tenants (src/queue/fair-order.ts), against the machine's Redis and real BullMQ workers; jobs are
 * enqueued through JobClient (the quota and the priority of a real enqueue). The workers' processor only records which
 * tenant's job started (the order is what is under test, not the work), and waits for the re-ranks under way before it
 * returns, so every run gives the same order. Each test has a queue prefix of its own.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { Queue, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/log.js';
import { JobClient } from '../../src/queue/client.js';
import { FairOrder, keepFairOrder, priorityOfRank, rerankTenant } from '../../src/queue/fair-order.js';
import { jobTenant } from '../../src/queue/jobs.js';
import { QUEUE_NAME } from '../../src/queue/names.js';
import { tenantJobsKey } from '../../src/queue/quota.js';
import { startWorker } from '../../src/queue/worker.js';
import { captureLogger } from '../helpers/log-capture.js';
import { orTimeout, until } from '../helpers/procs.js';
import { cleanupPrefix, connectRedis, REDIS_URL, uniquePrefix } from '../helpers/redis.js';
import { startTestS3 } from '../helpers/s3.js';

const FIT = { detector: 'd', model: 'm', dataset: 'x', layer: 'output', nCluster: 5, seed: 0 } as const;

describe('fair order across tenants (real Redis, BullMQ workers)', () => {
  const redis = connectRedis();
  const prefixes: string[] = [];
  const conns: Redis[] = [];
  const closers: (() => Promise<unknown>)[] = [];

  after(async () => {
    for (const c of closers.reverse()) await c().catch(() => undefined);
    for (const c of conns) c.disconnect();
    for (const p of prefixes) await cleanupPrefix(redis, `${p}:`);
    await redis.quit();
  });

  const setup = () => {
    const prefix = uniquePrefix().replace(/:$/, '');
    prefixes.push(prefix);
    const conn = (opts: { maxRetriesPerRequest: number | null }) => {
      const c = new Redis(REDIS_URL, opts);
      conns.push(c);
      return c;
    };
    const client = new JobClient({ connection: conn({ maxRetriesPerRequest: 1 }), prefix, attempts: 1, backoffMs: 100 });
    closers.push(() => client.close());
    const enqueue = (tenant: string) => client.enqueue('fit', FIT, tenant);
    /**
     * A worker (concurrency 1) that records the tenant of each job it starts; with `fair`, kept in fair order as
     * startWorker's is. `onDone(tenant)` runs when a job completes, before the worker takes its next one's result;
     * `rankRedis` wraps the connection the re-ranks use (to inject failures); `idle()` waits for the re-ranks under way.
     */
    const startRecorder = (fair: boolean, total: number, onDone?: (tenant: string) => Promise<void>, rankRedis?: (r: Redis) => Redis) => {
      const started: string[] = [];
      const pending = new Set<Promise<void>>();
      let order: FairOrder | undefined;
      let finish!: () => void;
      const finished = new Promise<void>((resolve) => (finish = resolve));
      const worker = new Worker(
        QUEUE_NAME,
        async (job: Job) => {
          started.push(jobTenant(job.data)!);
          // The re-rank (and the test's enqueue) that the previous job's end set off land before this job ends, i.e.
          // before the worker picks the one after it; a real job takes far longer than either.
          await order?.idle();
          await Promise.all(pending);
        },
        { connection: conn({ maxRetriesPerRequest: null }), prefix, concurrency: 1, autorun: false },
      );
      const rankConn = conn({ maxRetriesPerRequest: 1 });
      const rankQueue = new Queue(QUEUE_NAME, { connection: rankConn, prefix });
      if (fair) order = keepFairOrder(worker, () => rankQueue, rankRedis ? rankRedis(rankConn) : rankConn, prefix);
      worker.on('completed', (job: Job) => {
        if (onDone) {
          const p: Promise<void> = onDone(jobTenant(job.data)!).finally(() => pending.delete(p));
          pending.add(p);
        }
        if (started.length === total) finish();
      });
      closers.push(() => rankQueue.close(), () => worker.close());
      return { started, idle: async () => order?.idle(), done: async () => assert.notEqual(await orTimeout(finished, 60_000), 'timeout', `only ${started.length} of ${total} jobs started: ${started.join(' ')}`), run: () => void worker.run() };
    };
    return { prefix, client, enqueue, startRecorder };
  };

  test('a job is enqueued with its rank among its tenant\'s jobs in flight as its priority', async () => {
    const { client, enqueue } = setup();
    const a = [await enqueue('fair-a'), await enqueue('fair-a'), await enqueue('fair-a')];
    const b = [await enqueue('fair-b'), await enqueue('fair-b')];
    const priorities = async (ids: string[]) => Promise.all(ids.map(async (id) => (await client.queue.getJob(id))!.priority));
    assert.deepEqual(await priorities(a), [1, 2, 3]);
    assert.deepEqual(await priorities(b), [1, 2]);
    assert.throws(() => priorityOfRank(0), RangeError);
    assert.throws(() => priorityOfRank(1.5), RangeError);
  });

  test('rerankTenant moves a tenant\'s jobs up when an earlier one is gone, and is idempotent', async () => {
    const { prefix, client, enqueue } = setup();
    const ids = [await enqueue('fair-a'), await enqueue('fair-a'), await enqueue('fair-a')];
    await client.queue.remove(ids[0]!);
    assert.equal(await rerankTenant(client.queue, redis, prefix, 'fair-a'), 2);
    assert.deepEqual(await Promise.all(ids.slice(1).map(async (id) => (await client.queue.getJob(id))!.priority)), [1, 2]);
    assert.equal(await rerankTenant(client.queue, redis, prefix, 'fair-a'), 0, 'nothing left to change');
    assert.equal(await rerankTenant(client.queue, redis, prefix, 'fair-nobody'), 0);
  });

  test('rerankTenant keeps the enqueue order of jobs added in the same millisecond (ids sorting the other way)', async () => {
    const { prefix, client } = setup();
    const at = Date.now();
    const ids = ['j4', 'j3', 'j2', 'j1']; // enqueued in this order, ranks 1..4, one timestamp
    for (const [i, id] of ids.entries()) {
      await client.queue.add('fit', { ...FIT, tenant: 'fair-a' }, { jobId: id, priority: i + 1, timestamp: at });
      await redis.zadd(tenantJobsKey(prefix, 'fair-a'), 0, id);
    }
    await client.queue.remove('j4');
    assert.equal(await rerankTenant(client.queue, redis, prefix, 'fair-a'), 3);
    assert.deepEqual(await Promise.all(['j3', 'j2', 'j1'].map(async (id) => (await client.queue.getJob(id))!.priority)), [1, 2, 3]);
  });

  test('queued work: one worker takes the tenants in turn, not one tenant\'s whole backlog first', async () => {
    const { enqueue, startRecorder } = setup();
    for (const [tenant, n] of [['fair-a', 6], ['fair-b', 3], ['fair-c', 2]] as const) for (let i = 0; i < n; i++) await enqueue(tenant);
    const r = startRecorder(true, 11);
    r.run();
    await r.done();
    assert.deepEqual(r.started.map((t) => t.slice(-1)), ['a', 'b', 'c', 'a', 'b', 'c', 'a', 'b', 'a', 'a', 'a']);
  });

  // Tenant a queues 4 jobs; tenants b and c each keep one job queued, enqueueing the next as theirs completes (6 each).
  const streaming = async (fair: boolean): Promise<string[]> => {
    const { enqueue, startRecorder } = setup();
    for (let i = 0; i < 4; i++) await enqueue('fair-a');
    await enqueue('fair-b');
    await enqueue('fair-c');
    const sent = { 'fair-b': 1, 'fair-c': 1 } as Record<string, number>;
    const r = startRecorder(fair, 16, async (tenant) => {
      if (tenant in sent && sent[tenant]! < 6) {
        sent[tenant]!++;
        await enqueue(tenant);
      }
    });
    r.run();
    await r.done();
    return r.started.map((t) => t.slice(-1));
  };

  test('streaming tenants: with re-ranking, a backlogged tenant still gets every third start', async () => {
    assert.deepEqual(await streaming(true), ['a', 'b', 'c', 'a', 'b', 'c', 'a', 'b', 'c', 'a', 'b', 'c', 'b', 'c', 'b', 'c']);
  });

  test('control: ranks set only at enqueue starve the backlogged tenant until the others stop', async () => {
    // The same scenario without the re-rank on job end: a's later jobs keep priorities 2..4 while b and c keep
    // enqueueing at priority 1, so a waits for all of their jobs. This is what FairOrder prevents.
    assert.deepEqual(await streaming(false), ['a', 'b', 'c', 'b', 'c', 'b', 'c', 'b', 'c', 'b', 'c', 'b', 'c', 'a', 'a', 'a']);
  });

  test('an enqueue racing its tenant\'s job end: the new job is ranked 1st, not left behind every other tenant\'s first job', async () => {
    // a1 holds a slot when a2 reserves (rank 2); a1 ends and its re-rank runs before a2 is added (a predict storing its
    // images in between), so that re-rank cannot see a2. a2 is then the tenant's only job in flight and must be ranked
    // 1st: at rank 2 it waits for as long as the streaming tenants keep a job queued, and no job of its tenant ends to
    // re-rank it.
    const { prefix, client, enqueue, startRecorder } = setup();
    await enqueue('fair-a');
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const late = client.enqueuePrepared('fit', 'fair-a', async () => (await gate, FIT));
    await until(async () => ((await redis.zcard(tenantJobsKey(prefix, 'fair-a'))) === 2 ? true : undefined), 10_000, 'the second slot');
    await enqueue('fair-b');
    await enqueue('fair-c');
    const sent = { 'fair-b': 1, 'fair-c': 1 } as Record<string, number>;
    const r = startRecorder(true, 14, async (tenant) => {
      if (tenant === 'fair-a' && sent['fair-a'] === undefined) {
        sent['fair-a'] = 1;
        await r.idle(); // a1's re-rank is done before a2 is added
        open();
        await late;
      } else if (tenant in sent && tenant !== 'fair-a' && sent[tenant]! < 6) {
        sent[tenant]!++;
        await enqueue(tenant);
      }
    });
    r.run();
    await r.done();
    assert.deepEqual(r.started.map((t) => t.slice(-1)), ['a', 'b', 'c', 'a', 'b', 'c', 'b', 'c', 'b', 'c', 'b', 'c', 'b', 'c']);
  });

  test('a re-rank that fails is run again at the next job end (of any tenant), not only at its own tenant\'s next one', async () => {
    // a1's re-rank fails (a Redis blip): a2 and a3 keep ranks 2 and 3 while no job of theirs runs, so no job of
    // tenant a ends to re-rank them; with b and c streaming, they would wait until b and c stop.
    const { enqueue, startRecorder } = setup();
    for (let i = 0; i < 3; i++) await enqueue('fair-a');
    await enqueue('fair-b');
    await enqueue('fair-c');
    let failures = 1;
    const flaky = (conn: Redis): Redis =>
      new Proxy(conn, {
        get(target, p) {
          if (p === 'zrange' && failures > 0) {
            failures--;
            return async () => Promise.reject(new Error('injected: Redis unreachable'));
          }
          const v = Reflect.get(target, p, target) as unknown;
          return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
        },
      });
    const sent = { 'fair-b': 1, 'fair-c': 1 } as Record<string, number>;
    const r = startRecorder(
      true,
      15,
      async (tenant) => {
        await r.idle(); // the re-ranks this job end set off land before the next enqueue (a deterministic order)
        if (tenant in sent && sent[tenant]! < 6) {
          sent[tenant]!++;
          await enqueue(tenant);
        }
      },
      flaky,
    );
    r.run();
    await r.done();
    assert.equal(failures, 0, 'the failure was injected');
    assert.deepEqual(r.started.map((t) => t.slice(-1)), ['a', 'b', 'c', 'a', 'b', 'c', 'a', 'b', 'c', 'b', 'c', 'b', 'c', 'b', 'c']);
  });

  test('two re-ranks of one tenant racing (two workers): the one that read first and writes last does not leave stale ranks', async () => {
    const { prefix, client, enqueue } = setup();
    const ids = [await enqueue('fair-a'), await enqueue('fair-a'), await enqueue('fair-a'), await enqueue('fair-a')];
    // Worker 1's re-rank (a1 ended) reads a2..a4, then stalls before writing; worker 2's (a2 ended) reads a3, a4 and
    // writes; then worker 1 writes what it read.
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    let read!: () => void;
    const hasRead = new Promise<void>((resolve) => (read = resolve));
    let stalls = 1;
    const slow = new Proxy(redis, {
      get(target, p) {
        if (p === 'pipeline') {
          return () => {
            const pipe = target.pipeline();
            const exec = pipe.exec.bind(pipe);
            return Object.assign(pipe, {
              exec: async () => {
                const out = await exec();
                if (stalls-- > 0) {
                  read();
                  await gate;
                }
                return out;
              },
            });
          };
        }
        const v = Reflect.get(target, p, target) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    await client.queue.remove(ids[0]!);
    const first = rerankTenant(client.queue, slow, prefix, 'fair-a');
    await hasRead;
    await client.queue.remove(ids[1]!);
    await rerankTenant(client.queue, redis, prefix, 'fair-a');
    open();
    await first;
    assert.deepEqual(await Promise.all(ids.slice(2).map(async (id) => (await client.queue.getJob(id))!.priority)), [1, 2], 'a3 is the oldest in flight');
  });

  test('startWorker keeps the queue in fair order: a job that ends moves its tenant\'s later jobs up', async () => {
    const { prefix, client, enqueue } = setup();
    const s3 = await startTestS3({ bucket: 'imagedrift-fair-order' });
    closers.push(() => s3.stop());
    // A later job of the same tenant that no worker can take yet (delayed a minute), ranked 2nd behind a job that
    // fails at once (its dataset does not exist): when that one fails, the worker must rank the later one 1st.
    const first = await enqueue('fair-a');
    const later = await client.queue.add('fit', { ...FIT, tenant: 'fair-a' }, { jobId: 'later', priority: 2, delay: 60_000 });
    await redis.zadd(tenantJobsKey(prefix, 'fair-a'), 0, later.id!);
    const config = loadConfig({ S3_BUCKET: s3.s3.bucket, S3_ENDPOINT: s3.s3.endpoint, S3_ACCESS_KEY_ID: 'S3RVER', S3_SECRET_ACCESS_KEY: 'S3RVER', REDIS_URL, QUEUE_PREFIX: prefix, LOG_LEVEL: 'silent' });
    const w = await startWorker(config, { handleSignals: false, logger: createLogger('silent') });
    closers.push(() => w.close());
    await until(async () => ((await client.queue.getJobState(first)) === 'failed' ? true : undefined), 30_000, 'the first job to fail');
    await until(async () => ((await client.queue.getJob('later'))!.priority === 1 ? true : undefined), 10_000, 'the later job to be ranked 1st');
    assert.equal(await client.queue.getJobState('later'), 'delayed', 'not taken: only its rank changed');
  });

  test('a re-rank that fails is logged; idle() still resolves', async () => {
    const { prefix, client, enqueue } = setup();
    await enqueue('fair-a');
    const dead = new Redis(REDIS_URL, { maxRetriesPerRequest: 1, lazyConnect: true });
    dead.disconnect();
    const log = captureLogger();
    const order = new FairOrder(() => client.queue, dead, prefix, log.logger);
    order.jobEnded('fair-a');
    order.jobEnded('fair-a'); // coalesced into one more run after the first
    assert.notEqual(await orTimeout(order.idle(), 10_000), 'timeout');
    const warned = log.find("re-ranking the tenant's waiting jobs failed; the next job to end, any tenant's, re-ranks them");
    assert.equal(warned.length, 2, log.tail());
    assert.equal(warned[0]!.tenant, 'fair-a');
  });
});
