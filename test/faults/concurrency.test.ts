/**
 * Concurrency on one detector: fits, calibrations and predict jobs run at once on two worker processes (concurrency 2
 * each, so up to four jobs at a time, coordinated only through Redis and S3), while this process keeps reading the
 * detector in two loops: `DetectorRepository.load` (pointer, manifest, every array) and the synchronous predict path
 * (`handlePredict` → detector-cache `loadForScoring`), as a warm predict function would.
 *
 * test/queue/processor.test.ts already runs two calibrations of one detector side by side in one process; this extends
 * it to the mixed workload across processes.
 *
 * Asserted: every load succeeds, or is NotFound only before the first version exists (never a missing array, never a
 * transient error: S3 and Redis stay up); each job makes exactly one version and the versions are distinct and
 * complete; the pointer ends on one of them; a calibration overtaken by a re-fit fails with CONFLICT, unretried, and
 * never becomes current; the versions each reader sees never go backwards (the pointer only moves forward).
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { loadConfig, type Config } from '../../src/config.js';
import { decodeNpy, encodeNpy } from '../../src/io/npy.js';
import { createLogger } from '../../src/log.js';
import { JobClient, type JobStatus } from '../../src/queue/client.js';
import { putDataset, putModel } from '../../src/service/datasets.js';
import { closeExtractors } from '../../src/service/extractor-cache.js';
import { handlePredict } from '../../src/service/predict-request.js';
import { DetectorRepository } from '../../src/storage/detector-repository.js';
import { tenantStore } from '../../src/storage/tenant-store.js';
import { parseLogLines, startReader, versionsSeen, type ReadOutcome } from '../helpers/faults.js';
import { REPO, SEED } from '../helpers/paths.js';
import { stopChild, until, type Child } from '../helpers/procs.js';
import { cleanupPrefix, connectRedis, REDIS_URL, uniquePrefix } from '../helpers/redis.js';
import { startTestS3, type TestS3 } from '../helpers/s3.js';
import { putRepeatedTrainSet, startWorkerProcess, workerEnv } from '../helpers/workers.js';

const DET = 'busy';
/** The jobs' tenant: the workers work in its view of the bucket, `tenants/<tenant>/`, where PREFIX lives. */
const TENANT = 'busy-tenant';
const PREFIX = `detectors/${DET}/`;
const labels = [...Array(50).fill(0), ...Array(50).fill(1)];

