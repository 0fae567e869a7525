/**
 * The retention policy (src/storage/retention.ts) on hand-built inventories: every rule at its boundaries (exactly at
 * the age, exactly N versions, versions above the current one, missing manifests), the deletion order, and the keys it
 * must never return. The sweep over real stores is test/service/retention.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InputError } from '../../src/core/errors.js';
import { DEFAULT_RETENTION, expiredJobIds, planRetention, retentionPolicy, type DetectorInventory, type Inventory, type StoredObject } from '../../src/storage/retention.js';

const DAY = 86_400_000;
const NOW = new Date('2026-11-28T12:00:00.000Z');
/** An object last written `days` (and `ms`) before NOW. */
const obj = (key: string, days: number, ms = 0, size = 100): StoredObject => ({ key, size, lastModified: new Date(NOW.getTime() - days * DAY - ms) });
const keys = (inv: Inventory, policy = DEFAULT_RETENTION) => planRetention(inv, policy, NOW).map((d) => d.key);

/** Versions `from`..`to` of detector `prefix`, each a manifest and one array, `days` old. */
function versions(prefix: string, from: number, to: number, days: number, opts: { noManifest?: number[] } = {}): StoredObject[] {
  const out: StoredObject[] = [];
  for (let v = from; v <= to; v++) {
    out.push(obj(`${prefix}v${v}/centres.bin`, days));
    if (!opts.noManifest?.includes(v)) out.push(obj(`${prefix}v${v}/manifest.json`, days));
  }
  return out;
}
const det = (prefix: string, current: number | undefined, objects: StoredObject[]): DetectorInventory => ({ prefix, current, objects });

describe('retention policy: parameters', () => {
  test('defaults, overrides (numbers or numeric strings), and bad values refused naming the field', () => {
    assert.deepEqual(retentionPolicy(), { uploadRetention: 7, jobRetention: 35, keepVersions: 10, versionMinAge: 7, auditSummaryRetention: 90 });
    assert.deepEqual(retentionPolicy({ keepVersions: '3', versionMinAge: 1.5 }), { ...DEFAULT_RETENTION, keepVersions: 3, versionMinAge: 1.5 });
    const refused = (input: Record<string, unknown>, field: string, message: RegExp) =>
      assert.throws(() => retentionPolicy(input as never), (e: unknown) => e instanceof InputError && e.field === field && message.test(e.message), JSON.stringify(input));
    refused({ keepVersions: 0 }, 'keepVersions', /must be >= 1/);
    refused({ keepVersions: 2.5 }, 'keepVersions', /integer/);
    refused({ keepVersions: null }, 'keepVersions', /number/);
    refused({ keepVersions: '0x10' }, 'keepVersions', /number/);
    refused({ versionMinAge: 0.5 }, 'versionMinAge', /must be >= 1 \(days\)/);
    refused({ uploadRetention: -1 }, 'uploadRetention', /must be >= 1/);
    refused({ jobRetention: Infinity }, 'jobRetention', /finite/);
    refused({ auditSummaryRetention: 40_000 }, 'auditSummaryRetention', /<= 36500/);
    refused({ keepVersion: 3 }, 'keepVersion', /.+/);
    // The plan validates what it is given too (a JavaScript caller's object), and its clock.
    assert.throws(() => planRetention({}, { ...DEFAULT_RETENTION, keepVersions: 0 }, NOW), (e: unknown) => e instanceof InputError && e.field === 'keepVersions');
    assert.throws(() => planRetention({}, DEFAULT_RETENTION, new Date(NaN)), (e: unknown) => e instanceof InputError && e.field === 'now');
  });
});

