/**
 * The functions' own dependencies (src/http/deps.ts, src/http/queue-deps.ts), as Lambda builds them from the
 * environment: an S3 that accepts connections but never answers, or a Redis that stops answering on a connection that
 * is up, must give the documented 503 (with Retry-After) within the HTTP functions' timeout in serverless.yml, not run
 * until Lambda kills the function (API Gateway then answers a bare 500).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { handler as fit } from '../../handlers/fit.js';
import { handler as jobStatus } from '../../handlers/jobStatus.js';
import { generateApiKey, hashApiKey } from '../../src/auth/api-keys.js';
import { loadConfig } from '../../src/config.js';
import { resetDeps, setDeps } from '../../src/http/deps.js';
import { closeJobClient } from '../../src/http/queue-deps.js';
import { createLogger } from '../../src/log.js';
import { LocalDirStore } from '../../src/storage/local-dir-store.js';
import { httpEvent, parse } from '../helpers/http-event.js';
import { putDataset, putModel } from '../../src/service/datasets.js';
import { tenantStore } from '../../src/storage/tenant-store.js';
import { REPO, SEED } from '../helpers/paths.js';
import { startRedisServer } from '../helpers/redis-server.js';
import { cleanupPrefix, connectRedis, uniquePrefix } from '../helpers/redis.js';

/** `provider.timeout` of serverless.yml (seconds; the one key at two spaces' indent): every HTTP function's. */
const HTTP_TIMEOUT_S = Number(/^ {2}timeout: (\d+)\b/m.exec(readFileSync(join(REPO, 'serverless.yml'), 'utf8'))?.[1]);

test("a hung S3: an HTTP function answers 503 with Retry-After within serverless.yml's function timeout", async () => {
  assert.ok(HTTP_TIMEOUT_S > 0 && HTTP_TIMEOUT_S <= 30, `provider.timeout ${HTTP_TIMEOUT_S}`);
  const held = new Set<Socket>();
  const hole = createServer((sock) => {
    held.add(sock);
    sock.on('error', () => undefined).on('close', () => held.delete(sock));
  });
  await new Promise<void>((resolve) => hole.listen(0, '127.0.0.1', resolve));
  const key = generateApiKey();
  // As on Lambda (AWS_LAMBDA_FUNCTION_NAME set): the S3 client is the one getDeps builds from the configuration.
  const config = loadConfig({
    S3_BUCKET: 'imagedrift-hole',
    S3_ENDPOINT: `http://127.0.0.1:${(hole.address() as AddressInfo).port}`,
    S3_ACCESS_KEY_ID: 'S3RVER',
    S3_SECRET_ACCESS_KEY: 'S3RVER',
    AWS_LAMBDA_FUNCTION_NAME: 'imagedrift-test-fit',
    REDIS_URL: 'redis://127.0.0.1:6379',
    API_KEYS: JSON.stringify([{ id: 'k', tenant: 't', sha256: hashApiKey(key) }]),
  });
  setDeps({ config, logger: createLogger('silent') });
  try {
    const t0 = Date.now();
    const r = await fit(httpEvent({ path: '/detectors/d/fit', route: '/detectors/{id}/fit', pathParameters: { id: 'd' }, json: { model: 'm', dataset: 'ds', layer: 'output', nCluster: 5 }, apiKey: key }));
    const ms = Date.now() - t0;
    const res = parse(r);
    assert.equal(res.status, 503, JSON.stringify(res.body));
    assert.equal(res.body.error.code, 'UNAVAILABLE');
    assert.equal(r.headers?.['retry-after'], '5');
    assert.ok(ms < HTTP_TIMEOUT_S * 1000, `answered after ${ms} ms; the function is killed after ${HTTP_TIMEOUT_S} s`);
  } finally {
    resetDeps();
    for (const sock of held) sock.destroy();
    await new Promise((resolve) => hole.close(resolve));
  }
});

