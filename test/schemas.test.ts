/** Message schemas with rules of their own (the rest are exercised through the HTTP and CLI batteries). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { detectorSpecSchema } from '../src/core/detectors.js';
import { InputError } from '../src/core/errors.js';
import { auditConfigSchema, calibrateMessageSchema, detectorSpecFromParams, driftParamsSchema, fitMessageSchema, fitParamsSchema } from '../src/schemas.js';
import { SERVICE_PREFIXES } from '../src/storage/keys.js';

describe('auditConfigSchema', () => {
  it('refuses every prefix the service writes to (datasets/, models/ and uploads/ used to pass)', () => {
    assert.deepEqual([...SERVICE_PREFIXES].sort(), ['audits/', 'datasets/', 'detectors/', 'jobs/', 'models/', 'results/', 'retention/', 'uploads/']);
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

  it('mmdWindow 1 is refused on the field (it passed, and every run with 2 or more samples then failed on "data: needs at least 2 samples")', () => {
    const r = auditConfigSchema.safeParse({ detector: 'd', prefix: 'p/', mmdWindow: 1 });
    assert.equal(r.success, false);
    assert.deepEqual(r.error!.issues[0]!.path, ['mmdWindow']);
    assert.match(r.error!.issues[0]!.message, /must be 0 \(off\) or >= 2/);
    for (const mmdWindow of [0, 2, 2000]) assert.equal(auditConfigSchema.safeParse({ detector: 'd', prefix: 'p/', mmdWindow }).success, true, String(mmdWindow));
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
    ['shrinkage', 'abc', 'mahalanobis'],
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

describe('messages that say what is accepted', () => {
  it('shrinkage neither "ledoit-wolf" nor a number says both (zod\'s union said only "Invalid input")', () => {
    for (const bad of ['abc', '', true]) assert.equal(fitParamsSchema.safeParse({ shrinkage: bad }).error?.issues[0]?.message, 'must be "ledoit-wolf" or a number in [0,1]');
    assert.equal(fitParamsSchema.safeParse({ shrinkage: '1.5' }).error?.issues[0]?.message, 'must be in [0,1]');
  });
  it('a number too large to represent (1e999, a CLI flag) is "must be finite", not "must be a number"', () => {
    for (const bad of ['1e999', '-1e999']) {
      assert.equal(fitParamsSchema.safeParse({ nCluster: bad }).error?.issues[0]?.message, 'must be finite');
      assert.equal(fitParamsSchema.safeParse({ temperature: bad }).error?.issues[0]?.message, 'must be finite');
    }
    assert.equal(fitParamsSchema.safeParse({ nCluster: 'ten' }).error?.issues[0]?.message, 'must be a number');
  });
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

describe('parameters that do not apply are refused, not dropped', () => {
  it('seed, for a detector that draws nothing at random (energy, msp, mahalanobis took it and dropped it)', () => {
    for (const method of ['energy', 'msp', 'mahalanobis'] as const) {
      const p = fitMessageSchema.parse({ detector: 'd', model: 'm', dataset: 'x', layer: 'output', method, seed: 5 }); // a fit job's payload
      assert.throws(() => detectorSpecFromParams(p), (e: unknown) => e instanceof InputError && e.field === 'seed' && e.detail === `does not apply to the ${method} detector`, method);
    }
    assert.deepEqual(detectorSpecFromParams({ layer: '9', nCluster: 3, seed: 5 }), { kind: 'feature-cluster', nCluster: 3, seed: 5 });
    assert.deepEqual(detectorSpecFromParams({ layer: '9', method: 'knn', seed: 5 }), { kind: 'knn', seed: 5 });
    assert.equal(detectorSpecFromParams({ method: 'ensemble', members: [{ layer: 'output', detector: { kind: 'energy' } }], seed: 5 }).kind, 'ensemble');
  });

  it('drift permutations and seed, except for the mmd test (ks and binomial ignored them)', () => {
    for (const test of ['ks', 'binomial'] as const) {
      for (const k of ['permutations', 'seed'] as const) {
        const r = driftParamsSchema.safeParse({ test, [k]: '7' });
        assert.equal(r.success, false, `${test} ${k}`);
        assert.deepEqual(r.error!.issues[0]!.path, [k]);
        assert.match(r.error!.issues[0]!.message, new RegExp(`^does not apply to the ${test} test`));
      }
    }
    assert.deepEqual(driftParamsSchema.parse({ test: 'mmd', permutations: '99', seed: '3' }), { test: 'mmd', permutations: 99, seed: 3 });
    assert.deepEqual(driftParamsSchema.parse({ permutations: '99' }), { permutations: 99 }, 'the default test is mmd');
    assert.deepEqual(driftParamsSchema.parse({ test: 'ks', alpha: '0.01' }), { test: 'ks', alpha: 0.01 });
  });
});

describe('object keys', () => {
  it('a key holding a lone UTF-16 surrogate is refused on its field (the S3 client threw URIError, an HTTP 500)', () => {
    for (const key of ['labels\ud800.npy', 'labels\udfff.json', 'a/\udc00b.npy']) {
      const r = calibrateMessageSchema.safeParse({ detector: 'd', dataset: 'x', oodLabelsKey: key });
      assert.equal(r.success, false, JSON.stringify(key));
      assert.deepEqual(r.error!.issues[0]!.path, ['oodLabelsKey']);
      assert.match(r.error!.issues[0]!.message, /must be well-formed Unicode/);
    }
    for (const key of ['labels/ood.npy', 'étiquettes/😀.json']) assert.ok(calibrateMessageSchema.safeParse({ detector: 'd', dataset: 'x', oodLabelsKey: key }).success, key);
  });
});
