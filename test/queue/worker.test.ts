import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/log.js';
import { captureLogger } from '../helpers/log-capture.js';
import { JobClient } from '../../src/queue/client.js';
import { jobKeys } from '../../src/storage/keys.js';
import { closeRedis } from '../../src/queue/redis.js';
import { startWorker, type WorkerHandle } from '../../src/queue/worker.js';
import { putDataset, putEphemeralDataset, putModel } from '../../src/service/datasets.js';
import { tenantStore, type PrefixedStore } from '../../src/storage/tenant-store.js';
import { closeExtractors } from '../../src/service/extractor-cache.js';
import { REPO, SEED } from '../helpers/paths.js';
import { exitsByItself, orTimeout, sleep, stopChild, until, type Child } from '../helpers/procs.js';
import { cleanupPrefix, connectRedis, REDIS_URL, uniquePrefix } from '../helpers/redis.js';
import { startTestS3, type TestS3 } from '../helpers/s3.js';
import { startRedisServer } from '../helpers/redis-server.js';
import { putRepeatedTrainSet, startWorkerProcess, workerEnv } from '../helpers/workers.js';

/** The tenant of every job here (JobClient.enqueue adds it; the worker works in `tenants/<tenant>/`). */
const TENANT = 'worker-tenant';

describe('BullMQ worker (real Redis + s3rver)', () => {
  let s3: TestS3;
  /** TENANT's view of the bucket: where its jobs find their inputs and leave claims, versions and results. */
  let view: PrefixedStore;
  const redis = connectRedis();
  const queuePrefix = uniquePrefix().replace(/:$/, '');
  const env = () => ({ S3_BUCKET: s3.s3.bucket, S3_ENDPOINT: s3.s3.endpoint, S3_ACCESS_KEY_ID: 'S3RVER', S3_SECRET_ACCESS_KEY: 'S3RVER', REDIS_URL, QUEUE_PREFIX: queuePrefix, LOG_LEVEL: 'silent', JOB_ATTEMPTS: '3', JOB_BACKOFF_MS: '100' });
  let client: JobClient;
  let clientRedis: ReturnType<typeof connectRedis>;

  before(async () => {
    s3 = await startTestS3({ bucket: 'imagedrift-test' });
    view = tenantStore(s3.store, TENANT);
    clientRedis = connectRedis();
    const cfg = loadConfig(env());
    client = new JobClient({ connection: clientRedis, prefix: cfg.queuePrefix, attempts: cfg.jobs.attempts, backoffMs: cfg.jobs.backoffMs });
    await putModel(view, { id: 'lenet5', bytes: new Uint8Array(await readFile(`${REPO}models/lenet5.onnx`)) });
  });
  after(async () => {
    await client.close();
    await clientRedis.quit();
    await closeExtractors();
    await cleanupPrefix(redis, queuePrefix);
    await redis.quit();
    await s3.stop();
  });

  const finished = (id: string, timeoutMs = 30_000) =>
    until(async () => {
      const s = await client.status(id, view, TENANT);
      return s.state === 'completed' || s.state === 'failed' ? s : undefined;
    }, timeoutMs, `job ${id} to finish`);

  test('an input error fails the job at once (one attempt) with the error recorded', async () => {
    const w: WorkerHandle = await startWorker(loadConfig(env()), { handleSignals: false, logger: createLogger('silent') });
    try {
      const id = await client.enqueue('fit', { detector: 'w1', model: 'lenet5', dataset: 'missing', layer: 'output', nCluster: 10 }, TENANT);
      const s = await finished(id);
      assert.equal(s.state, 'failed');
      assert.equal(s.attemptsMade, 1, 'no retry for invalid input');
      assert.deepEqual(s.error, { code: 'NOT_FOUND', field: 'dataset', message: s.error?.message });
      assert.match(s.error!.message, /no dataset missing/);
    } finally {
      await w.close();
    }
  });

  test('a job put on the queue without a tenant (or with an invalid one) fails at once, INVALID_INPUT naming tenant, and touches nothing in the bucket', async () => {
    // What such a job would find if it ran against the bucket root: a model and the dataset it names.
    await putModel(s3.store, { id: 'lenet5', bytes: new Uint8Array(await readFile(`${REPO}models/lenet5.onnx`)) });
    await putDataset(s3.store, { id: 'root-eval', name: 'concept_test_lenet1.npy', bytes: new Uint8Array(await readFile(`${SEED}concept_test_lenet1.npy`)) });
    const bucket = async () => (await s3.store.list('')).map((o) => `${o.key}:${o.etag}`);
    const before = await bucket();
    const w: WorkerHandle = await startWorker(loadConfig(env()), { handleSignals: false, logger: createLogger('silent') });
    try {
      const payload = { detector: 'w-root', model: 'lenet5', dataset: 'root-eval', layer: 'output', nCluster: 10, seed: 0 };
      // Straight onto the real queue, past JobClient.enqueue (as anything holding the queue's Redis could); the queue's
      // default job options allow JOB_ATTEMPTS=3 attempts.
      const cases = [
        { what: 'no tenant', id: randomUUID(), data: payload },
        { what: 'a tenant naming a path', id: randomUUID(), data: { ...payload, tenant: '../auth' } },
      ];
      for (const c of cases) await client.queue.add('fit', c.data, { jobId: c.id });
      for (const c of cases) {
        const job = await until(async () => (['failed', 'completed'].includes(await client.queue.getJobState(c.id)) ? client.queue.getJob(c.id) : undefined), 30_000, `job ${c.id} (${c.what}) to finish`);
        assert.equal(await client.queue.getJobState(c.id), 'failed', `${c.what}: ${JSON.stringify(job.returnvalue)}`);
        assert.equal(job.opts.attempts, 3);
        assert.equal(job.attemptsMade, 1, `${c.what}: not retried`);
        const error = JSON.parse(job.failedReason) as { code: string; field: string; message: string };
        assert.deepEqual([error.code, error.field], ['INVALID_INPUT', 'tenant'], c.what);
        assert.match(error.message, /^tenant: /);
        // It is nobody's job: no tenant's status shows it.
        await assert.rejects(client.status(c.id, view, TENANT), (e: unknown) => (e as { code?: string }).code === 'NOT_FOUND');
        assert.equal(await s3.store.head(jobKeys(c.id).claim), undefined, `${c.what}: no claim at the root`);
      }
      assert.deepEqual(await bucket(), before, 'nothing written anywhere in the bucket');
      assert.deepEqual(await s3.store.list('detectors/'), [], 'no detector at the root');
    } finally {
      await w.close();
    }
  });

  test("a predict job BullMQ fails for stalling too often (no processJob saw it fail) has its request images deleted; a client's dataset is kept", async () => {
    const bytes = new Uint8Array(await readFile(`${SEED}concept_test_lenet1.npy`));
    const eph = await putEphemeralDataset(view, { name: 'predict-images.npy', bytes, field: 'images' });
    const eph2 = await putEphemeralDataset(view, { name: 'predict-images.npy', bytes, field: 'images' });
    const own = await putDataset(view, { id: `own-${randomUUID().slice(0, 8)}`, name: 'own.npy', bytes });
    // The jobs as BullMQ holds them, taken off the queue before any worker runs them (no worker is up yet).
    const held = async (dataset: string) => {
      const job = (await client.queue.getJob(await client.enqueue('predict', { detector: 'p-stalled', dataset }, TENANT)))!;
      await job.remove();
      return job;
    };
    const [ephJob, eph2Job, ownJob] = [await held(eph.id), await held(eph2.id), await held(own.id)];
    const w: WorkerHandle = await startWorker(loadConfig(env()), { handleSignals: false, logger: createLogger('silent') });
    // The 'failed' event a worker emits when it takes a job BullMQ's stalled check marked as stalled too often (that
    // logic is BullMQ's, src/queue/worker.ts STALLED_OUT; the release is ours), and one for an attempt whose own
    // error merely mentions a stall (it may be retried: its images stay).
    w.worker.emit('failed', ephJob, new Error('job stalled more than allowable limit'), 'active');
    w.worker.emit('failed', ownJob, new Error('job stalled more than allowable limit'), 'active');
    w.worker.emit('failed', eph2Job, new Error('the model stalled on a batch'), 'active');
    await w.close(); // waits for the releases under way
    const stored = async (id: string) => (await view.list(`datasets/${id}/`)).length;
    assert.equal(await stored(eph.id), 0, 'the request images are deleted');
    assert.equal(await stored(own.id), 2, "the client's dataset stays");
    assert.equal(await stored(eph2.id), 2, 'not for an attempt that is not BullMQ\'s stall failure');
  });

  test('a job BullMQ marked failed whose result marker exists (an attempt that finished after its lock lapsed) is completed', async () => {
    const w: WorkerHandle = await startWorker(loadConfig(env()), { handleSignals: false, logger: createLogger('silent') });
    try {
      const id = await client.enqueue('fit', { detector: 'w9', model: 'lenet5', dataset: 'missing', layer: 'output', nCluster: 10 }, TENANT);
      assert.equal((await finished(id)).state, 'failed');
      // The marker is written only after the version is published (src/queue/processor.ts).
      const result = { kind: 'fit', jobId: id, detector: 'w9', version: 1 };
      await view.put(jobKeys(id).result, new TextEncoder().encode(JSON.stringify(result)));
      const s = await client.status(id, view, TENANT);
      assert.equal(s.state, 'completed');
      assert.deepEqual(s.result, result);
      assert.equal(s.error, undefined);
      // A marker that cannot be read leaves the failure as recorded.
      await view.put(jobKeys(id).result, new TextEncoder().encode('{not json'));
      assert.equal((await client.status(id, view, TENANT)).state, 'failed');
      // Where the marker is the only record (the job has left Redis), a damaged one is a storage error naming the
      // key, not a bare SyntaxError (HTTP 500 INTERNAL).
      const gone = '0b7e5f1c-3a52-4d2e-9a51-6f1d2c3b4a59';
      await view.put(jobKeys(gone).result, new TextEncoder().encode('{not json'));
      await assert.rejects(client.status(gone, view, TENANT), (e: unknown) => e instanceof Error && (e as { code?: string }).code === 'STORAGE_ERROR' && /result\.json: job result is not valid JSON/.test(e.message));
    } finally {
      await w.close();
    }
  });

  test('a result too large to inline (5 MB) comes with a presigned download link that serves it', async () => {
    const id = '7c9e6679-7425-40de-944b-e07fc1f90ae7';
    const result = { kind: 'predict', jobId: id, scores: Array.from({ length: 260_000 }, (_, i) => i / 7) };
    const bytes = new TextEncoder().encode(JSON.stringify(result));
    assert.ok(bytes.length > 4 * 1024 * 1024);
    await view.put(jobKeys(id).result, bytes);
    const s = await client.status(id, view, TENANT);
    const r = s.result as { resultKey: string; bytes: number; url: string; urlExpiresIn: number };
    assert.deepEqual([s.state, r.resultKey, r.bytes, r.urlExpiresIn], ['completed', jobKeys(id).result, bytes.length, 900]);
    const res = await fetch(r.url); // a real HTTP GET against s3rver, signed by the store's credentials
    assert.equal(res.status, 200);
    assert.deepEqual(new Uint8Array(await res.arrayBuffer()), bytes);
  });

  test('a transient storage error is retried with backoff until attempts run out', async () => {
    // S3 on a port nobody listens on: every request is refused (ECONNREFUSED → TransientStorageError).
    const dead = loadConfig({ ...env(), S3_ENDPOINT: 'http://127.0.0.1:9' });
    const log = captureLogger();
    const w = await startWorker(dead, { handleSignals: false, logger: log.logger });
    try {
      const id = await client.enqueue('fit', { detector: 'w2', model: 'lenet5', dataset: 'any', layer: 'output', nCluster: 10 }, TENANT);
      const s = await finished(id, 60_000);
      assert.equal(s.state, 'failed');
      assert.equal(s.attemptsMade, 3, 'JOB_ATTEMPTS=3 attempts');
      assert.equal(s.error?.code, 'JOB_FAILED');
      assert.match(s.error!.message, /ECONNREFUSED|connect/i);
      const job = await client.queue.getJob(id);
      assert.ok(job!.finishedOn! - job!.processedOn! >= 0);
      // One line per failed attempt, with the job's fields; the last one at error level (it ends the job).
      const failures = log.lines.filter((l) => l.jobId === id && /failed/.test(l.msg));
      assert.deepEqual(failures.map((l) => [l.attempt, l.level, l.detector, l.kind]), [[1, 40, 'w2', 'fit'], [2, 40, 'w2', 'fit'], [3, 50, 'w2', 'fit']], log.tail(10));
      assert.match(failures[2]!.msg, /no attempts left/);
    } finally {
      await w.close();
    }
  });

  /** A worker process with a fit of 12,000 seed images under way (past 5% progress): the moment to signal it. */
  async function workerMidFit(name: string, detector: string, extraEnv: Record<string, string> = {}): Promise<{ child: Child; id: string }> {
    await putRepeatedTrainSet(view, `train-${detector}`, 12);
    const child = await startWorkerProcess(name, workerEnv(loadConfig(env()), extraEnv));
    try {
      const id = await client.enqueue('fit', { detector, model: 'lenet5', dataset: `train-${detector}`, layer: 'output', nCluster: 10, score: 'mindarmour', seed: 0, batchSize: 8 }, TENANT);
      await until(async () => ((await client.status(id, view, TENANT)).progress > 5 ? true : undefined), 60_000, 'progress', 20);
      return { child, id };
    } catch (e) {
      await stopChild(child);
      throw e;
    }
  }

  test('SIGTERM during a fit: the worker finishes the job, then exits 0', async () => {
    const started = await workerMidFit('worker-sigterm', 'w3');
    let child: Child | undefined = started.child;
    const { id } = started;
    try {
      const atSignal = await client.status(id, view, TENANT);
      assert.equal(atSignal.state, 'active');
      assert.ok(atSignal.progress < 90, `signal lands mid-fit (progress ${atSignal.progress})`);
      child.kill('SIGTERM');
      const exit = await child.exited();
      assert.deepEqual(exit, { code: 0, signal: null }, child.output().slice(-2000));
      const s = await client.status(id, view, TENANT);
      assert.equal(s.state, 'completed', 'finished before the process exited');
      assert.equal((s.result as { version: number }).version, 1);
      assert.ok(await view.head(jobKeys(id).result));
      assert.match(child.output(), /shutting down: finishing active jobs/);
      child = undefined;
    } finally {
      await stopChild(child);
    }
  });

  test('a second SIGTERM during a fit exits at once, without the job (another worker reruns it)', async () => {
    const started = await workerMidFit('worker-sigterm-2', 'w4');
    let child: Child | undefined = started.child;
    const { id } = started;
    try {
      child.kill('SIGTERM');
      await child.waitFor(/shutting down: finishing active jobs/, 10_000);
      child.kill('SIGTERM');
      const exit = await child.exited();
      // Once, BullMQ ignored the force of the second close and the process waited for the whole fit.
      assert.deepEqual(exit, { code: 1, signal: null }, child.output().slice(-2000));
      assert.match(child.output(), /second signal: exiting without waiting for active jobs/);
      const s = await client.status(id, view, TENANT);
      assert.equal(s.state, 'active', 'abandoned mid-fit: still locked until its lock lapses');
      assert.equal(await view.head(jobKeys(id).result), undefined, 'no result was written');
      child = undefined;
    } finally {
      await stopChild(child);
    }
  });

  test('SIGTERM during a fit that outlasts WORKER_SHUTDOWN_TIMEOUT_MS: the worker exits 1 when it runs out, without the job', async () => {
    const started = await workerMidFit('worker-sigterm-timeout', 'w5', { WORKER_SHUTDOWN_TIMEOUT_MS: '300' });
    let child: Child | undefined = started.child;
    try {
      child.kill('SIGTERM');
      const exit = await orTimeout(child.exited(), 60_000);
      assert.deepEqual(exit, { code: 1, signal: null }, child.output().slice(-2000));
      assert.match(child.output(), /shutdown timed out: exiting without waiting for active jobs/);
      assert.equal((await client.status(started.id, view, TENANT)).state, 'active', 'abandoned mid-fit: still locked until its lock lapses');
      child = undefined;
    } finally {
      await stopChild(child);
    }
  });

  // BullMQ's orderly Worker.close() never returns while Redis is down (taskforcesh/bullmq#4656: it waits for an 'end'
  // event ioredis never emits for a connection that is reconnecting, and its timers keep the process alive). The worker
  // process then answered SIGTERM only when WORKER_SHUTDOWN_TIMEOUT_MS ran out (9 minutes by default), with exit code 1
  // and "exiting without waiting for active jobs" though none was running, and an in-process close() never returned.
  test('SIGTERM while Redis is down and no job is running: the worker closes and exits 0 at once, long before WORKER_SHUTDOWN_TIMEOUT_MS', async () => {
    const rs = await startRedisServer({ appendonly: false });
    let child: Child | undefined;
    try {
      const cfg = loadConfig({ ...env(), REDIS_URL: rs.url });
      child = await startWorkerProcess('worker-redis-down', workerEnv(cfg, { WORKER_SHUTDOWN_TIMEOUT_MS: '60000' }));
      await rs.kill('SIGKILL');
      // Once the worker is reconnecting (not before: a close that wins the race with the outage just succeeds).
      await child.waitFor(/coordinator redis connection (lost|closed); reconnecting/, 30_000);
      await sleep(1000);
      child.kill('SIGTERM');
      const exit = await orTimeout(child.exited(), 20_000);
      assert.deepEqual(exit, { code: 0, signal: null }, child.output().slice(-2000));
      assert.match(child.output(), /"msg":"worker closed"/);
      assert.doesNotMatch(child.output(), /shutdown timed out/);
      child = undefined;
    } finally {
      await stopChild(child);
      await rs.stop();
    }
  });

  test('SIGTERM during a fit while Redis is down: the worker takes no new job, lets the running one return, then exits 0', async () => {
    const rs = await startRedisServer({ appendonly: false });
    const cfg = loadConfig({ ...env(), REDIS_URL: rs.url });
    const conn = new Redis(rs.url, { maxRetriesPerRequest: 1 });
    conn.on('error', () => undefined);
    const downClient = new JobClient({ connection: conn, prefix: cfg.queuePrefix, attempts: cfg.jobs.attempts, backoffMs: cfg.jobs.backoffMs });
    let child: Child | undefined;
    try {
      await putRepeatedTrainSet(view, 'train-w6', 12);
      child = await startWorkerProcess('worker-redis-down-mid-fit', workerEnv(cfg, { WORKER_SHUTDOWN_TIMEOUT_MS: '300000' }));
      const id = await downClient.enqueue('fit', { detector: 'w6', model: 'lenet5', dataset: 'train-w6', layer: 'output', nCluster: 10, score: 'mindarmour', seed: 0, batchSize: 8 }, TENANT);
      await until(async () => ((await downClient.status(id, view, TENANT)).progress > 5 ? true : undefined), 60_000, 'progress', 20);
      await rs.kill('SIGKILL');
      await child.waitFor(/coordinator redis connection (lost|closed); reconnecting/, 30_000);
      child.kill('SIGTERM');
      // The fit runs on without Redis (its progress reports are fire-and-forget) until it saves through the coordinator,
      // which fails: the attempt ends as a transient failure, and only then does the worker close.
      const exit = await orTimeout(child.exited(), 180_000);
      const out = child.output();
      assert.deepEqual(exit, { code: 0, signal: null }, out.slice(-2000));
      const ended = out.search(/"msg":"job attempt failed/);
      assert.ok(ended >= 0, `the running job's attempt did not end before the exit: ${out.slice(-2000)}`);
      assert.ok(out.indexOf('"msg":"worker closed"') > ended, 'the worker closed only after the running job returned');
      assert.doesNotMatch(out, /shutdown timed out/);
      assert.equal(await view.head(jobKeys(id).result), undefined, 'no result without the coordinator');
      child = undefined;
    } finally {
      await stopChild(child);
      await downClient.close();
      await closeRedis(conn);
      await rs.stop();
    }
  });

  test("Redis down: startWorker's close() returns, and a process that closed its worker exits by itself", async () => {
    const rs = await startRedisServer({ appendonly: false });
    try {
      // Nothing but the worker keeps this child alive, and it never calls exit.
      const r = await exitsByItself(
        `const { loadConfig } = await import('./src/config.ts');
        const { createLogger } = await import('./src/log.ts');
        const { startWorker } = await import('./src/queue/worker.ts');
        const w = await startWorker(loadConfig(${JSON.stringify({ ...env(), REDIS_URL: rs.url })}), { handleSignals: false, logger: createLogger('silent') });`,
        () => rs.kill('SIGKILL'),
        `await new Promise((r) => setTimeout(r, 500));
        await w.close();`,
        20_000,
      );
      assert.equal(r.code, 0, `the child did not exit by itself (${String(r.code)}); output: ${r.output}`);
      assert.match(r.output, /done/);
    } finally {
      await rs.stop();
    }
  });
});
