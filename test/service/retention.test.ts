/**
 * The retention sweep (src/service/retention.ts) over real saves on a real s3rver, with real Redis (the queue and the
 * version coordinator): a detector fitted on the seed files and calibrated over and over, real jobs (one still in the
 * queue), a presigned upload left pending, real audit runs, and another tenant holding a copy of it all. Objects are
 * aged by passing the sweep a later `now`, never by waiting. The policy's boundaries on hand-built inventories are
 * test/storage/retention.test.ts.
 */
import assert from 'node:assert/strict';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { handler as jobStatus } from '../../handlers/jobStatus.js';
import { StorageError } from '../../src/core/errors.js';
import { getJobClient } from '../../src/http/queue-deps.js';
import { createLogger } from '../../src/log.js';
import { processJob, type ProcessorDeps } from '../../src/queue/processor.js';
import { runAudit } from '../../src/service/audit.js';
import { presignDatasetUpload, putDataset, putModel } from '../../src/service/datasets.js';
import { sweepTenant, type SweepOptions } from '../../src/service/retention.js';
import { retentionPolicy } from '../../src/storage/retention.js';
import { DetectorRepository } from '../../src/storage/detector-repository.js';
import { readStoredJson, type ObjectStore } from '../../src/storage/object-store.js';
import { RETENTION_CURSOR_KEY } from '../../src/storage/keys.js';
import { RedisCoordinator } from '../../src/storage/redis-coordinator.js';
import { canPresign, tenantCoordinator, tenantStore } from '../../src/storage/tenant-store.js';
import { httpEvent, parse, TEST_TENANT } from '../helpers/http-event.js';
import { captureLogger } from '../helpers/log-capture.js';
import { REPO, SEED } from '../helpers/paths.js';
import { cleanupPrefix } from '../helpers/redis.js';
import { startServiceFixture, type ServiceFixture } from '../helpers/service.js';

