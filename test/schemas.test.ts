/** Message schemas with rules of their own (the rest are exercised through the HTTP and CLI batteries). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { auditConfigSchema } from '../src/schemas.js';
import { SERVICE_PREFIXES } from '../src/storage/keys.js';

describe('auditConfigSchema', () => {
  it('refuses every prefix the service writes to (datasets/, models/ and uploads/ used to pass)', () => {
    assert.deepEqual([...SERVICE_PREFIXES].sort(), ['audits/', 'datasets/', 'detectors/', 'jobs/', 'models/', 'results/', 'uploads/']);
    for (const own of SERVICE_PREFIXES) {
      for (const prefix of [own, `${own}camera-1/`]) {
        const r = auditConfigSchema.safeParse({ detector: 'd', prefix });
        assert.equal(r.success, false, prefix);
        assert.match(r.error!.issues[0]!.message, /must not be under a prefix the service writes to/);
      }
    }
  });

  it('accepts the tenant’s own prefixes, with the defaults filled in', () => {
    const r = auditConfigSchema.parse({ detector: 'd', prefix: 'captures/camera-1/' });
    assert.deepEqual({ ...r }, { detector: 'd', prefix: 'captures/camera-1/', alpha: 0.01, baseline: 'id', maxObjects: 1000, mmdWindow: 1000, mmdPermutations: 200, alertOn: ['binomial'] });
    assert.equal(auditConfigSchema.safeParse({ detector: 'd', prefix: 'uploads-archive/' }).success, true, 'a name that merely starts like a service prefix');
  });
});
