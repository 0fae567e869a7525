/**
 * Do the per-function IAM roles of serverless.yml allow the S3 calls the functions really make? Nothing here can
 * deploy to AWS, so the calls are observed instead: every function runs through its real handler against a real
 * s3rver behind a recording proxy (test/helpers/s3-recorder.ts; the AWS SDK is not mocked, the handlers build their
 * own S3 client from S3_ENDPOINT as on Lambda), one function at a time, and each request is mapped to the IAM
 * action and resource S3 authorises it as (test/helpers/iam.ts). The roles come from the template `serverless package`
 * really produces (test/helpers/serverless.ts), packaged with this test's bucket name; the worker's jobs (a real
 * BullMQ worker, src/queue/worker.ts) are checked against the permissions infra/README.md ("The worker's
 * credentials") documents, encoded below as WORKER_POLICY. Presigned URLs count for the function that signed them:
 * the URL itself is checked against the signer's role, and the client's later request through it is recorded as
 * that function's.
 *
 * IAM_COVERAGE_SERVICE_DIR (optional) packages another service directory instead of the repo (a copy whose
 * serverless.yml lacks a grant, to see this test fail).
 */
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Redis } from 'ioredis';
import sharp from 'sharp';
import { handler as audit } from '../../handlers/audit.js';
import { handler as calibrate } from '../../handlers/calibrate.js';
import { handler as checkObject } from '../../handlers/checkObject.js';
import { handler as describeDetector } from '../../handlers/describe.js';
import { handler as fit } from '../../handlers/fit.js';
import { handler as health } from '../../handlers/health.js';
import { handler as jobStatus } from '../../handlers/jobStatus.js';
import { handler as predict } from '../../handlers/predict.js';
import { handler as retention } from '../../handlers/retention.js';
import { handler as upload } from '../../handlers/upload.js';
import { startS3Local, type S3Local } from '../../infra/s3-local.js';
import { hashApiKey } from '../../src/auth/api-keys.js';
import { loadConfig, type Config } from '../../src/config.js';
import { resetKeyringCache } from '../../src/http/auth.js';
import { resetDeps, setDeps } from '../../src/http/deps.js';
import { closeJobClient, getJobClient } from '../../src/http/queue-deps.js';
import { decodeNpy, encodeNpy } from '../../src/io/npy.js';
import { createLogger } from '../../src/log.js';
import { startWorker } from '../../src/queue/worker.js';
import { closeExtractors } from '../../src/service/extractor-cache.js';
import { createS3Client, S3Store } from '../../src/storage/s3-store.js';
import { evaluate, iamGlob, s3Authorizations, type PolicyStatement, type S3Authorization } from '../helpers/iam.js';
import { httpEvent, parse, TEST_API_KEY, TEST_TENANT } from '../helpers/http-event.js';
import { REPO, SEED } from '../helpers/paths.js';
import { cleanupPrefix, connectRedis, REDIS_URL, uniquePrefix } from '../helpers/redis.js';
import { ageObjects } from '../helpers/s3.js';
import { startS3Recorder, type RecordedRequest, type S3Recorder } from '../helpers/s3-recorder.js';
import { functionRoleId, resolveIf, roleStatements, slsPackage, type Template } from '../helpers/serverless.js';

const BUCKET = 'imagedrift-iam';
const KEYRING = 'auth/api-keys.json';
const INCOMING = 'incoming/';
const OTHER_TENANT = 'other-tenant';
const FUNCTIONS = ['health', 'upload', 'fit', 'calibrate', 'predict', 'jobStatus', 'describe', 'audit', 'retention', 'checkObject'] as const;
type Fn = (typeof FUNCTIONS)[number];
const B = `arn:aws:s3:::${BUCKET}`;

/**
 * The worker's permissions as infra/README.md ("The worker's credentials") states them: read the tenants' state,
 * write detector versions and job claims/results, delete a predict's request images, list the bucket, and the keyring
 * Deny every role carries.
 */
const WORKER_POLICY: PolicyStatement[] = [
  { Effect: 'Allow', Action: 's3:GetObject', Resource: `${B}/tenants/*` },
  { Effect: 'Allow', Action: 's3:PutObject', Resource: [`${B}/tenants/*/detectors/*`, `${B}/tenants/*/jobs/*`] },
  { Effect: 'Allow', Action: 's3:DeleteObject', Resource: `${B}/tenants/*/datasets/*` },
  { Effect: 'Allow', Action: 's3:ListBucket', Resource: B },
  { Effect: 'Deny', Action: ['s3:PutObject', 's3:DeleteObject'], Resource: [`${B}/auth/*`, `${B}/${KEYRING}`] },
];

