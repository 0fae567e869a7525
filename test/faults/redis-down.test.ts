/**
 * Fault injection: the job queue's Redis is unreachable when an HTTP handler needs it.
 * - Cold: the function's first request, REDIS_URL pointing at a port nobody listens on. BullMQ waits for the first
 *   'ready' without limit and ioredis retries forever; the handler must answer 503 (Retry-After) instead of hanging
 *   past the function's timeout.
 * - Warm: a private redis-server served the function, then is killed. A predict with more inline images than are
 *   answered inline stores them as a dataset before enqueueing; when the enqueue fails, that dataset must not be left
 *   behind (nobody knows its id), on any attempt.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { handler as fit } from '../../handlers/fit.js';
import { handler as jobStatus } from '../../handlers/jobStatus.js';
import { handler as predict } from '../../handlers/predict.js';
import type { HttpResult } from '../../src/http/events.js';
import { decodeNpy, encodeNpy } from '../../src/io/npy.js';
import { putDataset, putModel } from '../../src/service/datasets.js';
import { httpEvent, parse } from '../helpers/http-event.js';
import { REPO, SEED } from '../helpers/paths.js';
import { freePort } from '../helpers/procs.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { startServiceFixture, type ServiceFixture } from '../helpers/service.js';

/** The handler's answer, or a failure if it has not answered after `ms` (a hang, not a slow answer). */
async function answered(p: Promise<HttpResult>, ms: number, what: string): Promise<HttpResult> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer after ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

function assertUnavailable(res: HttpResult): void {
  const r = parse(res);
  assert.equal(r.status, 503, JSON.stringify(r.body));
  assert.equal((r.body as { error: { code: string } }).error.code, 'UNAVAILABLE');
  assert.equal(res.headers['retry-after'], '5');
}

describe('the queue Redis is unreachable on a cold start', () => {
  let fx: ServiceFixture;
  before(async () => {
    fx = await startServiceFixture({ REDIS_URL: `redis://127.0.0.1:${await freePort()}` });
    await putModel(fx.store, { id: 'lenet5', bytes: new Uint8Array(await readFile(`${REPO}models/lenet5.onnx`)) });
    await putDataset(fx.store, { id: 'eval', name: 'eval.npy', bytes: new Uint8Array(await readFile(`${SEED}concept_test_lenet1.npy`)) });
  });
  after(() => fx.stop());

  test('fit and jobStatus answer 503 with Retry-After instead of hanging', async () => {
    const body = { model: 'lenet5', dataset: 'eval', layer: 'output', nCluster: 5 };
    assertUnavailable(await answered(fit(httpEvent({ path: '/detectors/d/fit', pathParameters: { id: 'd' }, json: body })), 20_000, 'fit'));
    assertUnavailable(await answered(jobStatus(httpEvent({ method: 'GET', path: '/jobs/abc', pathParameters: { id: '00000000-0000-4000-8000-000000000000' } })), 20_000, 'jobStatus'));
    assert.deepEqual((await fx.keys()).filter((k) => k.startsWith('detectors/') || k.startsWith('jobs/')), []);
  });
});

describe('the queue Redis goes away under a warm function', () => {
  let rs: RedisServer;
  let fx: ServiceFixture;
  before(async () => {
    rs = await startRedisServer({ appendonly: false });
    fx = await startServiceFixture({ REDIS_URL: rs.url });
    await putModel(fx.store, { id: 'lenet5', bytes: new Uint8Array(await readFile(`${REPO}models/lenet5.onnx`)) });
    await putDataset(fx.store, { id: 'eval', name: 'eval.npy', bytes: new Uint8Array(await readFile(`${SEED}concept_test_lenet1.npy`)) });
    await fx.runJob('setup-fit', 'fit', { detector: 'det', model: 'lenet5', dataset: 'eval', layer: 'output', nCluster: 5, seed: 0 });
    await fx.runJob('setup-cal', 'calibrate', { detector: 'det', dataset: 'eval', oodLabels: [...Array(50).fill(0), ...Array(50).fill(1)] });
  });
  after(async () => {
    await fx.stop();
    await rs.stop();
  });

  test('predict with 80 inline samples: 503 on every attempt, and no dataset is left in the bucket', async () => {
    // Warm: one request over the live Redis connects the function's job client.
    const warm = parse(await jobStatus(httpEvent({ method: 'GET', path: '/jobs/x', pathParameters: { id: '00000000-0000-4000-8000-000000000000' } })));
    assert.equal(warm.status, 404, JSON.stringify(warm.body));
    await rs.kill('SIGKILL');
    const eval100 = decodeNpy(new Uint8Array(await readFile(`${SEED}concept_test_lenet1.npy`)));
    const npy = encodeNpy((eval100.data as Float32Array).slice(0, 80 * 1024), [80, 1, 32, 32], 'float32');
    const before = await fx.keys();
    for (let attempt = 0; attempt < 3; attempt++) {
      const res = await answered(predict(httpEvent({ path: '/detectors/det/predict', pathParameters: { id: 'det' }, json: { images: [Buffer.from(npy).toString('base64')] } })), 20_000, 'predict');
      assertUnavailable(res);
    }
    assert.deepEqual(await fx.keys(), before, 'a predict that was not enqueued left objects behind');
  });
});