describe('retention policy: pending uploads', () => {
  test('strictly older than uploadRetention goes, data before record; exactly at the age, or one part newer, stays', () => {
    const inv: Inventory = {
      uploads: [
        obj('uploads/old/upload.json', 9),
        obj('uploads/old/data', 8),
        obj('uploads/edge/upload.json', 7),
        obj('uploads/edge/data', 7),
        obj('uploads/edge1/upload.json', 7, 1),
        obj('uploads/edge1/data', 7, 1),
        obj('uploads/fresh-data/upload.json', 30),
        obj('uploads/fresh-data/data', 2), // the PUT came later: the upload is as young as its newest part
        obj('uploads/orphan/data', 8), // a record lost (or deleted by an earlier, interrupted sweep): still swept
        obj('uploads/old/notes.txt', 100), // not a key the service writes there
      ],
    };
    assert.deepEqual(keys(inv), ['uploads/old/data', 'uploads/old/upload.json', 'uploads/edge1/data', 'uploads/edge1/upload.json', 'uploads/orphan/data']);
    const d = planRetention(inv, DEFAULT_RETENTION, NOW)[0]!;
    assert.deepEqual([d.rule, d.size], ['uploads', 100]);
    assert.match(d.reason, /pending upload old, last written 8 days ago \(uploadRetention 7 days\)/);
    assert.deepEqual(keys(inv, { ...DEFAULT_RETENTION, uploadRetention: 7.5 }), ['uploads/old/data', 'uploads/old/upload.json', 'uploads/orphan/data']);
  });
});

describe('retention policy: jobs', () => {
  const objects = [
    obj('jobs/gone/claim', 40),
    obj('jobs/gone/result.json', 36),
    obj('jobs/queued/claim', 40),
    obj('jobs/queued/result.json', 40),
    obj('jobs/edge/result.json', 35),
    obj('jobs/edge1/result.json', 35, 1),
    obj('jobs/recent/claim', 60),
    obj('jobs/recent/result.json', 1),
    obj('jobs/gone/other.json', 400),
  ];

  test('older than jobRetention and no longer in the queue: the result, then the claim', () => {
    assert.deepEqual(expiredJobIds(objects, DEFAULT_RETENTION, NOW).sort(), ['edge1', 'gone', 'queued']);
    const plan = planRetention({ jobs: { objects, inQueue: new Set(['queued']) } }, DEFAULT_RETENTION, NOW);
    assert.deepEqual(plan.map((d) => d.key), ['jobs/gone/result.json', 'jobs/gone/claim', 'jobs/edge1/result.json']);
    assert.match(plan[0]!.reason, /job gone, last written 36 days ago \(jobRetention 35 days\) and no longer in the queue/);
  });

  test('a job the queue still has keeps its claim and result, however old', () => {
    const all = new Set(['gone', 'queued', 'edge', 'edge1', 'recent']);
    assert.deepEqual(keys({ jobs: { objects, inQueue: all } }), []);
  });

  test('no jobs area (the queue was not asked): no job is touched', () => {
    assert.deepEqual(keys({ uploads: [], detectors: [] }), []);
  });
});

