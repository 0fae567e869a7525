import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { handler as calibrate } from '../../handlers/calibrate.js';
import { handler as fit } from '../../handlers/fit.js';
import { handler as jobStatus } from '../../handlers/jobStatus.js';
import { handler as predict } from '../../handlers/predict.js';
import { loadConfig } from '../../src/config.js';
import { getJobClient } from '../../src/http/queue-deps.js';
import { createLogger } from '../../src/log.js';
import { startWorker } from '../../src/queue/worker.js';
import { encodeNpy } from '../../src/io/npy.js';
import { putDataset, putModel } from '../../src/service/datasets.js';
import { httpEvent, parse } from '../helpers/http-event.js';
import { REPO, SEED } from '../helpers/paths.js';
import { until } from '../helpers/procs.js';
import { REDIS_URL } from '../helpers/redis.js';
import { startServiceFixture, type ServiceFixture } from '../helpers/service.js';

type Handler = typeof fit;

describe('fit / calibrate / predict / jobStatus handlers: validation (real s3rver + Redis)', () => {
  let fx: ServiceFixture;
  before(async () => {
    fx = await startServiceFixture();
    await putModel(fx.store, { id: 'lenet5', bytes: new Uint8Array(await readFile(`${REPO}models/lenet5.onnx`)) });
    await putDataset(fx.store, { id: 'eval', name: 'concept_test_lenet1.npy', bytes: new Uint8Array(await readFile(`${SEED}concept_test_lenet1.npy`)) });
  });
  after(() => fx.stop());

  const call = (h: Handler, op: string, id: string, json: unknown) => h(httpEvent({ path: `/detectors/${id}/${op}`, route: `/detectors/{id}/${op}`, pathParameters: { id }, json }));

  /** A 4xx with the error shape naming `field`; no object written and no job enqueued. */
  const rejects = async (p: Promise<Awaited<ReturnType<Handler>>>, status: number, code: string, field: string) => {
    const keys = await fx.allKeys();
    const jobs = await fx.jobCount();
    const r = parse(await p);
    assert.equal(r.status, status, JSON.stringify(r.body));
    assert.deepEqual(Object.keys(r.body), ['error']);
    assert.equal(r.body.error.code, code);
    assert.equal(r.body.error.field, field, JSON.stringify(r.body));
    assert.ok(r.body.error.message.length > 0);
    assert.deepEqual(await fx.allKeys(), keys, 'nothing written');
    assert.equal(await fx.jobCount(), jobs, 'nothing enqueued');
  };

  test('fit: invalid parameters and missing inputs', async () => {
    const ok = { model: 'lenet5', dataset: 'eval', layer: 'output', nCluster: 10 };
    await rejects(call(fit, 'fit', 'd1', { ...ok, nCluster: 1 }), 400, 'INVALID_INPUT', 'nCluster');
    await rejects(call(fit, 'fit', 'd1', { ...ok, nCluster: 2.5 }), 400, 'INVALID_INPUT', 'nCluster');
    await rejects(call(fit, 'fit', 'd1', { ...ok, layer: '' }), 400, 'INVALID_INPUT', 'layer');
    await rejects(call(fit, 'fit', 'd1', { ...ok, score: 'best' }), 400, 'INVALID_INPUT', 'score');
    await rejects(call(fit, 'fit', 'd1', { ...ok, model: undefined }), 400, 'INVALID_INPUT', 'model');
    await rejects(call(fit, 'fit', 'd1', { ...ok, seed: 'x' }), 400, 'INVALID_INPUT', 'seed');
    await rejects(call(fit, 'fit', 'd1', { ...ok, batchSize: 0 }), 400, 'INVALID_INPUT', 'batchSize');
    await rejects(call(fit, 'fit', 'd1', { ...ok, extra: 1 }), 400, 'INVALID_INPUT', 'extra');
    await rejects(call(fit, 'fit', 'bad..id', ok), 400, 'INVALID_INPUT', 'detector');
    await rejects(call(fit, 'fit', 'd1', { ...ok, detector: 'other' }), 400, 'INVALID_INPUT', 'detector');
    await rejects(call(fit, 'fit', 'd1', { ...ok, dataset: 'missing' }), 404, 'NOT_FOUND', 'dataset');
    await rejects(call(fit, 'fit', 'd1', { ...ok, model: 'missing' }), 404, 'NOT_FOUND', 'model');
    // Data the model can never take is refused now, not by a failed job later: a label file uploaded as a dataset
    // (rank 1), and 2-channel images (no conversion to LeNet's 1 channel).
    await putDataset(fx.store, { id: 'labels', name: 'labels.npy', bytes: encodeNpy(new Float32Array(100), [100], 'float32') });
    await putDataset(fx.store, { id: 'two-ch', name: 'two.npy', bytes: encodeNpy(new Float32Array(10 * 2 * 32 * 32), [10, 2, 32, 32], 'float32') });
    await rejects(call(fit, 'fit', 'd1', { ...ok, dataset: 'labels' }), 400, 'INVALID_INPUT', 'dataset');
    await rejects(call(fit, 'fit', 'd1', { ...ok, dataset: 'two-ch' }), 400, 'INVALID_INPUT', 'dataset');
    const r = parse(await call(fit, 'fit', 'd1', { ...ok, dataset: 'labels' }));
    assert.match(r.body.error.message, /dataset: expected rank 3 \(N,H,W\) or rank 4 .*got rank 1 with shape \[100\]/);
  });

  test('fit: a valid request → 202 with a job id and the validated payload enqueued', async () => {
    const r = parse(await call(fit, 'fit', 'd1', { model: 'lenet5', dataset: 'eval', layer: 'output', nCluster: '10', seed: 0 }));
    assert.equal(r.status, 202, JSON.stringify(r.body));
    assert.match(r.body.jobId, /^[0-9a-f-]{36}$/);
    const job = await getJobClient().queue.getJob(r.body.jobId);
    assert.equal(job?.name, 'fit');
    assert.deepEqual(job?.data, { model: 'lenet5', dataset: 'eval', layer: 'output', nCluster: 10, seed: 0, detector: 'd1', tenant: fx.tenant }, 'the tenant comes from the API key');
    const s = parse(await jobStatus(httpEvent({ method: 'GET', path: `/jobs/${r.body.jobId}`, pathParameters: { id: r.body.jobId } })));
    assert.equal(s.status, 200);
    assert.equal(s.body.state, 'waiting');
    assert.equal(s.body.progress, 0);
  });

  test('calibrate: invalid requests', async () => {
    const labels = [...Array(50).fill(0), ...Array(50).fill(1)];
    await rejects(call(calibrate, 'calibrate', 'nodet', { dataset: 'eval', oodLabels: labels }), 404, 'NOT_FOUND', 'detector');
    await rejects(call(calibrate, 'calibrate', 'd1', { dataset: 'eval' }), 400, 'INVALID_INPUT', 'oodLabels');
    await rejects(call(calibrate, 'calibrate', 'd1', { dataset: 'eval', oodLabels: labels, oodLabelsKey: 'labels.json' }), 400, 'INVALID_INPUT', 'oodLabelsKey');
    await rejects(call(calibrate, 'calibrate', 'd1', { dataset: 'eval', oodLabels: [0, 1, 2] }), 400, 'INVALID_INPUT', 'oodLabels[2]');
    await rejects(call(calibrate, 'calibrate', 'd1', { dataset: 'eval', oodLabelsKey: '../labels.json' }), 400, 'INVALID_INPUT', 'oodLabelsKey');
    await rejects(call(calibrate, 'calibrate', 'd1', { dataset: 'eval', oodLabels: labels, grid: 1.5 }), 400, 'INVALID_INPUT', 'grid');
    // Inline labels ride in the job payload Redis keeps: a million of them (2 MB) used to be enqueued.
    await rejects(call(calibrate, 'calibrate', 'd1', { dataset: 'eval', oodLabels: new Array(10_001).fill(0) }), 400, 'INVALID_INPUT', 'oodLabels');
    const many = parse(await call(calibrate, 'calibrate', 'd1', { dataset: 'eval', oodLabels: new Array(10_001).fill(0) }));
    assert.match(many.body.error.message, /oodLabels: holds more than 10000 labels; put a larger label set in the bucket .* oodLabelsKey/);
  });

  test('predict: invalid requests', async () => {
    await rejects(call(predict, 'predict', 'd1', {}), 400, 'INVALID_INPUT', 'dataset');
    await rejects(call(predict, 'predict', 'd1', { dataset: 'eval', images: ['AAAA'] }), 400, 'INVALID_INPUT', 'images');
    await rejects(call(predict, 'predict', 'd1', { images: [] }), 400, 'INVALID_INPUT', 'images');
    await rejects(call(predict, 'predict', 'd1', { images: ['AAAA', 42] }), 400, 'INVALID_INPUT', 'images[1]');
    await rejects(call(predict, 'predict', 'd1', { dataset: 'eval', threshold: 'high' }), 400, 'INVALID_INPUT', 'threshold');
    await rejects(call(predict, 'predict', 'nodet', { dataset: 'eval' }), 404, 'NOT_FOUND', 'detector');
  });

  test('jobStatus: unknown job → 404', async () => {
    const r = parse(await jobStatus(httpEvent({ method: 'GET', path: '/jobs/nope', pathParameters: { id: 'nope' } })));
    assert.equal(r.status, 404);
    assert.equal(r.body.error.code, 'NOT_FOUND');
    assert.equal(r.body.error.field, 'id');
  });
});

