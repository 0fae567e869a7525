/** Message schemas with rules of their own (the rest are exercised through the HTTP and CLI batteries). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { detectorSpecSchema } from '../src/core/detectors.js';
import { auditConfigSchema, fitMessageSchema, fitParamsSchema } from '../src/schemas.js';
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

describe('detector parameters: one rule each, however they are given', () => {
  const flat = (p: Record<string, unknown>) => fitParamsSchema.safeParse(p).error?.issues[0]?.message;
  const member = (detector: Record<string, unknown>) => detectorSpecSchema.safeParse({ kind: 'ensemble', members: [{ layer: '9', detector }] }).error?.issues[0]?.message;
  const spec = (p: Record<string, unknown>) => detectorSpecSchema.safeParse(p).error?.issues[0]?.message;
  for (const [name, bad, kind] of [
    ['k', 0, 'knn'],
    ['maxBank', 2.5, 'knn'],
    ['nCluster', 101, 'feature-cluster'],
    ['nCluster', 1, 'feature-cluster'],
    ['temperature', -1, 'energy'],
    ['shrinkage', 2, 'mahalanobis'],
  ] as const) {
    it(`${name} = ${bad}: the same message as a CLI flag (a string), a flat HTTP field, a spec and an ensemble member`, () => {
      const want = flat({ [name]: bad });
      assert.ok(want, 'refused');
      assert.equal(flat({ [name]: String(bad) }), want);
      assert.equal(spec({ kind, [name]: bad }), want);
      assert.equal(member({ kind, [name]: bad }), want);
    });
  }
});

describe('fit message: ensemble members', () => {
  const msg = (detector: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
    fitMessageSchema.safeParse({ detector: 'd', model: 'm', dataset: 'x', method: 'ensemble', members: [{ layer: '9', detector, ...extra }] });
  it('unknown fields are refused by name (5 MB of them used to ride into the Redis job payload)', () => {
    const junk = msg({ kind: 'knn', k: 5, junk: 'x'.repeat(1000) });
    assert.equal(junk.success, false);
    assert.deepEqual(junk.error!.issues[0]!.path, ['members', 0, 'detector']);
    assert.match(junk.error!.issues[0]!.message, /junk/);
    assert.equal(msg({ kind: 'knn' }, { tenant: 'other' }).success, false, 'nor beside the detector');
  });
  it('a known kind with its own parameters passes as given', () => {
    const ok = msg({ kind: 'knn', k: 5, metric: 'l2' });
    assert.ok(ok.success);
    assert.deepEqual(ok.data.members, [{ layer: '9', detector: { kind: 'knn', k: 5, metric: 'l2' } }]);
  });
});
