import assert from 'node:assert/strict';
import { readFile, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ConflictError, InputError, NotFoundError, StorageError, TransientStorageError } from '../../src/core/errors.js';
import { createLogger } from '../../src/log.js';
import { jobKeys } from '../../src/storage/keys.js';
import { processJob, type JobLike, type ProcessorDeps } from '../../src/queue/processor.js';
import { isPermanentError } from '../../src/queue/worker.js';
import { decodeNpy, encodeNpy } from '../../src/io/npy.js';
import { putDataset, putEphemeralDataset, putModel } from '../../src/service/datasets.js';
import { closeExtractors } from '../../src/service/extractor-cache.js';
import { DetectorRepository, StaleBaseError } from '../../src/storage/detector-repository.js';
import type { ObjectStore } from '../../src/storage/object-store.js';
import { RedisCoordinator } from '../../src/storage/redis-coordinator.js';
import { tenantPrefix, tenantStore } from '../../src/storage/tenant-store.js';
import { cleanupPrefix, connectRedis, uniquePrefix } from '../helpers/redis.js';
import { REPO, SEED } from '../helpers/paths.js';
import { startTestS3, type TestS3 } from '../helpers/s3.js';
import { recording } from '../helpers/store-wrappers.js';

/** The tenant every job here belongs to (JobClient.enqueue adds it to the job data from the caller's API key). */
const TENANT = 'proc-tenant';
/** A key of the bucket as a key in TENANT's view (where the tenant's jobs work), or undefined if outside it. */
const inView = (key: string): string | undefined => (key.startsWith(tenantPrefix(TENANT)) ? key.slice(tenantPrefix(TENANT).length) : undefined);

/** A job as the processor sees it (BullMQ's Job has these members), TENANT's as enqueued; records progress reports. */
function job(id: string, name: string, payload: object): JobLike & { progress: number[] } {
  return rawJob(id, name, { ...payload, tenant: TENANT });
}

/** A job with exactly this data (no tenant added). */
function rawJob(id: string, name: string, data: unknown): JobLike & { progress: number[] } {
  const progress: number[] = [];
  return { id, name, data, progress, updateProgress: async (p: number) => void progress.push(p) };
}

/**
 * Fault injection: the real store (the whole bucket, as the worker passes it), but the first PUT whose key in TENANT's
 * view matches fails (as a crash at that point would).
 */
