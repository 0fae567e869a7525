import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../src/config.js';
import { InputError } from '../src/core/errors.js';

const fails = (env: Record<string, string>, field: string, message: RegExp) =>
  assert.throws(() => loadConfig(env), (e: unknown) => e instanceof InputError && e.field === field && message.test(e.message));

test('defaults', () => {
  const c = loadConfig({ S3_BUCKET: 'imagedrift-data' });
  assert.equal(c.redisUrl, 'redis://127.0.0.1:6379');
  assert.equal(c.syncPredictMaxImages, 64);
  assert.deepEqual(c.ort.executionProviders, ['cpu']);
  assert.equal(c.s3.forcePathStyle, false);
  assert.equal(c.s3.region, 'us-east-1');
  assert.equal(c.worker.concurrency, 1);
  assert.equal(c.worker.fitThreads, undefined, 'FIT_THREADS unset: the cores');
  assert.equal(c.incomingPrefix, 'incoming/');
  assert.equal(c.metrics, 'off');
  assert.equal(c.jobs.maxPerTenant, 20, 'MAX_JOBS_PER_TENANT unset: 20 jobs in flight per tenant');
  assert.equal(loadConfig({ S3_BUCKET: 'imagedrift-data', MAX_JOBS_PER_TENANT: '' }).jobs.maxPerTenant, 20, 'empty: unset');
  assert.equal(loadConfig({ S3_BUCKET: 'imagedrift-data', MAX_JOBS_PER_TENANT: '1' }).jobs.maxPerTenant, 1);
  assert.equal(loadConfig({ S3_BUCKET: 'imagedrift-data', MAX_JOBS_PER_TENANT: '10000' }).jobs.maxPerTenant, 10_000);
  assert.equal(loadConfig({ S3_BUCKET: 'imagedrift-data', METRICS: 'emf' }).metrics, 'emf');
  assert.throws(() => loadConfig({ S3_BUCKET: 'imagedrift-data', METRICS: 'statsd' }), (e: unknown) => e instanceof InputError && e.field === 'METRICS');
});

test('parses every variable; empty strings count as unset', () => {
  const c = loadConfig({
    S3_BUCKET: 'b-1', S3_ENDPOINT: 'http://127.0.0.1:4569', S3_ACCESS_KEY_ID: 'k', S3_SECRET_ACCESS_KEY: 's', AWS_REGION: 'eu-west-1',
    REDIS_URL: 'redis://r:6380', QUEUE_PREFIX: 'q:1', WORKER_CONCURRENCY: '4', ORT_EXECUTION_PROVIDERS: ' CUDA , cpu', ORT_INTRA_OP_THREADS: '2', FIT_THREADS: '3',
    SYNC_PREDICT_MAX_IMAGES: '16', LOG_LEVEL: 'debug', DETECTOR_ID: 'lenet', INCOMING_PREFIX: 'in/cam/', WORKER_LOCK_DURATION_MS: '', JOB_ATTEMPTS: '',
  });
  assert.deepEqual(c.ort, { executionProviders: ['cuda', 'cpu'], intraOpNumThreads: 2 });
  assert.equal(c.s3.forcePathStyle, true);
  assert.deepEqual(c.s3.credentials, { accessKeyId: 'k', secretAccessKey: 's' });
  assert.equal(c.worker.concurrency, 4);
  assert.equal(c.worker.fitThreads, 3);
  assert.equal(c.worker.lockDurationMs, 60_000);
  assert.equal(c.jobs.attempts, 5);
  assert.equal(c.syncPredictMaxImages, 16);
  assert.equal(c.detectorId, 'lenet');
});

