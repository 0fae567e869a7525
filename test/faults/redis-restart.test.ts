/**
 * Fault injection: the Redis that holds the queue is killed and restarted while fit jobs are running and waiting.
 *
 * The test runs its own redis-server (AOF on, fsync on every write, no RDB) so it can kill it without disturbing
 * other tests, and an in-process worker (`startWorker`) whose log lines it counts. Redis is killed twice: once with
 * SIGKILL while a fit is extracting features (no chance to save anything: what survives is what the AOF holds), once
 * with SIGTERM (Redis's orderly shutdown) while jobs are still waiting. Each time it comes back on the same port over
 * the same directory.
 *
 * The SIGKILL outage lasts until a job attempt has failed on it (the running fit reaches its save, whose version
 * number and pointer lock need Redis), so the retry path is always exercised.
 *
 * Asserted: every job that `JobClient.enqueue` acknowledged completes; exactly once (one `jobs/<id>/result.json`, one
 * 'job done' log line, one detector version per fit); no job fails for good; an enqueue during the outage is refused
 * (not acknowledged and lost); and the same worker (never restarted) picks up work after each restart.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { loadConfig, type Config } from '../../src/config.js';
import { JobClient, type JobStatus } from '../../src/queue/client.js';
import { jobKeys } from '../../src/storage/keys.js';
import { startWorker, type WorkerHandle } from '../../src/queue/worker.js';
import { putModel } from '../../src/service/datasets.js';
import { tenantStore } from '../../src/storage/tenant-store.js';
import { closeExtractors } from '../../src/service/extractor-cache.js';
import { captureLogger } from '../helpers/log-capture.js';
import { REPO } from '../helpers/paths.js';
import { sleep, until } from '../helpers/procs.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { startTestS3, type TestS3 } from '../helpers/s3.js';
import { putRepeatedTrainSet } from '../helpers/workers.js';

/** The tenant of the jobs (the worker works in its view of the bucket, `tenants/<tenant>/`). */
const TENANT = 'faults-tenant';
/** Job counts by state, `waiting` covering every queued job (BullMQ keeps a job with a priority apart, as prioritized). */
async function queued(c: JobClient, ...states: ('active' | 'delayed')[]): Promise<Record<string, number>> {
  const n = await c.queue.getJobCounts('waiting', 'prioritized', ...states);
  return { ...n, waiting: (n.waiting ?? 0) + (n.prioritized ?? 0) };
}