describe('concurrent fit, calibrate and predict on one detector', { timeout: 180_000 }, () => {
  let s3: TestS3 | undefined;
  let config: Config;
  const workers: Child[] = [];
  const redis = connectRedis();
  const queuePrefix = uniquePrefix().replace(/:$/, '');
  let conn: Redis | undefined;
  let client: JobClient | undefined;

  before(async () => {
    s3 = await startTestS3({ bucket: 'imagedrift-concurrency' });
    config = loadConfig({ S3_BUCKET: s3.s3.bucket, S3_ENDPOINT: s3.s3.endpoint, S3_ACCESS_KEY_ID: 'S3RVER', S3_SECRET_ACCESS_KEY: 'S3RVER', REDIS_URL, QUEUE_PREFIX: queuePrefix });
    const view = tenantStore(s3.store, TENANT);
    await putModel(view, { id: 'lenet5', bytes: new Uint8Array(await readFile(`${REPO}models/lenet5.onnx`)) });
    const evalBytes = new Uint8Array(await readFile(`${SEED}concept_test_lenet1.npy`));
    await putDataset(view, { id: 'eval', name: 'concept_test_lenet1.npy', bytes: evalBytes });
    // 20 samples (10 ID + 10 OOD) for the synchronous predict path (≤ SYNC_PREDICT_MAX_IMAGES).
    const e = decodeNpy(evalBytes);
    const per = e.data.length / e.shape[0]!;
    const small = new Float32Array(20 * per);
    small.set(e.data.subarray(0, 10 * per), 0);
    small.set(e.data.subarray(90 * per, 100 * per), 10 * per);
    await putDataset(view, { id: 'small', name: 'small.npy', bytes: encodeNpy(small, [20, ...e.shape.slice(1)], 'float32') });
    await putRepeatedTrainSet(view, 'train4', 4);
    const env = workerEnv(config, { WORKER_CONCURRENCY: '2' });
    workers.push(...(await Promise.all([startWorkerProcess('worker-a', env), startWorkerProcess('worker-b', env)])));
    conn = new Redis(REDIS_URL, { maxRetriesPerRequest: 1, connectTimeout: 5000 });
    client = new JobClient({ connection: conn, prefix: queuePrefix, attempts: 3, backoffMs: 200 });
  });
  after(async () => {
    await Promise.all(workers.map((w) => stopChild(w)));
    await client?.close().catch(() => undefined);
    conn?.disconnect();
    await closeExtractors();
    await cleanupPrefix(redis, queuePrefix).catch(() => undefined);
    await redis.quit();
    await s3?.stop();
  });

  test('readers only ever see whole versions, every job makes one version, the pointer ends on a complete one', async (t) => {
    const store = tenantStore(s3!.store, TENANT); // the tenant's view, as its jobs and its predict function see it
    const c = client!;
    const repo = new DetectorRepository(store);
    const finished = (id: string): Promise<JobStatus> =>
      until(
        async () => {
          const s = await c.status(id, store, TENANT);
          return s.state === 'completed' || s.state === 'failed' ? s : undefined;
        },
        120_000,
        `job ${id}`,
        100,
      );

    // Readers start before the detector exists.
    const whole = startReader(async () => {
      const d = await repo.load(PREFIX);
      const centres = d.bundle.fitted.arrays().centres!;
      assert.equal(centres.length, 10 * d.bundle.fitted.dim, `v${d.version}: centres hold nCluster × dim values`);
      return d;
    });
    const predictDeps = { store, logger: createLogger('silent'), runtime: { executionProviders: ['cpu'] }, syncMaxImages: 64, enqueue: async () => assert.fail('20 samples must be answered synchronously') };
    const predicting = startReader(async () => {
      const r = await handlePredict(predictDeps, { detector: DET, dataset: 'small', threshold: 0.5 });
      assert.ok(r.sync);
      assert.equal(r.body.result.length, 20);
      assert.ok(r.body.scores.every(Number.isFinite));
      return { version: r.body.detectorVersion };
    }, 2);
    // The readers loop until stopped: stop them however the test ends, or a failure below would leave this process
    // running forever instead of failing (seen: a run hung for 1 h 40 min, a core busy, after an early assertion).
    t.after(async () => {
      await whole.stop();
      await predicting.stop();
    });

    const fit = (seed: number, dataset: string, score: 'shortfall' | 'mindarmour') => ({ detector: DET, model: 'lenet5', dataset, layer: '9', nCluster: 10, score, seed });
    const first = await c.enqueue('fit', fit(0, 'eval', 'shortfall'), TENANT);
    assert.equal((await finished(first)).state, 'completed');

    const jobs: { id: string; kind: 'fit' | 'calibrate' | 'predict'; method?: string }[] = [];
    const add = async (kind: 'fit' | 'calibrate' | 'predict', payload: any, method?: string) => jobs.push({ id: await c.enqueue(kind, payload, TENANT), kind, ...(method ? { method } : {}) });
    await add('fit', fit(1, 'train4', 'shortfall'));
    await add('calibrate', { detector: DET, dataset: 'eval', oodLabels: labels, grid: 0.01 }, 'grid');
    await add('predict', { detector: DET, dataset: 'eval', threshold: 0.5 });
    await add('calibrate', { detector: DET, dataset: 'eval', oodLabels: labels }, 'exact');
    await add('fit', fit(2, 'train4', 'mindarmour'));
    await add('calibrate', { detector: DET, dataset: 'eval', targetFpr: 0.1 }, 'conformal');
    await add('predict', { detector: DET, dataset: 'eval', threshold: 0.5 });
    const statuses = new Map<string, JobStatus>();
    for (const j of jobs) statuses.set(j.id, await finished(j.id));
    const outcomesWhole = await whole.stop();
    const outcomesPredict = await predicting.stop();
    const logs = workers.map((w) => parseLogLines(w.output()));

    // Fits and predicts complete. A calibration completes, or, when a re-fit became current while it ran, fails at once
    // with a permanent CONFLICT (its version is saved but never current: it would have undone the re-fit).
    const stale: string[] = [];
    for (const j of jobs) {
      const st = statuses.get(j.id)!;
      if (j.kind === 'calibrate' && st.state === 'failed') {
        assert.equal(st.error?.code, 'CONFLICT', JSON.stringify(st.error));
        assert.match(st.error!.message, /a different fit, became current while this calibration/);
        assert.equal(st.attemptsMade, 1, 'not retried');
        stale.push(j.id);
      } else {
        assert.equal(st.state, 'completed', `${j.kind} ${j.id}: ${JSON.stringify(st.error)}`);
      }
    }
    assert.ok(logs.every((l) => l.some((x) => x.msg === 'job done')), 'both workers took part');

    // One distinct, complete version per fit/calibrate job (a stale calibration's too); calibrations carry their own method.
    const made = [{ version: 1, kind: 'fit' as const }, ...jobs.filter((j) => j.kind !== 'predict' && !stale.includes(j.id)).map((j) => ({ ...j, version: (statuses.get(j.id)!.result as { version: number }).version }))];
    const manifests = (await store.list(PREFIX)).map((o) => o.key).filter((k) => k.endsWith('/manifest.json'));
    const all = manifests.map((k) => Number(/v(\d+)\/manifest\.json$/.exec(k)![1])).sort((a, b) => a - b);
    assert.deepEqual(all, [1, 2, 3, 4, 5, 6], 'six jobs, six distinct versions, no gaps (no attempt failed)');
    const numbers = all;
    assert.ok(made.every((m) => all.includes(m.version)));
    assert.equal(new Set(made.map((m) => m.version)).size, made.length);
    // The current version is never a calibration of a fit other than the current fit's: same fitId as the newest fit
    // that is current or was calibrated into the current version.
    const current = await repo.load(PREFIX);
    const fitsMade = await Promise.all(made.filter((m) => m.kind === 'fit').map(async (m) => (await repo.load(PREFIX, m.version)).bundle.fitId));
    assert.ok(fitsMade.includes(current.bundle.fitId), 'the current version is one of the fits, or a calibration of one');
    for (const m of made) {
      const d = await repo.load(PREFIX, m.version);
      assert.equal(d.bundle.calibration?.method, 'method' in m ? m.method : undefined, `v${m.version}`);
    }
    for (const j of jobs.filter((x) => x.kind === 'calibrate' && !stale.includes(x.id))) {
      const r = statuses.get(j.id)!.result as { version: number; baseVersion: number };
      assert.ok(r.baseVersion >= 1 && r.baseVersion < r.version, `calibration v${r.version} is based on an earlier version (v${r.baseVersion})`);
    }
    for (const j of jobs.filter((x) => x.kind === 'predict')) assert.ok(numbers.includes((statuses.get(j.id)!.result as { detectorVersion: number }).detectorVersion));
    const pointer = (await repo.readPointer(PREFIX))!.version;
    assert.ok(numbers.includes(pointer), `the pointer names a complete version (v${pointer})`);
    assert.equal((await repo.load(PREFIX)).version, pointer);

    // Readers: whole versions only; NotFound only before the first version.
    for (const [name, outcomes] of [['load', outcomesWhole], ['predict', outcomesPredict]] as const) {
      assert.deepEqual(outcomes.filter((o) => o.kind === 'error' || o.kind === 'transient'), [], `${name}: no failed read`);
      const firstOk = outcomes.findIndex((o) => o.kind === 'ok');
      assert.ok(firstOk >= 0, `${name}: read the detector`);
      assert.ok(outcomes.slice(firstOk).every((o) => o.kind === 'ok'), `${name}: NotFound only before the first version`);
      const { versions } = versionsSeen(outcomes);
      assert.ok(new Set(versions).size >= 2, `${name}: saw the detector change (${[...new Set(versions)].join(',')})`);
      assert.ok(versions.every((v) => numbers.includes(v)));
    }

    // When two saves overlap, the one with the lower number can finish last. Before DetectorRepository.save moved the
    // pointer only forward, that save moved `current.json` back (seen here: 1 → 2 → 3 → 5 → 4 → 6).
    await t.test('the versions each reader sees never go backwards', () => {
      const seen = [['load', outcomesWhole], ['predict', outcomesPredict]].map(([name, o]) => {
        const { versions, monotonic } = versionsSeen(o as ReadOutcome[]);
        return { name, monotonic, order: versions.filter((v, i) => i === 0 || v !== versions[i - 1]).join(' → ') };
      });
      assert.ok(seen.every((x) => x.monotonic), seen.map((x) => `${x.name}: ${x.order}`).join('; '));
    });
  });
});
