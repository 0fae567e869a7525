/**
 * The per-tenant cap on jobs in flight (src/queue/quota.ts, JobClient), against the machine's Redis and real BullMQ
 * workers (in-process, and worker processes for the SIGKILL case) over s3rver; nothing is mocked. Each test has a
 * queue prefix of its own, so one test's jobs never count in another's.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import type { Redis } from 'ioredis';
import { loadConfig, type Config } from '../../src/config.js';
import { TooManyJobsError, TransientStorageError } from '../../src/core/errors.js';
import { createLogger } from '../../src/log.js';
import { JobClient, type JobClientOptions } from '../../src/queue/client.js';
import { startWorker, type WorkerHandle } from '../../src/queue/worker.js';
import { closeExtractors } from '../../src/service/extractor-cache.js';
import { putDataset, putModel } from '../../src/service/datasets.js';
import { tenantStore, type PrefixedStore } from '../../src/storage/tenant-store.js';
import { REPO, SEED } from '../helpers/paths.js';
import { sleep, stopChild, until, type Child } from '../helpers/procs.js';
import { cleanupPrefix, connectRedis, keysUnder, REDIS_URL, uniquePrefix } from '../helpers/redis.js';
import { startTestS3, type TestS3 } from '../helpers/s3.js';
import { putRepeatedTrainSet, startWorkerProcess, workerEnv } from '../helpers/workers.js';

const TENANT = 'quota-a';
const OTHER = 'quota-b';
/** A fit that completes in about a second (the seed's 100 evaluation images). */
const FIT = { detector: 'q', model: 'lenet5', dataset: 'eval', layer: 'output', nCluster: 5, seed: 0 } as const;
/** A fit the worker fails at once, without retry (NOT_FOUND: an input error). */
const MISSING = { ...FIT, dataset: 'missing' } as const;

const isTooMany = (limit: number, inFlight: number) => (e: unknown) =>
  e instanceof TooManyJobsError && e.code === 'TOO_MANY_JOBS' && e.limit === limit && e.inFlight === inFlight && new RegExp(`has ${inFlight} jobs in flight .* the limit is ${limit} per tenant \\(MAX_JOBS_PER_TENANT\\)`).test(e.message);