describe('retention policy: detector versions', () => {
  const P = 'detectors/d/';

  test('never the current version, nor any above it, nor the keepVersions newest below it', () => {
    const inv: Inventory = { detectors: [det(P, 20, [...versions(P, 1, 25, 30), obj(`${P}current.json`, 30)])] };
    const plan = planRetention(inv, DEFAULT_RETENTION, NOW);
    const gone = [...new Set(plan.map((d) => Number(/v(\d+)\//.exec(d.key)![1])))];
    assert.deepEqual(gone, [1, 2, 3, 4, 5, 6, 7, 8, 9], 'v10..v19 kept below the current v20; v21..v25 above it kept');
    assert.deepEqual([...new Set(plan.map((d) => d.rule))], ['versions']);
    // Per version: the manifest first, then its arrays.
    assert.deepEqual(plan.slice(0, 4).map((d) => d.key), [`${P}v1/manifest.json`, `${P}v1/centres.bin`, `${P}v2/manifest.json`, `${P}v2/centres.bin`]);
    assert.match(plan[0]!.reason, /detectors\/d\/v1: below the current v20 and its 10 newest predecessors, last written 30 days ago \(versionMinAge 7 days\)/);
  });

  test('exactly keepVersions versions below the current one: nothing goes; one more: the oldest goes', () => {
    assert.deepEqual(keys({ detectors: [det(P, 11, versions(P, 1, 11, 30))] }), []);
    assert.deepEqual(keys({ detectors: [det(P, 12, versions(P, 1, 12, 30))] }), [`${P}v1/manifest.json`, `${P}v1/centres.bin`]);
    assert.deepEqual(keys({ detectors: [det(P, 3, versions(P, 1, 3, 30))] }, { ...DEFAULT_RETENTION, keepVersions: 1 }), [`${P}v1/manifest.json`, `${P}v1/centres.bin`]);
  });

  test('never a version younger than versionMinAge; exactly at the age it stays; the age is its newest file', () => {
    const objects = [
      ...versions(P, 1, 1, 7), // exactly 7 days: stays
      ...versions(P, 2, 2, 7).map((o) => ({ ...o, lastModified: new Date(o.lastModified.getTime() - 1) })), // 1 ms older: goes
      obj(`${P}v3/manifest.json`, 30),
      obj(`${P}v3/centres.bin`, 3), // an array rewritten 3 days ago: the version is 3 days old
      ...versions(P, 4, 4, 2),
      ...versions(P, 5, 6, 30),
    ];
    // keepVersions 1 keeps v5 (the newest below the current v6); v4 and v3 are young, v1 exactly at the age.
    assert.deepEqual(keys({ detectors: [det(P, 6, objects)] }, { ...DEFAULT_RETENTION, keepVersions: 1 }), [`${P}v2/manifest.json`, `${P}v2/centres.bin`]);
  });

  test('missing manifests: old arrays below the current version go (crashed saves); above it, or young, they stay; they do not count as kept versions', () => {
    const objects = [
      ...versions(P, 1, 9, 30, { noManifest: [8] }),
      ...versions(P, 10, 10, 30), // current
      ...versions(P, 11, 12, 30, { noManifest: [11, 12] }), // a save in flight or lost above the current one
      obj(`${P}v13/manifest.json`, 30), // a lost save whose pointer move never happened
      obj(`${P}v7/extra.bin`, 1), // v7 is young: a retry rewriting it
    ];
    const plan = planRetention({ detectors: [det(P, 10, objects)] }, { ...DEFAULT_RETENTION, keepVersions: 3 }, NOW);
    // Kept below v10: the 3 newest versions with a manifest (v9, v7, v6; v8 has none), v7 young anyway.
    assert.deepEqual(
      plan.map((d) => [d.key, d.rule]),
      [
        ...[1, 2, 3, 4, 5].flatMap((v) => [[`${P}v${v}/manifest.json`, 'versions'], [`${P}v${v}/centres.bin`, 'versions']]),
        [`${P}v8/centres.bin`, 'crashedSaves'],
      ],
    );
    assert.match(plan.at(-1)!.reason, /v8: arrays without a manifest \(a save that never finished\) below the current v10/);
    assert.deepEqual(keys({ detectors: [det(P, 10, versions(P, 1, 9, 2, { noManifest: [8] }))] }), [], 'young: nothing');
  });

  test('a detector without a readable pointer keeps everything; keys of other shapes are never returned', () => {
    assert.deepEqual(keys({ detectors: [det(P, undefined, versions(P, 1, 30, 100))] }), []);
    const odd = [obj(`${P}current.json`, 100), obj(`${P}v01/manifest.json`, 100), obj(`${P}v0/manifest.json`, 100), obj(`${P}v2/sub/x.bin`, 100), obj(`${P}vx/manifest.json`, 100), obj(`${P}notes`, 100), obj('detectors/other/v1/manifest.json', 100)];
    assert.deepEqual(keys({ detectors: [det(P, 40, odd)] }), []);
  });

  test('a CLI detector directory (prefix ""): the same rules; model.onnx and current.json stay', () => {
    const objects = [obj('model.onnx', 100), obj('current.json', 100), ...versions('', 1, 13, 30)];
    assert.deepEqual(keys({ detectors: [det('', 13, objects)] }), ['v1/manifest.json', 'v1/centres.bin', 'v2/manifest.json', 'v2/centres.bin']);
  });
});

describe('retention policy: audit summaries', () => {
  const s = (name: string, stamp: string, days: number, ms = 0) => obj(`audits/${name}/${stamp}.json`, days, ms);
  const objects = [
    obj('audits/cam/config.json', 400),
    obj('audits/cam/cursor.json', 400),
    obj('audits/cam/attempt.json', 400),
    s('cam', '2026-01-01T00-00-00.000Z', 300),
    s('cam', '2026-01-02T00-00-00.000Z', 90), // exactly at the age
    s('cam', '2026-01-02T00-00-00.000Z-1', 90, 1),
    s('cam', '2026-02-01T00-00-00.000Z', 200), // the cursor's summary: kept, old as it is
    s('cam', '2026-03-01T00-00-00.000Z', 200), // after the cursor's (a run that died before its cursor write): kept
    s('nocursor', '2026-01-01T00-00-00.000Z', 300),
    obj('audits/cam/2026-notes.json', 300),
  ];

  test('older than auditSummaryRetention and before the cursor\'s summary; never config, cursor, attempt; an audit without a cursor keeps all', () => {
    const cursors = new Map([['cam', 'audits/cam/2026-02-01T00-00-00.000Z.json']]);
    const plan = planRetention({ audits: { objects, cursors } }, DEFAULT_RETENTION, NOW);
    assert.deepEqual(plan.map((d) => d.key), ['audits/cam/2026-01-01T00-00-00.000Z.json', 'audits/cam/2026-01-02T00-00-00.000Z-1.json']);
    assert.deepEqual([...new Set(plan.map((d) => d.rule))], ['auditSummaries']);
    assert.match(plan[0]!.reason, /summary of audit cam, written 300 days ago \(auditSummaryRetention 90 days\)/);
  });
});

describe('retention policy: a whole tenant, everything ancient', () => {
  test('datasets, models, results, pointers, audit configs and unknown keys are never returned', () => {
    const P = 'detectors/d/';
    const untouchable = [
      'datasets/x/manifest.json',
      'datasets/x/data-0123456789abcdef.npy',
      'models/m.json',
      'models/m.0123456789abcdef.onnx',
      'results/incoming/d/a.png.json',
      `${P}current.json`,
      'audits/cam/config.json',
      'audits/cam/cursor.json',
      'audits/cam/attempt.json',
      'labels/eval.json',
      // Keys S3 allows but the service never writes (ids it refuses): a tenant's view can neither read nor delete them.
      'uploads/a\\b/data',
      'uploads/../upload.json',
      'jobs/x.y/claim',
      'jobs/a\\b/result.json',
      `${P}v1/a\\b`,
      `${P}v2/..`,
      'audits/a\\b/2026-01-01T00-00-00.000Z.json',
    ].map((k) => obj(k, 10_000));
    // Every area handed every key (a listing that is wrong about its prefix must still not reach them).
    const inv: Inventory = {
      uploads: untouchable,
      jobs: { objects: untouchable, inQueue: new Set() },
      detectors: [det(P, 3, [...untouchable, ...versions(P, 1, 3, 10_000)])],
      audits: { objects: untouchable, cursors: new Map([['cam', 'audits/cam/9999.json'], ['a\\b', 'audits/a\\b/9999.json']]) },
    };
    const policy = { uploadRetention: 1, jobRetention: 1, keepVersions: 1, versionMinAge: 1, auditSummaryRetention: 1 };
    assert.deepEqual(keys(inv, policy), [`${P}v1/manifest.json`, `${P}v1/centres.bin`]);
  });
});
