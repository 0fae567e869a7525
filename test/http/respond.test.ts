/** The HTTP error mapping: client errors say what is wrong; server-side failures say nothing of the internals. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InputError, StorageError, TooManyJobsError, TransientStorageError } from '../../src/core/errors.js';
import { errorResponse } from '../../src/http/respond.js';
import { QueueUnavailableError } from '../../src/queue/client.js';
import { objectKeySchema } from '../../src/schemas.js';

const body = (r: { body: string }) => JSON.parse(r.body) as { error: { code: string; message: string; field?: string } };

describe('errorResponse', () => {
  it('a 4xx names the field and the problem', () => {
    const r = errorResponse(new InputError('nCluster', 'must be >= 2'));
    assert.equal(r.statusCode, 400);
    assert.deepEqual(body(r).error, { code: 'INVALID_INPUT', message: 'nCluster: must be >= 2', field: 'nCluster' });
  });

  it('a tenant at MAX_JOBS_PER_TENANT: 429 TOO_MANY_JOBS with Retry-After, the message naming the limit and the jobs in flight', () => {
    const r = errorResponse(new TooManyJobsError('acme', 20, 21));
    assert.equal(r.statusCode, 429);
    assert.equal(r.headers['retry-after'], '30');
    assert.deepEqual(Object.keys(body(r).error), ['code', 'message']);
    assert.equal(body(r).error.code, 'TOO_MANY_JOBS');
    assert.match(body(r).error.message, /tenant acme has 21 jobs in flight .*the limit is 20 per tenant \(MAX_JOBS_PER_TENANT\)/);
  });

  it('a 503 or 500 carries no bucket, key, endpoint or SDK text (a 503 can come before authentication)', () => {
    const internal = 'cannot read s3://imagedrift-prod/auth/api-keys.json: connect ECONNREFUSED 10.0.3.7:9000';
    for (const [e, status, code] of [
      [new TransientStorageError('auth/api-keys.json', internal), 503, 'UNAVAILABLE'],
      [new QueueUnavailableError('queue', "the job queue's Redis is not reachable (redis.internal:6379)"), 503, 'UNAVAILABLE'],
      [new StorageError('tenants/t1/detectors/d/v3/manifest.json', `stored detector v3 is unusable: ${internal}`), 500, 'STORAGE_ERROR'],
    ] as const) {
      const r = errorResponse(e);
      assert.equal(r.statusCode, status);
      assert.equal(body(r).error.code, code);
      assert.doesNotMatch(r.body, /s3:|imagedrift-prod|api-keys|tenants\/|ECONNREFUSED|10\.0\.3\.7|redis\.internal|manifest/);
    }
    assert.equal(errorResponse(new TransientStorageError('k', 'x')).headers!['retry-after'], '5');
  });
});

describe('objectKeySchema', () => {
  it('leaves room for the tenant prefix within S3’s 1024-byte keys (a 1021-character key used to fail deeper, naming the prefix)', () => {
    assert.equal(objectKeySchema.safeParse(`labels/${'k'.repeat(880)}.json`).success, true);
    assert.equal(objectKeySchema.safeParse(`labels/${'k'.repeat(1010)}.json`).success, false);
    assert.equal(objectKeySchema.safeParse(`labels/${'é'.repeat(460)}.json`).success, false, 'bytes, not characters');
  });
});