describe('Redis restart under a running worker', { timeout: 120_000 }, () => {
  let redis: RedisServer | undefined;
  let s3: TestS3 | undefined;
  let worker: WorkerHandle | undefined;
  let clientConn: Redis | undefined;
  let client: JobClient | undefined;
  const log = captureLogger();
  // What the Redis clients print on their own when nobody listens for their 'error' events (ioredis: "[ioredis]
  // Unhandled error event", BullMQ: console.error of the error). The worker and JobClient must listen instead.
  const consoleErrors: string[] = [];
  const consoleError = console.error;

  before(async () => {
    console.error = (...args: unknown[]) => {
      const text = args.map(String).join(' ');
      if (!/^\(node:\d+\) \S*Warning/.test(text)) consoleErrors.push(text); // process warnings are not ours
      consoleError(...args);
    };
    redis = await startRedisServer({ appendonly: true });
    s3 = await startTestS3({ bucket: 'imagedrift-redis-restart' });
    const view = tenantStore(s3.store, TENANT);
    await putModel(view, { id: 'lenet5', bytes: new Uint8Array(await readFile(`${REPO}models/lenet5.onnx`)) });
    await putRepeatedTrainSet(view, 'train4', 4);
  });
  after(async () => {
    console.error = consoleError;
    // If the test failed during an outage, bring Redis back first: closing a BullMQ worker waits on its connection.
    if (redis && !redis.running()) await redis.start().catch(() => undefined);
    await worker?.close(true).catch(() => undefined);
    await client?.close().catch(() => undefined);
    clientConn?.disconnect();
    await closeExtractors();
    await s3?.stop();
    await redis?.stop();
  });

  test('acknowledged jobs all complete exactly once across a SIGKILL and a SIGTERM restart', async (t) => {
    const config: Config = loadConfig({
      S3_BUCKET: s3!.s3.bucket,
      S3_ENDPOINT: s3!.s3.endpoint,
      S3_ACCESS_KEY_ID: 'S3RVER',
      S3_SECRET_ACCESS_KEY: 'S3RVER',
      REDIS_URL: redis!.url,
      QUEUE_PREFIX: 'faults',
      JOB_ATTEMPTS: '10',
      JOB_BACKOFF_MS: '200',
      WORKER_CONCURRENCY: '2',
      WORKER_LOCK_DURATION_MS: '20000',
      WORKER_STALLED_INTERVAL_MS: '2000',
    });
    worker = await startWorker(config, { handleSignals: false, logger: log.logger });
    // The connection the HTTP layer gives its JobClient (src/http/queue-deps.ts): fail fast, never hang.
    clientConn = new Redis(config.redisUrl, { maxRetriesPerRequest: 1, connectTimeout: 5000 });
    client = new JobClient({ connection: clientConn, prefix: config.queuePrefix, attempts: config.jobs.attempts, backoffMs: config.jobs.backoffMs });
    const c = client;
    const store = tenantStore(s3!.store, TENANT); // where the tenant's jobs leave results and versions
    const fit = (detector: string) => ({ detector, model: 'lenet5', dataset: 'train4', layer: 'output', nCluster: 10, score: 'mindarmour' as const, seed: 0, batchSize: 16 });

    const acked: { id: string; detector: string }[] = [];
    let refused = 0;
    const enqueue = async (detector: string): Promise<void> => {
      try {
        acked.push({ id: await c.enqueue('fit', fit(detector), TENANT), detector });
      } catch {
        refused++; // not acknowledged: the caller knows it must retry; not counted
      }
    };
    /** The status, or undefined while Redis is unreachable. */
    const status = async (id: string): Promise<JobStatus | undefined> => c.status(id, store, TENANT).catch(() => undefined);

    for (let i = 1; i <= 5; i++) await enqueue(`rr${i}`);
    assert.equal(acked.length, 5);

    // 1. SIGKILL while the first fit is extracting features.
    await until(async () => ((await status(acked[0]!.id))?.progress ?? 0) > 5 || undefined, 60_000, 'the first fit to be under way', 20);
    const atKill = await queued(c, 'active');
    await redis!.kill('SIGKILL');
    const killedAt = Date.now();
    await enqueue('rr-during-outage'); // expected to be refused: Redis is down
    // Stay down until a job attempt has failed on Redis: the fit that was extracting reaches its save (version number,
    // pointer lock) while Redis is gone; BullMQ records that failure once Redis is back, and retries the job.
    await until(async () => log.lines.some((l) => l.msg.startsWith('job attempt failed') && l.time > killedAt) || undefined, 30_000, 'a job attempt to fail on the missing Redis');
    await redis!.start();
    // The worker never restarted: it must take up jobs again by itself.
    await until(async () => log.lines.some((l) => l.msg === 'job started' && l.time > killedAt) || undefined, 60_000, 'the worker to start a job after the restart');

    // 2. SIGTERM (orderly shutdown) while jobs are still waiting.
    for (let i = 6; i <= 8; i++) await enqueue(`rr${i}`);
    const counts = await queued(c, 'active', 'delayed');
    assert.ok(counts.waiting! + counts.delayed! > 0, `jobs still waiting at the second restart: ${JSON.stringify(counts)}`);
    await redis!.kill('SIGTERM');
    const termAt = Date.now();
    await sleep(1000);
    await redis!.start();
    await enqueue('rr9');

    const final = new Map<string, JobStatus>();
    await until(
      async () => {
        for (const { id } of acked) {
          if (final.has(id)) continue;
          const s = await status(id);
          if (s?.state === 'failed') throw new Error(`job ${id} failed: ${JSON.stringify(s.error)}\n${log.tail()}`);
          if (s?.state === 'completed') final.set(id, s);
        }
        return final.size === acked.length || undefined;
      },
      90_000,
      'every acknowledged job to complete',
      200,
    );

    assert.ok(atKill.active! >= 1 && atKill.waiting! >= 1, `the SIGKILL hit running and waiting jobs: ${JSON.stringify(atKill)}`);
    assert.equal(refused, 1, 'the enqueue during the outage was refused, not silently dropped');
    assert.equal(acked.length, 9);
    // Exactly once: one result per job, one 'job done' per job, one detector version per fit.
    const results = (await store.list('jobs/')).map((o) => o.key).filter((k) => k.endsWith('/result.json'));
    assert.deepEqual(results.sort(), acked.map((j) => jobKeys(j.id).result).sort());
    for (const { id, detector } of acked) {
      assert.equal(log.find('job done', id).length, 1, `job ${id} computed once`);
      const versions = (await store.list(`detectors/${detector}/`)).map((o) => o.key).filter((k) => k.endsWith('/manifest.json'));
      assert.deepEqual(versions, [`detectors/${detector}/v1/manifest.json`], `one version for ${detector}`);
      assert.equal((final.get(id)!.result as { version: number }).version, 1);
    }
    assert.ok(log.lines.some((l) => l.msg === 'job done' && l.time > termAt), 'the worker completed jobs after the second restart');
    assert.equal((await c.queue.getJobCounts('failed')).failed, 0);
    // The coordinator connection reconnects on its own backoff (up to 2 s between attempts): if the second restart comes
    // before it is back from the first, both outages end in one reconnect. What must hold: it is back after the last one.
    const coordinatorBack = () => log.find('coordinator redis reconnected').some((l) => l.time > termAt) || undefined;
    await until(async () => coordinatorBack(), 15_000, 'the coordinator to reconnect', 100).catch(() => undefined);
    assert.ok(coordinatorBack(), `the coordinator connection came back after the last restart: ${JSON.stringify(log.lines.filter((l) => /coordinator/.test(l.msg)).map((l) => [l.time - termAt, l.msg]))}`);
    assert.deepEqual(consoleErrors, [], 'every connection error was handled, none printed as unhandled');
    const failedAttempts = log.lines.filter((l) => l.msg.startsWith('job attempt failed'));
    assert.ok(failedAttempts.length >= 1 && failedAttempts.every((l) => /redis/i.test(JSON.stringify(l.err))), 'attempts failed only on Redis');
    // BullMQ raises 'error' on every failed reconnect (17 lines in these few seconds before the limiter): the worker logs
    // each message once a minute at most.
    const errorLines = log.find('worker error');
    const minutes = 1 + Math.floor((Date.now() - killedAt) / 60_000);
    const messages = new Set(errorLines.map((l) => (l.err as { message?: string } | undefined)?.message));
    assert.ok(errorLines.length <= messages.size * minutes, `worker error lines: ${errorLines.length} for ${messages.size} message(s) in ${minutes} minute(s)`);
    t.diagnostic(`attempts failed by the outages: ${failedAttempts.length}; enqueue refused during the outage: ${refused}; worker error lines: ${errorLines.length} (${[...messages].join(' | ')})`);
    await worker.close();
    worker = undefined;
  });
});