const DAY = 86_400_000;
/** `days` from now: the sweep's clock, so that everything written by the test is that old. */
const later = (days: number) => new Date(Date.now() + days * DAY);
const LABELS = [...Array(50).fill(0), ...Array(50).fill(1)];
const OTHER = 'other-tenant';
const versionsOf = async (store: ObjectStore, det: string) =>
  (await store.list(`detectors/${det}/v`)).filter((o) => o.key.endsWith('/manifest.json')).map((o) => Number(/\/v(\d+)\//.exec(o.key)![1])).sort((a, b) => a - b);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/**
 * A store seen through: the keys each listing returned and the keys deleted, in order; with `killAfterDeletes`, every
 * request after that many deletes fails, as if the run were killed there (a delete done, nothing after it).
 */
function watched(store: ObjectStore, killAfterDeletes = Infinity): ObjectStore & { listed: string[]; deletes: string[] } {
  const listed: string[] = [];
  const deletes: string[] = [];
  const alive = (key: string) => {
    if (deletes.length >= killAfterDeletes) throw new StorageError(key, 'killed');
  };
  return {
    listed,
    deletes,
    location: store.location,
    get: async (k) => (alive(k), store.get(k)),
    head: async (k) => (alive(k), store.head(k)),
    put: async (k, b, o) => (alive(k), store.put(k, b, o)),
    delete: async (k) => {
      alive(k);
      await store.delete(k);
      deletes.push(k);
    },
    list: async (p, o) => {
      alive(p);
      const r = await store.list(p, o);
      listed.push(...r.map((x) => x.key));
      return r;
    },
  };
}

async function setupFixture(): Promise<ServiceFixture> {
  const fx = await startServiceFixture();
  await putModel(fx.store, { id: 'lenet5', bytes: new Uint8Array(await readFile(`${REPO}models/lenet5.onnx`)) });
  await putDataset(fx.store, { id: 'eval', name: 'concept_test_lenet1.npy', bytes: new Uint8Array(await readFile(`${SEED}concept_test_lenet1.npy`)) });
  return fx;
}

const fitPayload = (detector: string, nCluster = 5) => ({ detector, model: 'lenet5', dataset: 'eval', layer: 'output', nCluster, seed: 0 });
const calPayload = (detector: string) => ({ detector, dataset: 'eval', oodLabels: LABELS });

describe('retention sweep of a tenant (real saves, s3rver + Redis)', () => {
  let fx: ServiceFixture;
  let other: ObjectStore;
  let queuedJob = '';
  const jobInQueue = (id: string) => getJobClient().knows(id);
  const sweep = (now: Date, opts: Partial<SweepOptions> = {}) => sweepTenant(fx.store, { now, jobInQueue, ...opts });
  const otherKeys = async () => (await other.list('')).map((o) => `${o.key} ${o.size} ${o.etag}`);

  before(async () => {
    fx = await setupFixture();
    other = tenantStore(fx.s3.store, OTHER);
    // det: a fit (v1) calibrated 13 times (v2..v14), as the worker saves them.
    await fx.runJob('r-fit', 'fit', fitPayload('det'));
    for (let i = 1; i <= 13; i++) await fx.runJob(`r-cal-${i}`, 'calibrate', calPayload('det'));
    assert.deepEqual(await versionsOf(fx.store, 'det'), range(1, 14));
    // A save whose pointer move was lost: v15 complete, never current (a copy of v14's files).
    for (const o of await fx.store.list('detectors/det/v14/')) await fx.store.put(o.key.replace('/v14/', '/v15/'), (await fx.store.get(o.key))!);
    // A job the queue still has (enqueued, never picked up by a worker), whose claim and result exist: run in-process.
    queuedJob = await getJobClient().enqueue('fit', fitPayload('side'), TEST_TENANT);
    await fx.runJob(queuedJob, 'fit', fitPayload('side'));
    // A presigned upload left pending: the record, and the data PUT through the URL.
    const bytes = new Uint8Array(await readFile(`${SEED}concept_test_lenet1.npy`));
    assert.ok(canPresign(fx.store), 'an S3 view presigns');
    const p = await presignDatasetUpload(fx.store, { id: 'pending', name: 'pending.npy', contentLength: bytes.byteLength });
    assert.equal((await fetch(p.url, { method: 'PUT', body: Buffer.from(bytes) })).status, 200);
    // Two audit runs: two summaries, the cursor naming the second.
    await fx.store.put('audits/cam/config.json', new TextEncoder().encode(JSON.stringify({ detector: 'det', prefix: 'captures/cam/', alpha: 0.01 })));
    const evalBytes = (await fx.store.get((await fx.store.list('datasets/eval/data-'))[0]!.key))!;
    await fx.store.put('captures/cam/a.npy', evalBytes);
    const audit = { store: fx.store, logger: createLogger('silent'), runtime: { executionProviders: ['cpu'] } };
    await runAudit(audit, 'cam');
    await fx.store.put('captures/cam/b.npy', evalBytes);
    await runAudit(audit, 'cam');
    // Another tenant holding a copy of everything.
    for (const o of await fx.store.list('')) await other.put(o.key, (await fx.store.get(o.key))!);
  });
  after(() => fx.stop());

  test('a dry run plans and deletes nothing', async () => {
    const all = await fx.allKeys();
    const r = await sweep(later(100), { dryRun: true });
    assert.equal(r.dryRun, true);
    assert.ok(r.deleted.length > 40, `${r.deleted.length} planned`);
    assert.equal(r.rules.versions.count, r.deleted.filter((d) => d.rule === 'versions').length);
    assert.deepEqual(await fx.allKeys(), all, 'nothing deleted');
  });

  test('a day on, everything is younger than its limit: nothing goes', async () => {
    const all = await fx.allKeys();
    const r = await sweep(later(1));
    assert.deepEqual([r.deleted.length, r.planned, r.complete], [0, 0, true]);
    assert.deepEqual(await fx.allKeys(), all);
  });

  test('8 days on: the pending upload and v1..v3 go (v4..v13 kept below the current v14; v15 above it stays); nothing else, no other tenant, and a reader keeps loading the current version', async () => {
    const before = await fx.keys();
    const othersBefore = await otherKeys();
    const repo = new DetectorRepository(fx.store);
    let stop = false;
    let loads = 0;
    const reader = (async () => {
      while (!stop) {
        const d = await repo.load('detectors/det/');
        assert.equal(d.version, 14);
        loads++;
      }
    })();
    const r = await sweep(later(8));
    stop = true;
    await reader;
    assert.ok(loads > 0, 'the reader loaded during the sweep');
    assert.equal(r.complete, true);
    const gone = r.deleted.map((d) => d.key);
    const expected = before.filter((k) => /^uploads\/pending\//.test(k) || /^detectors\/det\/v[123]\//.test(k));
    assert.deepEqual(gone.sort(), expected.sort());
    assert.deepEqual((await fx.keys()).sort(), before.filter((k) => !expected.includes(k)).sort(), 'exactly those keys went');
    assert.deepEqual(await versionsOf(fx.store, 'det'), range(4, 15));
    assert.deepEqual(r.rules.uploads.count, 2);
    assert.deepEqual(r.rules.versions.count, expected.length - 2);
    assert.ok(r.rules.uploads.bytes > 400_000, 'the upload\'s bytes are counted');
    assert.deepEqual(await otherKeys(), othersBefore, 'the other tenant is untouched');
    // Idempotent: the same sweep again finds nothing more to do.
    assert.equal((await sweep(later(8))).deleted.length, 0);
  });

  test('36 days on: jobs the queue no longer has go (result, then claim); the queued one keeps its claim; GET /jobs/{id} goes from completed to 404 once it is gone', async () => {
    const status = async (id: string) => parse(await jobStatus(httpEvent({ method: 'GET', path: `/jobs/${id}`, route: '/jobs/{id}', pathParameters: { id } })));
    assert.equal((await status('r-cal-1')).body.state, 'completed', 'readable from result.json before the sweep');
    const r = await sweep(later(36));
    assert.equal(r.rules.jobs.count, 14 * 2, 'r-fit and r-cal-1..13: claim and result each');
    assert.deepEqual((await fx.store.list('jobs/')).map((o) => o.key), [`jobs/${queuedJob}/claim`, `jobs/${queuedJob}/result.json`], 'the job still in the queue keeps its claim and result');
    assert.equal((await status('r-cal-1')).status, 404);
    // Removed from the queue (BullMQ's removeOnComplete): still readable from its result until a sweep takes it.
    await (await getJobClient().queue.getJob(queuedJob))!.remove();
    const readable = await status(queuedJob);
    assert.deepEqual([readable.status, readable.body.state, readable.body.result.version], [200, 'completed', 1]);
    const r2 = await sweep(later(36));
    assert.deepEqual(r2.deleted.map((d) => d.key), [`jobs/${queuedJob}/result.json`, `jobs/${queuedJob}/claim`]);
    assert.deepEqual([(await status(queuedJob)).status, (await status(queuedJob)).body.error.code], [404, 'NOT_FOUND']);
  });

  test('91 days on: audit summaries before the cursor\'s go; the cursor\'s summary, config and cursor stay', async () => {
    const before = (await fx.store.list('audits/')).map((o) => o.key);
    assert.equal(before.length, 4, before.join());
    const cursor = JSON.parse(new TextDecoder().decode((await fx.store.get('audits/cam/cursor.json'))!)) as { summaryKey: string };
    const r = await sweep(later(91));
    assert.equal(r.rules.auditSummaries.count, 1);
    assert.deepEqual((await fx.store.list('audits/')).map((o) => o.key), ['audits/cam/config.json', 'audits/cam/cursor.json', cursor.summaryKey].sort());
    // Datasets, models and the audited objects are never swept, however old.
    for (const k of ['datasets/eval/manifest.json', 'models/lenet5.json', 'captures/cam/a.npy', 'detectors/det/current.json']) assert.ok(await fx.store.head(k), k);
  });

  test('a detector whose pointer, or an audit whose cursor, cannot be read is left whole, with a warning', async () => {
    const enc = (v: string) => new TextEncoder().encode(v);
    for (const v of [4, 5, 6]) for (const o of await fx.store.list(`detectors/det/v${v}/`)) await fx.store.put(o.key.replace(`det/v${v}/`, `broken/v${v - 3}/`), (await fx.store.get(o.key))!);
    await fx.store.put('detectors/broken/current.json', enc('{"version": 3'));
    await fx.store.put('audits/cam2/2026-01-01T00-00-00.000Z.json', enc('{}'));
    await fx.store.put('audits/cam2/cursor.json', enc('not json'));
    const guarded = [...(await fx.store.list('detectors/broken/')), ...(await fx.store.list('audits/cam2/'))].map((o) => o.key);
    const log = captureLogger();
    const r = await sweep(later(400), { policy: retentionPolicy({ keepVersions: 1 }), logger: log.logger });
    assert.equal(r.complete, true);
    assert.ok(r.deleted.length > 0, 'the rest was swept');
    assert.deepEqual(r.deleted.filter((d) => guarded.includes(d.key)), [], 'nothing of the unreadable ones');
    for (const k of guarded) assert.ok(await fx.store.head(k), k);
    assert.deepEqual(log.lines.filter((l) => l.level === 40).map((l) => [l.msg, l.detector ?? l.audit]), [
      // In key order: audits/ before detectors/.
      ['retention: the audit cursor cannot be read; its summaries are kept', 'cam2'],
      ['retention: the detector pointer cannot be read; its versions are kept', 'broken'],
    ]);
  });

  test('after the sweeps, with Redis\'s version counter lost: a new save gets a fresh, higher number; fit, calibrate and predict work', async () => {
    assert.ok((await cleanupPrefix(fx.redis, `${fx.queuePrefix}:coord:`)) > 0, 'the coordinator\'s counters are gone');
    // Seeded from the highest v<n> in the bucket: v15 (above the current version, so never swept). Had it been swept,
    // a new save would take 15 again, a number a job's claim may still name.
    const cal = await fx.runJob('after-cal', 'calibrate', calPayload('det'));
    assert.equal(cal.kind === 'calibrate' && cal.version, 16);
    const fit = await fx.runJob('after-fit', 'fit', fitPayload('det', 4));
    assert.equal(fit.kind === 'fit' && fit.version, 17);
    const cal2 = await fx.runJob('after-cal2', 'calibrate', calPayload('det'));
    assert.equal(cal2.kind === 'calibrate' && cal2.version, 18);
    const pred = await fx.runJob('after-pred', 'predict', { detector: 'det', dataset: 'eval' });
    assert.deepEqual(pred.kind === 'predict' && [pred.detectorVersion, pred.n], [18, 100]);
  });
});

describe('retention and the write rules of detector versions (real saves, s3rver + Redis)', () => {
  let fx: ServiceFixture;
  let deps: ProcessorDeps;
  const T = `tenants/${TEST_TENANT}/`;
  before(async () => {
    fx = await setupFixture();
    deps = fx.processorDeps;
  });
  after(() => fx.stop());

  /** The whole bucket, with the first GET of `key` (a bucket key) held until `release()`. */
  function pausedAt(key: string): { store: ObjectStore; reached: Promise<void>; release: () => void } {
    let release!: () => void;
    let reach!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const reached = new Promise<void>((r) => (reach = r));
    let used = false;
    const store = new Proxy(fx.s3.store, {
      get(target, prop, receiver) {
        if (prop === 'get') {
          return async (k: string) => {
            if (!used && k.startsWith(key)) {
              used = true;
              reach();
              await gate;
            }
            return target.get(k);
          };
        }
        const v = Reflect.get(target, prop, receiver);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    return { store, reached, release };
  }

  /** The whole bucket, with PUTs of keys under `prefix` held until `open()`. */
  function putsHeld(prefix: string): { store: ObjectStore; arrived: Promise<void>; open: () => void } {
    let open!: () => void;
    let arrive!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const arrived = new Promise<void>((r) => (arrive = r));
    const store = new Proxy(fx.s3.store, {
      get(target, prop, receiver) {
        if (prop === 'put') {
          return async (k: string, bytes: Uint8Array, opts?: object) => {
            if (k.startsWith(prefix)) {
              arrive();
              await gate;
            }
            return target.put(k, bytes, opts);
          };
        }
        const v = Reflect.get(target, prop, receiver);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    return { store, arrived, open };
  }

  const fitVersionOf = async (v: number) => (JSON.parse(new TextDecoder().decode((await fx.store.get(`detectors/race/v${v}/manifest.json`))!)) as { fitVersion: number }).fitVersion;

  test('a calibration whose base version is swept while it runs still saves and becomes current, as it would have', async () => {
    await fx.runJob('race-fit', 'fit', fitPayload('race'));
    await fx.runJob('race-cal-0', 'calibrate', calPayload('race'));
    // The calibration loads v2 (its base, current), then waits at its dataset while 11 more calibrations of the same
    // fit land (v3..v13): v2 is then below the 10 kept versions, and the sweep takes it (and v1, the fit's first save).
    const paused = pausedAt(`${T}datasets/eval/data-`);
    const slow = processJob({ ...deps, store: paused.store }, { id: 'race-slow', name: 'calibrate', data: { ...calPayload('race'), tenant: TEST_TENANT }, updateProgress: async () => undefined }).then(
      (r) => ({ ok: true as const, r }),
      (e: unknown) => ({ ok: false as const, e }),
    );
    await paused.reached;
    for (let i = 1; i <= 11; i++) await fx.runJob(`race-cal-${i}`, 'calibrate', calPayload('race'));
    const r = await sweepTenant(fx.store, { now: later(8) });
    assert.deepEqual(r.deleted.filter((d) => d.key.endsWith('manifest.json')).map((d) => d.key), ['detectors/race/v1/manifest.json', 'detectors/race/v2/manifest.json']);
    paused.release();
    const out = await slow;
    assert.ok(out.ok, `the calibration failed: ${!out.ok && (out.e instanceof StorageError ? out.e.message : String(out.e))}`);
    assert.ok(out.r.kind === 'calibrate' && out.r.version === 14 && out.r.baseVersion === 2, JSON.stringify(out.r));
    assert.equal((await new DetectorRepository(fx.store).readPointer('detectors/race/'))!.version, 14, 'current, as a calibration of the current fit');
    assert.equal(await fitVersionOf(14), 1, 'it inherits its fit\'s order, though v1 and v2 are gone');
  });

  test('a re-fit overtaken by a calibration of the old fit still becomes current after that fit\'s first versions were swept', async () => {
    // The old fit's versions v3..v14 all record fitVersion 1 (v1, its first save, is gone): the order a save is judged by
    // is that number, not a version that must still exist.
    assert.deepEqual(await versionsOf(fx.store, 'race'), range(3, 14));
    const held = putsHeld(`${T}detectors/race/v15/`);
    const refit = processJob({ ...deps, store: held.store }, { id: 'race-refit', name: 'fit', data: { ...fitPayload('race', 4), tenant: TEST_TENANT }, updateProgress: async () => undefined });
    await held.arrived; // the re-fit holds v15 and is writing it
    const cal = await fx.runJob('race-cal-late', 'calibrate', calPayload('race'));
    assert.equal(cal.kind === 'calibrate' && cal.version, 16);
    assert.equal((await new DetectorRepository(fx.store).readPointer('detectors/race/'))!.version, 16, 'the calibration of the old fit committed first');
    held.open();
    const f = await refit;
    assert.equal(f.kind === 'fit' && f.version, 15);
    assert.equal((await new DetectorRepository(fx.store).readPointer('detectors/race/'))!.version, 15, 'the re-fit is current');
    assert.deepEqual([await fitVersionOf(15), await fitVersionOf(16)], [15, 1]);
  });

  test('a sweep stopped for time leaves whole versions and is finished by the next; overlapping sweeps both succeed (deletes are idempotent)', async () => {
    // race: v3..v16, current v15 (kept v5..v14 below it, v16 above). Sweep at +8 days: v3 and v4 go.
    // Time runs short after three deletes.
    const view = watched(fx.store);
    const stopped = await sweepTenant(view, { now: later(8), remainingMs: () => (view.deletes.length < 3 ? 60_000 : 1_000) });
    assert.equal(stopped.complete, false);
    const done = stopped.deleted.map((d) => d.key.replace('detectors/race/', ''));
    assert.equal(done.length, 3);
    assert.equal(done[0], 'v3/manifest.json', 'the manifest first');
    assert.ok(done.every((k) => k.startsWith('v3/')), done.join());
    assert.ok(stopped.planned > 3, `${stopped.planned} planned`);
    // Whatever the stop left, every version with a manifest still loads whole.
    const repo = new DetectorRepository(fx.store);
    for (const v of await versionsOf(fx.store, 'race')) await repo.load('detectors/race/', v);
    const [a, b] = await Promise.all([sweepTenant(fx.store, { now: later(8) }), sweepTenant(fx.store, { now: later(8) })]);
    assert.deepEqual([a.complete, b.complete, a.error, b.error], [true, true, undefined, undefined]);
    assert.deepEqual(await versionsOf(fx.store, 'race'), range(5, 16));
    assert.deepEqual((await fx.store.list('detectors/race/v')).filter((o) => /\/v[34]\//.test(o.key)), [], 'nothing of v3 and v4 is left');
    // The coordinator still hands out fresh numbers, from Redis or, lost, from the bucket.
    await cleanupPrefix(fx.redis, `${fx.queuePrefix}:coord:`);
    const coord = tenantCoordinator(new RedisCoordinator(fx.redis, { keyPrefix: `${fx.queuePrefix}:coord:` }), fx.s3.store, TEST_TENANT);
    assert.equal(await coord.nextVersion('detectors/race/', fx.store), 17);
  });
});

describe('retention and keys the service never writes (s3rver)', () => {
  let fx: ServiceFixture;
  before(async () => {
    fx = await startServiceFixture();
  });
  after(() => fx.stop());

  test('a key S3 allows but no id of the service can name is left alone, and the rest is still swept', async () => {
    // An id segment with a backslash (a Windows client's path) reached the sweep's reads and deletes, which a tenant's
    // view refuses (InputError): the tenant's sweep failed at that key, every day, and swept nothing after it.
    const T = `tenants/${TEST_TENANT}/`;
    const raw = (key: string, body = 'x') => fx.s3.store.client.send(new PutObjectCommand({ Bucket: fx.s3.store.bucket, Key: T + key, Body: body }));
    const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
    const odd = ['uploads/a\\b/data', 'jobs/x.y/claim', 'detectors/a\\b/current.json', 'detectors/a\\b/v1/manifest.json', 'detectors/d/v1/a\\b', 'audits/a\\b/2026-01-01T00-00-00.000Z.json'];
    for (const k of odd) await raw(k);
    await fx.store.put('uploads/ok/upload.json', enc({}));
    await fx.store.put('uploads/ok/data', enc({}));
    await fx.store.put('detectors/d/current.json', enc({ version: 3, fence: 1, updatedAt: '2026-01-01T00:00:00.000Z' }));
    for (const v of [1, 2, 3]) await fx.store.put(`detectors/d/v${v}/manifest.json`, enc({}));
    const r = await sweepTenant(fx.store, { now: later(36), policy: retentionPolicy({ keepVersions: 1 }), jobInQueue: async () => false });
    assert.deepEqual([r.complete, r.error], [true, undefined]);
    assert.deepEqual(r.deleted.map((d) => d.key).sort(), ['detectors/d/v1/manifest.json', 'uploads/ok/data', 'uploads/ok/upload.json']);
    const left = await fx.keys();
    for (const k of odd) assert.ok(left.includes(k), k);
  });
});

describe('retention passes over several runs: the cursor (s3rver)', () => {
  let fx: ServiceFixture;
  let n = 0;
  const NOW = later(100);
  const POLICY = retentionPolicy({ keepVersions: 1 });
  const enc = (v: unknown) => new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v));
  const sweep = (view: ObjectStore, opts: Partial<SweepOptions> = {}) => sweepTenant(view, { now: NOW, policy: POLICY, jobInQueue: async () => false, ...opts });
  const cursorOf = (view: ObjectStore) => readStoredJson<{ after: string | null; passStartedAt: string; policy: Record<string, number>; updatedAt: string }>(view, RETENTION_CURSOR_KEY);
  const keysOf = (r: { deleted: readonly { key: string }[] }) => r.deleted.map((d) => d.key);
  const sorted = (keys: readonly string[]) => [...keys].sort();

  /**
   * A fresh tenant of 16 groups, all old at NOW, 31 deletions under POLICY: an audit (one summary before its cursor's),
   * three detectors (current v3: v1's manifest and array go), six jobs and six pending uploads (two keys each); and a
   * dataset, which no rule lists. 49 keys are listed by a whole pass.
   */
  async function tenant(): Promise<ObjectStore> {
    const view = tenantStore(fx.s3.store, `pass-${++n}`);
    await view.put('audits/a0/config.json', enc({ detector: 'd0', prefix: 'captures/', alpha: 0.01 }));
    await view.put('audits/a0/2026-01-01T00-00-00.000Z.json', enc({}));
    await view.put('audits/a0/2026-01-02T00-00-00.000Z.json', enc({}));
    await view.put('audits/a0/cursor.json', enc({ summaryKey: 'audits/a0/2026-01-02T00-00-00.000Z.json' }));
    for (const d of ['d0', 'd1', 'd2']) {
      await view.put(`detectors/${d}/current.json`, enc({ version: 3, fence: 1, updatedAt: '2026-01-01T00:00:00.000Z' }));
      for (const v of [1, 2, 3]) for (const f of ['manifest.json', 'centres.bin']) await view.put(`detectors/${d}/v${v}/${f}`, enc({}));
    }
    for (let i = 0; i < 6; i++) {
      for (const f of ['claim', 'result.json']) await view.put(`jobs/j${i}/${f}`, enc({}));
      for (const f of ['upload.json', 'data']) await view.put(`uploads/u${i}/${f}`, enc({}));
    }
    await view.put('datasets/x/manifest.json', enc({}));
    return view;
  }

  /** What one whole sweep of a fresh tenant deletes (a dry run: it also writes no cursor). */
  async function oneSweep(view: ObjectStore): Promise<string[]> {
    const r = await sweep(view, { dryRun: true });
    assert.deepEqual([r.complete, r.deleted.length, r.groups, r.listed], [true, 31, 16, 49]);
    assert.equal(await view.head(RETENTION_CURSOR_KEY), undefined, 'a dry run writes no cursor');
    return keysOf(r);
  }

  /** Runs out of time after 12 deletes: 6 groups done (the audit, the three detectors, j0, j1), j2 half done. */
  async function stoppedRun(view: ObjectStore) {
    const w = watched(view);
    const r = await sweep(w, { remainingMs: () => (w.deletes.length < 12 ? 60_000 : 1_000) });
    assert.deepEqual([r.complete, r.deleted.length, r.resumedAfter, r.finishedThrough, r.groups], [false, 12, undefined, 'jobs/j1/', 6]);
    assert.deepEqual(w.deletes.slice(-1), ['jobs/j2/result.json']);
    return r;
  }

  before(async () => {
    fx = await startServiceFixture();
  });
  after(() => fx.stop());

  test('a run out of time stops after some groups; the next goes on after its cursor without listing them again; together they delete what one sweep does, each key once', async () => {
    const view = await tenant();
    const full = await oneSweep(view);
    const r1 = await stoppedRun(view);
    const { updatedAt, ...cursor } = (await cursorOf(view))!;
    assert.deepEqual(cursor, { after: 'jobs/j1/', passStartedAt: NOW.toISOString(), policy: { ...POLICY } }, 'the last group finished, the pass\'s start, its policy');
    assert.ok(Number.isFinite(Date.parse(updatedAt)), updatedAt);
    const w = watched(view);
    const r2 = await sweep(w);
    assert.deepEqual([r2.complete, r2.resumedAfter, r2.passStartedAt, r2.error], [true, 'jobs/j1/', NOW.toISOString(), undefined]);
    // Listed: only what sorts after jobs/j1/'s keys (j2's claim, j3..j5, the uploads); none of the 6 groups done.
    assert.deepEqual([r2.listed, w.listed.length, r2.groups], [19, 19, 10]);
    assert.ok(w.listed.every((k) => k > 'jobs/j1/' && !k.startsWith('jobs/j1/')), w.listed.join());
    const both = [...keysOf(r1), ...keysOf(r2)];
    assert.deepEqual(sorted(both), sorted(full), 'the two runs deleted what one sweep would, each key once');
    assert.equal(await view.head(RETENTION_CURSOR_KEY), undefined, 'the pass is done: its cursor is gone');
    // The next run starts a new pass from the beginning.
    const r3 = await sweep(view);
    assert.deepEqual([r3.complete, r3.resumedAfter, r3.deleted.length, r3.listed], [true, undefined, 0, 49 - 31]);
  });

  test("ids that share a beginning ('-', '.', '_' next to '/'): a pass stopped after any group and resumed judges every group once", async () => {
    // S3's order is the keys' bytes: u-1/ and u.1/ before u/ ('-' and '.' before '/'), then u0/, u_1/. s3rver walked
    // one directory per segment (u/ first) while its after-filter compared whole keys: resumed after u/ (at 'u0'), the
    // pass never listed u-1/ and reported itself complete (infra/s3-local.ts now lists in S3's order).
    const ids = ['u', 'u-1', 'u.1', 'u0', 'u_1']; // u.1 is no upload id: listed, never deleted
    for (let groupsDone = 1; groupsDone <= 3; groupsDone++) {
      const view = tenantStore(fx.s3.store, `pass-${++n}`);
      for (const id of ids) for (const f of ['upload.json', 'data']) await view.put(`uploads/${id}/${f}`, enc({}));
      const full = keysOf(await sweep(view, { dryRun: true }));
      assert.equal(full.length, 8);
      const w = watched(view);
      const r1 = await sweep(w, { remainingMs: () => (w.deletes.length < 2 * groupsDone ? 60_000 : 1_000) });
      assert.equal(r1.complete, false);
      const r2 = await sweep(view);
      assert.deepEqual([r2.complete, r2.resumedAfter], [true, r1.finishedThrough]);
      assert.deepEqual(sorted([...keysOf(r1), ...keysOf(r2)]), sorted(full), `stopped after ${groupsDone} group(s): every deletion once, none missed`);
      assert.deepEqual((await view.list('uploads/')).map((o) => o.key), ['uploads/u.1/data', 'uploads/u.1/upload.json']);
    }
  });

  test('a run killed between a delete and its cursor write: the next redoes that group (nothing of it left to delete) and passes none by', async () => {
    const view = await tenant();
    const full = await oneSweep(view);
    // The cursor written after every group (the clock jumps a minute per reading); killed after 5 deletes: the audit's
    // one, d0's two and d1's two, before d1's cursor write.
    let t = 0;
    const killed = watched(view, 5);
    await assert.rejects(sweep(killed, { clock: () => (t += 60_000) }), (e: unknown) => e instanceof StorageError && /killed/.test(e.message));
    assert.equal((await cursorOf(view))!.after, 'detectors/d0/', 'the last group whose cursor write landed');
    const w = watched(view);
    const r2 = await sweep(w);
    assert.deepEqual([r2.complete, r2.resumedAfter], [true, 'detectors/d0/']);
    assert.ok(w.listed.some((k) => k.startsWith('detectors/d1/')), 'd1 is listed and judged again');
    assert.deepEqual(sorted([...killed.deletes, ...keysOf(r2)]), sorted(full), 'every deletion once, none missed');
    assert.deepEqual(w.deletes.filter((k) => k.startsWith('detectors/d1/')), [], 'nothing of d1 deleted twice');
    assert.equal(await view.head(RETENTION_CURSOR_KEY), undefined);
  });

  test('a cursor that cannot be read is logged and passed over: the pass starts at the beginning', async () => {
    for (const bad of ['not json', { after: 5, passStartedAt: 'x', policy: {}, updatedAt: 'x' }]) {
      const view = await tenant();
      const full = await oneSweep(view);
      await view.put(RETENTION_CURSOR_KEY, enc(bad));
      const log = captureLogger();
      const r = await sweep(view, { logger: log.logger });
      assert.deepEqual([r.complete, r.resumedAfter, r.listed, r.error], [true, undefined, 49, undefined], JSON.stringify(bad));
      assert.deepEqual(sorted(keysOf(r)), sorted(full));
      assert.deepEqual(log.lines.filter((l) => l.level >= 40).map((l) => l.msg), ['retention: the cursor cannot be read; the pass starts over']);
      assert.equal(await view.head(RETENTION_CURSOR_KEY), undefined, 'the pass done, the bad cursor is gone');
    }
  });

  test('a cursor left by another policy starts a new pass under the new one', async () => {
    const view = await tenant();
    await stoppedRun(view);
    const changed = retentionPolicy({ keepVersions: 1, jobRetention: 50 });
    const log = captureLogger();
    const w = watched(view);
    const r = await sweep(w, { policy: changed, logger: log.logger, remainingMs: () => (w.deletes.length < 3 ? 60_000 : 1_000) });
    assert.deepEqual([r.complete, r.resumedAfter, r.passStartedAt], [false, undefined, NOW.toISOString()]);
    assert.ok(w.listed.includes('audits/a0/config.json'), 'listed from the beginning');
    assert.equal(log.find('retention: the cursor was written under another policy; the pass starts over').length, 1, log.tail());
    const c = (await cursorOf(view))!;
    assert.deepEqual([c.after, c.policy], [r.finishedThrough, { ...changed }], 'the new pass\'s cursor, with the new policy');
  });

  test('a cursor that cannot be written: on the way, a warning and the sweep goes on; at a stop, the sweep\'s error (its deletions stand)', async () => {
    const refusing = (view: ObjectStore): ObjectStore =>
      new Proxy(view, {
        get(target, prop, receiver) {
          if (prop === 'put') {
            return async (k: string, bytes: Uint8Array, opts?: object) => {
              if (k === RETENTION_CURSOR_KEY) throw new StorageError(k, 'cannot write: AccessDenied');
              return target.put(k, bytes, opts);
            };
          }
          const v = Reflect.get(target, prop, receiver);
          return typeof v === 'function' ? v.bind(target) : v;
        },
      });
    const log = captureLogger();
    let t = 0;
    const r = await sweep(refusing(await tenant()), { clock: () => (t += 60_000), logger: log.logger });
    assert.deepEqual([r.complete, r.error, r.deleted.length], [true, undefined, 31]);
    const warned = log.lines.filter((l) => l.level === 40).map((l) => l.msg);
    assert.ok(warned.length > 0 && warned.every((m) => m === 'retention: the cursor could not be written; the next run goes on from the last one written'), warned.join());
    const view = await tenant();
    const w = watched(refusing(view));
    const stopped = await sweep(w, { remainingMs: () => (w.deletes.length < 12 ? 60_000 : 1_000) });
    assert.equal(stopped.complete, false);
    assert.ok(stopped.error instanceof StorageError && /AccessDenied/.test(stopped.error.message), String(stopped.error));
    assert.equal(stopped.deleted.length, 12);
    for (const k of w.deletes) assert.equal(await view.head(k), undefined, k);
  });

  test('a dry run reads the cursor (it previews the next run) and never writes it, stopped or not', async () => {
    const view = await tenant();
    await stoppedRun(view);
    const before = await view.head(RETENTION_CURSOR_KEY);
    const bytes = await view.get(RETENTION_CURSOR_KEY);
    const w = watched(view);
    const dry = await sweep(w, { dryRun: true });
    assert.deepEqual([dry.complete, dry.dryRun, dry.resumedAfter, dry.deleted.length, w.deletes.length], [true, true, 'jobs/j1/', 19, 0]);
    const stopped = await sweep(w, { dryRun: true, remainingMs: () => 1_000 });
    assert.deepEqual([stopped.complete, stopped.listed], [false, 0]);
    assert.deepEqual([(await view.head(RETENTION_CURSOR_KEY))?.etag, await view.get(RETENTION_CURSOR_KEY)], [before?.etag, bytes], 'the cursor is as it was');
    // On a tenant without a pass in progress, a dry run stopped for time leaves none either.
    const fresh = await tenant();
    assert.equal((await sweep(fresh, { dryRun: true, remainingMs: () => 1_000 })).complete, false);
    assert.equal(await fresh.head(RETENTION_CURSOR_KEY), undefined);
  });
});
