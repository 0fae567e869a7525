/**
 * Validation rules of src/config.ts that test/config.test.ts leaves open (found by mutation testing): inclusive bounds,
 * URL shape, name patterns, cross-field rules, documented defaults. Expected values come from the doc comment at the
 * top of src/config.ts, the messages the rules state, and the README.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from '../../src/config.js';
import { InputError } from '../../src/core/errors.js';

const BASE = { S3_BUCKET: 'b-1' } as const;
const load = (env: Record<string, string>) => loadConfig({ ...BASE, ...env });
const fails = (env: Record<string, string>, field: string, message?: RegExp) =>
  assert.throws(
    () => loadConfig({ ...BASE, ...env }),
    (e: unknown) => e instanceof InputError && e.field === field && (message === undefined || message.test(e.message)),
    `${JSON.stringify(env)} should fail on ${field}`,
  );

describe('integers: a decimal integer in [min, max], both ends inclusive', () => {
  it('the lower bound itself is accepted', () => {
    assert.equal(load({ WORKER_CONCURRENCY: '1' }).worker.concurrency, 1);
    assert.equal(load({ JOB_BACKOFF_MS: '0' }).jobs.backoffMs, 0);
    assert.equal(load({ SYNC_PREDICT_MAX_IMAGES: '0' }).syncPredictMaxImages, 0);
  });

  it('MAX_BODY_BYTES may equal Lambda’s 6 MB request limit (6291456) but not exceed it', () => {
    assert.equal(load({ MAX_BODY_BYTES: '6291456' }).maxBodyBytes, 6_291_456);
    fails({ MAX_BODY_BYTES: '6291457' }, 'MAX_BODY_BYTES', /<= 6291456/);
  });

  it('MAX_BODY_BYTES has a floor of 1024', () => {
    assert.equal(load({ MAX_BODY_BYTES: '1024' }).maxBodyBytes, 1024);
    fails({ MAX_BODY_BYTES: '1023' }, 'MAX_BODY_BYTES', />= 1024/);
  });

  it('a blank (whitespace-only) value counts as unset, like an empty one', () => {
    assert.equal(load({ WORKER_CONCURRENCY: '   ' }).worker.concurrency, 1);
  });
});

describe('service URLs: scheme://host[:port] and nothing more', () => {
  it('a #fragment is refused', () => {
    fails({ S3_ENDPOINT: 'http://127.0.0.1:4569#x' }, 'S3_ENDPOINT', /host\[:port\]/);
    fails({ REDIS_URL: 'redis://127.0.0.1:6379#x' }, 'REDIS_URL', /host\[:port\]/);
  });
});

describe('names', () => {
  it('S3_BUCKET: 3 to 63 characters (S3’s rule)', () => {
    fails({ S3_BUCKET: 'ab' }, 'S3_BUCKET', /not a valid bucket name/);
    assert.equal(load({ S3_BUCKET: 'abc' }).s3.bucket, 'abc');
    assert.equal(load({ S3_BUCKET: 'a'.repeat(63) }).s3.bucket, 'a'.repeat(63));
    fails({ S3_BUCKET: 'a'.repeat(64) }, 'S3_BUCKET', /not a valid bucket name/);
  });

  it('AWS_REGION: lower-case region names only', () => {
    assert.equal(load({ AWS_REGION: 'eu-west-1' }).s3.region, 'eu-west-1');
    fails({ AWS_REGION: 'EU-WEST-1' }, 'AWS_REGION', /not a region name/);
  });

  it('QUEUE_PREFIX: 1-96 characters of [A-Za-z0-9_.:{}-]', () => {
    assert.equal(load({ QUEUE_PREFIX: 'q'.repeat(96) }).queuePrefix, 'q'.repeat(96));
    fails({ QUEUE_PREFIX: 'q'.repeat(97) }, 'QUEUE_PREFIX', /1-96 characters/);
    fails({ QUEUE_PREFIX: 'a/b' }, 'QUEUE_PREFIX', /1-96 characters/);
  });

  it('DETECTOR_ID: an id (1-64 characters of [A-Za-z0-9_-], starting with a letter or digit)', () => {
    assert.equal(load({ DETECTOR_ID: 'd'.repeat(64) }).detectorId, 'd'.repeat(64));
    fails({ DETECTOR_ID: 'd'.repeat(65) }, 'DETECTOR_ID');
    fails({ DETECTOR_ID: '-lenet' }, 'DETECTOR_ID');
    fails({ DETECTOR_ID: '_lenet' }, 'DETECTOR_ID');
  });
});

describe('WORKER_STALLED_INTERVAL_MS: at most the lock duration', () => {
  it('equal to the lock is accepted; one millisecond more is refused', () => {
    assert.equal(load({ WORKER_LOCK_DURATION_MS: '20000', WORKER_STALLED_INTERVAL_MS: '20000' }).worker.stalledIntervalMs, 20_000);
    fails({ WORKER_LOCK_DURATION_MS: '20000', WORKER_STALLED_INTERVAL_MS: '20001' }, 'WORKER_STALLED_INTERVAL_MS', /at most WORKER_LOCK_DURATION_MS \(20000\)/);
    fails({ WORKER_STALLED_INTERVAL_MS: '60001' }, 'WORKER_STALLED_INTERVAL_MS', /at most WORKER_LOCK_DURATION_MS \(60000\)/);
  });
});

describe('INCOMING_PREFIX: a key prefix ending in "/"', () => {
  it('refuses a prefix without the trailing slash, with a leading slash, or with an empty segment', () => {
    for (const bad of ['incoming', 'in/cam', '/incoming/', 'in//cam/']) fails({ INCOMING_PREFIX: bad }, 'INCOMING_PREFIX', /key prefix ending in "\/"/);
  });
});

describe('API_KEYS_OBJECT: a key in the bucket, outside tenants/, without "." or ".." segments', () => {
  it('accepts a plain key', () => {
    assert.equal(load({ API_KEYS_OBJECT: 'auth/api-keys.json' }).auth.keysObject, 'auth/api-keys.json');
  });
  it('refuses a key under tenants/ (a tenant could then write the keyring)', () => {
    fails({ API_KEYS_OBJECT: 'tenants/acme/keys.json' }, 'API_KEYS_OBJECT', /outside tenants\//);
  });
  it('refuses "." and ".." segments', () => {
    fails({ API_KEYS_OBJECT: 'auth/./keys.json' }, 'API_KEYS_OBJECT', /"\." or "\.\." segments/);
    fails({ API_KEYS_OBJECT: 'auth/../keys.json' }, 'API_KEYS_OBJECT', /"\." or "\.\." segments/);
  });
});

describe('S3 credentials and path style', () => {
  it('a secret without an access key id names the missing S3_ACCESS_KEY_ID', () => {
    fails({ S3_SECRET_ACCESS_KEY: 's' }, 'S3_ACCESS_KEY_ID', /together/);
  });

  it('S3_FORCE_PATH_STYLE takes true/false/1/0 and overrides the endpoint-based default', () => {
    assert.equal(load({ S3_FORCE_PATH_STYLE: '1' }).s3.forcePathStyle, true);
    assert.equal(load({ S3_FORCE_PATH_STYLE: 'true' }).s3.forcePathStyle, true);
    assert.equal(load({ S3_ENDPOINT: 'http://127.0.0.1:4569', S3_FORCE_PATH_STYLE: 'false' }).s3.forcePathStyle, false);
    assert.equal(load({ S3_ENDPOINT: 'http://127.0.0.1:4569', S3_FORCE_PATH_STYLE: '0' }).s3.forcePathStyle, false);
    fails({ S3_FORCE_PATH_STYLE: 'yes' }, 'S3_FORCE_PATH_STYLE');
  });
});

describe('documented defaults', () => {
  it('match the table at the top of src/config.ts', () => {
    const c = load({});
    assert.equal(c.queuePrefix, 'imagedrift');
    assert.equal(c.worker.lockDurationMs, 60_000);
    assert.equal(c.worker.shutdownTimeoutMs, 540_000, 'under systemd’s TimeoutStopSec=600');
    assert.equal(c.jobs.attempts, 5);
    assert.equal(c.jobs.backoffMs, 2000);
    assert.equal(c.logLevel, 'info');
    assert.equal(c.auth.keysTtlMs, 60_000);
    assert.equal(c.auth.keyring.size, 0, 'with neither API_KEYS nor API_KEYS_OBJECT, no key is valid');
    assert.equal(c.maxBodyBytes, 6_291_456);
  });
});

describe('secrets never reach an error message', () => {
  // An API_KEYS value that is not JSON, e.g. a raw key pasted instead of its keyring entry, used to be quoted back by
  // JSON.parse's message ("Unexpected token 'i', "idk_…" is not valid JSON"), and that message reaches the logs.
  it('API_KEYS that is not JSON is not echoed', () => {
    const secret = 'idk_Sup3rS3cretKeyMaterial0123456789abcdefgh';
    assert.throws(() => load({ API_KEYS: secret }), (e: unknown) => e instanceof InputError && e.field === 'API_KEYS' && !e.message.includes('Sup3rS3cret'));
  });
});
