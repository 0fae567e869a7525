/**
 * GET /detectors/{id}, GET /detectors and `imagedrift describe`: a detector fitted on the seed files and calibrated
 * both ways (real jobs against real s3rver and Redis; the CLI on a detector directory), described over the handler
 * and the CLI and parsed with the one response schema; pages of the tenant's detectors; 404s, 400s, damaged state.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile, cp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { handler as describeHandler } from '../../handlers/describe.js';
import { generateApiKey, hashApiKey } from '../../src/auth/api-keys.js';
import { sha256Hex } from '../../src/hash.js';
import { detectorDescriptionSchema, detectorListSchema, type DetectorDescription } from '../../src/schemas.js';
import { putDataset, putModel } from '../../src/service/datasets.js';
import { cliInProcess as cli } from '../helpers/cli.js';
import { httpEvent, parse, TEST_API_KEY, TEST_TENANT } from '../helpers/http-event.js';
import { REPO, SEED } from '../helpers/paths.js';
import { startServiceFixture, type ServiceFixture } from '../helpers/service.js';

const OTHER_TENANT = 'other-tenant';
const OTHER_KEY = generateApiKey();
const LABELS = [...Array(50).fill(0), ...Array(50).fill(1)];
const enc = (v: unknown) => new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v));

/** GET /detectors/{id} (with `id`) or GET /detectors, as API Gateway hands it to the function. */
const get = (id: string | undefined, query?: Record<string, string>, apiKey?: string) =>
  describeHandler(
    httpEvent({
      method: 'GET',
      path: id === undefined ? '/detectors' : `/detectors/${encodeURIComponent(id)}`,
      route: id === undefined ? '/detectors' : '/detectors/{id}',
      ...(id !== undefined ? { pathParameters: { id: encodeURIComponent(id) } } : {}),
      ...(query ? { query } : {}),
      ...(apiKey ? { apiKey } : {}),
    }),
  ).then(parse);

/** The fields that differ between the same fit made by the CLI and by the service. */
const comparable = (d: DetectorDescription) => ({ ...d, id: '', createdAt: '', model: { ...d.model, id: null } });