describe('IAM policy evaluation (hand cases)', () => {
  const P = (s: Partial<PolicyStatement> & Pick<PolicyStatement, 'Effect'>): PolicyStatement => s;
  const get = (key: string): S3Authorization => ({ action: 's3:GetObject', resource: `arn:aws:s3:::b/${key}` });

  test('an Allow whose action and resource match allows; nothing matching is an implicit deny', () => {
    const allow = P({ Effect: 'Allow', Action: 's3:GetObject', Resource: 'arn:aws:s3:::b/tenants/*/models/*' });
    assert.deepEqual(evaluate([allow], get('tenants/t/models/m.json')), { allowed: true, by: allow });
    assert.deepEqual(evaluate([allow], get('tenants/t/datasets/d/manifest.json')), { allowed: false }, 'other prefix');
    assert.deepEqual(evaluate([allow], { action: 's3:PutObject', resource: 'arn:aws:s3:::b/tenants/t/models/m.json' }), { allowed: false }, 'other action');
    assert.deepEqual(evaluate([allow], { action: 's3:GetObject', resource: 'arn:aws:s3:::other/tenants/t/models/m.json' }), { allowed: false }, 'other bucket');
    assert.deepEqual(evaluate([], get('x')), { allowed: false }, 'no statements');
  });

  test('an explicit Deny wins over any Allow', () => {
    const allow = P({ Effect: 'Allow', Action: ['s3:GetObject', 's3:PutObject'], Resource: 'arn:aws:s3:::b/*' });
    const deny = P({ Effect: 'Deny', Action: 's3:PutObject', Resource: ['arn:aws:s3:::b/auth/*'] });
    const put = { action: 's3:PutObject', resource: 'arn:aws:s3:::b/auth/api-keys.json' };
    assert.deepEqual(evaluate([allow, deny], put), { allowed: false, deniedBy: deny });
    assert.deepEqual(evaluate([deny, allow], put), { allowed: false, deniedBy: deny }, 'order does not matter');
    assert.equal(evaluate([allow, deny], get('auth/api-keys.json')).allowed, true, 'the Deny is about PutObject only');
  });

  test('wildcards: * spans "/", ? is one character; actions ignore case and take wildcards', () => {
    assert.equal(iamGlob('arn:aws:s3:::b/tenants/*', 'arn:aws:s3:::b/tenants/t/jobs/j/result.json'), true);
    assert.equal(iamGlob('arn:aws:s3:::b/tenants/*/jobs/*/result.json', 'arn:aws:s3:::b/tenants/t/jobs/j/x/result.json'), true, '* across several segments');
    assert.equal(iamGlob('arn:aws:s3:::b/tenants/*/jobs/*/result.json', 'arn:aws:s3:::b/tenants/t/jobs/j/claim'), false);
    assert.equal(iamGlob('arn:aws:s3:::b/v?/m', 'arn:aws:s3:::b/v1/m'), true);
    assert.equal(iamGlob('arn:aws:s3:::b/v?/m', 'arn:aws:s3:::b/v12/m'), false);
    assert.equal(iamGlob('arn:aws:s3:::b/a.b', 'arn:aws:s3:::b/aXb'), false, 'regex characters are literal');
    assert.equal(iamGlob('arn:aws:s3:::b/Tenants/*', 'arn:aws:s3:::b/tenants/t'), false, 'resources are case-sensitive');
    const s = P({ Effect: 'Allow', Action: 'S3:Get*', Resource: '*' });
    assert.equal(evaluate([s], get('k')).allowed, true);
    assert.equal(evaluate([s], { action: 's3:PutObject', resource: 'arn:aws:s3:::b/k' }).allowed, false);
  });

  test('statements of other services are skipped; what cannot be evaluated exactly throws', () => {
    const logs = P({ Effect: 'Allow', Action: 'logs:PutLogEvents', Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': ['L', 'Arn'] }, ':*']] } });
    const sqs = P({ Effect: 'Deny', Action: 'sqs:SendMessage', Resource: { 'Fn::GetAtt': ['Q', 'Arn'] } });
    const allow = P({ Effect: 'Allow', Action: 's3:GetObject', Resource: 'arn:aws:s3:::b/k' });
    assert.equal(evaluate([logs, sqs, allow], get('k')).allowed, true);
    assert.throws(() => evaluate([P({ Effect: 'Allow', Action: 's3:GetObject', Resource: { 'Fn::Sub': 'arn:aws:s3:::${B}/*' } })], get('k')), /cannot evaluate the resource/);
    assert.throws(() => evaluate([P({ Effect: 'Deny', Action: 's3:*', Resource: '*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })], get('k')), /Condition/);
    assert.throws(() => evaluate([P({ Effect: 'Allow', NotAction: 's3:PutObject', Resource: '*' })], get('k')), /NotAction/);
  });

  test('Fn::If statements resolve as CloudFormation would', () => {
    const t: Template = { Resources: {}, Conditions: { On: { 'Fn::Not': [{ 'Fn::Equals': ['x', ''] }] }, Off: { 'Fn::Not': [{ 'Fn::Equals': ['', ''] }] } } };
    const st = { Effect: 'Allow', Action: 's3:GetObject', Resource: 'arn:aws:s3:::b/k' };
    assert.deepEqual(resolveIf(t, { 'Fn::If': ['On', st, { Ref: 'AWS::NoValue' }] }), [st]);
    assert.deepEqual(resolveIf(t, { 'Fn::If': ['Off', st, { Ref: 'AWS::NoValue' }] }), []);
    assert.deepEqual(resolveIf(t, { 'Fn::If': ['On', st, { Ref: 'AWS::NoValue' }] }, { On: false }), [], 'an override');
    assert.deepEqual(resolveIf(t, st), [st]);
  });
});

describe('S3 request → IAM action (as S3 authorises it)', () => {
  const r = (method: string, path: string, query: [string, string][] = [], copySource?: string, amzHeaders?: string[]): RecordedRequest => ({ method, path, query, ...(copySource ? { copySource } : {}), ...(amzHeaders ? { amzHeaders } : {}) });
  const map = (x: RecordedRequest) => s3Authorizations(x, 'b');
  test('object and bucket requests', () => {
    assert.deepEqual(map(r('GET', '/b/tenants/t/a%20b%2B1.json', [['x-id', 'GetObject']])), [{ action: 's3:GetObject', resource: 'arn:aws:s3:::b/tenants/t/a b+1.json' }]);
    assert.deepEqual(map(r('HEAD', '/b/k')), [{ action: 's3:GetObject', resource: 'arn:aws:s3:::b/k' }]);
    assert.deepEqual(map(r('PUT', '/b/k', [['X-Amz-Signature', 'abc'], ['X-Amz-Expires', '900']])), [{ action: 's3:PutObject', resource: 'arn:aws:s3:::b/k' }], 'presigned');
    assert.deepEqual(map(r('DELETE', '/b/k', [['x-id', 'DeleteObject']])), [{ action: 's3:DeleteObject', resource: 'arn:aws:s3:::b/k' }]);
    assert.deepEqual(map(r('GET', '/b', [['list-type', '2'], ['prefix', 'tenants/t/'], ['max-keys', '1000']])), [{ action: 's3:ListBucket', resource: 'arn:aws:s3:::b' }]);
    assert.deepEqual(map(r('PUT', '/b/dst', [], '/b/src%20x')), [{ action: 's3:GetObject', resource: 'arn:aws:s3:::b/src x' }, { action: 's3:PutObject', resource: 'arn:aws:s3:::b/dst' }], 'CopyObject');
    assert.deepEqual(map(r('POST', '/b/k', [['uploads', '']])), [{ action: 's3:PutObject', resource: 'arn:aws:s3:::b/k' }], 'CreateMultipartUpload');
    assert.deepEqual(map(r('PUT', '/b/k', [['partNumber', '1'], ['uploadId', 'u']])), [{ action: 's3:PutObject', resource: 'arn:aws:s3:::b/k' }], 'UploadPart');
    // A read answered 404: S3 says 404 (not 403) only to a caller that may list the bucket.
    assert.deepEqual(map({ ...r('HEAD', '/b/k'), status: 404 }), [{ action: 's3:GetObject', resource: 'arn:aws:s3:::b/k' }, { action: 's3:ListBucket', resource: 'arn:aws:s3:::b' }]);
    assert.deepEqual(map({ ...r('GET', '/b/k'), status: 200 }), [{ action: 's3:GetObject', resource: 'arn:aws:s3:::b/k' }]);
  });
  test('x-amz-* headers: signing and checksums need nothing more, an ACL or tags need their own action, others are unknown', () => {
    assert.deepEqual(map(r('PUT', '/b/k', [], undefined, ['x-amz-content-sha256', 'x-amz-date', 'x-amz-checksum-crc32', 'x-amz-meta-a'])), [{ action: 's3:PutObject', resource: 'arn:aws:s3:::b/k' }]);
    assert.deepEqual(map(r('PUT', '/b/k', [], undefined, ['x-amz-acl', 'x-amz-tagging'])), [
      { action: 's3:PutObject', resource: 'arn:aws:s3:::b/k' },
      { action: 's3:PutObjectAcl', resource: 'arn:aws:s3:::b/k' },
      { action: 's3:PutObjectTagging', resource: 'arn:aws:s3:::b/k' },
    ]);
    for (const h of ['x-amz-server-side-encryption', 'x-amz-request-payer', 'x-amz-website-redirect-location']) {
      const m = map(r('PUT', '/b/k', [], undefined, [h]));
      assert.ok(!Array.isArray(m) && m.unknown.includes(h), h);
    }
  });
  test('anything else is unknown, with the reason', () => {
    for (const x of [r('GET', '/b/k', [['acl', '']]), r('PUT', '/b', []), r('POST', '/b', [['delete', '']]), r('GET', '/other/k'), r('GET', '/b/k', [['versionId', '3']]), r('PUT', '/b/k', [['tagging', '']])]) {
      const m = map(x);
      assert.ok(!Array.isArray(m) && /:/.test(m.unknown), JSON.stringify(x));
    }
  });
});

describe('the recording proxy', () => {
  test('forwards method, path, query, raw headers and body unchanged, both ways, and records the request', async () => {
    // An upstream that answers with what it received (and a large streamed body of its own).
    const upstream = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        res.writeHead(207, { 'x-echo': JSON.stringify({ method: req.method, url: req.url, rawHeaders: req.rawHeaders, bytes: body.byteLength, sha: createHash('sha256').update(body).digest('hex') }), 'content-type': 'application/octet-stream' });
        for (let i = 0; i < 64; i++) res.write(Buffer.alloc(64 * 1024, i));
        res.end();
      });
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const rec = await startS3Recorder(`http://127.0.0.1:${(upstream.address() as AddressInfo).port}`);
    try {
      const body = Buffer.alloc(3 * 1024 * 1024 + 7, 9);
      const { host } = new URL(rec.endpoint);
      const res = await new Promise<{ status: number; echo: { method: string; url: string; rawHeaders: string[]; bytes: number; sha: string }; bytes: number }>((resolve, reject) => {
        const req = httpRequest(`${rec.endpoint}/bucket/a%20b/c%2Bd.npy?x-id=PutObject&partNumber=1`, { method: 'PUT', headers: { 'Content-Length': String(body.byteLength), 'X-Amz-Meta-Mixed': 'Case', 'x-amz-acl': 'private', Expect: '100-continue' } });
        req.on('continue', () => req.end(body));
        req.on('response', (r) => {
          let n = 0;
          r.on('data', (c: Buffer) => (n += c.byteLength));
          r.on('end', () => resolve({ status: r.statusCode!, echo: JSON.parse(String(r.headers['x-echo'])), bytes: n }));
        });
        req.on('error', reject);
        req.flushHeaders();
      });
      assert.equal(res.status, 207);
      assert.equal(res.bytes, 64 * 64 * 1024, 'the response body, whole');
      assert.deepEqual([res.echo.method, res.echo.url], ['PUT', '/bucket/a%20b/c%2Bd.npy?x-id=PutObject&partNumber=1']);
      assert.deepEqual([res.echo.bytes, res.echo.sha], [body.byteLength, createHash('sha256').update(body).digest('hex')], 'the request body, whole');
      const headers = res.echo.rawHeaders;
      for (const [k, v] of [['Host', host], ['Content-Length', String(body.byteLength)], ['X-Amz-Meta-Mixed', 'Case'], ['x-amz-acl', 'private'], ['Expect', '100-continue']]) {
        assert.equal(headers[headers.indexOf(k!) + 1], v, `${k}: sent as the client sent it (${JSON.stringify(headers)})`);
      }
      assert.deepEqual(rec.take(), [{ method: 'PUT', path: '/bucket/a%20b/c%2Bd.npy', query: [['x-id', 'PutObject'], ['partNumber', '1']], amzHeaders: ['x-amz-acl', 'x-amz-meta-mixed'], status: 207 }]);
      assert.equal(rec.inFlight(), 0);
    } finally {
      await rec.stop();
      upstream.closeAllConnections();
      await new Promise((resolve) => upstream.close(resolve));
    }
  });
});

/** One recorded request, attributed to the function whose call (or whose presigned URL) made it. */
interface Seen {
  readonly step: string;
  readonly req: RecordedRequest;
}
/** A presigned URL a function handed out, as the request it authorises. */
interface Signed {
  readonly step: string;
  readonly req: RecordedRequest;
}

describe('every S3 request of every function is allowed by its role (real handlers, s3rver behind a recording proxy, Redis, BullMQ)', () => {
  let s3: S3Local;
  let direct: S3Store; // the test's own reads and writes (the operator's tools): straight to s3rver, not recorded
  let recorder: S3Recorder;
  let redis: Redis;
  let queuePrefix = '';
  let config: Config;
  let pkgDir = '';
  let packaged: ReturnType<typeof slsPackage>;
  const seen = new Map<string, Seen[]>(); // function (or 'worker') → requests
  const signed = new Map<Fn, Signed[]>();
  const T = TEST_TENANT;
  const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
  const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');

  before(async () => {
    // The roles, packaged (offline) while the functions run: the test's bucket, the default keyring object and
    // incoming prefix, the same as `config` below.
    pkgDir = await mkdtemp(join(tmpdir(), 'imagedrift-iam-'));
    packaged = slsPackage(join(pkgDir, 'artifacts'), { S3_BUCKET: BUCKET, API_KEYS_OBJECT: KEYRING, INCOMING_PREFIX: INCOMING, REDIS_URL: 'rediss://redis.internal.example:6379' }, process.env.IAM_COVERAGE_SERVICE_DIR ?? REPO);
    packaged.catch(() => undefined);
    s3 = await startS3Local({ bucket: BUCKET });
    direct = new S3Store({ client: createS3Client({ endpoint: s3.endpoint, region: s3.region, forcePathStyle: true, credentials: s3.credentials }), bucket: BUCKET });
    recorder = await startS3Recorder(s3.endpoint);
    redis = connectRedis();
    queuePrefix = uniquePrefix().replace(/:$/, '');
    // As on Lambda: the handlers build their own S3 client from the environment (here: the proxy), and read the
    // keyring from the bucket on every call (TTL 0), so every function's keyring read is seen.
    config = loadConfig({
      S3_BUCKET: BUCKET,
      S3_ENDPOINT: recorder.endpoint,
      S3_ACCESS_KEY_ID: s3.credentials.accessKeyId,
      S3_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
      REDIS_URL,
      QUEUE_PREFIX: queuePrefix,
      LOG_LEVEL: 'silent',
      API_KEYS_OBJECT: KEYRING,
      API_KEYS_TTL_MS: '0',
      INCOMING_PREFIX: INCOMING,
    });
    setDeps({ config, logger: createLogger('silent') });
    await direct.put(KEYRING, enc([{ id: 'test-key', tenant: T, sha256: hashApiKey(TEST_API_KEY) }, { id: 'other-key', tenant: OTHER_TENANT, sha256: hashApiKey(`${TEST_API_KEY}-other`) }]));
  });

  after(async () => {
    await closeJobClient();
    resetDeps();
    resetKeyringCache();
    await closeExtractors();
    if (redis) {
      await cleanupPrefix(redis, queuePrefix);
      await redis.quit();
    }
    direct?.client.destroy();
    await recorder?.stop();
    await s3?.stop();
    await packaged?.catch(() => undefined);
    if (pkgDir) await rm(pkgDir, { recursive: true, force: true });
  });

  /** Runs `body` as function `fn` (nothing else talks to the proxy meanwhile) and files the requests it made. */
  async function as<R>(fn: Fn | 'worker', step: string, body: () => Promise<R>): Promise<R> {
    assert.equal(recorder.inFlight(), 0, `${step}: a request still in flight before it`);
    assert.deepEqual(recorder.take(), [], `${step}: requests made outside any step`);
    resetKeyringCache();
    const out = await body();
    for (let i = 0; i < 100 && recorder.inFlight() > 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(recorder.inFlight(), 0, `${step}: requests still in flight after it`);
    const list = seen.get(fn) ?? [];
    for (const req of recorder.take()) list.push({ step, req });
    seen.set(fn, list);
    return out;
  }
  /** A presigned URL function `fn` handed out: the request it authorises (checked against `fn`'s role). */
  function signedBy(fn: Fn, step: string, method: string, url: string): void {
    const u = new URL(url);
    assert.equal(u.origin, recorder.endpoint, 'signed for the endpoint the function was configured with');
    signed.set(fn, [...(signed.get(fn) ?? []), { step, req: { method, path: u.pathname, query: [...u.searchParams.entries()] } }]);
  }

  const det = (h: typeof fit, op: string, id: string, json: unknown) => h(httpEvent({ path: `/detectors/${id}/${op}`, route: `/detectors/{id}/${op}`, pathParameters: { id }, json }));
  const status = (id: string) => jobStatus(httpEvent({ method: 'GET', path: `/jobs/${id}`, route: '/jobs/{id}', pathParameters: { id } }));
  /** The real worker (src/queue/worker.ts, BullMQ, the same config: the proxy) until `jobIds` have completed. */
  async function runWorker(step: string, jobIds: string[]): Promise<void> {
    await as('worker', step, async () => {
      const w = await startWorker(config, { handleSignals: false, logger: createLogger('silent') });
      try {
        const deadline = Date.now() + 120_000;
        for (;;) {
          const states = await Promise.all(jobIds.map((id) => getJobClient().queue.getJobState(id)));
          if (states.every((s) => s === 'completed')) break;
          const failed = jobIds.filter((_, i) => states[i] === 'failed');
          if (failed.length) {
            const reasons = await Promise.all(failed.map(async (id) => (await getJobClient().queue.getJob(id))?.failedReason));
            assert.fail(`${step}: jobs failed: ${reasons.join('; ')}`);
          }
          assert.ok(Date.now() < deadline, `${step}: jobs not done after 120 s: ${states.join(',')}`);
          await new Promise((r) => setTimeout(r, 50));
        }
      } finally {
        await w.close();
      }
    });
  }

  test('drive every function (and the worker) over its main paths, recording their S3 requests', async () => {
    const evalNpy = new Uint8Array(await readFile(`${SEED}concept_test_lenet1.npy`)); // [100,1,32,32] float32: 50 ID, 50 OOD
    const onnx = new Uint8Array(await readFile(`${REPO}models/lenet5.onnx`));
    const evalSet = decodeNpy(evalNpy);
    const slice = (from: number, to: number) => encodeNpy((evalSet.data as Float32Array).slice(from * 1024, to * 1024), [to - from, 1, 32, 32], 'float32');
    const labels = [...Array(50).fill(0), ...Array(50).fill(1)];

    // health: no S3 at all.
    assert.equal(parse(await as('health', 'GET /health', () => health())).status, 200);

    // upload: models and datasets inline (JSON and raw bodies), a presigned upload (PUT by the client, then complete),
    // an invalid presigned upload (its staged objects deleted), a duplicate id.
    const created = async (step: string, ev: Parameters<typeof upload>[0]) => {
      const r = parse(await as('upload', step, () => upload(ev)));
      assert.equal(r.status, 201, `${step}: ${JSON.stringify(r.body)}`);
      return r.body;
    };
    // Three copies of the model: audit and checkObject then load their detector and model cold, as a fresh Lambda
    // instance would (versions and models are cached per process by key, src/service/detector-cache.ts).
    await created('POST /models (JSON)', httpEvent({ path: '/models', json: { id: 'lenet5', data: b64(onnx) } }));
    await created('POST /models (raw body)', httpEvent({ path: '/models', bytes: onnx, query: { id: 'lenet-audit' } }));
    await created('POST /models (JSON)', httpEvent({ path: '/models', json: { id: 'lenet-check', data: b64(onnx) } }));
    await created('POST /datasets (JSON)', httpEvent({ path: '/datasets', json: { id: 'eval', name: 'eval.npy', data: b64(evalNpy) } }));
    await created('POST /datasets (raw body)', httpEvent({ path: '/datasets', bytes: slice(0, 12), query: { id: 'small', name: 'small.npy' } }));
    const labelSet = await created('POST /datasets (JSON)', httpEvent({ path: '/datasets', json: { id: 'labels', name: 'labels.npy', data: b64(encodeNpy(Float32Array.from(labels), [100], 'float32')) } }));
    const p = parse(await as('upload', 'POST /uploads', () => upload(httpEvent({ path: '/uploads', json: { id: 'big1', name: 'big1.npy', contentLength: evalNpy.byteLength } }))));
    assert.equal(p.status, 200, JSON.stringify(p.body));
    signedBy('upload', 'POST /uploads', 'PUT', p.body.url);
    const put = await as('upload', 'presigned PUT (by the client)', () => fetch(p.body.url, { method: 'PUT', body: Buffer.from(evalNpy), headers: { 'content-length': String(evalNpy.byteLength) } }));
    assert.equal(put.status, 200);
    assert.deepEqual((await created('POST /uploads/{id}/complete', httpEvent({ path: '/uploads/big1/complete', route: '/uploads/{id}/complete', pathParameters: { id: 'big1' } }))).shape, [100, 1, 32, 32]);
    const junk = new Uint8Array(1000).fill(7);
    const q = parse(await as('upload', 'POST /datasets {presign}', () => upload(httpEvent({ path: '/datasets', json: { presign: true, id: 'junk', name: 'junk.npy', contentLength: junk.byteLength } }))));
    assert.equal(q.status, 200, JSON.stringify(q.body));
    signedBy('upload', 'POST /datasets {presign}', 'PUT', q.body.url);
    assert.equal((await as('upload', 'presigned PUT (by the client)', () => fetch(q.body.url, { method: 'PUT', body: Buffer.from(junk) }))).status, 200);
    const bad = parse(await as('upload', 'POST /uploads/{id}/complete (invalid)', () => upload(httpEvent({ path: '/uploads/junk/complete', route: '/uploads/{id}/complete', pathParameters: { id: 'junk' } }))));
    assert.equal(bad.status, 400, JSON.stringify(bad.body));
    const dup = parse(await as('upload', 'POST /datasets (duplicate id)', () => upload(httpEvent({ path: '/datasets', json: { id: 'eval', name: 'eval.npy', data: b64(evalNpy) } }))));
    assert.equal(dup.status, 409, JSON.stringify(dup.body));

    // fit: three detectors (requests validated, jobs enqueued), one with a missing dataset.
    const accepted = async (fn: 'fit' | 'calibrate' | 'predict', step: string, h: typeof fit, id: string, json: unknown) => {
      const r = parse(await as(fn, step, () => det(h, fn, id, json)));
      assert.equal(r.status, 202, `${step}: ${JSON.stringify(r.body)}`);
      return r.body.jobId as string;
    };
    const fits = [
      await accepted('fit', 'POST /detectors/{id}/fit', fit, 'det', { model: 'lenet5', dataset: 'eval', layer: 'output', nCluster: 5, seed: 0 }),
      await accepted('fit', 'POST /detectors/{id}/fit', fit, 'det-audit', { model: 'lenet-audit', dataset: 'eval', layer: 'output', nCluster: 5, seed: 0 }),
      await accepted('fit', 'POST /detectors/{id}/fit', fit, 'det-check', { model: 'lenet-check', dataset: 'big1', layer: 'output', nCluster: 5, seed: 0 }),
    ];
    assert.equal(parse(await as('fit', 'POST /detectors/{id}/fit (missing dataset)', () => det(fit, 'fit', 'det-x', { model: 'lenet5', dataset: 'nope', layer: 'output', nCluster: 5 }))).status, 404);
    await runWorker('fit jobs', fits);

    // calibrate: inline labels; oodLabelsKey naming an uploaded file; oodLabelsKey naming any other key of the tenant.
    await direct.put(`tenants/${T}/labels/eval-ood.json`, enc(labels));
    const cals = [
      await accepted('calibrate', 'POST /detectors/{id}/calibrate (oodLabels)', calibrate, 'det', { dataset: 'eval', oodLabels: labels }),
      await accepted('calibrate', 'POST /detectors/{id}/calibrate (oodLabelsKey, an uploaded file)', calibrate, 'det-audit', { dataset: 'eval', oodLabelsKey: labelSet.key }),
      await accepted('calibrate', 'POST /detectors/{id}/calibrate (oodLabelsKey, any key)', calibrate, 'det-check', { dataset: 'eval', oodLabelsKey: 'labels/eval-ood.json' }),
    ];
    assert.equal(parse(await as('calibrate', 'POST /detectors/{id}/calibrate (unknown detector)', () => det(calibrate, 'calibrate', 'nodet', { dataset: 'eval', oodLabels: labels }))).status, 404);
    await runWorker('calibrate jobs', cals);

    // describe: a detector's current version and an older one, unknown ones, the tenant's detectors in two pages.
    const described = async (step: string, path: string, query?: Record<string, string>, id?: string) =>
      parse(await as('describe', step, () => describeDetector(httpEvent({ method: 'GET', path, route: id === undefined ? '/detectors' : '/detectors/{id}', ...(id !== undefined ? { pathParameters: { id } } : {}), ...(query ? { query } : {}) }))));
    assert.equal((await described('GET /detectors/{id}', '/detectors/det', undefined, 'det')).body.version, 2);
    assert.equal((await described('GET /detectors/{id}?version=1', '/detectors/det', { version: '1' }, 'det')).body.calibration, null);
    assert.equal((await described('GET /detectors/{id} (unknown detector)', '/detectors/nodet', undefined, 'nodet')).status, 404);
    assert.equal((await described('GET /detectors/{id}?version=9 (unknown version)', '/detectors/det', { version: '9' }, 'det')).status, 404);
    const page1 = await described('GET /detectors?limit=2', '/detectors', { limit: '2' });
    const page2 = await described('GET /detectors?after=… (next page)', '/detectors', { after: page1.body.next });
    assert.deepEqual([...page1.body.detectors, ...page2.body.detectors].map((d: { id: string }) => d.id), ['det-audit', 'det-check', 'det']);

    // predict: in process (inline images, a stored dataset), as jobs (inline images stored as a dataset, a stored
    // dataset), an unknown detector.
    const sync = async (step: string, json: unknown) => {
      const r = parse(await as('predict', step, () => det(predict, 'predict', 'det', json)));
      assert.equal(r.status, 200, `${step}: ${JSON.stringify(r.body)}`);
      return r.body;
    };
    assert.equal((await sync('POST /detectors/{id}/predict (8 inline images)', { images: [b64(slice(40, 48))] })).result.length, 8);
    assert.equal((await sync('POST /detectors/{id}/predict (stored dataset of 12)', { dataset: 'small' })).result.length, 12);
    const asyncInline = await accepted('predict', 'POST /detectors/{id}/predict (100 inline images → job)', predict, 'det', { images: [b64(evalNpy)] });
    const asyncStored = await accepted('predict', 'POST /detectors/{id}/predict (stored dataset of 100 → job)', predict, 'det', { dataset: 'eval' });
    assert.equal(parse(await as('predict', 'POST /detectors/{id}/predict (unknown detector)', () => det(predict, 'predict', 'nodet', { dataset: 'small' }))).status, 404);

    // jobStatus of a job not run yet, then the worker runs the predicts.
    assert.equal(parse(await as('jobStatus', 'GET /jobs/{id} (waiting)', () => status(asyncInline))).body.state, 'waiting');
    await runWorker('predict jobs', [asyncInline, asyncStored]);
    assert.deepEqual((await direct.list(`tenants/${T}/datasets/`)).filter((o) => !/^tenants\/[^/]+\/datasets\/(eval|small|labels|big1)\//.test(o.key)), [], "the worker deleted the predict's stored images");

    // jobStatus: completed jobs (results read from the bucket), a result too large to inline (a presigned GET URL,
    // used by the client), an unknown job.
    for (const id of [asyncInline, asyncStored, fits[0]!]) {
      const s = parse(await as('jobStatus', 'GET /jobs/{id} (completed)', () => status(id)));
      assert.equal(s.body.state, 'completed', JSON.stringify(s.body));
      assert.ok(s.body.result, JSON.stringify(s.body));
    }
    // A predict of ~100,000 samples writes a result over 4 MiB; one is written here the way the worker writes it.
    const bigId = randomUUID();
    const big = enc({ kind: 'predict', jobId: bigId, result: new Array(700_000).fill(1), scores: new Array(700_000).fill(0.25) });
    assert.ok(big.byteLength > 4 * 1024 * 1024);
    await direct.put(`tenants/${T}/jobs/${bigId}/result.json`, big, { contentType: 'application/json' });
    const large = parse(await as('jobStatus', 'GET /jobs/{id} (result over 4 MiB)', () => status(bigId)));
    assert.equal(large.status, 200, JSON.stringify(large.body));
    assert.equal(large.body.result.bytes, big.byteLength);
    signedBy('jobStatus', 'GET /jobs/{id} (result over 4 MiB)', 'GET', large.body.result.url);
    const got = await as('jobStatus', 'presigned GET (by the client)', async () => {
      const r = await fetch(large.body.result.url);
      return { status: r.status, bytes: (await r.arrayBuffer()).byteLength };
    });
    assert.deepEqual(got, { status: 200, bytes: big.byteLength });
    assert.equal(parse(await as('jobStatus', 'GET /jobs/{id} (unknown job)', () => status(randomUUID()))).status, 404);

    // audit: the scheduled event (every tenant of the keyring, every audit); a first run over two objects, a second
    // that starts from the cursor over a third.
    await direct.put(`tenants/${T}/audits/cam1/config.json`, enc({ detector: 'det-audit', prefix: 'captures/cam1/', alpha: 0.01, alertOn: ['binomial', 'ks', 'mmd'], mmdPermutations: 300 }));
    await direct.put(`tenants/${T}/captures/cam1/a.npy`, slice(0, 20));
    await direct.put(`tenants/${T}/captures/cam1/b.npy`, slice(20, 40));
    const first = await as('audit', 'scheduled run (first)', () => audit({}));
    assert.deepEqual(first.audits.map((a) => [a.tenant, a.name, a.error, a.counts?.objects]), [[T, 'cam1', undefined, 2]]);
    await direct.put(`tenants/${T}/captures/cam1/c.npy`, slice(60, 80));
    const second = await as('audit', 'scheduled run (from the cursor)', () => audit({}));
    assert.deepEqual(second.audits.map((a) => [a.tenant, a.name, a.error, a.counts?.objects]), [[T, 'cam1', undefined, 1]]);
    const named = await as('audit', 'run of one named audit', () => audit({ tenant: T, audit: 'cam1' }));
    assert.deepEqual(named.audits.map((a) => [a.name, a.error, a.counts?.objects]), [['cam1', undefined, 0]]);

    // checkObject: S3 notifications for new objects under incoming/<tenant>/<detector>/ (a URL-encoded key with a
    // space and a '+'; an array file), and one for a detector the tenant does not have.
    const png = await sharp(Buffer.from(Uint8Array.from((evalSet.data as Float32Array).subarray(3 * 1024, 4 * 1024), (v) => Math.round(v * 255))), { raw: { width: 32, height: 32, channels: 1 } }).png().toBuffer();
    const key = `${INCOMING}${T}/det-check/cam 1/digit+3.png`;
    await direct.put(key, new Uint8Array(png));
    await direct.put(`${INCOMING}${T}/det-check/batch.npy`, slice(40, 60));
    await direct.put(`${INCOMING}${T}/no-such-det/x.npy`, slice(0, 1));
    const event = (raw: string) => ({ Records: [{ eventVersion: '2.1', eventSource: 'aws:s3', eventName: 'ObjectCreated:Put', s3: { bucket: { name: BUCKET }, object: { key: raw, size: 1 } } }] });
    const c1 = await as('checkObject', 'S3 event (PNG, URL-encoded key)', () => checkObject(event(encodeURIComponent(key).replace(/%2F/g, '/').replace(/%20/g, '+'))));
    assert.deepEqual([c1.processed.length, c1.rejected], [1, []]);
    const c2 = await as('checkObject', 'S3 event (.npy batch)', () => checkObject(event(`${INCOMING}${T}/det-check/batch.npy`)));
    assert.deepEqual([c2.processed.map((x) => x.n), c2.rejected], [[20], []]);
    const c3 = await as('checkObject', 'S3 event (unknown detector)', () => checkObject(event(`${INCOMING}${T}/no-such-det/x.npy`)));
    assert.equal(c3.rejected.length, 1);
    assert.ok(await direct.head(`tenants/${T}/results/incoming/det-check/cam 1/digit+3.png.json`), 'the result was written');

    // retention: two more calibrations of det (v3, v4) and a presigned upload left pending, then everything of the
    // tenants 100 days old (s3rver's LastModified is its files' mtime): the daily run, keeping 1 version below the
    // current one, deletes the pending upload, det's v1 and v2, the large result of a job the queue never had, and the
    // audit's summaries before its cursor's.
    await runWorker('calibrate jobs (for retention)', [
      await accepted('calibrate', 'POST /detectors/{id}/calibrate (oodLabels)', calibrate, 'det', { dataset: 'eval', oodLabels: labels }),
    ]);
    await runWorker('calibrate jobs (for retention)', [
      await accepted('calibrate', 'POST /detectors/{id}/calibrate (oodLabels)', calibrate, 'det', { dataset: 'eval', oodLabels: labels }),
    ]);
    const pending = parse(await as('upload', 'POST /uploads (left pending)', () => upload(httpEvent({ path: '/uploads', json: { id: 'pending', name: 'pending.npy', contentLength: 1000 } }))));
    signedBy('upload', 'POST /uploads (left pending)', 'PUT', pending.body.url);
    assert.equal((await as('upload', 'presigned PUT (by the client)', () => fetch(pending.body.url, { method: 'PUT', body: Buffer.from(junk) }))).status, 200);
    await ageObjects(s3, direct, 'tenants/', 100);
    // A run out of time at once: the first tenant stops before its first listing and leaves its cursor; the other is
    // not started. The next run goes on from that cursor and deletes it once the pass is done.
    let calls = 0;
    const stopped = await as('retention', 'scheduled run out of time (its cursor written)', () => retention({ keepVersions: 1 }, { getRemainingTimeInMillis: () => (++calls === 1 ? 90_000 : 1_000) }));
    assert.deepEqual(stopped.tenants.map((x) => x.complete ?? x.skipped !== undefined), [false, true]);
    const swept = await as('retention', 'scheduled run (keepVersions 1)', () => retention({ keepVersions: 1 }));
    assert.deepEqual(swept.tenants.map((x) => [x.tenant, x.error]).sort(([a], [b]) => (String(a) < String(b) ? -1 : 1)), [[OTHER_TENANT, undefined], [T, undefined]]);
    const rules = swept.tenants.find((x) => x.tenant === T)!.rules!;
    assert.deepEqual([rules.uploads.count, rules.jobs.count, rules.auditSummaries.count], [2, 1, 2], JSON.stringify(rules));
    assert.ok(rules.versions.count >= 4, JSON.stringify(rules));
    assert.deepEqual([await direct.head(`tenants/${T}/detectors/det/v2/manifest.json`), (await direct.head(`tenants/${T}/detectors/det/v3/manifest.json`)) !== undefined], [undefined, true], 'v2 gone, v3 kept');
    assert.equal(recorder.inFlight(), 0);
    assert.deepEqual(recorder.take(), [], 'no request outside a step');
  });

  /** `tenants/test-tenant/datasets/6f1c…/data-0123456789abcdef.npy` → `tenants/<t>/datasets/<uuid>/data-<sha16>.npy`. */
  const pattern = (resource: string) =>
    resource
      .replace(`arn:aws:s3:::${BUCKET}`, '')
      .replace(/^\//, '')
      .replace(/^tenants\/[^/]+\//, 'tenants/<t>/')
      .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<uuid>')
      .replace(/data-[0-9a-f]{16}\./, 'data-<sha16>.')
      .replace(/\.[0-9a-f]{16}\.onnx$/, '.<sha16>.onnx')
      .replace(/\/v\d+\//, '/v<n>/')
      .replace(/\/\d{4}-\d\d-\d\dT[\d-]+\.\d{3}Z(-\d+)?\.json$/, '/<timestamp>.json') || '(bucket)';

  /**
   * Maps every request (and every presigned URL) to its authorisations and evaluates each against `policy`; returns
   * the failures, one line each, and the distinct (action, key pattern) pairs.
   */
  function check(who: string, policy: PolicyStatement[], requests: Seen[], urls: Signed[] = []): { failures: string[]; pairs: string[] } {
    const failures: string[] = [];
    const pairs = new Set<string>();
    const one = (step: string, req: RecordedRequest, presigned: boolean) => {
      const line = `${who}: ${step}: ${req.method} ${decodeURIComponent(req.path)}${presigned ? ' (presigned URL)' : ''}`;
      const auths = s3Authorizations(req, BUCKET);
      if (!Array.isArray(auths)) return failures.push(`${line}: unmapped request: ${auths.unknown}`);
      for (const a of auths) {
        pairs.add(`${a.action} ${pattern(a.resource)}${a.action === 's3:ListBucket' && req.status === 404 ? ' (for the 404 of a missing key)' : ''}`);
        const d = evaluate(policy, a);
        if (!d.allowed) failures.push(`${line} needs ${a.action} on ${a.resource}: ${d.deniedBy ? `explicitly denied by ${JSON.stringify(d.deniedBy)}` : 'no statement allows it'}`);
      }
      return undefined;
    };
    for (const s of requests) one(s.step, s.req, s.req.query.some(([k]) => k === 'X-Amz-Signature'));
    for (const u of urls) one(u.step, u.req, true);
    return { failures, pairs: [...pairs].sort() };
  }

  test("each function's requests are allowed by its role in the packaged template", async () => {
    const r = await packaged;
    assert.equal(r.code, 0, r.out);
    const template = r.template!;
    console.log(`serverless package (bucket ${BUCKET}): ${r.seconds.toFixed(1)} s`);
    const failures: string[] = [];
    for (const fn of FUNCTIONS) {
      const roleId = functionRoleId(template, fn);
      // Stage dev has no VPC: no managed policy is attached (the VPC one holds no S3 grant anyway).
      assert.deepEqual(resolveIf(template, template.Resources[roleId]!.Properties.ManagedPolicyArns), [], `${fn}: no managed policies`);
      const statements = roleStatements<PolicyStatement>(template, roleId);
      const requests = seen.get(fn) ?? [];
      const urls = signed.get(fn) ?? [];
      const c = check(fn, statements, requests, urls);
      failures.push(...c.failures);
      console.log(`${fn} (${roleId}): ${requests.length} requests${urls.length ? `, ${urls.length} presigned URLs` : ''}${c.pairs.length ? `\n  ${c.pairs.join('\n  ')}` : ''}`);
    }
    assert.deepEqual(failures, [], `requests the roles do not allow:\n${failures.join('\n')}`);

    // Not vacuous: health makes no S3 request; every other function made requests of the kinds its paths need.
    assert.deepEqual(seen.get('health') ?? [], [], 'health makes no S3 request');
    const actions = (fn: string) => new Set((seen.get(fn) ?? []).flatMap((s) => {
      const a = s3Authorizations(s.req, BUCKET);
      return Array.isArray(a) ? a.map((x) => x.action) : [];
    }));
    const keyringReads = (fn: string) => (seen.get(fn) ?? []).filter((s) => s.req.method === 'GET' && s.req.path === `/${BUCKET}/${KEYRING}`).length;
    const floor: Record<Exclude<Fn, 'health'>, { min: number; actions: string[] }> = {
      upload: { min: 40, actions: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject', 's3:ListBucket'] },
      fit: { min: 10, actions: ['s3:GetObject', 's3:ListBucket'] },
      calibrate: { min: 10, actions: ['s3:GetObject', 's3:ListBucket'] },
      predict: { min: 15, actions: ['s3:GetObject', 's3:PutObject', 's3:ListBucket'] },
      jobStatus: { min: 10, actions: ['s3:GetObject', 's3:ListBucket'] },
      describe: { min: 8, actions: ['s3:GetObject', 's3:ListBucket'] },
      audit: { min: 20, actions: ['s3:GetObject', 's3:PutObject', 's3:ListBucket'] },
      checkObject: { min: 10, actions: ['s3:GetObject', 's3:PutObject', 's3:ListBucket'] },
      retention: { min: 15, actions: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject', 's3:ListBucket'] },
    };
    for (const [fn, f] of Object.entries(floor)) {
      assert.ok((seen.get(fn) ?? []).length >= f.min, `${fn}: only ${(seen.get(fn) ?? []).length} requests seen (at least ${f.min} expected)`);
      for (const a of f.actions) assert.ok(actions(fn).has(a), `${fn}: no ${a} seen`);
      // Every authenticated call read the keyring from the bucket (checkObject authenticates nobody).
      if (fn !== 'checkObject') assert.ok(keyringReads(fn) > 0, `${fn}: the keyring read was seen`);
    }
    assert.equal(keyringReads('checkObject'), 0);
    assert.equal((signed.get('upload') ?? []).length, 3, 'three presigned PUT URLs');
    assert.equal((signed.get('jobStatus') ?? []).length, 1, 'one presigned GET URL');
  });

  test("the worker's requests are allowed by the permissions infra/README.md documents", () => {
    const requests = seen.get('worker') ?? [];
    const c = check('worker', WORKER_POLICY, requests);
    console.log(`worker (infra/README.md, "The worker's credentials"): ${requests.length} requests\n  ${c.pairs.join('\n  ')}`);
    assert.deepEqual(c.failures, [], `requests the documented worker permissions do not allow:\n${c.failures.join('\n')}`);
    assert.ok(requests.length >= 50, `only ${requests.length} worker requests seen`);
    const actions = new Set(requests.flatMap((s) => {
      const a = s3Authorizations(s.req, BUCKET);
      return Array.isArray(a) ? a.map((x) => x.action) : [];
    }));
    assert.deepEqual([...actions].sort(), ['s3:DeleteObject', 's3:GetObject', 's3:ListBucket', 's3:PutObject']);
  });
});