test('errors name the environment variable', () => {
  fails({}, 'S3_BUCKET', /S3_BUCKET: is required/);
  fails({ S3_BUCKET: 'Bad_Bucket' }, 'S3_BUCKET', /not a valid bucket name/);
  // Each of these used to be accepted at start, then failed every job (a worker that logged "ready").
  for (const bad of ['localhost', 'localhost:4569', 'http:/127.0.0.1', 'ftp://127.0.0.1', 'http://127.0.0.1:4569/bucket', 'http://127.0.0.1:port']) {
    fails({ S3_BUCKET: 'b-1', S3_ENDPOINT: bad }, 'S3_ENDPOINT', /must be http:\/\/ or https:\/\/host\[:port\]/);
  }
  for (const bad of ['http://x', 'redis://', 'redis://127.0.0.1:notaport', 'redis:/127.0.0.1']) fails({ S3_BUCKET: 'b-1', REDIS_URL: bad }, 'REDIS_URL', /must be redis:\/\/ or rediss:\/\/host\[:port\]/);
  assert.equal(loadConfig({ S3_BUCKET: 'b-1', REDIS_URL: 'rediss://:secret@cache.internal:6380/2' }).redisUrl, 'rediss://:secret@cache.internal:6380/2');
  assert.equal(loadConfig({ S3_BUCKET: 'b-1', S3_ENDPOINT: 'https://s3.internal/' }).s3.endpoint, 'https://s3.internal/');
  fails({ S3_BUCKET: 'b-1', WORKER_CONCURRENCY: '0' }, 'WORKER_CONCURRENCY', />= 1/);
  fails({ S3_BUCKET: 'b-1', FIT_THREADS: '0' }, 'FIT_THREADS', />= 1/);
  fails({ S3_BUCKET: 'b-1', WORKER_CONCURRENCY: 'many' }, 'WORKER_CONCURRENCY', /must be a decimal integer \(got "many"\)/);
  for (const coerced of ['0x10', '1e1', '2.0', ' 5', '+3']) fails({ S3_BUCKET: 'b-1', JOB_ATTEMPTS: coerced }, 'JOB_ATTEMPTS', /must be a decimal integer/);
  fails({ S3_BUCKET: 'b-1', WORKER_LOCK_DURATION_MS: '1000', WORKER_STALLED_INTERVAL_MS: '600000' }, 'WORKER_STALLED_INTERVAL_MS', /at most WORKER_LOCK_DURATION_MS \(1000\)/);
  assert.equal(loadConfig({ S3_BUCKET: 'b-1', WORKER_LOCK_DURATION_MS: '20000' }).worker.stalledIntervalMs, 20_000, 'a short lock alone is valid: the check runs as often');
  assert.equal(loadConfig({ S3_BUCKET: 'b-1' }).worker.stalledIntervalMs, 30_000);
  assert.equal(loadConfig({ S3_BUCKET: 'b-1', REDIS_URL: 'redis://cache:6379/0?family=6' }).redisUrl, 'redis://cache:6379/0?family=6', 'ioredis options in the query');
  fails({ S3_BUCKET: 'b-1', S3_ENDPOINT: 'http://127.0.0.1:4569/?x=1' }, 'S3_ENDPOINT', /host\[:port\]/);
  // A rejected value is echoed, but never a URL's credentials or a secret variable's value (errors reach logs).
  assert.throws(() => loadConfig({ S3_BUCKET: 'b-1', REDIS_URL: 'rediss://default:Sup3rS3cret@redis.internal:6379/0/x' }), (e: unknown) => e instanceof InputError && /got "rediss:\/\/\*\*\*@redis\.internal:6379\/0\/x"/.test(e.message) && !e.message.includes('Sup3rS3cret'));
  assert.throws(() => loadConfig({ S3_BUCKET: 'b-1', API_KEYS: '[{"oops": "sk-live-123"}]' }), (e: unknown) => e instanceof InputError && !e.message.includes('sk-live-123'));
  fails({ S3_BUCKET: 'b-1', MAX_BODY_BYTES: String(16 * 1024 * 1024) }, 'MAX_BODY_BYTES', /<= 6291456/);
  fails({ S3_BUCKET: 'b-1', ORT_EXECUTION_PROVIDERS: 'cuda;cpu' }, 'ORT_EXECUTION_PROVIDERS', /comma-separated/);
  fails({ S3_BUCKET: 'b-1', SYNC_PREDICT_MAX_IMAGES: '1.5' }, 'SYNC_PREDICT_MAX_IMAGES', /integer/);
  fails({ S3_BUCKET: 'b-1', LOG_LEVEL: 'loud' }, 'LOG_LEVEL', /LOG_LEVEL/);
  fails({ S3_BUCKET: 'b-1', MAX_JOBS_PER_TENANT: '0' }, 'MAX_JOBS_PER_TENANT', /MAX_JOBS_PER_TENANT: must be >= 1 \(got "0"\)/);
  fails({ S3_BUCKET: 'b-1', MAX_JOBS_PER_TENANT: '10001' }, 'MAX_JOBS_PER_TENANT', /must be <= 10000/);
  for (const bad of ['-1', '2.5', 'many', '1e2']) fails({ S3_BUCKET: 'b-1', MAX_JOBS_PER_TENANT: bad }, 'MAX_JOBS_PER_TENANT', /must be a decimal integer/);
  fails({ S3_BUCKET: 'b-1', INCOMING_PREFIX: '../in/' }, 'INCOMING_PREFIX', /\.\./);
  // On Lambda, Redis must be named: an empty value (a failed secret lookup at deploy) used to mean loopback.
  for (const REDIS_URL of [undefined, '', '  ']) fails({ S3_BUCKET: 'b-1', AWS_LAMBDA_FUNCTION_NAME: 'imagedrift-prod-predict', ...(REDIS_URL !== undefined ? { REDIS_URL } : {}) }, 'REDIS_URL', /is required on Lambda/);
  assert.equal(loadConfig({ S3_BUCKET: 'b-1', AWS_LAMBDA_FUNCTION_NAME: 'imagedrift-local-predict', REDIS_URL: 'redis://127.0.0.1:6379' }).redisUrl, 'redis://127.0.0.1:6379', 'named explicitly (stage local): fine');
  // The service's own writes (and checkObject's results) must never fire checkObject: a loop of S3 events otherwise.
  for (const p of ['tenants/', 'tenants/demo/results/', 'results/', 'datasets/in/']) fails({ S3_BUCKET: 'b-1', INCOMING_PREFIX: p }, 'INCOMING_PREFIX', /must not be under a prefix the service writes to \(tenants\/, audits\//);
  assert.equal(loadConfig({ S3_BUCKET: 'b-1', INCOMING_PREFIX: 'tenants-in/' }).incomingPrefix, 'tenants-in/', 'a prefix that merely starts with the same letters is fine');
  fails({ S3_BUCKET: 'b-1', INCOMING_PREFIX: 'in/', API_KEYS_OBJECT: 'in/keys.json' }, 'API_KEYS_OBJECT', /outside INCOMING_PREFIX \(in\/\)/);
  fails({ S3_BUCKET: 'b-1', API_KEYS_OBJECT: 'incoming/keys.json' }, 'API_KEYS_OBJECT', /outside INCOMING_PREFIX \(incoming\/\)/);
  fails({ S3_BUCKET: 'b-1', S3_ACCESS_KEY_ID: 'k' }, 'S3_SECRET_ACCESS_KEY', /together/);
});
