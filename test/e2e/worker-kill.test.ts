/**
 * Failure: a worker process is SIGKILLed in the middle of a fit; a new worker picks the job up through BullMQ's
 * stalled-job check (short lock duration and stalled interval here) and the job completes exactly once: one detector
 * version, one result. The lock (6 s, renewed every 3 s) must outlast the fit's longest synchronous step (about 1 s
 * here, measured with monitorEventLoopDelay); with a 2 s lock a busy machine occasionally let the living worker's
 * own stalled check requeue the job mid-fit.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { loadConfig, type Config } from '../../src/config.js';
import { JobClient } from '../../src/queue/client.js';
import { jobKeys } from '../../src/storage/keys.js';
import { putModel } from '../../src/service/datasets.js';
import { tenantStore, type PrefixedStore } from '../../src/storage/tenant-store.js';
import { REPO } from '../helpers/paths.js';
import { stopChild, until, type Child } from '../helpers/procs.js';
import { cleanupPrefix, connectRedis, REDIS_URL, uniquePrefix } from '../helpers/redis.js';
import { startTestS3, type TestS3 } from '../helpers/s3.js';
import { putRepeatedTrainSet, startWorkerProcess, workerEnv } from '../helpers/workers.js';

/** The job's tenant: the worker works in its view of the bucket, `tenants/<tenant>/`. */
const TENANT = 'kill-tenant';

describe('worker SIGKILL mid-fit, restart → exactly one completion', () => {
  let s3: TestS3;
  let view: PrefixedStore;
  let config: Config;
  let client: JobClient;
  const redis = connectRedis();
  const clientRedis = connectRedis();
  const queuePrefix = uniquePrefix().replace(/:$/, '');
  const children: Child[] = [];

  before(async () => {
    s3 = await startTestS3({ bucket: 'imagedrift-kill' });
    config = loadConfig({ S3_BUCKET: s3.s3.bucket, S3_ENDPOINT: s3.s3.endpoint, S3_ACCESS_KEY_ID: 'S3RVER', S3_SECRET_ACCESS_KEY: 'S3RVER', REDIS_URL, QUEUE_PREFIX: queuePrefix });
    client = new JobClient({ connection: clientRedis, prefix: queuePrefix, attempts: 3, backoffMs: 500 });
    view = tenantStore(s3.store, TENANT);
    await putModel(view, { id: 'lenet5', bytes: new Uint8Array(await readFile(`${REPO}models/lenet5.onnx`)) });
    await putRepeatedTrainSet(view, 'train12', 12);
  });
  after(async () => {
    for (const c of children) await stopChild(c);
    await client.close();
    await clientRedis.quit();
    await cleanupPrefix(redis, queuePrefix);
    await redis.quit();
    await s3.stop();
  });

  test('the stalled job is rerun by the new worker and produces one version and one result', async () => {
    const env = workerEnv(config, { WORKER_LOCK_DURATION_MS: '6000', WORKER_STALLED_INTERVAL_MS: '1000' });
    const first = await startWorkerProcess('worker-1', env);
    children.push(first);
    const jobId = await client.enqueue('fit', { detector: 'k1', model: 'lenet5', dataset: 'train12', layer: 'output', nCluster: 10, score: 'mindarmour', seed: 0, batchSize: 8 }, TENANT);
    await until(async () => ((await client.status(jobId, view, TENANT)).progress > 5 ? true : undefined), 60_000, 'fit progress', 20);
    first.kill('SIGKILL');
    const exit = await first.exited();
    assert.equal(exit.signal, 'SIGKILL');
    const atKill = await client.status(jobId, view, TENANT);
    assert.equal(atKill.state, 'active', 'killed mid-job: still active (its lock has not lapsed yet)');
    assert.ok(atKill.progress < 90, `killed during extraction (progress ${atKill.progress})`);
    assert.equal(await view.head(jobKeys(jobId).result), undefined);
    assert.equal(await view.head(jobKeys(jobId).claim), undefined, 'the first attempt never reached the save');

    const second = await startWorkerProcess('worker-2', env);
    children.push(second);
    const done = await until(async () => {
      const s = await client.status(jobId, view, TENANT);
      if (s.state === 'failed') throw new Error(`job failed: ${JSON.stringify(s.error)}\n${second.output().slice(-3000)}`);
      return s.state === 'completed' ? s : undefined;
    }, 120_000, 'the job to complete on the second worker', 200);

    const versions = (await view.list('detectors/k1/')).map((o) => o.key).filter((k) => k.endsWith('manifest.json'));
    assert.deepEqual(versions, ['detectors/k1/v1/manifest.json'], 'exactly one detector version');
    const results = (await view.list('jobs/')).map((o) => o.key).filter((k) => k.endsWith('/result.json'));
    assert.deepEqual(results, [jobKeys(jobId).result], 'exactly one result');
    assert.equal((done.result as { version: number }).version, 1);
    const job = await client.queue.getJob(jobId);
    assert.equal(job?.stalledCounter, 1, 'recovered by the stalled-job check');
    assert.equal(job?.attemptsMade, 1, 'a stall is not a failed attempt');
    assert.match(second.output(), /job stalled/);
    const doneLines = (out: string) => out.split('\n').filter((l) => l.includes('"msg":"job done"') && l.includes(jobId)).length;
    assert.equal(doneLines(first.output()), 0);
    assert.equal(doneLines(second.output()), 1);
    // The rerun is the same attempt (no attempt failed) but the second run begun, after one stall: its lines say so.
    const startedLine = (out: string) => out.split('\n').filter((l) => l.includes('"msg":"job started"') && l.includes(jobId)).map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(startedLine(first.output()).map((l) => [l.attempt, l.started, l.stalls]), [[1, 1, undefined]]);
    assert.deepEqual(startedLine(second.output()).map((l) => [l.attempt, l.started, l.stalls]), [[1, 2, 1]]);
  });
});
