/**
 * The contract of docs/openapi.json, against the real handlers (real s3rver + real Redis, a real worker for the jobs):
 * every route answers only statuses the document lists for it, and each body parses with the strict schema the
 * document gives that status (src/http/openapi.ts `responseSchemaFor`, the schemas docs/openapi.json is generated
 * from; test/http/openapi.test.ts keeps the file equal to them). An undocumented status or a field the schema does not
 * name fails here. Every route is driven to at least one success and one error, and fit, calibrate and a predict job
 * run to completion through GET /jobs/{id}.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { z } from 'zod';
import { handler as calibrate } from '../../handlers/calibrate.js';
import { handler as describeHandler } from '../../handlers/describe.js';
import { handler as fit } from '../../handlers/fit.js';
import { handler as health } from '../../handlers/health.js';
import { handler as jobStatus } from '../../handlers/jobStatus.js';
import { handler as predict } from '../../handlers/predict.js';
import { handler as upload } from '../../handlers/upload.js';
import { loadConfig } from '../../src/config.js';
import type { HttpEvent, HttpResult } from '../../src/http/events.js';
import { responseSchemaFor, ROUTES, routeStatuses } from '../../src/http/openapi.js';
import { decodeNpy, encodeNpy } from '../../src/io/npy.js';
import { createLogger } from '../../src/log.js';
import { startWorker, type WorkerHandle } from '../../src/queue/worker.js';
import { httpEvent, type EventInit } from '../helpers/http-event.js';
import { REPO, SEED } from '../helpers/paths.js';
import { until } from '../helpers/procs.js';
import { REDIS_URL } from '../helpers/redis.js';
import { startServiceFixture, type ServiceFixture } from '../helpers/service.js';

type Handler = (e: HttpEvent) => Promise<HttpResult>;
const HANDLERS: Record<string, Handler> = { health: () => health(), upload, fit, calibrate, predict, jobStatus, describe: describeHandler };
const LABELS = [...Array<number>(50).fill(0), ...Array<number>(50).fill(1)];
const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');

describe('docs/openapi.json against the real handlers (real s3rver + Redis + worker)', () => {
  let fx: ServiceFixture;
  let worker: WorkerHandle | undefined;
  let lenet: Uint8Array;
  let evalNpy: Uint8Array;
  /** `METHOD path` → the statuses seen. */
  const seen = new Map<string, Set<number>>();

  before(async () => {
    fx = await startServiceFixture();
    lenet = new Uint8Array(await readFile(`${REPO}models/lenet5.onnx`));
    evalNpy = new Uint8Array(await readFile(`${SEED}concept_test_lenet1.npy`));
  });
  after(async () => {
    await worker?.close();
    await fx.stop();
  });

  /**
   * Calls route `METHOD path` (as serverless.yml routes it) through its handler and checks the answer against the
   * document: a status it lists for the route, a body its schema for that status parses (strict: no extra field).
   */
  async function call(route: string, init: Omit<EventInit, 'method' | 'route'> = { path: route.split(' ')[1]! }): Promise<{ status: number; body: any }> {
    const [method, path] = route.split(' ') as [string, string];
    const r = ROUTES.find((x) => x.method === method && x.path === path);
    assert.ok(r, `${route} is not in the document`);
    const res = await HANDLERS[r.function]!(httpEvent({ ...init, method, route: path }));
    const body = JSON.parse(res.body) as unknown;
    const schema = responseSchemaFor(method, path, res.statusCode);
    assert.ok(schema, `${route} answered ${res.statusCode}, which docs/openapi.json does not list for it (${routeStatuses(r).join(', ')}): ${res.body.slice(0, 300)}`);
    const parsed = schema.safeParse(body);
    assert.ok(parsed.success, `${route} ${res.statusCode}: the body does not match docs/openapi.json:\n${parsed.success ? '' : z.prettifyError(parsed.error)}\n${res.body.slice(0, 500)}`);
    let s = seen.get(route);
    if (!s) seen.set(route, (s = new Set()));
    s.add(res.statusCode);
    return { status: res.statusCode, body };
  }
  const expect = async (status: number, p: Promise<{ status: number; body: any }>) => {
    const r = await p;
    assert.equal(r.status, status, JSON.stringify(r.body).slice(0, 400));
    return r.body;
  };
  const det = (op: string, id: string, json: unknown) => call(`POST /detectors/{id}/${op}`, { path: `/detectors/${id}/${op}`, pathParameters: { id }, json });
  const job = (id: string) => call('GET /jobs/{id}', { path: `/jobs/${id}`, pathParameters: { id } });
  /** Polls GET /jobs/{id} (each answer checked against the document) until the job is completed or failed. */
  const finished = (id: string) =>
    until(
      async () => {
        const s = await job(id);
        return s.body.state === 'completed' || s.body.state === 'failed' ? s.body : undefined;
      },
      120_000,
      `job ${id} to finish`,
      200,
    );
  const startTheWorker = async () => {
    const config = loadConfig({ S3_BUCKET: fx.s3.s3.bucket, S3_ENDPOINT: fx.s3.s3.endpoint, S3_ACCESS_KEY_ID: 'S3RVER', S3_SECRET_ACCESS_KEY: 'S3RVER', REDIS_URL, QUEUE_PREFIX: fx.queuePrefix, LOG_LEVEL: 'silent' });
    worker = await startWorker(config, { handleSignals: false, logger: createLogger('silent') });
  };

  test('health, and 401 on every other route without an API key', async () => {
    await expect(200, call('GET /health'));
    for (const r of ROUTES.filter((x) => x.auth !== false)) {
      const path = r.path.replace('{id}', 'x1');
      await expect(401, call(`${r.method} ${r.path}`, { path, apiKey: null, ...(r.path.includes('{id}') ? { pathParameters: { id: 'x1' } } : {}) }));
    }
  });

  test('uploads: models and datasets inline (JSON and raw), presigned and completed; their errors', async () => {
    await expect(201, call('POST /models', { path: '/models', json: { id: 'lenet5', data: b64(lenet) } }));
    await expect(201, call('POST /models', { path: '/models', query: { id: 'lenet5-raw' }, bytes: lenet }));
    await expect(409, call('POST /models', { path: '/models', json: { id: 'lenet5', data: b64(lenet) } }));
    await expect(400, call('POST /models', { path: '/models', json: { data: 'not base64!' } }));
    await expect(413, call('POST /models', { path: '/models', bytes: new Uint8Array(fx.config.maxBodyBytes + 1) }));

    await expect(201, call('POST /datasets', { path: '/datasets', json: { id: 'eval', name: 'concept_test_lenet1.npy', data: b64(evalNpy) } }));
    await expect(201, call('POST /datasets', { path: '/datasets', query: { id: 'eval-raw', name: 'eval.npy' }, bytes: evalNpy }));
    const a = decodeNpy(evalNpy);
    const ten = encodeNpy(a.data.slice(0, 10 * 32 * 32), [10, 1, 32, 32], 'float32');
    await expect(201, call('POST /datasets', { path: '/datasets', json: { id: 'ten', name: 'ten.npy', data: b64(ten) } }));
    await expect(409, call('POST /datasets', { path: '/datasets', json: { id: 'eval', name: 'again.npy', data: b64(evalNpy) } }));
    await expect(400, call('POST /datasets', { path: '/datasets', json: { name: 'x.npy', data: b64(new Uint8Array([1, 2, 3])) } }));
    await expect(200, call('POST /datasets', { path: '/datasets', json: { presign: true, name: 'later.npy', contentLength: 10 } }));

    const train = new Uint8Array(await readFile(`${SEED}concept_train_lenet.npy`));
    const up = await expect(200, call('POST /uploads', { path: '/uploads', json: { id: 'train', name: 'concept_train_lenet.npy', contentLength: String(train.byteLength) } }));
    await expect(400, call('POST /uploads', { path: '/uploads', json: { name: 'x.npy', contentLength: 0 } }));
    const put = await fetch(up.url, { method: up.method, headers: up.headers, body: Buffer.from(train) });
    assert.equal(put.status, 200);
    const complete = (id: string) => call('POST /uploads/{id}/complete', { path: `/uploads/${id}/complete`, pathParameters: { id } });
    await expect(201, complete('train'));
    await expect(201, complete('train')); // again: the same dataset
    await expect(404, complete('never-presigned'));
  });

  test('fit → worker → jobStatus; calibrate (labelled and label-free); a failed job; their errors', async () => {
    const fitOk = { model: 'lenet5', dataset: 'train', layer: 'output', nCluster: '10', seed: 0 };
    const accepted = await expect(202, det('fit', 'det', fitOk));
    const waiting = await expect(200, job(accepted.jobId));
    assert.equal(waiting.state, 'waiting');
    await expect(400, det('fit', 'det', { ...fitOk, nCluster: 1 }));
    await expect(404, det('fit', 'det', { ...fitOk, dataset: 'missing' }));
    await expect(404, det('calibrate', 'no-such-detector', { dataset: 'eval', oodLabels: LABELS }));
    // A job whose dataset is gone by the time it runs fails for good.
    await expect(201, call('POST /datasets', { path: '/datasets', json: { id: 'doomed', name: 'doomed.npy', data: b64(evalNpy) } }));
    const doomed = await expect(202, det('fit', 'det-doomed', { ...fitOk, dataset: 'doomed' }));
    await fx.store.delete('datasets/doomed/manifest.json');

    await startTheWorker();
    const fitted = await finished(accepted.jobId);
    assert.equal(fitted.state, 'completed', JSON.stringify(fitted));
    assert.equal(fitted.result.kind, 'fit');
    const failed = await finished(doomed.jobId);
    assert.equal(failed.state, 'failed', JSON.stringify(failed));
    await expect(404, job(randomUUID()));

    // Not calibrated yet: predict without a threshold is a 409.
    await expect(409, det('predict', 'det', { dataset: 'ten' }));
    await expect(400, det('calibrate', 'det', { dataset: 'eval' }));
    const labelled = await finished((await expect(202, det('calibrate', 'det', { dataset: 'eval', oodLabels: LABELS }))).jobId);
    assert.equal(labelled.result.kind, 'calibrate', JSON.stringify(labelled));
    const labelFree = await finished((await expect(202, det('calibrate', 'det', { dataset: 'train', targetFpr: '0.1' }))).jobId);
    assert.equal(labelFree.result.method, 'conformal', JSON.stringify(labelFree));
  });

  test('predict: inline (200, with p-values) and as a job (202 → result); a result too large to inline; errors', async () => {
    const sync = await expect(200, det('predict', 'det', { dataset: 'ten' }));
    assert.equal(sync.pValues.length, 10);
    const two = encodeNpy(decodeNpy(evalNpy).data.slice(0, 2 * 32 * 32), [2, 1, 32, 32], 'float32');
    const inline = await expect(200, det('predict', 'det', { images: [b64(two)], threshold: 0.5 }));
    assert.equal(inline.n, 2);
    const queued = await expect(202, det('predict', 'det', { dataset: 'eval' }));
    assert.equal(queued.n, 100);
    const done = await finished(queued.jobId);
    assert.equal(done.result.kind, 'predict', JSON.stringify(done).slice(0, 300));
    await expect(400, det('predict', 'det', { dataset: 'ten', images: ['x'] }));
    await expect(404, det('predict', 'nobody', { dataset: 'ten', threshold: 0.5 }));
    // A result over 4 MiB (a predict of ~100,000 samples) whose job the queue has forgotten: its key, size and a URL.
    const id = randomUUID();
    await fx.store.put(`jobs/${id}/result.json`, new Uint8Array(4 * 1024 * 1024 + 1).fill(32));
    const large = await expect(200, job(id));
    assert.deepEqual([large.state, large.result.bytes, typeof large.result.url], ['completed', 4 * 1024 * 1024 + 1, 'string']);
  });

  test('describe and list: success and errors', async () => {
    const one = (id: string, query?: Record<string, string>) => call('GET /detectors/{id}', { path: `/detectors/${id}`, pathParameters: { id }, ...(query ? { query } : {}) });
    const d = await expect(200, one('det'));
    assert.equal(d.version, 3);
    await expect(200, one('det', { version: '1' }));
    await expect(404, one('det', { version: '99' }));
    await expect(400, one('det', { version: 'one' }));
    await expect(404, one('nobody'));
    const list = await expect(200, call('GET /detectors', { path: '/detectors', query: { limit: '1' } }));
    assert.deepEqual(list.detectors, [{ id: 'det', currentVersion: 3 }]);
    await expect(400, call('GET /detectors', { path: '/detectors', query: { limit: '0' } }));
  });

  test('every route was driven to each success status it documents and to at least one error', () => {
    for (const r of ROUTES) {
      const key = `${r.method} ${r.path}`;
      const statuses = [...(seen.get(key) ?? [])];
      for (const s of Object.keys(r.responses).map(Number)) assert.ok(statuses.includes(s), `${key}: ${s} never seen (${statuses.join(', ')})`);
      if (routeStatuses(r).some((s) => s >= 400)) assert.ok(statuses.some((s) => s >= 400), `${key}: no error seen`);
    }
  });
});
