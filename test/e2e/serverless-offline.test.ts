/**
 * End to end through real HTTP: `serverless offline` (serverless-offline + serverless-esbuild, the functions bundled
 * as for Lambda) serving the HTTP functions, a worker child process (infra/worker.ts), a real S3 API (s3rver) and
 * the machine's Redis. The threshold and 0/1 result must equal the CLI's on the same files and seed.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startS3Local, type S3Local } from '../../infra/s3-local.js';
import { generateApiKey, hashApiKey } from '../../src/auth/api-keys.js';
import { decodeNpy, encodeNpy } from '../../src/io/npy.js';
import { runCli } from '../helpers/cli.js';
import { REPO, SEED } from '../helpers/paths.js';
import { startServerlessOffline } from '../helpers/offline.js';
import { stopChild, until, type Child } from '../helpers/procs.js';
import { cleanupPrefix, connectRedis, REDIS_URL, uniquePrefix } from '../helpers/redis.js';
import { startWorkerProcess } from '../helpers/workers.js';

const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64');
const KEY_A = generateApiKey();
const KEY_B = generateApiKey();

describe('end to end: serverless offline + BullMQ worker + s3rver + Redis', () => {
  let s3: S3Local;
  let offline: Child | undefined;
  let worker: Child | undefined;
  let base = '';
  let tmp = '';
  const redis = connectRedis();
  const queuePrefix = uniquePrefix().replace(/:$/, '');

  const api = async (method: string, path: string, body?: unknown, key: string | null = KEY_A): Promise<{ status: number; body: any }> => {
    const headers: Record<string, string> = { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...(key !== null ? { authorization: `Bearer ${key}` } : {}) };
    const res = await fetch(base + path, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = text;
    }
    // A 5xx carries serverless offline's recent output, so a failure shows what the function did.
    return { status: res.status, body: res.status >= 500 ? { body: parsed, log: offline?.output().slice(-4000) } : parsed };
  };

  const waitJob = (jobId: string) =>
    until(async () => {
      const r = await api('GET', `/jobs/${jobId}`);
      assert.equal(r.status, 200, `${JSON.stringify(r.body)}\n${offline?.output().slice(-3000)}`);
      if (r.body.state === 'failed') throw new Error(`job ${jobId} failed: ${JSON.stringify(r.body.error)}\n${worker?.output().slice(-3000)}`);
      return r.body.state === 'completed' ? r.body : undefined;
    }, 180_000, `job ${jobId}`, 200);

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'imagedrift-e2e-'));
    s3 = await startS3Local({ bucket: 'imagedrift-e2e' });
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      NODE_NO_WARNINGS: '1',
      S3_BUCKET: s3.bucket,
      S3_ENDPOINT: s3.endpoint,
      S3_ACCESS_KEY_ID: s3.credentials.accessKeyId,
      S3_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
      AWS_REGION: s3.region,
      REDIS_URL,
      QUEUE_PREFIX: queuePrefix,
      LOG_LEVEL: 'info',
      API_KEYS: JSON.stringify([
        { id: 'a-1', tenant: 'tenant-a', sha256: hashApiKey(KEY_A) },
        { id: 'b-1', tenant: 'tenant-b', sha256: hashApiKey(KEY_B) },
      ]),
    };
    const started = startServerlessOffline(env, 180_000);
    worker = await startWorkerProcess('worker', { ...env, WORKER_CONCURRENCY: '1' });
    const sls = await started;
    offline = sls.child;
    base = sls.base;
  });

  after(async () => {
    await stopChild(offline);
    await stopChild(worker);
    await cleanupPrefix(redis, queuePrefix);
    await redis.quit();
    await s3.stop();
    await rm(tmp, { recursive: true, force: true });
  });

  test('upload → fit → calibrate → predict over HTTP gives the CLI\'s threshold and result', async () => {
    const train = new Uint8Array(await readFile(`${SEED}concept_train_lenet.npy`));
    const test1 = new Uint8Array(await readFile(`${SEED}concept_test_lenet1.npy`));
    const test2 = new Uint8Array(await readFile(`${SEED}concept_test_lenet2.npy`));
    const model = new Uint8Array(await readFile(`${REPO}models/lenet5.onnx`));

    // 1. Uploads: the train set through a presigned PUT, the others inline (base64 JSON).
    const pre = await api('POST', '/uploads', { id: 'train', name: 'concept_train_lenet.npy', contentLength: train.byteLength });
    assert.equal(pre.status, 200, JSON.stringify(pre.body));
    assert.equal((await fetch(pre.body.url, { method: 'PUT', body: Buffer.from(train) })).status, 200);
    const done = await api('POST', '/uploads/train/complete');
    assert.equal(done.status, 201, JSON.stringify(done.body));
    assert.deepEqual(done.body.shape, [1000, 1, 32, 32]);
    for (const [id, bytes, name] of [['eval', test1, 'concept_test_lenet1.npy'], ['test', test2, 'concept_test_lenet2.npy']] as const) {
      const r = await api('POST', '/datasets', { id, name, data: b64(bytes) });
      assert.equal(r.status, 201, JSON.stringify(r.body));
    }
    const m = await api('POST', '/models', { id: 'lenet5', data: b64(model) });
    assert.equal(m.status, 201, JSON.stringify(m.body));

    // 2. fit (a worker job)
    const fit = await api('POST', '/detectors/lenet/fit', { model: 'lenet5', dataset: 'train', layer: 'output', nCluster: 10, score: 'mindarmour', seed: 0 });
    assert.equal(fit.status, 202, JSON.stringify(fit.body));
    const fitDone = await waitJob(fit.body.jobId);
    assert.equal(fitDone.result.version, 1);
    assert.equal(fitDone.progress, 100);

    // 3. calibrate: labels 50×0 + 50×1, grid 0.01
    const labels = [...Array(50).fill(0), ...Array(50).fill(1)];
    const cal = await api('POST', '/detectors/lenet/calibrate', { dataset: 'eval', oodLabels: labels, grid: 0.01 });
    assert.equal(cal.status, 202, JSON.stringify(cal.body));
    const calDone = await waitJob(cal.body.jobId);
    assert.equal(calDone.result.version, 2);

    // 4. predict on concept_test_lenet2: 400 > 64 samples → a job
    const pred = await api('POST', '/detectors/lenet/predict', { dataset: 'test' });
    assert.equal(pred.status, 202, JSON.stringify(pred.body));
    const predDone = await waitJob(pred.body.jobId);
    const service = predDone.result;
    assert.equal(service.detectorVersion, 2);
    assert.equal(service.result.length, 400);

    // The CLI on the same files.
    const dir = join(tmp, 'cli-detector');
    const labelsFile = join(tmp, 'labels.json');
    await writeFile(labelsFile, JSON.stringify(labels));
    await runCli(['fit', '--model', `${REPO}models/lenet5.onnx`, '--train', `${SEED}concept_train_lenet.npy`, '--layer', 'output', '--n-cluster', '10', '--score', 'mindarmour', '--seed', '0', '--out', dir, '--json']);
    const cliCal = (await runCli(['calibrate', dir, '--eval', `${SEED}concept_test_lenet1.npy`, '--ood-labels', labelsFile, '--grid', '0.01', '--json'])) as { threshold: number };
    const cli = (await runCli(['predict', dir, '--data', `${SEED}concept_test_lenet2.npy`, '--json'])) as { threshold: number; result: number[] };

    assert.equal(calDone.result.threshold, cliCal.threshold);
    assert.equal(service.threshold, cli.threshold);
    assert.deepEqual(service.result, cli.result);
    const flagged = service.result.reduce((a: number, b: number) => a + b, 0);
    console.log(`e2e: threshold ${service.threshold} (CLI ${cli.threshold}); ${flagged}/400 flagged, identical 0/1 result`);

    // Small inline batches are answered synchronously by the predict function (in serverless offline's Lambda runner).
    const one = await api('POST', '/detectors/lenet/predict', { images: [b64(npyOf(test2, 0, 1))] });
    assert.equal(one.status, 200, JSON.stringify(one.body));
    assert.deepEqual(one.body.result, [cli.result[0]]);
    const times: number[] = [];
    for (let i = 0; i < 10; i++) {
      const t = performance.now();
      const r = await api('POST', '/detectors/lenet/predict', { images: [b64(npyOf(test2, i, i + 1))] });
      times.push(performance.now() - t);
      assert.deepEqual(r.body.result, [cli.result[i]]);
    }
    times.sort((a, b) => a - b);

    // describe through the real routes: the service's detector as the CLI describes its directory (the same fit and
    // calibration; only the names and times differ), its fit version, the tenant's list; a bad version is a 400.
    const described = await api('GET', '/detectors/lenet');
    assert.equal(described.status, 200, JSON.stringify(described.body));
    const cliDescribed = (await runCli(['describe', dir, '--json'])) as typeof described.body;
    const comparable = (d: any) => ({ ...d, id: '', createdAt: '', model: { ...d.model, id: null } });
    assert.deepEqual(comparable(described.body), comparable(cliDescribed));
    assert.deepEqual([described.body.id, described.body.version, described.body.model.id, described.body.calibration.threshold], ['lenet', 2, 'lenet5', cliCal.threshold]);
    const v1 = await api('GET', '/detectors/lenet?version=1');
    assert.deepEqual([v1.status, v1.body.version, v1.body.currentVersion, v1.body.calibration], [200, 1, 2, null]);
    assert.deepEqual((await api('GET', '/detectors?limit=5')).body, { detectors: [{ id: 'lenet', currentVersion: 2 }] });
    const badVersion = await api('GET', '/detectors/lenet?version=two');
    assert.deepEqual([badVersion.status, badVersion.body.error?.field], [400, 'version']);

    // Authentication and tenants over real HTTP: /health is open; everything else needs a key of the right tenant.
    const health = await api('GET', '/health', undefined, null);
    assert.equal(health.status, 200);
    assert.equal(health.body.status, 'ok');
    const anon = await api('POST', '/detectors/lenet/predict', { images: [b64(npyOf(test2, 0, 1))] }, null);
    assert.equal(anon.status, 401, JSON.stringify(anon.body));
    assert.equal(anon.body.error.code, 'UNAUTHORIZED');
    const wrong = await api('GET', `/jobs/${pred.body.jobId}`, undefined, generateApiKey());
    assert.equal(wrong.status, 401);
    const otherTenant = await api('POST', '/detectors/lenet/predict', { images: [b64(npyOf(test2, 0, 1))] }, KEY_B);
    assert.equal(otherTenant.status, 404, 'tenant B does not see tenant A\'s detector');
    assert.equal((await api('GET', `/jobs/${pred.body.jobId}`, undefined, KEY_B)).status, 404, 'nor its jobs');
    assert.equal((await api('GET', '/detectors/lenet', undefined, KEY_B)).status, 404, 'nor describe it');
    assert.deepEqual((await api('GET', '/detectors', undefined, KEY_B)).body, { detectors: [] }, 'nor list it');
    assert.equal((await api('GET', '/detectors', undefined, null)).status, 401);
    const bFit = await api('POST', '/detectors/lenet/fit', { model: 'lenet5', dataset: 'train', layer: 'output', nCluster: 10 }, KEY_B);
    assert.equal(bFit.status, 404, 'nor its models and datasets');
    assert.ok(!worker!.output().includes(KEY_A) && !offline!.output().includes(KEY_A) && !offline!.output().includes(KEY_B), 'no key in any log');
    console.log(`e2e: sync predict of 1 image over HTTP via serverless offline: median ${times[5]!.toFixed(1)} ms, max ${times[9]!.toFixed(1)} ms`);
  });
});

/** Samples [from, to) of a [N,1,32,32] float32 .npy as a new .npy. */
function npyOf(npy: Uint8Array, from: number, to: number): Uint8Array {
  const a = decodeNpy(npy);
  return encodeNpy(a.data.slice(from * 1024, to * 1024), [to - from, 1, 32, 32], 'float32');
}