describe('MAX_JOBS_PER_TENANT: jobs in flight per tenant (real Redis, BullMQ workers, s3rver)', () => {
  let s3: TestS3;
  let view: PrefixedStore;
  const redis = connectRedis();
  const prefixes: string[] = [];
  const conns: Redis[] = [];
  const clients: JobClient[] = [];
  const workers: WorkerHandle[] = [];
  const children: Child[] = [];

  before(async () => {
    s3 = await startTestS3({ bucket: 'imagedrift-quota' });
    view = tenantStore(s3.store, TENANT);
    await putModel(view, { id: 'lenet5', bytes: new Uint8Array(await readFile(`${REPO}models/lenet5.onnx`)) });
    await putDataset(view, { id: 'eval', name: 'eval.npy', bytes: new Uint8Array(await readFile(`${SEED}concept_test_lenet1.npy`)) });
  });
  after(async () => {
    for (const c of children) await stopChild(c);
    for (const w of workers) await w.close();
    for (const c of clients) await c.close();
    for (const c of conns) await c.quit();
    await closeExtractors();
    for (const p of prefixes) await cleanupPrefix(redis, `${p}:`);
    await redis.quit();
    await s3.stop();
  });

  /** A queue of the test's own: a prefix, clients on it (each on its own connection) and workers. */
  function queue() {
    const prefix = uniquePrefix().replace(/:$/, '');
    prefixes.push(prefix);
    const config = (s3Endpoint = s3.s3.endpoint): Config =>
      loadConfig({ S3_BUCKET: s3.s3.bucket, S3_ENDPOINT: s3Endpoint, S3_ACCESS_KEY_ID: 'S3RVER', S3_SECRET_ACCESS_KEY: 'S3RVER', REDIS_URL, QUEUE_PREFIX: prefix, LOG_LEVEL: 'silent' });
    return {
      prefix,
      config,
      client(opts: Partial<JobClientOptions> = {}): JobClient {
        const connection = connectRedis();
        conns.push(connection);
        const c = new JobClient({ connection, prefix, attempts: 3, backoffMs: 100, maxJobsPerTenant: 1, ...opts });
        clients.push(c);
        return c;
      },
      async worker(s3Endpoint?: string): Promise<WorkerHandle> {
        const w = await startWorker(config(s3Endpoint), { handleSignals: false, logger: createLogger('silent') });
        workers.push(w);
        return w;
      },
    };
  }

  const state = (c: JobClient, id: string, want: string | string[], timeoutMs = 60_000) =>
    until(async () => ([want].flat().includes(await c.queue.getJobState(id)) ? true : undefined), timeoutMs, `job ${id} to be ${String(want)}`, 50);

  test('30 concurrent enqueues by one tenant against a cap of 5 (three clients, three connections): exactly 5 are accepted', async () => {
    const q = queue();
    const cs = [q.client({ maxJobsPerTenant: 5 }), q.client({ maxJobsPerTenant: 5 }), q.client({ maxJobsPerTenant: 5 })];
    await Promise.all(cs.map((c) => c.queue.waitUntilReady()));
    const results = await Promise.allSettled(Array.from({ length: 30 }, (_, i) => cs[i % 3]!.enqueue('fit', { ...MISSING, detector: `c${i}` }, TENANT)));
    const accepted = results.filter((r) => r.status === 'fulfilled').map((r) => (r as PromiseFulfilledResult<string>).value);
    const refused = results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason as unknown);
    assert.equal(accepted.length, 5, `accepted ${accepted.length}; refused with ${[...new Set(refused.map(String))].join(' | ')}`);
    for (const e of refused) assert.ok(isTooMany(5, 5)(e), String(e));
    // Exactly the accepted jobs are on the queue, and only they hold slots.
    const counts = await cs[0]!.queue.getJobCounts();
    assert.equal(Object.values(counts).reduce((a, b) => a + b, 0), 5, JSON.stringify(counts));
    assert.deepEqual((await redis.zrange(cs[0]!.quota.key(TENANT), '0', '-1')).sort(), [...accepted].sort());
    assert.equal(await cs[1]!.inFlight(TENANT), 5);
    // Another tenant is not held back by this one.
    await cs[2]!.enqueue('fit', MISSING, OTHER);
    assert.equal(await cs[2]!.inFlight(OTHER), 1);
  });

  test('a refused enqueue writes nothing to Redis; another tenant is still accepted', async () => {
    const q = queue();
    const c = q.client({ maxJobsPerTenant: 2 });
    await c.enqueue('fit', MISSING, TENANT);
    await c.enqueue('fit', MISSING, TENANT);
    const snapshot = async () => Promise.all((await keysUnder(redis, `${q.prefix}:`)).map(async (k) => [k, await redis.dump(k)]));
    const before = await snapshot();
    await assert.rejects(c.enqueue('fit', MISSING, TENANT), isTooMany(2, 2));
    assert.deepEqual(await snapshot(), before, 'no key added or changed under the queue prefix');
    const other = await c.enqueue('fit', MISSING, OTHER);
    assert.equal(await c.queue.getJobState(other), 'prioritized', 'queued (every job has its rank as priority)');
    assert.equal(c.quota.key(TENANT), `${q.prefix}:quota:tenants/${TENANT}/jobs`, 'under the queue prefix, scoped by tenant');
  });

  test('a completed job frees its slot', async () => {
    const q = queue();
    const c = q.client();
    const id = await c.enqueue('fit', { ...FIT, detector: 'q-done' }, TENANT);
    await assert.rejects(c.enqueue('fit', MISSING, TENANT), isTooMany(1, 1), 'waiting: the slot is held');
    await q.worker();
    await state(c, id, 'completed');
    assert.equal(await c.inFlight(TENANT), 0);
    await c.enqueue('fit', MISSING, TENANT);
  });

  test('a job that fails for good frees its slot: an input error (no retry), and a transient error once attempts are used up', async () => {
    const q = queue();
    const c = q.client({ attempts: 2, backoffMs: 100 });
    const bad = await c.enqueue('fit', MISSING, TENANT);
    await assert.rejects(c.enqueue('fit', MISSING, TENANT), isTooMany(1, 1));
    const w = await q.worker();
    await state(c, bad, 'failed');
    assert.equal((await c.queue.getJob(bad))!.attemptsMade, 1, 'failed at once');
    assert.equal(await c.inFlight(TENANT), 0);
    await w.close();
    // S3 refuses every request: transient, retried once (attempts 2), then failed.
    await q.worker('http://127.0.0.1:9');
    const out = await c.enqueue('fit', { ...FIT, detector: 'q-out' }, TENANT);
    await state(c, out, 'failed');
    assert.equal((await c.queue.getJob(out))!.attemptsMade, 2, 'both attempts used');
    assert.equal(await c.inFlight(TENANT), 0);
    await c.enqueue('fit', MISSING, TENANT);
  });

  test('a job waiting for its retry keeps its slot', async () => {
    const q = queue();
    const c = q.client({ attempts: 3, backoffMs: 60_000 });
    await q.worker('http://127.0.0.1:9');
    const id = await c.enqueue('fit', { ...FIT, detector: 'q-retry' }, TENANT);
    await state(c, id, 'delayed');
    assert.equal((await c.queue.getJob(id))!.attemptsMade, 1, 'one failed attempt, two left');
    assert.equal(await c.inFlight(TENANT), 1);
    await assert.rejects(c.enqueue('fit', MISSING, TENANT), isTooMany(1, 1));
  });

  test('a removed job frees its slot at once', async () => {
    const q = queue();
    const c = q.client();
    const id = await c.enqueue('fit', MISSING, TENANT);
    await assert.rejects(c.enqueue('fit', MISSING, TENANT), isTooMany(1, 1));
    await (await c.queue.getJob(id))!.remove();
    assert.equal(await c.inFlight(TENANT), 0);
    await c.enqueue('fit', MISSING, TENANT);
  });

  test('enqueuePrepared: a refused tenant never runs prepare; a failed prepare gives the slot back at once', async () => {
    const q = queue();
    const c = q.client();
    let prepared = 0;
    const first = await c.enqueuePrepared('fit', TENANT, async () => (prepared++, MISSING));
    await assert.rejects(c.enqueuePrepared('fit', TENANT, async () => (prepared++, MISSING)), isTooMany(1, 1));
    assert.equal(prepared, 1, 'refused before prepare ran');
    await (await c.queue.getJob(first))!.remove();
    await assert.rejects(c.enqueuePrepared('fit', TENANT, async () => { throw new Error('the request images could not be stored'); }), /could not be stored/);
    await assert.rejects(c.enqueuePrepared('fit', TENANT, async () => ({ ...MISSING, nCluster: 1 })), (e: unknown) => (e as { field?: string }).field === 'nCluster', 'an invalid payload');
    assert.equal(await c.inFlight(TENANT), 0, 'both slots given back');
    await c.enqueuePrepared('fit', TENANT, async () => MISSING);
  });

  test('enqueuePrepared: a prepare that outlasts half the reservation is refused (503-type, nothing enqueued) rather than risk an uncounted job', async () => {
    const q = queue();
    // Half the reservation is the budget of the quick prepare below as well (its reserve round trip, its 50 ms and any
    // pause of this process count): with 400 ms, 200 ms of budget, a loaded machine took up to 173 ms.
    const c = q.client({ reservationMs: 2000 });
    await assert.rejects(
      c.enqueuePrepared('fit', TENANT, async () => (await sleep(1100), MISSING)),
      (e: unknown) => e instanceof TransientStorageError && /preparing the job took \d+ ms, more than half of the 2000 ms its slot is held without a job/.test(e.message),
    );
    const counts = await c.queue.getJobCounts();
    assert.equal(Object.values(counts).reduce((a, b) => a + b, 0), 0, 'nothing enqueued');
    assert.equal(await c.inFlight(TENANT), 0, 'the slot given back');
    await c.enqueuePrepared('fit', TENANT, async () => (await sleep(50), MISSING));
  });

  test('a slot reserved by an enqueue that never added its job (its function died) is held until the reservation lapses', async () => {
    const q = queue();
    const c = q.client({ reservationMs: 1500 });
    await c.queue.waitUntilReady();
    await c.quota.reserve(redis, TENANT, 'never-added'); // what enqueuePrepared does first
    await assert.rejects(c.enqueue('fit', MISSING, TENANT), isTooMany(1, 1), 'the reservation counts');
    await sleep(1700);
    assert.equal(await c.inFlight(TENANT), 0, 'lapsed');
    await c.enqueue('fit', MISSING, TENANT);
  });

  test('a SIGKILLed worker does not leak the slot: held while the job waits for its rerun, freed once the rerun finishes', async () => {
    const q = queue();
    const c = q.client();
    await putRepeatedTrainSet(view, 'train12', 12);
    const env = workerEnv(q.config(), { WORKER_LOCK_DURATION_MS: '6000', WORKER_STALLED_INTERVAL_MS: '1000' });
    const first = await startWorkerProcess('quota-worker-1', env);
    children.push(first);
    const id = await c.enqueue('fit', { detector: 'q-kill', model: 'lenet5', dataset: 'train12', layer: 'output', nCluster: 10, score: 'mindarmour', seed: 0, batchSize: 8 }, TENANT);
    await until(async () => ((await c.status(id, view, TENANT)).progress > 5 ? true : undefined), 60_000, 'fit progress', 20);
    first.kill('SIGKILL');
    await first.exited();
    assert.equal(await c.queue.getJobState(id), 'active', 'killed mid-job');
    await assert.rejects(c.enqueue('fit', MISSING, TENANT), isTooMany(1, 1), 'the dead worker\'s job still holds its slot');
    const second = await startWorkerProcess('quota-worker-2', env);
    children.push(second);
    await state(c, id, 'completed', 120_000);
    assert.equal((await c.queue.getJob(id))!.stalledCounter, 1, 'rerun after the stall');
    assert.equal(await c.inFlight(TENANT), 0, 'no slot leaked');
    await c.enqueue('fit', MISSING, TENANT);
  });
});
