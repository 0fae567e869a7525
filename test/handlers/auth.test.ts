/**
 * Authentication and tenants (issue 6): every route but /health needs a key; keys are stored hashed (config or S3);
 * a key of tenant B cannot read or change tenant A's detectors, datasets, models or jobs; keys never reach the logs.
 * Real s3rver + Redis, handlers called as Lambda calls them.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { handler as calibrate } from '../../handlers/calibrate.js';
import { handler as describeHandler } from '../../handlers/describe.js';
import { handler as fit } from '../../handlers/fit.js';
import { handler as health } from '../../handlers/health.js';
import { handler as jobStatus } from '../../handlers/jobStatus.js';
import { handler as predict } from '../../handlers/predict.js';
import { handler as upload } from '../../handlers/upload.js';
import { generateApiKey, hashApiKey, Keyring, parseKeyring } from '../../src/auth/api-keys.js';
import { loadConfig } from '../../src/config.js';
import { InputError, UnauthorizedError } from '../../src/core/errors.js';
import { presentedKey, resetKeyringCache } from '../../src/http/auth.js';
import { setDeps } from '../../src/http/deps.js';
import type { HttpEvent, HttpResult } from '../../src/http/events.js';
import { createLogger } from '../../src/log.js';
import { processJob } from '../../src/queue/processor.js';
import { putDataset, putModel } from '../../src/service/datasets.js';
import { RedisCoordinator } from '../../src/storage/redis-coordinator.js';
import { tenantStore } from '../../src/storage/tenant-store.js';
import { httpEvent, parse, TEST_API_KEY, TEST_TENANT } from '../helpers/http-event.js';
import { REPO, SEED } from '../helpers/paths.js';
import { startServiceFixture, type ServiceFixture } from '../helpers/service.js';

describe('API keys (pure)', () => {
  test('a generated key verifies against its hash and nothing else', () => {
    const k = generateApiKey();
    assert.match(k, /^idk_[A-Za-z0-9_-]{43}$/);
    const ring = new Keyring([
      { id: 'one', tenant: 'a', sha256: hashApiKey(generateApiKey()) },
      { id: 'two', tenant: 'b', sha256: hashApiKey(k) },
    ]);
    assert.deepEqual(ring.verify(k), { id: 'two', tenant: 'b', sha256: hashApiKey(k) });
    assert.equal(ring.verify(`${k}x`), undefined);
    assert.equal(ring.verify(k.slice(0, -1)), undefined);
    assert.equal(ring.verify(''), undefined);
    assert.equal(ring.verify('x'.repeat(10_000)), undefined, 'overlong keys are refused before hashing');
    assert.equal(ring.verify(hashApiKey(k)), undefined, 'the stored hash is not itself a key');
    assert.deepEqual(ring.tenants(), ['a', 'b']);
  });

  test('keyring parsing names the source and the bad entry', () => {
    const bad = (v: unknown, re: RegExp) => assert.throws(() => parseKeyring(v, 'API_KEYS'), (e: unknown) => e instanceof InputError && e.field === 'API_KEYS' && re.test(e.message));
    bad('not json', /not valid JSON/);
    bad({ id: 'x' }, /expected array/);
    bad([{ id: 'k', tenant: 'a', sha256: 'abc' }], /\[0\]\.sha256 must be the hex SHA-256/);
    bad([{ id: 'k', tenant: 'A B', sha256: hashApiKey('x') }], /\[0\]\.tenant must be 1-63 characters/);
    bad([{ id: 'k', tenant: 'a', sha256: hashApiKey('x'), key: 'plaintext' }], /: \[0\]\.key Unrecognized key/);
    bad([{ id: 'k', tenant: 'a', sha256: hashApiKey('x') }, 'k2'], /: \[1\] Invalid input: expected object/); // was `[1 …`, its bracket unclosed
    bad([{ id: 'k', tenant: 'a', sha256: hashApiKey('x') }, { id: 'k', tenant: 'b', sha256: hashApiKey('y') }], /key id "k" appears twice/);
    assert.throws(() => loadConfig({ S3_BUCKET: 'b-1', API_KEYS: '[{"id":"k"}]' }), (e: unknown) => e instanceof InputError && e.field === 'API_KEYS');
  });

  test('the key is read from x-api-key or an Authorization bearer token, nothing else', () => {
    const ev = (headers: Record<string, string>): HttpEvent => ({ headers });
    assert.equal(presentedKey(ev({ 'x-api-key': 'k1' })), 'k1');
    assert.equal(presentedKey(ev({ 'X-Api-Key': ' k1 ' })), 'k1');
    assert.equal(presentedKey(ev({ authorization: 'Bearer k2' })), 'k2');
    assert.equal(presentedKey(ev({ Authorization: 'bearer   k2' })), 'k2');
    assert.equal(presentedKey(ev({ authorization: 'Basic azI6eA==' })), undefined);
    assert.equal(presentedKey(ev({ authorization: 'Bearer' })), undefined);
    assert.equal(presentedKey(ev({ authorization: 'Bearer a b' })), undefined);
    assert.equal(presentedKey(ev({})), undefined);
    // Both headers: the same key is that key; two different keys are refused (x-api-key used to win without a word).
    assert.equal(presentedKey(ev({ 'x-api-key': 'k1', authorization: 'Bearer k1' })), 'k1');
    assert.equal(presentedKey(ev({ 'x-api-key': 'k1', authorization: 'Basic azI6eA==' })), 'k1');
    assert.throws(() => presentedKey(ev({ 'x-api-key': 'k1', authorization: 'Bearer k2' })), (e: unknown) => e instanceof UnauthorizedError && e.field === 'authorization' && /two different API keys/.test(e.message));
  });
});

describe('authentication and tenant isolation through the handlers (real s3rver + Redis)', () => {
  const KEY_B = generateApiKey();
  const KEY_S3 = generateApiKey();
  const logLines: string[] = [];
  let fx: ServiceFixture;
  let jobA = '';

  const sink = new Writable({
    write(chunk, _enc, cb) {
      logLines.push(String(chunk));
      cb();
    },
  });

  before(async () => {
    fx = await startServiceFixture({
      API_KEYS: JSON.stringify([
        { id: 'test-key', tenant: TEST_TENANT, sha256: hashApiKey(TEST_API_KEY) },
        { id: 'b-key', tenant: 'tenant-b', sha256: hashApiKey(KEY_B) },
      ]),
      API_KEYS_OBJECT: 'auth/api-keys.json',
      API_KEYS_TTL_MS: '0',
      LOG_LEVEL: 'debug',
    });
    // Capture every log line the handlers write.
    setDeps({ config: fx.config, store: fx.s3.store, logger: createLogger('debug', { role: 'function' }, sink) });
    await fx.s3.store.put('auth/api-keys.json', new TextEncoder().encode(JSON.stringify([{ id: 's3-key', tenant: 'tenant-c', sha256: hashApiKey(KEY_S3) }])));
    // Tenant A (the test tenant): a model, datasets and a fitted detector.
    const a = fx.store;
    await putModel(a, { id: 'lenet5', bytes: new Uint8Array(await readFile(`${REPO}models/lenet5.onnx`)) });
    await putDataset(a, { id: 'eval', name: 'eval.npy', bytes: new Uint8Array(await readFile(`${SEED}concept_test_lenet1.npy`)) });
    const deps = { store: fx.s3.store, coordinator: new RedisCoordinator(fx.redis, { keyPrefix: `${fx.queuePrefix}:coord:` }), logger: createLogger('silent'), runtime: { executionProviders: ['cpu'] } };
    const job = (id: string, name: string, data: unknown) => ({ id, name, data, updateProgress: async () => undefined });
    await processJob(deps, job('a-fit', 'fit', { detector: 'det', model: 'lenet5', dataset: 'eval', layer: 'output', nCluster: 5, seed: 0, tenant: TEST_TENANT }));
    await processJob(deps, job('a-cal', 'calibrate', { detector: 'det', dataset: 'eval', oodLabels: [...Array(50).fill(0), ...Array(50).fill(1)], tenant: TEST_TENANT }));
    const r = parse(await fit(httpEvent({ path: '/detectors/det2/fit', pathParameters: { id: 'det2' }, json: { model: 'lenet5', dataset: 'eval', layer: 'output', nCluster: 5 } })));
    assert.equal(r.status, 202, JSON.stringify(r.body));
    jobA = r.body.jobId;
  });
  after(() => fx.stop());

  /** One call of every authenticated route, with the given key (null: none). */
  const everyRoute = (apiKey: string | null, headers: Record<string, string> = {}): [string, Promise<HttpResult>][] => {
    const opts = { apiKey, headers };
    const det = (op: string, json: unknown) => httpEvent({ path: `/detectors/det/${op}`, route: `/detectors/{id}/${op}`, pathParameters: { id: 'det' }, json, ...opts });
    return [
      ['POST /datasets', upload(httpEvent({ path: '/datasets', json: { id: 'x1', name: 'x.npy', data: 'AAAA' }, ...opts }))],
      ['POST /models', upload(httpEvent({ path: '/models', json: { id: 'm1', data: 'AAAA' }, ...opts }))],
      ['POST /uploads', upload(httpEvent({ path: '/uploads', json: { name: 'x.npy', contentLength: 10 }, ...opts }))],
      ['POST /uploads/{id}/complete', upload(httpEvent({ path: '/uploads/u1/complete', pathParameters: { id: 'u1' }, ...opts }))],
      ['POST fit', fit(det('fit', { model: 'lenet5', dataset: 'eval', layer: 'output', nCluster: 5 }))],
      ['POST calibrate', calibrate(det('calibrate', { dataset: 'eval', targetFpr: 0.05 }))],
      ['POST predict', predict(det('predict', { dataset: 'eval', threshold: 0.5 }))],
      ['GET /jobs/{id}', jobStatus(httpEvent({ method: 'GET', path: `/jobs/${jobA}`, pathParameters: { id: jobA }, ...opts }))],
      ['GET /detectors/{id}', describeHandler(httpEvent({ method: 'GET', path: '/detectors/det', route: '/detectors/{id}', pathParameters: { id: 'det' }, query: { version: '1' }, ...opts }))],
      ['GET /detectors', describeHandler(httpEvent({ method: 'GET', path: '/detectors', route: '/detectors', query: { limit: '10' }, ...opts }))],
    ];
  };

  test('GET /health answers without a key', async () => {
    const r = parse(await health());
    assert.equal(r.status, 200);
    assert.equal(r.body.status, 'ok');
  });

  test('every other route: no key, a wrong key, a malformed header → 401 with the error shape; nothing written or enqueued', async () => {
    const keys = await fx.allKeys();
    const jobs = await fx.jobCount();
    const cases: [string, string | null, Record<string, string>][] = [
      ['no key', null, {}],
      ['unknown key', generateApiKey(), {}],
      ['the hash instead of the key', hashApiKey(TEST_API_KEY), {}],
      ['basic auth', null, { authorization: `Basic ${Buffer.from(`u:${TEST_API_KEY}`).toString('base64')}` }],
      ['empty bearer', null, { authorization: 'Bearer ' }],
      ['revoked (not in any keyring)', generateApiKey(), {}],
    ];
    for (const [what, key, headers] of cases) {
      for (const [route, p] of everyRoute(key, headers)) {
        const res = await p;
        const r = parse(res);
        assert.equal(r.status, 401, `${what} ${route}: ${JSON.stringify(r.body)}`);
        assert.equal(r.body.error.code, 'UNAUTHORIZED');
        assert.equal(r.body.error.field, 'authorization');
        assert.equal(res.headers['www-authenticate'], 'Bearer realm="imagedrift"');
      }
    }
    assert.deepEqual(await fx.allKeys(), keys, 'nothing written');
    assert.equal(await fx.jobCount(), jobs, 'nothing enqueued');
  });

  test('the right key passes on every route, as x-api-key or as a bearer token', async () => {
    for (const [key, headers] of [[TEST_API_KEY, {}], [null, { authorization: `Bearer ${TEST_API_KEY}` }]] as const) {
      for (const [route, p] of everyRoute(key, headers)) {
        const r = parse(await p);
        assert.notEqual(r.status, 401, `${route}: ${JSON.stringify(r.body)}`);
        assert.ok(r.status < 500, `${route}: ${JSON.stringify(r.body)}`);
      }
    }
  });

  test('keys stored hashed in the bucket (API_KEYS_OBJECT) work, and revoking one there takes effect', async () => {
    const ev = () => httpEvent({ path: '/datasets', json: { id: 'c-data', name: 'eval.npy', data: 'AAAA' }, apiKey: KEY_S3 });
    const r = parse(await upload(ev()));
    assert.equal(r.status, 400, `authenticated as tenant-c (the body is then rejected as not an array file): ${JSON.stringify(r.body)}`);
    assert.equal(r.body.error.code, 'INVALID_INPUT');
    await fx.s3.store.put('auth/api-keys.json', new TextEncoder().encode('[]'));
    resetKeyringCache();
    assert.equal(parse(await upload(ev())).status, 401);
    // A malformed keyring object is the operator's error: 500 without details, never a 400 describing it.
    await fx.s3.store.put('auth/api-keys.json', new TextEncoder().encode('[{"id":"x"}]'));
    resetKeyringCache();
    const broken = parse(await upload(ev()));
    assert.equal(broken.status, 500);
    assert.doesNotMatch(JSON.stringify(broken.body), /sha256|tenant|api-keys/);
    await fx.s3.store.put('auth/api-keys.json', new TextEncoder().encode('[]'));
    resetKeyringCache();
  });

  test('an object keyring that turns malformed leaves the last usable one in effect (no outage, no key gained)', async () => {
    const good = await fx.s3.store.get('auth/api-keys.json');
    const withC = JSON.stringify([{ id: 'c1', tenant: 'tenant-c', sha256: hashApiKey(KEY_S3) }]);
    const ev = (apiKey: string) => httpEvent({ path: '/datasets', json: { id: 'c-data', name: 'eval.npy', data: 'AAAA' }, apiKey });
    try {
      await fx.s3.store.put('auth/api-keys.json', new TextEncoder().encode(withC));
      resetKeyringCache();
      assert.equal(parse(await upload(ev(KEY_S3))).status, 400, 'authenticated by the object keyring');
      // Half-edited: not JSON. Re-read after the TTL (0 in these tests' config, or the cache reset here).
      await fx.s3.store.put('auth/api-keys.json', new TextEncoder().encode(withC.slice(0, 20)));
      assert.equal(parse(await upload(ev(KEY_S3))).status, 400, 'the last usable keyring still authenticates its keys');
      assert.equal(parse(await upload(ev('idk_not_a_key_at_all_00000000000000000000'))).status, 401, 'and still refuses the rest');
      assert.equal(parse(await upload(ev(TEST_API_KEY))).status, 400, 'config keys (API_KEYS) keep working');
      assert.ok(logLines.some((l) => l.includes('API keyring object unusable') && l.includes('"lastUsableInEffect":true')), 'the operator is told, in the log');
    } finally {
      await fx.s3.store.put('auth/api-keys.json', good ?? new TextEncoder().encode('[]'));
      resetKeyringCache();
    }
  });

  test('tenant B cannot read or change tenant A\'s detectors, datasets, models or jobs', async () => {
    const asB = { apiKey: KEY_B };
    const detB = (op: string, json: unknown) => httpEvent({ path: `/detectors/det/${op}`, pathParameters: { id: 'det' }, json, ...asB });
    const beforeA = await fx.keys();
    const status = (r: HttpResult) => parse(r);

    // A's detector, with A's dataset ids: not found for B.
    let r = status(await predict(detB('predict', { dataset: 'eval' })));
    assert.equal(r.status, 404, JSON.stringify(r.body));
    r = status(await predict(detB('predict', { images: ['AAAA'], threshold: 0.5 })));
    assert.equal(r.status, 404);
    assert.equal(r.body.error.field, 'detector');
    r = status(await calibrate(detB('calibrate', { dataset: 'eval', targetFpr: 0.05 })));
    assert.equal(r.status, 404);
    r = status(await fit(detB('fit', { model: 'lenet5', dataset: 'eval', layer: 'output', nCluster: 5 })));
    assert.equal(r.status, 404, 'A\'s model and dataset do not exist for B');
    r = status(await jobStatus(httpEvent({ method: 'GET', path: `/jobs/${jobA}`, pathParameters: { id: jobA }, ...asB })));
    assert.equal(r.status, 404, 'A\'s job does not exist for B');
    assert.equal(status(await jobStatus(httpEvent({ method: 'GET', path: `/jobs/${jobA}`, pathParameters: { id: jobA } }))).status, 200, 'but does for A');
    r = status(await describeHandler(httpEvent({ method: 'GET', path: '/detectors/det', route: '/detectors/{id}', pathParameters: { id: 'det' }, ...asB })));
    assert.deepEqual([r.status, r.body.error?.field], [404, 'detector'], "A's detector is not described for B");
    assert.deepEqual(status(await describeHandler(httpEvent({ method: 'GET', path: '/detectors', route: '/detectors', ...asB }))).body, { detectors: [] }, 'nor listed');
    assert.equal(status(await describeHandler(httpEvent({ method: 'GET', path: '/detectors/det', route: '/detectors/{id}', pathParameters: { id: 'det' } }))).status, 200, 'but is for A');
    // Keys that try to climb into A's space are refused or stay inside B's.
    r = status(await calibrate(detB('calibrate', { dataset: 'eval', oodLabelsKey: `../${TEST_TENANT}/labels.json` })));
    assert.equal(r.status, 400);
    assert.equal(r.body.error.field, 'oodLabelsKey');
    // B may use the same ids: its objects land in its own space, A's are untouched.
    const evalBytes = new Uint8Array(await readFile(`${SEED}concept_test_lenet1.npy`));
    r = status(await upload(httpEvent({ path: '/datasets', json: { id: 'eval', name: 'eval.npy', data: Buffer.from(evalBytes).toString('base64') }, ...asB })));
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.deepEqual(await fx.keys(), beforeA, 'nothing of A changed');
    const bKeys = (await tenantStore(fx.s3.store, 'tenant-b').list('')).map((o) => o.key);
    assert.ok(bKeys.includes('datasets/eval/manifest.json'), 'B\'s own dataset "eval"');
    assert.ok(bKeys.every((k) => !k.startsWith('detectors/')), 'B has no detector');
    // A body cannot choose a tenant.
    r = status(await fit(httpEvent({ path: '/detectors/det/fit', pathParameters: { id: 'det' }, json: { model: 'lenet5', dataset: 'eval', layer: 'output', nCluster: 5, tenant: TEST_TENANT }, ...asB })));
    assert.equal(r.status, 400);
    assert.equal(r.body.error.field, 'tenant');
  });

  test('keys never appear in the logs; the access log names tenant and key id', async () => {
    const wrong = generateApiKey();
    for (const [, p] of everyRoute(TEST_API_KEY)) await p;
    for (const [, p] of everyRoute(null, { authorization: `Bearer ${KEY_B}` })) await p;
    for (const [, p] of everyRoute(wrong)) await p;
    // Even a careless log call with request headers is redacted.
    const log = createLogger('info', {}, sink);
    log.info({ headers: { authorization: `Bearer ${TEST_API_KEY}`, 'x-api-key': KEY_B } }, 'careless');
    log.info({ event: { headers: { 'x-api-key': KEY_S3 } } }, 'careless nested');
    const text = logLines.join('');
    assert.ok(logLines.length > 20, `log lines were captured (${logLines.length})`);
    assert.match(text, /"tenant":"test-tenant","keyId":"test-key".*"status":\d{3}/);
    assert.match(text, /"keyId":"b-key"/);
    assert.match(text, /"status":401/);
    assert.match(text, /\[redacted\]/);
    for (const k of [TEST_API_KEY, KEY_B, KEY_S3, wrong]) assert.ok(!text.includes(k), 'a key leaked into the logs');
    for (const k of [TEST_API_KEY, KEY_B, KEY_S3, wrong]) assert.ok(!text.includes(k.slice(4, 20)), 'part of a key leaked into the logs');
  });
});