describe('jobStatus: a failed job\'s error as the client reads it (real worker, s3rver + Redis)', () => {
  let fx: ServiceFixture;
  before(async () => {
    fx = await startServiceFixture({ JOB_ATTEMPTS: '2', JOB_BACKOFF_MS: '100' });
    await putModel(fx.store, { id: 'lenet5', bytes: new Uint8Array(await readFile(`${REPO}models/lenet5.onnx`)) });
    await putDataset(fx.store, { id: 'eval', name: 'concept_test_lenet1.npy', bytes: new Uint8Array(await readFile(`${SEED}concept_test_lenet1.npy`)) });
  });
  after(() => fx.stop());

  const call = (h: Handler, op: string, id: string, json: unknown) => h(httpEvent({ path: `/detectors/${id}/${op}`, route: `/detectors/{id}/${op}`, pathParameters: { id }, json }));
  const status = async (id: string) => parse(await jobStatus(httpEvent({ method: 'GET', path: `/jobs/${id}`, pathParameters: { id } })));
  const failed = (id: string) => until(async () => ((await getJobClient().queue.getJobState(id)) === 'failed' ? status(id) : undefined), 60_000, `job ${id} to fail`);
  /** What the README keeps out of client-facing bodies: the bucket, keys outside the caller's ids, the endpoint, the cause. */
  const assertNoInternals = (body: unknown) => {
    const text = JSON.stringify(body);
    for (const s of [fx.s3.s3.bucket, 's3://', 'tenants/', '127.0.0.1', 'ECONNREFUSED', 'datasets/']) assert.ok(!text.includes(s), `${s} in ${text}`);
  };
  const workerConfig = (s3Endpoint: string) =>
    loadConfig({ S3_BUCKET: fx.s3.s3.bucket, S3_ENDPOINT: s3Endpoint, S3_ACCESS_KEY_ID: 'S3RVER', S3_SECRET_ACCESS_KEY: 'S3RVER', REDIS_URL, QUEUE_PREFIX: fx.queuePrefix, LOG_LEVEL: 'silent' });

  test('inputs gone between enqueue and run: a missing detector is named by its id, a damaged dataset is a fixed sentence', async () => {
    await fx.runJob('fit-gone', 'fit', { detector: 'gone', model: 'lenet5', dataset: 'eval', layer: 'output', nCluster: 10, seed: 0 });
    await fx.runJob('fit-kept', 'fit', { detector: 'kept', model: 'lenet5', dataset: 'eval', layer: 'output', nCluster: 10, seed: 0 });
    await putDataset(fx.store, { id: 'damaged', name: 'concept_test_lenet1.npy', bytes: new Uint8Array(await readFile(`${SEED}concept_test_lenet1.npy`)) });
    // 100 samples each (over SYNC_PREDICT_MAX_IMAGES): jobs, enqueued while the inputs exist.
    const noDetector = parse(await call(predict, 'predict', 'gone', { dataset: 'eval', threshold: 0.5 }));
    const noData = parse(await call(predict, 'predict', 'kept', { dataset: 'damaged', threshold: 0.5 }));
    assert.deepEqual([noDetector.status, noData.status], [202, 202]);
    await fx.store.delete('detectors/gone/current.json');
    const m = JSON.parse(new TextDecoder().decode(await fx.store.get('datasets/damaged/manifest.json'))) as { key: string };
    await fx.store.delete(m.key);
    const w = await startWorker(workerConfig(fx.s3.s3.endpoint), { handleSignals: false, logger: createLogger('silent') });
    try {
      const a = await failed(noDetector.body.jobId);
      assert.deepEqual(a.body.error, { code: 'NOT_FOUND', field: 'detector', message: 'detector: no detector gone; fit it first' });
      assertNoInternals(a.body);
      const b = await failed(noData.body.jobId);
      assert.equal(b.body.attemptsMade, 1, 'permanent: not retried');
      assert.deepEqual(b.body.error, { code: 'STORAGE_ERROR', message: 'stored state could not be read or written; the details are in the service log' });
      assertNoInternals(b.body);
    } finally {
      await w.close();
    }
  });

  test('a manifest naming a layer its model lacks is damaged state (500), also when another detector already cached the model', async () => {
    await fx.runJob('fit-share-a', 'fit', { detector: 'share-a', model: 'lenet5', dataset: 'eval', layer: 'output', nCluster: 5, seed: 0 });
    await fx.runJob('fit-share-b', 'fit', { detector: 'share-b', model: 'lenet5', dataset: 'eval', layer: 'output', nCluster: 5, seed: 0 });
    const key = 'detectors/share-b/v1/manifest.json';
    const m = JSON.parse(new TextDecoder().decode(await fx.store.get(key))) as { model: { layer: string } };
    await fx.store.put(key, new TextEncoder().encode(JSON.stringify({ ...m, model: { ...m.model, layer: 'nope' } })));
    // Two samples inline (a sync predict, scored in the function), as one base64 .npy.
    const npy = Buffer.from(encodeNpy(new Float32Array(2 * 32 * 32).fill(0.5), [2, 1, 32, 32], 'float32')).toString('base64');
    const body = { images: [npy], threshold: 0.5 };
    assert.equal(parse(await call(predict, 'predict', 'share-a', body)).status, 200, 'share-a scores, caching the model');
    // share-b names the same model: its cached bytes must not skip the layer check (it was a 400 naming `layer`).
    const b = parse(await call(predict, 'predict', 'share-b', body));
    assert.equal(b.status, 500, JSON.stringify(b.body));
    assert.equal(b.body.error.code, 'STORAGE_ERROR');
  });

  test('a job that ran out of attempts on an S3 outage: JOB_FAILED with a fixed sentence (the recorded failure keeps the detail)', async () => {
    const w = await startWorker(workerConfig('http://127.0.0.1:9'), { handleSignals: false, logger: createLogger('silent') });
    try {
      const r = parse(await call(fit, 'fit', 'd-out', { model: 'lenet5', dataset: 'eval', layer: 'output', nCluster: 10, seed: 0 }));
      assert.equal(r.status, 202);
      const s = await failed(r.body.jobId);
      assert.equal(s.body.attemptsMade, 2);
      assert.equal(s.body.error.code, 'JOB_FAILED');
      assert.match(s.body.error.message, /details are in the worker log/);
      assertNoInternals(s.body);
      // For the operator, BullMQ's record of the failure is whole.
      assert.match((await getJobClient().status(r.body.jobId, fx.store, fx.tenant)).error!.message, /cannot read s3:\/\/.*ECONNREFUSED/);
    } finally {
      await w.close();
    }
  });
});