function failingOnce(store: ObjectStore, pattern: RegExp): ObjectStore {
  let failed = false;
  return new Proxy(store, {
    get(target, prop, receiver) {
      if (prop === 'put') {
        return async (key: string, bytes: Uint8Array, opts?: object) => {
          const k = inView(key);
          if (!failed && k !== undefined && pattern.test(k)) {
            failed = true;
            throw new TransientStorageError(key, 'injected failure');
          }
          return target.put(key, bytes, opts);
        };
      }
      const v = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

/** The real store, but a read of TENANT's eval dataset's data waits until `release()`; `atGate` resolves when one arrives. */
function pausedAtDataset(store: ObjectStore): { store: ObjectStore; atGate: Promise<void>; release: () => void } {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let reached!: () => void;
  const atGate = new Promise<void>((r) => (reached = r));
  const paused: ObjectStore = new Proxy(store, {
    get(target, prop, receiver) {
      if (prop === 'get') {
        return async (key: string) => {
          if (inView(key)?.startsWith('datasets/eval/data')) {
            reached();
            await gate;
          }
          return target.get(key);
        };
      }
      const v = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  return { store: paused, atGate, release };
}

describe('queue processor (real s3rver + Redis coordinator, no BullMQ)', () => {
  let s3: TestS3;
  /** TENANT's view of the bucket: where its jobs read their inputs and write versions, claims and results. */
  let view: ObjectStore;
  const redis = connectRedis();
  const prefix = uniquePrefix();
  let deps: ProcessorDeps;
  const labels = [...Array(50).fill(0), ...Array(50).fill(1)];
  const versions = async (det: string) => (await view.list(`detectors/${det}/`)).map((o) => o.key).filter((k) => k.endsWith('/manifest.json'));

  before(async () => {
    s3 = await startTestS3();
    view = tenantStore(s3.store, TENANT);
    // The processor gets the whole bucket, as in the worker; each job works in its tenant's view.
    deps = { store: s3.store, coordinator: new RedisCoordinator(redis, { keyPrefix: prefix }), logger: createLogger('silent'), runtime: { executionProviders: ['cpu'] } };
    await putModel(view, { id: 'lenet5', bytes: new Uint8Array(await readFile(`${REPO}models/lenet5.onnx`)) });
    await putDataset(view, { id: 'eval', name: 'concept_test_lenet1.npy', bytes: new Uint8Array(await readFile(`${SEED}concept_test_lenet1.npy`)) });
    await putDataset(view, { id: 'test2', name: 'concept_test_lenet2.npy', bytes: new Uint8Array(await readFile(`${SEED}concept_test_lenet2.npy`)) });
  });
  after(async () => {
    await closeExtractors();
    await cleanupPrefix(redis, prefix);
    await redis.quit();
    await s3.stop();
  });

  const fitData = { detector: 'p1', model: 'lenet5', dataset: 'eval', layer: 'output', nCluster: 10, score: 'mindarmour', seed: 0, batchSize: 10 };

  test('fit writes one version, the pointer and jobs/<id>/result.json, reporting progress up to 100', async () => {
    const j = job('job-fit-1', 'fit', fitData);
    const r = await processJob(deps, j);
    assert.equal(r.kind, 'fit');
    assert.equal(r.kind === 'fit' && r.version, 1);
    assert.deepEqual(await versions('p1'), ['detectors/p1/v1/manifest.json']);
    assert.equal((await new DetectorRepository(view).readPointer('detectors/p1/'))?.version, 1);
    const stored = JSON.parse(new TextDecoder().decode(await view.get(jobKeys('job-fit-1').result)));
    assert.deepEqual(stored, JSON.parse(JSON.stringify(r)));
    assert.equal(j.progress.at(-1), 100);
    assert.ok(j.progress.every((p, i) => i === 0 || p > j.progress[i - 1]!), `progress is increasing: ${j.progress.join(',')}`);
    assert.ok(j.progress.length > 5, 'extraction progress is reported');
  });

  test('running the same job id again returns the stored result and writes nothing', async () => {
    const before = (await s3.store.list('')).map((o) => `${o.key}:${o.etag}`);
    const j = job('job-fit-1', 'fit', fitData);
    const r = await processJob(deps, j);
    assert.equal(r.kind === 'fit' && r.version, 1);
    assert.deepEqual((await s3.store.list('')).map((o) => `${o.key}:${o.etag}`), before);
    assert.deepEqual(j.progress, [], 'no work, no progress');
  });

  test('a rerun after the version was saved but before the result marker reuses that version', async () => {
    await view.delete(jobKeys('job-fit-1').result);
    const j = job('job-fit-1', 'fit', fitData);
    const r = await processJob(deps, j);
    assert.equal(r.kind === 'fit' && r.version, 1);
    assert.deepEqual(await versions('p1'), ['detectors/p1/v1/manifest.json']);
    assert.ok(await view.head(jobKeys('job-fit-1').result));
  });

  test('a crash before the manifest: the rerun writes the claimed version number, not a new one', async () => {
    const flaky = { ...deps, store: failingOnce(s3.store, /^detectors\/p2\/v\d+\/manifest\.json$/) };
    const data = { ...fitData, detector: 'p2' };
    await assert.rejects(processJob(flaky, job('job-fit-2', 'fit', data)), TransientStorageError);
    const claim = JSON.parse(new TextDecoder().decode(await view.get(jobKeys('job-fit-2').claim)));
    assert.equal(claim.version, 1);
    assert.deepEqual(await versions('p2'), [], 'no complete version yet');
    const r = await processJob(flaky, job('job-fit-2', 'fit', data));
    assert.equal(r.kind === 'fit' && r.version, 1);
    assert.deepEqual(await versions('p2'), ['detectors/p2/v1/manifest.json']);
  });

  test('a crash between manifest and pointer: the rerun moves the pointer forward, still one version', async () => {
    const flaky = { ...deps, store: failingOnce(s3.store, /^detectors\/p1\/current\.json$/) };
    const cal = { detector: 'p1', dataset: 'eval', oodLabels: labels, grid: 0.01 };
    await assert.rejects(processJob(flaky, job('job-cal-1', 'calibrate', cal)), TransientStorageError);
    assert.deepEqual(await versions('p1'), ['detectors/p1/v1/manifest.json', 'detectors/p1/v2/manifest.json']);
    assert.equal((await new DetectorRepository(view).readPointer('detectors/p1/'))?.version, 1, 'pointer not moved by the failed attempt');
    const r = await processJob(flaky, job('job-cal-1', 'calibrate', cal));
    assert.equal(r.kind, 'calibrate');
    assert.equal(r.kind === 'calibrate' && r.version, 2);
    assert.equal(r.kind === 'calibrate' && r.baseVersion, 1);
    assert.equal((await new DetectorRepository(view).readPointer('detectors/p1/'))?.version, 2);
    assert.equal((await versions('p1')).length, 2);
  });

  test('predict job writes the full result; oodLabelsKey calibration reads labels from the bucket', async () => {
    await view.put('labels/eval.json', new TextEncoder().encode(JSON.stringify(labels)));
    const c = await processJob(deps, job('job-cal-2', 'calibrate', { detector: 'p1', dataset: 'eval', oodLabelsKey: 'labels/eval.json', grid: 0.01 }));
    assert.equal(c.kind === 'calibrate' && c.version, 3);
    const r = await processJob(deps, job('job-pred-1', 'predict', { detector: 'p1', dataset: 'test2' }));
    assert.equal(r.kind, 'predict');
    if (r.kind !== 'predict') return;
    assert.equal(r.n, 400);
    assert.equal(r.result.length, 400);
    assert.equal(r.detectorVersion, 3);
    assert.ok(r.result.every((v) => v === 0 || v === 1));
    assert.equal(r.flagged, r.result.reduce<number>((a, b) => a + b, 0));
  });

  test('input errors are permanent; transient storage errors and conflicts are retried', async () => {
    await assert.rejects(processJob(deps, job('job-bad-1', 'fit', { ...fitData, dataset: 'missing' })), (e: unknown) => e instanceof NotFoundError && e.field === 'dataset' && isPermanentError(e));
    await assert.rejects(processJob(deps, job('job-bad-2', 'fit', { ...fitData, nCluster: 1 })), (e: unknown) => e instanceof InputError && e.field === 'nCluster' && isPermanentError(e));
    await assert.rejects(processJob(deps, job('job-bad-3', 'calibrate', { detector: 'p1', dataset: 'eval', oodLabels: [0, 1] })), (e: unknown) => e instanceof InputError && isPermanentError(e));
    await assert.rejects(processJob(deps, job('job-bad-4', 'teleport', {})), (e: unknown) => e instanceof InputError && e.field === 'job.name');
    assert.equal(isPermanentError(new TransientStorageError('k', 'x')), false);
    assert.equal(isPermanentError(new ConflictError('k', 'x')), false);
    assert.equal(isPermanentError(new StorageError('k', 'x')), true);
    assert.equal(isPermanentError(new Error('ECONNRESET')), false);
    assert.ok(!(await view.head(jobKeys('job-bad-1').result)), 'failed jobs leave no result');
  });

  test('two concurrent calibrations of one detector: two complete versions, the pointer names one, no mixed state is readable', async () => {
    await processJob(deps, job('job-fit-cc', 'fit', { ...fitData, detector: 'cc' }));
    const repo = new DetectorRepository(view);
    const seen = new Set<string>();
    let stop = false;
    // A reader polling the current version while both calibrations run: every read is a whole version.
    const reader = (async () => {
      while (!stop) {
        const d = await repo.load('detectors/cc/');
        const c = d.bundle.calibration;
        assert.equal(d.bundle.fitted.arrays().centres!.length, 10 * 10);
        seen.add(`${d.version}:${c ? c.method : 'none'}`);
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    const [a, b] = await Promise.all([
      processJob(deps, job('job-cc-a', 'calibrate', { detector: 'cc', dataset: 'eval', oodLabels: labels, grid: 0.01 })),
      processJob(deps, job('job-cc-b', 'calibrate', { detector: 'cc', dataset: 'eval', oodLabels: labels })),
    ]);
    stop = true;
    await reader;
    assert.equal(a.kind, 'calibrate');
    assert.equal(b.kind, 'calibrate');
    const va = a.kind === 'calibrate' ? a.version : -1;
    const vb = b.kind === 'calibrate' ? b.version : -1;
    assert.deepEqual([va, vb].sort((a, b) => a - b), [2, 3], 'two distinct new versions');
    assert.deepEqual(await versions('cc'), ['detectors/cc/v1/manifest.json', 'detectors/cc/v2/manifest.json', 'detectors/cc/v3/manifest.json']);
    const ptr = (await repo.readPointer('detectors/cc/'))!.version;
    assert.ok(ptr === va || ptr === vb, `pointer names one of them (${ptr})`);
    // Each version is complete and carries its own calibration: grid for job a, exact for job b.
    assert.equal((await repo.load('detectors/cc/', va)).bundle.calibration!.method, 'grid');
    assert.equal((await repo.load('detectors/cc/', vb)).bundle.calibration!.method, 'exact');
    for (const s of seen) assert.match(s, /^(1:none|2:(grid|exact)|3:(grid|exact))$/);
  });

  test('a re-fit that lands while a calibration of the previous fit runs stays current; the calibration fails with a permanent conflict', async () => {
    // The calibration loads v1 (fit, nCluster 10), then waits at its dataset read while a re-fit (nCluster 9) saves v2
    // and makes it current. Moving the pointer to the calibration's v3 (v1's fit + a threshold) would silently undo
    // the re-fit its caller was told had succeeded.
    await processJob(deps, job('job-fit-sb1', 'fit', { ...fitData, detector: 'sb' }));
    const { store: paused, atGate, release } = pausedAtDataset(s3.store);
    const cal = processJob({ ...deps, store: paused }, job('job-cal-sb', 'calibrate', { detector: 'sb', dataset: 'eval', oodLabels: labels }));
    const settled = cal.then(
      (r) => ({ ok: true as const, r }),
      (e: unknown) => ({ ok: false as const, e }),
    );
    await atGate;
    const refit = await processJob(deps, job('job-fit-sb2', 'fit', { ...fitData, detector: 'sb', nCluster: 9 }));
    assert.equal(refit.kind === 'fit' && refit.version, 2);
    release();
    const out = await settled;
    assert.equal(out.ok, false, 'the calibration of the replaced fit must not succeed');
    const e = (out as { e: unknown }).e;
    assert.ok(e instanceof StaleBaseError && e.code === 'CONFLICT' && e.field === 'detector', String(e));
    assert.ok(isPermanentError(e), 'no retry can fix it');
    const repo = new DetectorRepository(view);
    assert.equal((await repo.readPointer('detectors/sb/'))!.version, 2, 'the re-fit stays current');
    assert.equal((await repo.load('detectors/sb/')).bundle.fitted.arrays().centres!.length, 9 * 10, 'the current fit is the re-fit (nCluster 9)');
    // A retry of the same job (its version v3 is saved, the pointer move is what failed) is refused the same way.
    await assert.rejects(processJob(deps, job('job-cal-sb', 'calibrate', { detector: 'sb', dataset: 'eval', oodLabels: labels })), StaleBaseError);
    assert.equal((await repo.readPointer('detectors/sb/'))!.version, 2);
    // Calibrating the current fit works, and two versions of one fit share its fitId.
    const ok = await processJob(deps, job('job-cal-sb2', 'calibrate', { detector: 'sb', dataset: 'eval', oodLabels: labels }));
    assert.equal(ok.kind === 'calibrate' && ok.baseVersion, 2);
    const [v2, v4] = await Promise.all([repo.load('detectors/sb/', 2), repo.load('detectors/sb/', ok.kind === 'calibrate' ? ok.version : -1)]);
    assert.match(v2.bundle.fitId ?? '', /^[0-9a-f]{64}$/);
    assert.equal(v4.bundle.fitId, v2.bundle.fitId);
    assert.notEqual((await repo.load('detectors/sb/', 1)).bundle.fitId, v2.bundle.fitId);
  });

  test('a calibration that crashed before its manifest, retried after a re-fit: a permanent conflict, not a silent success', async () => {
    // Attempt 1 claims v2 over v1 and dies before the manifest; a re-fit then publishes v3. The retry used to write the
    // claimed v2 (below the current v3, so never published) and report success with baseVersion 3.
    await processJob(deps, job('job-fit-cr1', 'fit', { ...fitData, detector: 'cr' }));
    const flaky = { ...deps, store: failingOnce(s3.store, /^detectors\/cr\/v\d+\/manifest\.json$/) };
    const cal = { detector: 'cr', dataset: 'eval', oodLabels: labels };
    await assert.rejects(processJob(flaky, job('job-cal-cr', 'calibrate', cal)), TransientStorageError);
    const refit = await processJob(deps, job('job-fit-cr2', 'fit', { ...fitData, detector: 'cr', nCluster: 9 }));
    assert.equal(refit.kind === 'fit' && refit.version, 3);
    const retry = await processJob(deps, job('job-cal-cr', 'calibrate', cal)).then(
      (r) => ({ ok: true as const, r }),
      (e: unknown) => ({ ok: false as const, e }),
    );
    assert.equal(retry.ok, false, `the retry reported ${JSON.stringify(retry.ok ? retry.r : null)}`);
    const e = (retry as { e: unknown }).e;
    assert.ok(e instanceof StaleBaseError && isPermanentError(e), String(e));
    assert.match((e as Error).message, /v3, a different fit, became current after an earlier attempt of this calibration started on v1/);
    const repo = new DetectorRepository(view);
    assert.equal((await repo.readPointer('detectors/cr/'))!.version, 3, 'the re-fit stays current');
    assert.deepEqual(await versions('cr'), ['detectors/cr/v1/manifest.json', 'detectors/cr/v3/manifest.json'], 'nothing written for the refused retry');
  });

  test('a calibration that crashed before its manifest, retried after another calibration of the same fit: completes', async () => {
    // As two concurrent calibrations of one fit both complete, so does a retry overtaken by one (no conflict: same fit).
    await processJob(deps, job('job-fit-sf1', 'fit', { ...fitData, detector: 'sf' }));
    const flaky = { ...deps, store: failingOnce(s3.store, /^detectors\/sf\/v\d+\/manifest\.json$/) };
    const cal = { detector: 'sf', dataset: 'eval', oodLabels: labels };
    await assert.rejects(processJob(flaky, job('job-cal-sfa', 'calibrate', cal)), TransientStorageError);
    const other = await processJob(deps, job('job-cal-sfb', 'calibrate', cal));
    assert.equal(other.kind === 'calibrate' && other.version, 3);
    const retry = await processJob(deps, job('job-cal-sfa', 'calibrate', cal));
    assert.equal(retry.kind === 'calibrate' && retry.version, 2, 'the claimed number');
    assert.deepEqual(await versions('sf'), ['detectors/sf/v1/manifest.json', 'detectors/sf/v2/manifest.json', 'detectors/sf/v3/manifest.json']);
    assert.equal((await new DetectorRepository(view).readPointer('detectors/sf/'))!.version, 3, 'the later calibration of the same fit stays current');
  });

  test('two attempts of one fit job running at once (a lapsed lock): both succeed with the one claimed version', async () => {
    // Attempt B waits at its dataset read while attempt A runs to the end; B then fits, finds its claimed version
    // already saved, and reports it instead of failing on "version already exists" (a permanent error).
    const { store: paused, atGate, release } = pausedAtDataset(s3.store);
    const data = { ...fitData, detector: 'dup' };
    const b = processJob({ ...deps, store: paused }, job('job-fit-dup', 'fit', data));
    await atGate;
    const a = await processJob(deps, job('job-fit-dup', 'fit', data));
    release();
    const rb = await b;
    assert.equal(a.kind === 'fit' && a.version, 1);
    assert.deepEqual(rb, a, 'the second attempt reports the version the first saved');
    assert.deepEqual(await versions('dup'), ['detectors/dup/v1/manifest.json']);
  });

  test('label-free calibration job: conformal threshold from held-out ID data, no labels', async () => {
    await processJob(deps, job('job-fit-lf', 'fit', { ...fitData, detector: 'lf' }));
    const r = await processJob(deps, job('job-cal-lf', 'calibrate', { detector: 'lf', dataset: 'eval', targetFpr: 0.1 }));
    assert.equal(r.kind === 'calibrate' && r.method, 'conformal');
    const loaded = await new DetectorRepository(view).load('detectors/lf/');
    const c = loaded.bundle.calibration!;
    assert.equal(c.method, 'conformal');
    assert.equal(c.targetFpr, 0.1);
    assert.equal(c.nEval, 100);
    assert.equal(loaded.bundle.calibrationScores!.length, 100);
    // ⌈(100+1)·0.9⌉ = 91st smallest held-out score: 9 of the 100 held-out samples lie above it
    const sorted = Array.from(loaded.bundle.calibrationScores!);
    assert.ok(c.threshold > sorted[89]! && c.threshold <= sorted[90]! + 1e-6);
    await assert.rejects(processJob(deps, job('job-cal-lf-bad', 'calibrate', { detector: 'lf', dataset: 'eval', targetFpr: 0.1, grid: 0.01 })), (e: unknown) => e instanceof InputError && isPermanentError(e));
    // Calibration keeps the in-distribution feature rows (all 100 here) as the MMD reference, at the layer's width.
    assert.deepEqual([loaded.bundle.referenceFeatures?.rows, loaded.bundle.referenceFeatures?.cols], [100, 10]);
    await processJob(deps, job('job-cal-lf-30', 'calibrate', { detector: 'lf', dataset: 'eval', targetFpr: 0.1, referenceRows: 30 }));
    const fewer = await new DetectorRepository(view).load('detectors/lf/');
    assert.equal(fewer.bundle.referenceFeatures?.rows, 30);
  });

  test('a job without a tenant (or with an invalid one) is refused before it reads or writes anything; it never runs at the bucket root', async () => {
    // Inputs a tenantless job would find if it ran against the bucket root: the model, and a dataset with the id of
    // TENANT's `eval` but other data (lenet2's 400 samples, not lenet1's 100).
    await putModel(s3.store, { id: 'lenet5', bytes: new Uint8Array(await readFile(`${REPO}models/lenet5.onnx`)) });
    await putDataset(s3.store, { id: 'eval', name: 'concept_test_lenet2.npy', bytes: new Uint8Array(await readFile(`${SEED}concept_test_lenet2.npy`)) });
    const bucket = async () => (await s3.store.list('')).map((o) => `${o.key}:${o.etag}`);
    const before = await bucket();
    const payload = { ...fitData, detector: 'rooted' };
    const cases: [string, unknown][] = [
      ['no tenant field', payload],
      ['tenant undefined', { ...payload, tenant: undefined }],
      ['tenant null', { ...payload, tenant: null }],
      ['empty tenant', { ...payload, tenant: '' }],
      ['tenant ..', { ...payload, tenant: '..' }],
      ['tenant with a path', { ...payload, tenant: `${TENANT}/../other` }],
      ['upper-case tenant', { ...payload, tenant: 'Proc-Tenant' }],
      ['tenant not a string', { ...payload, tenant: 42 }],
      ['data not an object', null],
    ];
    for (const [i, [what, data]] of cases.entries()) {
      const id = `job-no-tenant-${i}`;
      const { store: watched, calls } = recording(s3.store);
      await assert.rejects(processJob({ ...deps, store: watched }, rawJob(id, 'fit', data)), (e: unknown) => e instanceof InputError && e.field === 'tenant' && isPermanentError(e), what);
      assert.deepEqual(calls, [], `${what}: the bucket was not touched`);
      assert.equal(await s3.store.head(jobKeys(id).claim), undefined, `${what}: no claim at the root`);
      assert.equal(await s3.store.head(jobKeys(id).result), undefined, `${what}: no result at the root`);
    }
    const refused = await processJob(deps, rawJob('job-no-tenant-msg', 'fit', payload)).catch((e: unknown) => e);
    assert.match((refused as Error).message, /^tenant: a job must name its tenant/);
    assert.deepEqual(await bucket(), before, 'nothing written anywhere in the bucket');
    assert.deepEqual(await s3.store.list('jobs/'), [], 'no jobs/ at the root');
    assert.deepEqual(await s3.store.list('detectors/'), [], 'no detector at the root');
    // The same job as TENANT's runs in TENANT's view: its own eval (100 samples), not the root's (400).
    const r = await processJob(deps, job('job-with-tenant', 'fit', payload));
    assert.equal(r.kind === 'fit' && r.nTrain, 100);
    assert.ok(await view.head(jobKeys('job-with-tenant').claim));
    assert.deepEqual(await s3.store.list('jobs/'), [], 'still nothing at the root');
    assert.deepEqual(await versions('rooted'), ['detectors/rooted/v1/manifest.json']);
  });

  test('fit with method auto: the worker resolves the measured default for the layer from the model', async () => {
    const r = await processJob(deps, job('job-fit-auto', 'fit', { detector: 'auto1', model: 'lenet5', dataset: 'eval', layer: 'output', method: 'auto' }));
    assert.equal(r.kind, 'fit');
    const loaded = await new DetectorRepository(view).load('detectors/auto1/');
    assert.equal(loaded.bundle.fitted.kind, 'msp');
  });
  test('calibrate with an oodLabelsKey over maxFileBytes: a permanent InputError naming oodLabelsKey, the object never read', async () => {
    // It was read whole (600 MB in the review: ERR_STRING_TOO_LONG, not an ImagedriftError, so retried JOB_ATTEMPTS times).
    await view.put('labels/huge.json', new TextEncoder().encode(JSON.stringify(labels)));
    // s3rver reports an object's size from its file: grown sparse to 300 MiB, it is that large without using the disk.
    const file = join(s3.s3.dir, s3.s3.bucket, ...tenantPrefix(TENANT).split('/').filter(Boolean), 'labels', 'huge.json._S3rver_object');
    await truncate(file, 300 * 1024 * 1024);
    assert.equal((await view.head('labels/huge.json'))?.size, 300 * 1024 * 1024);
    const { store: watched, calls } = recording(s3.store);
    await assert.rejects(
      processJob({ ...deps, store: watched }, job('job-cal-huge', 'calibrate', { detector: 'p1', dataset: 'eval', oodLabelsKey: 'labels/huge.json' })),
      (e: unknown) => e instanceof InputError && e.field === 'oodLabelsKey' && /labels\/huge\.json is 314572800 bytes \(300 MiB\), more than a label file of at most 1000000 labels can be/.test(e.message) && isPermanentError(e),
    );
    assert.ok(!calls.includes(`get(${JSON.stringify(`${tenantPrefix(TENANT)}labels/huge.json`)})`), 'the labels object was not read');
    // Under maxFileBytes (256 MiB) but larger than any label file (~31 MiB): refused on its HEAD as well. It used to be
    // read whole first (the calibrate function's pre-enqueue check read 200 MiB to refuse it).
    await truncate(file, 100 * 1024 * 1024);
    const mid = recording(s3.store);
    await assert.rejects(
      processJob({ ...deps, store: mid.store }, job('job-cal-mid', 'calibrate', { detector: 'p1', dataset: 'eval', oodLabelsKey: 'labels/huge.json' })),
      (e: unknown) => e instanceof InputError && e.field === 'oodLabelsKey' && /is 104857600 bytes \(100 MiB\), more than a label file/.test(e.message),
    );
    assert.ok(!mid.calls.includes(`get(${JSON.stringify(`${tenantPrefix(TENANT)}labels/huge.json`)})`), 'the labels object was not read');
    assert.ok(!(await view.head(jobKeys('job-cal-huge').result)));
    await view.delete('labels/huge.json');
  });

  test('a predict job that fails for good deletes its ephemeral request dataset; one BullMQ will retry keeps it', async () => {
    // Inline images over SYNC_PREDICT_MAX_IMAGES are stored this way (predict-request.ts); the dataset used to be deleted
    // only after a result, so a job that failed for good left it in the bucket for ever.
    const evalBytes = new Uint8Array(await readFile(`${SEED}concept_test_lenet1.npy`));
    const rank2 = encodeNpy(new Float32Array(10 * 1024).fill(0.5), [10, 1024], 'float32'); // stored, but no model takes it
    const stored = async (id: string) => (await view.list(`datasets/${id}/`)).length;
    /** A job as BullMQ runs it: its attempt (attemptsMade failed before it) of `attempts`. */
    const attempt = (id: string, payload: object, attemptsMade: number, attempts = 3) => ({ ...job(id, 'predict', payload), attemptsMade, opts: { attempts } });

    // A permanent error (the batch's shape): the job fails at once, and its dataset goes with it.
    const bad = await putEphemeralDataset(view, { name: 'predict-images.npy', bytes: rank2, field: 'images' });
    await assert.rejects(processJob(deps, attempt('job-eph-bad', { detector: 'p1', dataset: bad.id }, 0)), (e: unknown) => e instanceof InputError && isPermanentError(e));
    assert.equal(await stored(bad.id), 0, 'the request dataset is deleted');
    // The same without attempt counts (the CLI demo, tests): a permanent error is enough.
    const bad2 = await putEphemeralDataset(view, { name: 'predict-images.npy', bytes: rank2, field: 'images' });
    await assert.rejects(processJob(deps, job('job-eph-bad2', 'predict', { detector: 'p1', dataset: bad2.id })), InputError);
    assert.equal(await stored(bad2.id), 0);
    // An uploaded (not ephemeral) dataset is never deleted.
    await putDataset(view, { id: 'rank2', name: 'rank2.npy', bytes: rank2 });
    await assert.rejects(processJob(deps, attempt('job-eph-user', { detector: 'p1', dataset: 'rank2' }, 2)), InputError);
    assert.equal(await stored('rank2'), 2);

    // A transient error with attempts left (the result write gets a 503): kept for the retry, which completes.
    const ok = await putEphemeralDataset(view, { name: 'predict-images.npy', bytes: evalBytes, field: 'images' });
    const resultFails = () => ({ ...deps, store: failingOnce(s3.store, /^jobs\/[^/]+\/result\.json$/) });
    await assert.rejects(processJob(resultFails(), attempt('job-eph-retry', { detector: 'p1', dataset: ok.id }, 0)), TransientStorageError);
    assert.equal(await stored(ok.id), 2, 'kept: BullMQ runs the job again');
    const r = await processJob(deps, attempt('job-eph-retry', { detector: 'p1', dataset: ok.id }, 1));
    assert.equal(r.kind === 'predict' && r.n, 100);
    assert.equal(await stored(ok.id), 0, 'deleted once the result is written');
    // The same transient error on the last attempt: the job has failed for good, and its dataset goes.
    const last = await putEphemeralDataset(view, { name: 'predict-images.npy', bytes: evalBytes, field: 'images' });
    await assert.rejects(processJob(resultFails(), attempt('job-eph-last', { detector: 'p1', dataset: last.id }, 2)), TransientStorageError);
    assert.equal(await stored(last.id), 0, 'deleted: no attempt is left');
  });

  test('a predict rerun that finds its result (the attempt that wrote it died before deleting its request dataset) deletes the dataset', async () => {
    const evalBytes = new Uint8Array(await readFile(`${SEED}concept_test_lenet1.npy`));
    const stored = async (id: string) => (await view.list(`datasets/${id}/`)).length;
    const eph = await putEphemeralDataset(view, { name: 'predict-images.npy', bytes: evalBytes, field: 'images' });
    // The first attempt writes its result, then dies before its deletes land (a SIGKILL, a lapsed lock): no delete happens.
    const noDeletes = new Proxy(s3.store, {
      get: (target, prop, receiver) => (prop === 'delete' ? async () => undefined : ((v) => (typeof v === 'function' ? v.bind(target) : v))(Reflect.get(target, prop, receiver))),
    });
    const first = await processJob({ ...deps, store: noDeletes }, job('job-eph-crash', 'predict', { detector: 'p1', dataset: eph.id }));
    assert.ok(await view.head(jobKeys('job-eph-crash').result));
    assert.equal(await stored(eph.id), 2, 'the crashed attempt left its request dataset');
    // BullMQ runs the job again (the stalled check): it finds the result, returns it, and the dataset goes.
    const again = await processJob(deps, job('job-eph-crash', 'predict', { detector: 'p1', dataset: eph.id }));
    assert.deepEqual(again, JSON.parse(JSON.stringify(first)));
    assert.equal(await stored(eph.id), 0, 'deleted by the rerun');
    // A rerun over an uploaded (not ephemeral) dataset deletes nothing.
    await processJob(deps, job('job-eph-user-rerun', 'predict', { detector: 'p1', dataset: 'eval' }));
    await processJob(deps, job('job-eph-user-rerun', 'predict', { detector: 'p1', dataset: 'eval' }));
    assert.equal(await stored('eval'), 2);
  });

  test("a job's data errors name the message's field, `dataset` (not the library's `data` or `idHoldout`)", async () => {
    // A dataset with pixels in [0, 2]: stored (any float32 array is a dataset), refused by preprocessing in the job.
    const evalData = decodeNpy(new Uint8Array(await readFile(`${SEED}concept_test_lenet1.npy`))).data as Float32Array;
    await putDataset(view, { id: 'doubled', name: 'doubled.npy', bytes: encodeNpy(Float32Array.from(evalData, (v) => 2 * v), [100, 1, 32, 32], 'float32') });
    const names = (field: string) => (e: unknown) => e instanceof InputError && e.field === field && isPermanentError(e);
    await assert.rejects(processJob(deps, job('job-field-lf', 'calibrate', { detector: 'p1', dataset: 'doubled', targetFpr: 0.1 })), names('dataset[0]'));
    await assert.rejects(processJob(deps, job('job-field-cal', 'calibrate', { detector: 'p1', dataset: 'doubled', oodLabels: labels })), names('dataset[0]'));
    await assert.rejects(processJob(deps, job('job-field-pred', 'predict', { detector: 'p1', dataset: 'doubled' })), names('dataset[0]'));
  });
});
