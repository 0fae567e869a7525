/**
 * MAX_JOBS_PER_TENANT through the handlers (real s3rver + Redis, no worker: enqueued jobs stay waiting): a tenant with
 * that many jobs in flight gets 429 TOO_MANY_JOBS with Retry-After on every route that enqueues, and nothing is
 * written for it, neither to the bucket (a predict's request images included) nor to Redis; another tenant is not held
 * back.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { handler as calibrate } from '../../handlers/calibrate.js';
import { handler as fit } from '../../handlers/fit.js';
import { handler as jobStatus } from '../../handlers/jobStatus.js';
import { handler as predict } from '../../handlers/predict.js';
import { generateApiKey, hashApiKey } from '../../src/auth/api-keys.js';
import { setDeps } from '../../src/http/deps.js';
import type { HttpResult } from '../../src/http/events.js';
import { getJobClient } from '../../src/http/queue-deps.js';
import { decodeNpy, encodeNpy } from '../../src/io/npy.js';
import { putDataset, putModel } from '../../src/service/datasets.js';
import { tenantStore } from '../../src/storage/tenant-store.js';
import { httpEvent, parse, TEST_API_KEY, TEST_TENANT } from '../helpers/http-event.js';
import { captureLogger } from '../helpers/log-capture.js';
import { REPO, SEED } from '../helpers/paths.js';
import { keysUnder } from '../helpers/redis.js';
import { startServiceFixture, type ServiceFixture } from '../helpers/service.js';
import { recording } from '../helpers/store-wrappers.js';

const OTHER = 'other-tenant';
const OTHER_KEY = generateApiKey();

describe('MAX_JOBS_PER_TENANT over HTTP (real s3rver + Redis)', () => {
  let fx: ServiceFixture;
  let images80: string;
  before(async () => {
    fx = await startServiceFixture({
      MAX_JOBS_PER_TENANT: '2',
      API_KEYS: JSON.stringify([
        { id: 'test-key', tenant: TEST_TENANT, sha256: hashApiKey(TEST_API_KEY) },
        { id: 'other-key', tenant: OTHER, sha256: hashApiKey(OTHER_KEY) },
      ]),
    });
    const evalBytes = new Uint8Array(await readFile(`${SEED}concept_test_lenet1.npy`));
    for (const store of [fx.store, tenantStore(fx.s3.store, OTHER)]) {
      await putModel(store, { id: 'lenet5', bytes: new Uint8Array(await readFile(`${REPO}models/lenet5.onnx`)) });
      await putDataset(store, { id: 'eval', name: 'eval.npy', bytes: evalBytes });
    }
    await fx.runJob('setup-fit', 'fit', { detector: 'det', model: 'lenet5', dataset: 'eval', layer: 'output', nCluster: 5, seed: 0 });
    const ev = decodeNpy(evalBytes);
    images80 = Buffer.from(encodeNpy((ev.data as Float32Array).slice(0, 80 * 1024), [80, 1, 32, 32], 'float32')).toString('base64');
  });
  after(() => fx.stop());

  const call = (h: typeof fit, op: string, id: string, json: unknown, apiKey?: string) =>
    h(httpEvent({ path: `/detectors/${id}/${op}`, route: `/detectors/{id}/${op}`, pathParameters: { id }, json, ...(apiKey ? { apiKey } : {}) }));
  const fitBody = (detector: string) => ({ model: 'lenet5', dataset: 'eval', layer: 'output', nCluster: 5, seed: 0, detector });
  /** Every key under the queue prefix, with its value (DUMP): what Redis holds. */
  const redisState = async () => Promise.all((await keysUnder(fx.redis, `${fx.queuePrefix}:`)).map(async (k) => [k, await fx.redis.dump(k)] as const));

  function assertTooMany(res: HttpResult, limit: number, inFlight: number): void {
    const r = parse(res);
    assert.equal(r.status, 429, JSON.stringify(r.body));
    assert.deepEqual(Object.keys(r.body), ['error']);
    assert.equal(r.body.error.code, 'TOO_MANY_JOBS');
    assert.equal(r.body.error.field, undefined, 'nothing in the request is wrong');
    assert.match(r.body.error.message, new RegExp(`tenant ${TEST_TENANT} has ${inFlight} jobs in flight .*the limit is ${limit} per tenant \\(MAX_JOBS_PER_TENANT\\)`));
    assert.equal(res.headers['retry-after'], '30');
  }

  test('a tenant at the cap gets 429 naming the limit on fit, calibrate and predict; another tenant is still accepted', async () => {
    const log = captureLogger();
    setDeps({ config: fx.config, store: fx.s3.store, logger: log.logger });
    for (const d of ['a1', 'a2']) assert.equal(parse(await call(fit, 'fit', d, fitBody(d))).status, 202);
    const jobs = await fx.jobCount();
    assertTooMany(await call(fit, 'fit', 'a3', fitBody('a3')), 2, 2);
    assertTooMany(await call(calibrate, 'calibrate', 'det', { dataset: 'eval', targetFpr: 0.1 }), 2, 2);
    assertTooMany(await call(predict, 'predict', 'det', { dataset: 'eval', threshold: 0.5 }), 2, 2); // 100 samples: a job
    assert.equal(await fx.jobCount(), jobs, 'nothing enqueued');
    // A predict answered inline enqueues nothing, so it is not held back.
    assert.equal(parse(await call(predict, 'predict', 'det', { images: [encodeSmall()], threshold: 0.5 })).status, 200);
    // The other tenant's own jobs are counted apart.
    const other = parse(await call(fit, 'fit', 'b1', fitBody('b1'), OTHER_KEY));
    assert.equal(other.status, 202, JSON.stringify(other.body));
    // A refusal is the client's to handle: an info access line with the code, never an error line.
    const refused = log.lines.filter((l) => l.msg === 'request' && l.status === 429);
    assert.equal(refused.length, 3);
    assert.deepEqual(refused.map((l) => (l.error as { code: string }).code), ['TOO_MANY_JOBS', 'TOO_MANY_JOBS', 'TOO_MANY_JOBS']);
    assert.ok(log.lines.every((l) => l.level < 50), log.tail(5));
  });

  test('a refused predict of 80 inline images writes nothing: no request images stored (not even briefly), nothing in Redis', async () => {
    const rec = recording(fx.s3.store);
    setDeps({ config: fx.config, store: rec.store, logger: captureLogger().logger });
    const before = { keys: await fx.allKeys(), redis: await redisState(), jobs: await fx.jobCount() };
    assert.equal(await getJobClient().inFlight(TEST_TENANT), 2, 'at the cap (the test above)');
    assertTooMany(await call(predict, 'predict', 'det', { images: [images80], threshold: 0.5 }), 2, 2);
    assert.deepEqual(rec.calls.filter((c) => /^(put|delete)\(/.test(c)), [], `no write reached the bucket: ${rec.calls.join(', ')}`);
    assert.deepEqual(await fx.allKeys(), before.keys);
    assert.deepEqual(await redisState(), before.redis, 'no key added or changed under the queue prefix');
    assert.equal(await fx.jobCount(), before.jobs);
    // With a slot free, the same request stores its images and is enqueued (so the checks above could fail).
    const waiting = await getJobClient().queue.getJobs(['waiting', 'prioritized']);
    await waiting.find((j) => j.data.tenant === TEST_TENANT)!.remove();
    const ok = parse(await call(predict, 'predict', 'det', { images: [images80], threshold: 0.5 }));
    assert.equal(ok.status, 202, JSON.stringify(ok.body));
    assert.ok(rec.calls.some((c) => c.startsWith('put("tenants/test-tenant/datasets/')), rec.calls.join(', '));
    const s = parse(await jobStatus(httpEvent({ method: 'GET', path: `/jobs/${ok.body.jobId}`, pathParameters: { id: ok.body.jobId } })));
    assert.equal(s.body.state, 'waiting');
  });
});

/** Two images as one base64 .npy: a predict answered inline. */
function encodeSmall(): string {
  return Buffer.from(encodeNpy(new Float32Array(2 * 32 * 32).fill(0.5), [2, 1, 32, 32], 'float32')).toString('base64');
}
