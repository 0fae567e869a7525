/**
 * The `retention` function (handlers/retention.ts) as Lambda calls it: the schedule's event, the tenants of the
 * keyring, the queue in Redis, the bucket on s3rver. It reads the real clock, so objects are aged the way S3 would
 * report them: s3rver takes LastModified from its object files' mtime, set back here (no waiting).
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { handler as retention } from '../../handlers/retention.js';
import { hashApiKey } from '../../src/auth/api-keys.js';
import { InputError, StorageError } from '../../src/core/errors.js';
import { setDeps } from '../../src/http/deps.js';
import { getJobClient } from '../../src/http/queue-deps.js';
import { putDataset, putModel } from '../../src/service/datasets.js';
import type { ObjectStore } from '../../src/storage/object-store.js';
import { tenantStore } from '../../src/storage/tenant-store.js';
import { TEST_API_KEY, TEST_TENANT } from '../helpers/http-event.js';
import { captureLogger } from '../helpers/log-capture.js';
import { REPO, SEED } from '../helpers/paths.js';
import { ageObjects } from '../helpers/s3.js';
import { startServiceFixture, type ServiceFixture } from '../helpers/service.js';

const OTHER = 'other-tenant';
const LABELS = [...Array(50).fill(0), ...Array(50).fill(1)];

describe('retention function: the scheduled sweep of every tenant (s3rver + Redis)', () => {
  let fx: ServiceFixture;
  let other: ObjectStore;
  let queued = '';
  const log = captureLogger();

  /** Sets every object under `prefix` (a bucket key prefix) `days` back, as S3 would list it. */
  const age = (prefix: string, days: number) => ageObjects(fx.s3.s3, fx.s3.store, prefix, days);
  const versions = async (store: ObjectStore) => (await store.list('detectors/det/v')).filter((o) => o.key.endsWith('manifest.json')).length;

  before(async () => {
    const keyring = [
      { id: 'test-key', tenant: TEST_TENANT, sha256: hashApiKey(TEST_API_KEY) },
      { id: 'other-key', tenant: OTHER, sha256: hashApiKey(`${TEST_API_KEY}-other`) },
    ];
    fx = await startServiceFixture({ API_KEYS: JSON.stringify(keyring) });
    setDeps({ config: fx.config, store: fx.s3.store, logger: log.logger });
    other = tenantStore(fx.s3.store, OTHER);
    for (const view of [fx.store, other]) {
      await putModel(view, { id: 'lenet5', bytes: new Uint8Array(await readFile(`${REPO}models/lenet5.onnx`)) });
      await putDataset(view, { id: 'eval', name: 'eval.npy', bytes: new Uint8Array(await readFile(`${SEED}concept_test_lenet1.npy`)) });
    }
    // The test tenant: a fit and 11 calibrations (v1..v12) by jobs the queue never had, and one job it still has.
    const fit = { detector: 'det', model: 'lenet5', dataset: 'eval', layer: 'output', nCluster: 5, seed: 0 };
    await fx.runJob('h-fit', 'fit', fit);
    for (let i = 1; i <= 11; i++) await fx.runJob(`h-cal-${i}`, 'calibrate', { detector: 'det', dataset: 'eval', oodLabels: LABELS });
    queued = await getJobClient().enqueue('fit', { ...fit, detector: 'side' }, TEST_TENANT);
    await fx.runJob(queued, 'fit', { ...fit, detector: 'side' });
    // The other tenant: a copy of the test tenant's detector (12 versions).
    for (const o of await fx.store.list('detectors/')) await other.put(o.key, (await fx.store.get(o.key))!);
    // Everything 40 days old.
    await age('tenants/', 40);
  });
  after(() => fx.stop());

  test('the schedule input: refused by name, before anything is read or deleted', async () => {
    const all = await fx.allKeys();
    const refused = async (event: unknown, field: string) => assert.rejects(retention(event), (e: unknown) => e instanceof InputError && e.field === field, JSON.stringify(event));
    await refused({ keepVersions: 0 }, 'keepVersions');
    await refused({ versionMinAge: '0.5' }, 'versionMinAge');
    await refused({ dryRun: 'yes' }, 'dryRun');
    await refused({ tenants: [TEST_TENANT] }, 'tenants');
    await refused({ tenant: '../x' }, 'tenant');
    assert.deepEqual(await fx.allKeys(), all);
  });

  test('dryRun: one line per tenant with what would go, nothing deleted', async () => {
    const all = await fx.allKeys();
    log.lines.length = 0;
    const r = await retention({ dryRun: true }, { awsRequestId: 'req-dry' });
    assert.deepEqual(r.tenants.map((t) => [t.tenant, t.dryRun, t.complete]).sort(([a], [b]) => (String(a) < String(b) ? -1 : 1)), [[OTHER, true, true], [TEST_TENANT, true, true]]);
    assert.deepEqual(await fx.allKeys(), all, 'nothing deleted');
    const done = log.find('retention sweep done');
    assert.equal(done.length, 2, log.tail());
    for (const l of done) {
      assert.deepEqual([l.level, l.dryRun, l.awsRequestId], [30, true, 'req-dry']);
      assert.equal((l.rules as Record<string, { count: number }>).versions.count > 0, true);
    }
  });

  test('the daily run (EventBridge\'s own event): every tenant of the keyring swept; one info line per tenant with count and bytes per rule', async () => {
    log.lines.length = 0;
    const r = await retention({ source: 'aws.events', 'detail-type': 'Scheduled Event', time: new Date().toISOString(), detail: {} }, { awsRequestId: 'req-1', getRemainingTimeInMillis: () => 800_000 });
    assert.deepEqual(r.tenants.map((t) => [t.tenant, t.complete, t.error]).sort(([a], [b]) => (String(a) < String(b) ? -1 : 1)), [[OTHER, true, undefined], [TEST_TENANT, true, undefined]]);
    // v1 goes (v2..v11 kept below the current v12) in both tenants; jobs only where they are: the test tenant's.
    assert.equal(await versions(fx.store), 11);
    assert.equal(await versions(other), 11);
    assert.equal(await fx.store.head('detectors/det/v1/manifest.json'), undefined, 'v1 is gone');
    assert.deepEqual((await fx.store.list('jobs/')).map((o) => o.key), [`jobs/${queued}/claim`, `jobs/${queued}/result.json`], 'the job still in the queue is kept');
    const lines = log.find('retention sweep done');
    assert.equal(lines.length, 2, log.tail());
    const byTenant = Object.fromEntries(lines.map((l) => [l.tenant as string, l]));
    const mine = byTenant[TEST_TENANT]!.rules as Record<string, { count: number; bytes: number }>;
    assert.equal(mine.jobs.count, 12 * 2, 'h-fit and h-cal-1..11: claim and result each');
    assert.ok(mine.jobs.bytes > 0, JSON.stringify(mine));
    assert.ok(mine.versions.count >= 2 && mine.versions.bytes > 0, JSON.stringify(mine));
    assert.deepEqual([mine.uploads.count, mine.crashedSaves.count, mine.auditSummaries.count], [0, 0, 0]);
    assert.equal((byTenant[OTHER]!.rules as Record<string, { count: number }>).jobs.count, 0);
    for (const l of lines) assert.deepEqual([l.level, l.complete, l.dryRun, l.awsRequestId], [30, true, false, 'req-1']);
    assert.deepEqual(log.lines.filter((l) => l.level >= 40), [], 'no warning or error');
  });

  test('out of time: tenants not started are reported, nothing is deleted, the run does not fail', async () => {
    await fx.runJob('h-cal-12', 'calibrate', { detector: 'det', dataset: 'eval', oodLabels: LABELS }); // v13: v2 may go
    await age('tenants/', 40);
    const all = await fx.allKeys();
    log.lines.length = 0;
    const r = await retention({}, { getRemainingTimeInMillis: () => 20_000 });
    assert.deepEqual(r.tenants.map((t) => t.skipped !== undefined), [true, true]);
    assert.deepEqual(await fx.allKeys(), all);
    assert.equal(log.find('retention run stopped for the invocation\'s time limit; the rest is swept next run').length, 1, log.tail());
  });

  test('a tenant whose sweep fails: an error line with what it deleted so far, the other tenant still swept; all failing fails the run', async () => {
    // Deletes in the test tenant fail (as S3 answering AccessDenied would).
    const failing = new Proxy(fx.s3.store, {
      get(target, prop, receiver) {
        if (prop === 'delete') {
          return async (k: string) => {
            if (k.startsWith(`tenants/${TEST_TENANT}/`)) throw new StorageError(k, 'cannot delete: AccessDenied');
            return target.delete(k);
          };
        }
        const v = Reflect.get(target, prop, receiver);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    setDeps({ config: fx.config, store: failing, logger: log.logger });
    try {
      log.lines.length = 0;
      const r = await retention({});
      const mine = r.tenants.find((t) => t.tenant === TEST_TENANT)!;
      assert.match(mine.error ?? '', /AccessDenied/);
      assert.equal(r.tenants.find((t) => t.tenant === OTHER)!.error, undefined);
      const failed = log.find('retention sweep failed');
      assert.equal(failed.length, 1, log.tail());
      assert.deepEqual([failed[0]!.level, failed[0]!.tenant], [50, TEST_TENANT]);
      assert.ok(failed[0]!.err && failed[0]!.rules, 'the error and the counts so far');
      assert.equal(await versions(fx.store), 12, 'nothing of the failing tenant went');
      assert.equal(await versions(other), 11);
      await assert.rejects(retention({ tenant: TEST_TENANT }), /every tenant's retention sweep failed: test-tenant: .*AccessDenied/);
    } finally {
      setDeps({ config: fx.config, store: fx.s3.store, logger: log.logger });
    }
  });
});