describe('describe: GET /detectors/{id}, GET /detectors (real s3rver + Redis, real jobs)', () => {
  let fx: ServiceFixture;
  let modelSha = '';
  before(async () => {
    fx = await startServiceFixture({
      API_KEYS: JSON.stringify([
        { id: 'test-key', tenant: TEST_TENANT, sha256: hashApiKey(TEST_API_KEY) },
        { id: 'other-key', tenant: OTHER_TENANT, sha256: hashApiKey(OTHER_KEY) },
      ]),
    });
    const onnx = new Uint8Array(await readFile(`${REPO}models/lenet5.onnx`));
    modelSha = sha256Hex(onnx);
    await putModel(fx.store, { id: 'lenet5', bytes: onnx });
    await putDataset(fx.store, { id: 'train', name: 'concept_train_lenet.npy', bytes: new Uint8Array(await readFile(`${SEED}concept_train_lenet.npy`)) });
    await putDataset(fx.store, { id: 'eval', name: 'concept_test_lenet1.npy', bytes: new Uint8Array(await readFile(`${SEED}concept_test_lenet1.npy`)) });
    // v1 the fit, v2 a labelled calibration, v3 a label-free one (current): as the worker runs them.
    await fx.runJob('fit', 'fit', { detector: 'det', model: 'lenet5', dataset: 'train', layer: '9', nCluster: 10, seed: 0 });
    await fx.runJob('cal-labelled', 'calibrate', { detector: 'det', dataset: 'eval', oodLabels: LABELS });
    await fx.runJob('cal-label-free', 'calibrate', { detector: 'det', dataset: 'eval', targetFpr: 0.1, referenceRows: 20 });
  });
  after(() => fx.stop());

  /** Copies every object of the test tenant's detector `det` to `to` (`tenants/<t>/detectors/<id>/`), optionally only some. */
  const copyDet = async (to: string, only?: RegExp) => {
    const from = `tenants/${TEST_TENANT}/detectors/det/`;
    for (const { key } of await fx.s3.store.list(from)) {
      const rel = key.slice(from.length);
      if (only && !only.test(rel)) continue;
      await fx.s3.store.put(to + rel, (await fx.s3.store.get(key))!);
    }
  };

  test('the current version: every field the manifest holds that a user can act on, and nothing of the bucket', async () => {
    const r = await get('det');
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const d = detectorDescriptionSchema.parse(r.body); // strict: no field beyond the schema's
    const v1 = JSON.parse(new TextDecoder().decode((await fx.store.get('detectors/det/v1/manifest.json'))!));
    const v3 = JSON.parse(new TextDecoder().decode((await fx.store.get('detectors/det/v3/manifest.json'))!));
    assert.deepEqual([d.id, d.version, d.currentVersion, d.fitVersion], ['det', 3, 3, 1]);
    assert.match(d.fitId!, /^[0-9a-f]{64}$/);
    assert.equal(d.fitId, v1.fitId, 'the calibrations keep their fit id');
    assert.deepEqual([d.createdAt, d.libraryVersion, d.formatVersion], [v3.createdAt, v3.libraryVersion, 2]);
    assert.deepEqual(d.model, { id: 'lenet5', sha256: modelSha, batchSize: 256 });
    assert.equal(d.layer, '9');
    assert.deepEqual(d.preprocessing, { input: { channels: 1, height: 32, width: 32 }, layout: null, scale: 'auto', grey: 'bt601', resize: 'bilinear', range: [0, 1] });
    assert.equal(d.detector.kind, 'feature-cluster');
    assert.deepEqual(d.detector.params, { nCluster: 10, score: 'shortfall', seed: 0, nInit: 4, maxIterations: 300 });
    assert.deepEqual([d.detector.dim, d.detector.nTrain], [120, 1000]);
    assert.ok(d.detector.stats.inertia! > 0);
    assert.deepEqual(d.arrays, {
      calibrationScores: { shape: [100], dtype: 'float64', bytes: 800 },
      centres: { shape: [10, 120], dtype: 'float32', bytes: 4800 },
      referenceFeatures: { shape: [20, 120], dtype: 'float32', bytes: 9600 },
    });
    assert.deepEqual(d.calibration, {
      kind: 'label-free',
      method: 'conformal',
      threshold: v3.calibration.threshold,
      accuracy: null,
      grid: null,
      targetFpr: 0.1,
      nEval: 100,
      nOod: 0,
      flaggedRate: v3.calibration.flaggedRate,
      idFlaggedRate: v3.calibration.idFlaggedRate,
      scores: 100,
      referenceRows: 20,
    });
    const text = JSON.stringify(r.body);
    for (const s of ['tenants/', 'models/', '.onnx', '.bin', 'manifest', 'current.json', fx.s3.s3.bucket, 's3://', '127.0.0.1']) assert.ok(!text.includes(s), `${s} in ${text}`);
  });

  test('?version=: the labelled calibration and the uncalibrated fit', async () => {
    const v2 = detectorDescriptionSchema.parse((await get('det', { version: '2' })).body);
    assert.deepEqual([v2.version, v2.currentVersion, v2.fitVersion], [2, 3, 1]);
    const c = v2.calibration!;
    assert.deepEqual([c.kind, c.method, c.grid, c.targetFpr, c.nEval, c.nOod, c.scores, c.referenceRows], ['labelled', 'exact', null, null, 100, 50, 50, 50]);
    assert.ok(c.accuracy! > 0.9 && c.accuracy! <= 1, String(c.accuracy));
    const v1 = detectorDescriptionSchema.parse((await get('det', { version: '1' })).body);
    assert.deepEqual([v1.version, v1.currentVersion, v1.calibration], [1, 3, null]);
    assert.deepEqual(Object.keys(v1.arrays), ['centres']);
    assert.equal(v1.fitId, v2.fitId);
  });

  test("404: an unknown detector, an unknown version, another tenant's detector (which its own key describes)", async () => {
    const notFound = async (r: Promise<{ status: number; body: any }>, field: string) => {
      const x = await r;
      assert.equal(x.status, 404, JSON.stringify(x.body));
      assert.deepEqual(Object.keys(x.body), ['error']);
      assert.deepEqual([x.body.error.code, x.body.error.field], ['NOT_FOUND', field]);
      return x.body.error.message as string;
    };
    assert.equal(await notFound(get('nodet'), 'detector'), 'detector: no detector nodet; fit it first');
    await notFound(get('nodet', { version: '1' }), 'detector');
    assert.equal(await notFound(get('det', { version: '4' }), 'version'), 'version: detector det has no version 4 (its current version is 3)');
    await copyDet(`tenants/${OTHER_TENANT}/detectors/secret/`);
    const mine = await get('secret', undefined, OTHER_KEY);
    assert.equal(mine.status, 200, JSON.stringify(mine.body));
    assert.equal(detectorDescriptionSchema.parse(mine.body).id, 'secret');
    await notFound(get('secret'), 'detector');
    await notFound(get('secret', { version: '1' }), 'detector');
    assert.ok(!(await get(undefined, { limit: '1000' })).body.detectors.some((x: { id: string }) => x.id === 'secret'), 'not listed for another tenant');
  });

  test('400 naming the field: version, unknown query parameters, the path id', async () => {
    const bad = async (r: Promise<{ status: number; body: any }>, field: string) => {
      const x = await r;
      assert.equal(x.status, 400, JSON.stringify(x.body));
      assert.deepEqual([x.body.error.code, x.body.error.field], ['INVALID_INPUT', field]);
      return x.body.error.message as string;
    };
    for (const v of ['0', '-1', '1.5', '1e2', '0x1', '+1', 'one', '', ' 1']) {
      assert.equal(await bad(get('det', { version: v }), 'version'), 'version: must be a positive decimal integer (a version number, e.g. 3)', JSON.stringify(v));
    }
    assert.equal(await bad(get('det', { verison: '1' }), 'verison'), 'verison: is not a known field');
    await bad(get('det', { detector: 'other' }), 'detector');
    await bad(get('../det'), 'detector');
    for (const limit of ['0', '1001', '10.5', 'ten']) await bad(get(undefined, { limit }), 'limit');
    await bad(get(undefined, { after: '../x' }), 'after');
    await bad(get(undefined, { cursor: 'x' }), 'cursor');
  });

  test('damaged state: a 500 with the fixed sentence and nothing of the cause; other versions still described', async () => {
    await copyDet(`tenants/${TEST_TENANT}/detectors/broken/`);
    await fx.store.put('detectors/broken/v3/manifest.json', enc('{"format": "imagedrift.detector", '));
    await copyDet(`tenants/${TEST_TENANT}/detectors/newer/`);
    const v3 = JSON.parse(new TextDecoder().decode((await fx.store.get('detectors/det/v3/manifest.json'))!));
    await fx.store.put('detectors/newer/v3/manifest.json', enc({ ...v3, formatVersion: 3, libraryVersion: '9.0.0' }));
    await copyDet(`tenants/${TEST_TENANT}/detectors/dangling/`, /^v1\//);
    await fx.store.put('detectors/dangling/current.json', enc({ version: 7, fence: 1, updatedAt: '2026-01-01T00:00:00.000Z' }));
    await copyDet(`tenants/${TEST_TENANT}/detectors/badptr/`, /^v1\//);
    await fx.store.put('detectors/badptr/current.json', enc('{"version": "three"}'));
    for (const [id, query] of [['broken'], ['newer'], ['dangling'], ['badptr'], ['badptr', { version: '1' }]] as [string, Record<string, string>?][]) {
      const r = await get(id, query);
      assert.equal(r.status, 500, `${id}: ${JSON.stringify(r.body)}`);
      assert.deepEqual(r.body, { error: { code: 'STORAGE_ERROR', message: 'stored state could not be read or written; the details are in the service log' } });
    }
    // Only the damaged version is: the others of that detector are described.
    assert.equal((await get('broken', { version: '2' })).status, 200);
    // The list reads pointers: a damaged one is a 500 as well, not a silently shorter list.
    assert.equal((await get(undefined)).status, 500);
    for (const id of ['broken', 'newer', 'dangling', 'badptr']) for (const { key } of await fx.store.list(`detectors/${id}/`)) await fx.store.delete(key);
    assert.equal((await get(undefined)).status, 200);
  });

  test('GET /detectors: ids and current versions in key order, in pages of `limit`, `next` while more remain', async () => {
    // Detectors made by copying det's pointer and current manifest (one at v2: its pointer and manifest), a folder
    // without a pointer (a first save that never completed: no detector), another tenant's detector (not listed).
    const ids = ['a', 'a-b', 'a_b', 'B', 'b0', 'm', 'm-1', 'm0', 'z9', 'zz'];
    for (const id of ids) await copyDet(`tenants/${TEST_TENANT}/detectors/${id}/`, /^(current\.json|v3\/manifest\.json)$/);
    await copyDet(`tenants/${TEST_TENANT}/detectors/m/`, /^v2\/manifest\.json$/);
    await fx.store.put('detectors/m/current.json', enc({ version: 2, fence: 1, updatedAt: '2026-01-01T00:00:00.000Z' }));
    await copyDet(`tenants/${TEST_TENANT}/detectors/orphan/`, /^v1\//);
    // One holding a key directly, too (s3rver 3.7 itself listed only such folders; infra/s3-local.ts lists as S3 does).
    await copyDet(`tenants/${TEST_TENANT}/detectors/orphan2/`, /^v1\//);
    await fx.store.put('detectors/orphan2/notes.txt', enc('no pointer here'));
    // Key order: the order of `<id>/` ('a-b/' before 'a/', since '-' sorts before '/').
    const expected = [...ids, 'det'].sort((x, y) => (`${x}/` < `${y}/` ? -1 : 1)).map((id) => ({ id, currentVersion: id === 'm' ? 2 : 3 }));
    assert.deepEqual(expected.slice(0, 4).map((e) => e.id), ['B', 'a-b', 'a', 'a_b']);

    const all = detectorListSchema.parse((await get(undefined)).body);
    assert.deepEqual(all, { detectors: expected }, 'one page by default (100), no next');
    const pages: string[][] = [];
    let next: string | undefined;
    const seen: { id: string; currentVersion: number }[] = [];
    do {
      const r = await get(undefined, { limit: '3', ...(next !== undefined ? { after: next } : {}) });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      const page = detectorListSchema.parse(r.body);
      assert.ok(page.detectors.length <= 3);
      pages.push(page.detectors.map((x) => x.id));
      seen.push(...page.detectors);
      next = page.next;
      if (next !== undefined) assert.equal(next, page.detectors.at(-1)!.id, 'next is the last id of the page');
      assert.ok(pages.length <= 10, 'pagination ends');
    } while (next !== undefined);
    assert.deepEqual(seen, expected, 'every detector once, in order, across pages');
    assert.deepEqual(pages.map((p) => p.length), [3, 3, 3, 2]);
    // A cursor between ids, or past the last, and the largest page.
    assert.deepEqual(detectorListSchema.parse((await get(undefined, { after: 'm-0', limit: '2' })).body), { detectors: expected.filter((e) => `${e.id}/` > 'm-0/').slice(0, 2), next: 'm' });
    assert.deepEqual(detectorListSchema.parse((await get(undefined, { after: 'zz' })).body), { detectors: [] });
    assert.deepEqual(detectorListSchema.parse((await get(undefined, { limit: '1000' })).body), { detectors: expected });
    // Every listed detector is one GET /detectors/{id} describes.
    for (const e of expected) assert.equal((await get(e.id)).body.version, e.currentVersion);
  });
});

describe('imagedrift describe <detector-dir>: text, --json with the same schema as HTTP, errors', () => {
  let dir = '';
  let det = '';
  let fx: ServiceFixture;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'imagedrift-describe-'));
    det = join(dir, 'det');
    const labels = join(dir, 'labels.json');
    await writeFile(labels, JSON.stringify(LABELS));
    const ok = async (...args: string[]) => {
      const r = await cli(...args);
      assert.equal(r.code, 0, r.err.join('\n'));
    };
    await ok('fit', '--model', `${REPO}models/lenet5.onnx`, '--train', `${SEED}concept_train_lenet.npy`, '--layer', '9', '--n-cluster', '10', '--seed', '0', '--out', det);
    await ok('calibrate', det, '--eval', `${SEED}concept_test_lenet1.npy`, '--ood-labels', labels);
    await ok('calibrate', det, '--id-holdout', `${SEED}concept_test_lenet1.npy`, '--target-fpr', '0.1', '--reference-rows', '20');
    // The same fit and calibrations through the service, to compare the two descriptions.
    fx = await startServiceFixture();
    await putModel(fx.store, { id: 'lenet5', bytes: new Uint8Array(await readFile(`${REPO}models/lenet5.onnx`)) });
    await putDataset(fx.store, { id: 'train', name: 'concept_train_lenet.npy', bytes: new Uint8Array(await readFile(`${SEED}concept_train_lenet.npy`)) });
    await putDataset(fx.store, { id: 'eval', name: 'concept_test_lenet1.npy', bytes: new Uint8Array(await readFile(`${SEED}concept_test_lenet1.npy`)) });
    await fx.runJob('fit', 'fit', { detector: 'det', model: 'lenet5', dataset: 'train', layer: '9', nCluster: 10, seed: 0 });
    await fx.runJob('cal-labelled', 'calibrate', { detector: 'det', dataset: 'eval', oodLabels: LABELS });
    await fx.runJob('cal-label-free', 'calibrate', { detector: 'det', dataset: 'eval', targetFpr: 0.1, referenceRows: 20 });
  });
  after(async () => {
    await fx?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test('--json is the HTTP body of the same fit and calibrations, field for field (one schema, one function)', async () => {
    for (const version of [3, 2, 1]) {
      const r = await cli('describe', det, '--json', ...(version === 3 ? [] : ['--version', String(version)]));
      assert.deepEqual([r.code, r.err, r.out.length], [0, [], 1]);
      const local = detectorDescriptionSchema.parse(JSON.parse(r.out[0]!));
      const http = await get('det', version === 3 ? undefined : { version: String(version) });
      const remote = detectorDescriptionSchema.parse(http.body);
      assert.deepEqual([local.id, local.version, local.currentVersion, local.model.id], [det, version, 3, null], 'the directory as given; no model id');
      assert.equal(remote.model.id, 'lenet5');
      assert.deepEqual(comparable(local), comparable(remote), `v${version}`);
    }
  });

  test('text: one labelled line per part', async () => {
    const r = await cli('describe', det);
    assert.deepEqual([r.code, r.err], [0, []]);
    const lines = r.out.join('\n').split('\n');
    assert.deepEqual(lines.map((l) => l.split(/\s+/)[0]), ['detector', 'fit', 'created', 'model', 'layer', 'input', 'kind', 'calibration', 'arrays']);
    assert.equal(lines[0], `detector     ${det} v3 (current)`);
    assert.match(lines[1]!, /^fit {10}v1, fit id [0-9a-f]{16}…$/);
    assert.match(lines[3]!, /^model {8}model\.onnx sha256 [0-9a-f]{64}, batch size 256$/);
    assert.equal(lines[4], 'layer        9');
    assert.match(lines[6]!, /^kind {9}feature-cluster \{"nCluster":10,.*\}; 1000 training rows × 120 features$/);
    assert.match(lines[7]!, /^calibration  label-free \(conformal\): threshold [\d.]+, target false-alarm rate 0\.1 from 100 held-out ID samples; 100 ID scores and 20 reference feature rows stored$/);
    assert.equal(lines[8], 'arrays       calibrationScores [100] float64 800 B; centres [10,120] float32 4.7 KiB; referenceFeatures [20,120] float32 9.4 KiB');
    const v2 = (await cli('describe', det, '--version', '2')).out.join('\n');
    assert.match(v2, /^detector {5}.* v2 \(current: v3\)$/m);
    assert.match(v2, /^calibration {2}labelled \(exact\): threshold [\d.]+, eval accuracy [\d.]+ on 100 samples \(50 OOD\); 50 ID scores and 50 reference feature rows stored$/m);
    assert.match((await cli('describe', det, '--version', '1')).out.join('\n'), /^calibration {2}none \(predict needs --threshold until the detector is calibrated\)$/m);
    // A manifest is a file: a string in it with a line break or a terminal escape is shown escaped, on its line.
    const crafted = join(dir, 'crafted');
    await cp(det, crafted, { recursive: true });
    const m = JSON.parse(await readFile(join(crafted, 'v1', 'manifest.json'), 'utf8'));
    await writeFile(join(crafted, 'v1', 'manifest.json'), JSON.stringify({ ...m, model: { ...m.model, layer: '9\u001b[2J\nkind         forged' } }));
    const text = (await cli('describe', crafted, '--version', '1')).out.join('\n').split('\n');
    assert.equal(text.length, 9);
    assert.equal(text[4], 'layer        9\\u{1b}[2J kind         forged');
  });

  test("an ensemble: its members and layers; its feature columns (the scorer's own bookkeeping) are left out", async () => {
    const ens = join(dir, 'ens');
    const members = JSON.stringify([{ layer: 'output', detector: { kind: 'energy' } }, { layer: '9', detector: { kind: 'knn', k: 1, metric: 'l2', maxBank: 200 } }]);
    const fit = await cli('fit', '--model', `${REPO}models/lenet5.onnx`, '--train', `${SEED}concept_train_lenet.npy`, '--detector', 'ensemble', '--members', members, '--out', ens);
    assert.equal(fit.code, 0, fit.err.join('\n'));
    const stored = JSON.parse(await readFile(join(ens, 'v1', 'manifest.json'), 'utf8'));
    assert.ok(stored.detector.params.columns, 'the manifest holds the columns');
    const r = await cli('describe', ens, '--json');
    assert.equal(r.code, 0, r.err.join('\n'));
    const d = detectorDescriptionSchema.parse(JSON.parse(r.out[0]!));
    assert.deepEqual([d.detector.kind, d.layer, d.calibration], ['ensemble', 'output+9', null]);
    const { columns: _internal, ...params } = stored.detector.params;
    assert.deepEqual(d.detector.params, params);
    assert.deepEqual(Object.keys(d.detector.params).sort(), ['holdout', 'members', 'seed']);
    assert.deepEqual(d.detector.stats, stored.detector.stats);
  });

  test('errors: exit 2 and one line naming the argument; 1 for a damaged directory', async () => {
    const fails = async (code: number, pattern: RegExp, ...args: string[]) => {
      const r = await cli(...args);
      assert.equal(r.code, code, `${args.join(' ')}: ${r.err.join('\n')}`);
      assert.deepEqual(r.out, []);
      assert.equal(r.err.length, 1, r.err.join('\n'));
      assert.match(r.err[0]!, pattern);
    };
    await fails(2, /^imagedrift: error: --version: must be a positive decimal integer/, 'describe', det, '--version', '0');
    await fails(2, /^imagedrift: error: --version: must be a positive decimal integer/, 'describe', det, '--version', '2.0');
    await fails(2, /^imagedrift: error: --version: detector .* has no version 9 \(its current version is 3\)$/, 'describe', det, '--version', '9');
    await fails(2, /^imagedrift: error: --version: is given more than once$/, 'describe', det, '--version', '1', '--version', '2');
    await fails(2, /^imagedrift: error: detector: no detector .*nowhere; fit it first$/, 'describe', join(dir, 'nowhere'));
    await fails(2, /^imagedrift: error: arguments: expected 1 positional argument\(s\), got 0$/, 'describe');
    await fails(2, /^imagedrift: error: arguments: .*--colour/, 'describe', det, '--colour', 'blue');
    const damaged = join(dir, 'damaged');
    await cp(det, damaged, { recursive: true });
    await writeFile(join(damaged, 'v3', 'manifest.json'), '{"format": "imagedrift.detector", "formatVersion": 3, "libraryVersion": "9.0.0"}');
    await fails(1, /^imagedrift: error: v3\/manifest\.json\.formatVersion: stored detector v3 is unusable: is 3, written by imagedrift 9\.0\.0; .*upgrade it/, 'describe', damaged);
    await writeFile(join(damaged, 'current.json'), 'not json');
    await fails(1, /^imagedrift: error: current\.json: pointer is not valid JSON$/, 'describe', damaged);
    const usage = await cli('--help');
    assert.match(usage.out.join('\n'), /^ {2}imagedrift describe <detector-dir> \[--version <n>\] \[--json\]$/m);
  });
});