test("a Redis that stops answering on an open connection: a queue route answers 503 within serverless.yml's function timeout", async () => {
  // A proxy to the test Redis that, once frozen, forwards nothing either way and keeps the sockets open (a failed
  // primary, a partition without a reset): the connection stays "ready", its commands go unanswered.
  let frozen = false;
  const socks = new Set<Socket>();
  const proxy = createServer((c) => {
    const u = connect(6379, '127.0.0.1');
    for (const s of [c, u]) {
      socks.add(s);
      s.on('error', () => undefined).on('close', () => socks.delete(s));
    }
    c.on('data', (d) => (frozen ? undefined : u.write(d)));
    u.on('data', (d) => (frozen ? undefined : c.write(d)));
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const prefix = uniquePrefix().replace(/:$/, '');
  const dir = await mkdtemp(join(tmpdir(), 'imagedrift-deps-'));
  const key = generateApiKey();
  const config = loadConfig({
    S3_BUCKET: 'imagedrift-frozen',
    AWS_LAMBDA_FUNCTION_NAME: 'imagedrift-test-jobStatus',
    REDIS_URL: `redis://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
    QUEUE_PREFIX: prefix,
    API_KEYS: JSON.stringify([{ id: 'k', tenant: 't', sha256: hashApiKey(key) }]),
  });
  setDeps({ config, logger: createLogger('silent'), store: new LocalDirStore(dir) });
  const status = () => jobStatus(httpEvent({ method: 'GET', path: '/jobs/x', route: '/jobs/{id}', pathParameters: { id: '1b4e28ba-2fa1-11d2-883f-0016d3cca427' }, apiKey: key }));
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    assert.equal((await status()).statusCode, 404, 'the connection is up: an unknown job');
    frozen = true;
    const t0 = Date.now();
    const r = await Promise.race([status(), new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), HTTP_TIMEOUT_S * 1000)))]);
    const ms = Date.now() - t0;
    assert.ok(r, `no answer after ${ms} ms; the function is killed after ${HTTP_TIMEOUT_S} s`);
    assert.equal(r.statusCode, 503, r.body);
    assert.equal(parse(r).body.error.code, 'UNAVAILABLE');
    assert.equal(r.headers?.['retry-after'], '5');
  } finally {
    clearTimeout(timer);
    for (const s of socks) s.destroy();
    await closeJobClient().catch(() => undefined);
    resetDeps();
    const redis = connectRedis();
    await cleanupPrefix(redis, prefix);
    await redis.quit();
    await rm(dir, { recursive: true, force: true });
    await new Promise((resolve) => proxy.close(resolve));
  }
});

test('a Redis replica answering READONLY (a failover in progress): enqueueing answers 503 with Retry-After, not a 500', async () => {
  const primary = await startRedisServer({ appendonly: false });
  const replica = await startRedisServer({ appendonly: false, args: ['--replicaof', '127.0.0.1', String(primary.port)] });
  const dir = await mkdtemp(join(tmpdir(), 'imagedrift-deps-ro-'));
  const key = generateApiKey();
  const store = new LocalDirStore(dir);
  const view = tenantStore(store, 't');
  await putModel(view, { id: 'm', bytes: new Uint8Array(readFileSync(join(REPO, 'models/lenet5.onnx'))) });
  await putDataset(view, { id: 'ds', name: 'train.npy', bytes: new Uint8Array(readFileSync(`${SEED}concept_test_lenet1.npy`)) });
  const config = loadConfig({
    S3_BUCKET: 'imagedrift-ro',
    AWS_LAMBDA_FUNCTION_NAME: 'imagedrift-test-fit',
    REDIS_URL: replica.url,
    QUEUE_PREFIX: uniquePrefix().replace(/:$/, ''),
    API_KEYS: JSON.stringify([{ id: 'k', tenant: 't', sha256: hashApiKey(key) }]),
  });
  setDeps({ config, logger: createLogger('silent'), store });
  try {
    const r = await fit(httpEvent({ path: '/detectors/d/fit', route: '/detectors/{id}/fit', pathParameters: { id: 'd' }, json: { model: 'm', dataset: 'ds', layer: 'output', nCluster: 5 }, apiKey: key }));
    const res = parse(r);
    assert.equal(res.status, 503, JSON.stringify(res.body));
    assert.equal(res.body.error.code, 'UNAVAILABLE');
    assert.equal(r.headers?.['retry-after'], '5');
  } finally {
    await closeJobClient().catch(() => undefined);
    resetDeps();
    await replica.stop();
    await primary.stop();
    await rm(dir, { recursive: true, force: true });
  }
});

test("the functions' log lines say role function and, on Lambda, which function wrote them (the audit's and checkObject's too)", () => {
  // They used to say role "http" for every function, the scheduled audit and the S3-event check included.
  const run = (env: Record<string, string>): Record<string, unknown> => {
    const script = "const { getDeps } = await import('./src/http/deps.ts'); getDeps().logger.info('probe');";
    const out = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: REPO,
      env: { PATH: process.env.PATH ?? '', S3_BUCKET: 'imagedrift-data', REDIS_URL: 'redis://127.0.0.1:1', ...env },
      encoding: 'utf8',
    });
    assert.equal(out.status, 0, out.stderr);
    const line = out.stderr.split('\n').find((l) => l.includes('"msg":"probe"'));
    assert.ok(line, out.stderr);
    return JSON.parse(line) as Record<string, unknown>;
  };
  const onLambda = run({ AWS_LAMBDA_FUNCTION_NAME: 'imagedrift-dev-checkObject' });
  assert.deepEqual([onLambda.role, onLambda.function], ['function', 'imagedrift-dev-checkObject']);
  const elsewhere = run({});
  assert.deepEqual([elsewhere.role, 'function' in elsewhere], ['function', false]);
});
