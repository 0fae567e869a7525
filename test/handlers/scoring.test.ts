import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import sharp from 'sharp';
import { handler as audit } from '../../handlers/audit.js';
import { handler as checkObject } from '../../handlers/checkObject.js';
import { handler as predict } from '../../handlers/predict.js';
import { InputError, NotFoundError } from '../../src/core/errors.js';
import { binomialTestGreater } from '../../src/core/stats.js';
import { getJobClient } from '../../src/http/queue-deps.js';
import { decodeNpy, encodeNpy } from '../../src/io/npy.js';
import { createLogger } from '../../src/log.js';
import { processJob } from '../../src/queue/processor.js';
import { AUDIT_FINISH_RESERVE_MS, listAudits, runAudit, runScheduledAudits } from '../../src/service/audit.js';
import { checkIncomingRecords } from '../../src/service/check-object.js';
import { SERVICE_DECODE_LIMITS } from '../../src/service/limits.js';
import { recording } from '../helpers/store-wrappers.js';
import { captureLogger } from '../helpers/log-capture.js';
import { putDataset, putModel } from '../../src/service/datasets.js';
import { httpEvent, parse } from '../helpers/http-event.js';
import { REPO, SEED } from '../helpers/paths.js';
import { startServiceFixture, type ServiceFixture } from '../helpers/service.js';

/** Sample i of a [N,1,32,32] float [0,1] array as an 8-bit greyscale PNG. */
async function png(a: { data: Float32Array }, i: number): Promise<Uint8Array> {
  const px = Uint8Array.from(a.data.subarray(i * 1024, (i + 1) * 1024), (v) => Math.round(v * 255));
  return new Uint8Array(await sharp(Buffer.from(px), { raw: { width: 32, height: 32, channels: 1 } }).png().toBuffer());
}

function npySlice(a: { data: Float32Array }, from: number, to: number): Uint8Array {
  return encodeNpy(a.data.slice(from * 1024, to * 1024), [to - from, 1, 32, 32], 'float32');
}

/** An S3 ObjectCreated notification for `key`, with the key URL-encoded as S3 sends it. */
function s3Event(bucket: string, rawKey: string, size = 1) {
  return { Records: [{ eventVersion: '2.1', eventSource: 'aws:s3', eventName: 'ObjectCreated:Put', s3: { bucket: { name: bucket }, object: { key: rawKey, size } } }] };
}

describe('predict (sync), checkObject and audit handlers with a calibrated detector (real s3rver + Redis)', () => {
  let fx: ServiceFixture;
  let evalSet: { data: Float32Array; shape: readonly number[] };
  const ev = (id: string, json: unknown) => httpEvent({ path: `/detectors/${id}/predict`, route: '/detectors/{id}/predict', pathParameters: { id }, json });

  before(async () => {
    fx = await startServiceFixture();
    const store = fx.store; // the test tenant's view, as the handlers see it
    const evalBytes = new Uint8Array(await readFile(`${SEED}concept_test_lenet1.npy`));
    evalSet = decodeNpy(evalBytes);
    await putModel(store, { id: 'lenet5', bytes: new Uint8Array(await readFile(`${REPO}models/lenet5.onnx`)) });
    await putDataset(store, { id: 'eval', name: 'eval.npy', bytes: evalBytes });
    await putDataset(store, { id: 'train', name: 'train.npy', bytes: new Uint8Array(await readFile(`${SEED}concept_train_lenet.npy`)) });
    await putDataset(store, { id: 'small', name: 'small.npy', bytes: npySlice(evalSet, 45, 55) });
    // The setup jobs run as the worker runs them, as the test tenant (so in `store`).
    await fx.runJob('setup-fit', 'fit', { detector: 'det', model: 'lenet5', dataset: 'train', layer: 'output', nCluster: 10, score: 'mindarmour', seed: 0 });
    await fx.runJob('setup-cal', 'calibrate', { detector: 'det', dataset: 'eval', oodLabels: [...Array(50).fill(0), ...Array(50).fill(1)], grid: 0.01 });
  });
  after(() => fx.stop());

  test('predict answers ≤ SYNC_PREDICT_MAX_IMAGES inline; measures 1-image latency', async () => {
    const one = await png(evalSet, 3);
    const cold = performance.now();
    const r = parse(await predict(ev('det', { images: [Buffer.from(one).toString('base64')] })));
    const coldMs = performance.now() - cold;
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(Object.keys(r.body).sort(), ['detectorVersion', 'ms', 'n', 'pValues', 'result', 'scores', 'threshold']);
    assert.equal(r.body.pValues.length, 1);
    assert.ok(r.body.pValues[0] > 0 && r.body.pValues[0] <= 1, 'a conformal p-value against the calibration ID scores');
    assert.equal(r.body.detectorVersion, 2);
    assert.equal(r.body.result.length, 1);
    const times: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t = performance.now();
      const w = parse(await predict(ev('det', { images: [Buffer.from(one).toString('base64')] })));
      times.push(performance.now() - t);
      assert.deepEqual(w.body.result, r.body.result);
    }
    times.sort((a, b) => a - b);
    console.log(`sync predict, 1 PNG, handler in-process: first call ${coldMs.toFixed(1)} ms (loads detector + model; the ORT session is already cached by the setup jobs), warm median ${times[10]!.toFixed(1)} ms, p95 ${times[18]!.toFixed(1)} ms`);

    // A stored dataset of 10 samples is also answered inline, and agrees with scoring the same samples as PNGs.
    const ds = parse(await predict(ev('det', { dataset: 'small' })));
    assert.equal(ds.status, 200);
    assert.equal(ds.body.n, 10);
    const pngs = await Promise.all(Array.from({ length: 10 }, (_, i) => png(evalSet, 45 + i)));
    const viaPng = parse(await predict(ev('det', { images: pngs.map((b) => Buffer.from(b).toString('base64')) })));
    assert.deepEqual(viaPng.body.result, ds.body.result);
  });

  test('predict over the limit becomes a job; inline images are stored as a dataset first', async () => {
    const before = await fx.jobCount();
    const big = parse(await predict(ev('det', { images: [Buffer.from(npySlice(evalSet, 0, 100)).toString('base64')] })));
    assert.equal(big.status, 202, JSON.stringify(big.body));
    assert.equal(big.body.n, 100);
    const job = await getJobClient().queue.getJob(big.body.jobId);
    assert.equal(job?.name, 'predict');
    assert.equal(job?.data.detector, 'det');
    assert.equal(job?.data.images, undefined);
    const stored = (await fx.keys()).filter((k) => k.startsWith(`datasets/${job?.data.dataset}/`));
    assert.equal(stored.length, 2, 'manifest and data of the request dataset');
    assert.equal(await fx.jobCount(), before + 1);
    // Run the job as the worker does: the result is written, then the request's own dataset is deleted.
    const deps = fx.processorDeps; // the whole bucket: the job's tenant field (from the API key) selects the view
    const r = await processJob(deps, { id: job!.id!, name: 'predict', data: job!.data, updateProgress: async () => undefined });
    assert.equal(r.kind === 'predict' && r.n, 100);
    // The job's result carries the same per-sample fields as a synchronous predict, p-values included.
    const saved = JSON.parse(new TextDecoder().decode(await fx.store.get(`jobs/${job!.id}/result.json`)));
    const sync = parse(await predict(ev('det', { images: [Buffer.from(npySlice(evalSet, 40, 60)).toString('base64')] })));
    assert.equal(saved.pValues.length, 100);
    assert.deepEqual(saved.pValues.slice(40, 60), sync.body.pValues, 'samples 40-59: the same p-values as a sync predict of them');
    assert.deepEqual(saved.result.slice(40, 60), sync.body.result);
    const after = await fx.keys();
    assert.ok(after.includes(`jobs/${job!.id}/result.json`));
    assert.deepEqual(after.filter((k) => k.startsWith(`datasets/${job?.data.dataset}/`)), [], 'the request dataset is gone once the result is written');
    // A predict on an uploaded dataset leaves it alone.
    const ds = parse(await predict(ev('det', { dataset: 'eval' })));
    assert.equal(ds.status, 202);
    const dsJob = await getJobClient().queue.getJob(ds.body.jobId);
    await processJob(deps, { id: dsJob!.id!, name: 'predict', data: dsJob!.data, updateProgress: async () => undefined });
    assert.ok((await fx.keys()).includes('datasets/eval/manifest.json'));
  });

  test('predict and the fit job name the dataset when its shape or values cannot be used', async () => {
    await putDataset(fx.store, { id: 'labels', name: 'labels.npy', bytes: encodeNpy(new Float32Array(100), [100], 'float32') });
    const r = parse(await predict(ev('det', { dataset: 'labels' })));
    assert.equal(r.status, 400, JSON.stringify(r.body));
    assert.equal(r.body.error.field, 'dataset');
    assert.match(r.body.error.message, /got rank 1 with shape \[100\]/);
    // A fit job on values the model's range refuses fails naming the message's field (it used to say 'train', the CLI
    // flag). (The upload accepts them: the range depends on the scale chosen at fit.)
    const bad = Float32Array.from(evalSet.data.subarray(0, 20 * 1024));
    bad[7 * 1024 + 5] = 2;
    await putDataset(fx.store, { id: 'nan20', name: 'nan20.npy', bytes: encodeNpy(bad, [20, 1, 32, 32], 'float32') });
    await assert.rejects(fx.runJob('nan-fit', 'fit', { detector: 'nan-det', model: 'lenet5', dataset: 'nan20', layer: 'output', nCluster: 2 }), (e: unknown) => e instanceof InputError && e.field === 'dataset[7]' && /sample 7 has pixel value 2, 2 after scaling by 1, outside \[0, 1\]/.test(e.message));
  });

  test('predict: NOT_FITTED for a fitted but uncalibrated detector → 409', async () => {
    await fx.runJob('fit-raw', 'fit', { detector: 'raw', model: 'lenet5', dataset: 'eval', layer: 'output', nCluster: 5, seed: 0 });
    const r = parse(await predict(ev('raw', { dataset: 'small' })));
    assert.equal(r.status, 409);
    assert.equal(r.body.error.code, 'NOT_FITTED');
    const withT = parse(await predict(ev('raw', { dataset: 'small', threshold: 0.5 })));
    assert.equal(withT.status, 200);
    assert.equal(withT.body.threshold, 0.5);
  });

  test('checkObject: incoming/<tenant>/<detector>/… gets the tenant\'s results/incoming/<detector>/….json (URL-encoded event key)', async () => {
    const key = `incoming/${fx.tenant}/det/cam 1/digit+3.png`;
    await fx.s3.store.put(key, await png(evalSet, 3));
    const raw = encodeURIComponent(key).replace(/%2F/g, '/').replace(/%20/g, '+');
    assert.equal(raw, `incoming/${fx.tenant}/det/cam+1/digit%2B3.png`);
    const out = await checkObject(s3Event(fx.s3.s3.bucket, raw));
    assert.deepEqual(out.rejected, []);
    assert.equal(out.processed.length, 1);
    assert.equal(out.processed[0]!.tenant, fx.tenant);
    assert.equal(out.processed[0]!.resultKey, 'results/incoming/det/cam 1/digit+3.png.json');
    const res = JSON.parse(new TextDecoder().decode(await fx.s3.store.get(`tenants/${fx.tenant}/results/incoming/det/cam 1/digit+3.png.json`)));
    assert.equal(res.key, key);
    assert.equal(res.detector, 'det');
    assert.equal(res.detectorVersion, 2);
    assert.equal(res.n, 1);
    assert.ok(res.result[0] === 0 || res.result[0] === 1);
    // A multi-sample array file works the same way.
    await fx.s3.store.put(`incoming/${fx.tenant}/det/batch.npy`, npySlice(evalSet, 40, 60));
    const b = await checkObject(s3Event(fx.s3.s3.bucket, `incoming/${fx.tenant}/det/batch.npy`));
    assert.equal(b.processed[0]!.n, 20);
    const batch = JSON.parse(new TextDecoder().decode(await fx.s3.store.get(`tenants/${fx.tenant}/${b.processed[0]!.resultKey}`)));
    const sync = parse(await predict(ev('det', { images: [Buffer.from(npySlice(evalSet, 40, 60)).toString('base64')] })));
    assert.deepEqual({ result: batch.result, pValues: batch.pValues }, { result: sync.body.result, pValues: sync.body.pValues }, 'the same per-sample fields as predict');
  });

  test('checkObject rejects unsafe keys, keys outside the prefix, bad or unknown tenants and other buckets; nothing is written', async () => {
    const all = async () => (await fx.s3.store.list('')).map((o) => o.key);
    await fx.s3.store.put('incoming/other-tenant/det/x.png', await png(evalSet, 3));
    const before = await all();
    const t = fx.tenant;
    for (const raw of [
      `incoming/${t}/det/../../etc/passwd`,
      `incoming/${t}/det/%2E%2E/x.png`,
      `/incoming/${t}/det/x.png`,
      `incoming//${t}/det/x.png`,
      `other/${t}/det/x.png`,
      `incoming/${t}/det`,
      'incoming/bad%ZZ.png',
      `incoming/${t}/..det/x.png`,
      'incoming/../tenants/det/x.png',
      'incoming/Bad_Tenant/det/x.png',
      'incoming/%E2%80%AEevil/det/x.png',
      'incoming/other-tenant/det/x.png', // a tenant without detector "det": NotFound, nothing written for it
    ]) {
      const out = await checkObject(s3Event(fx.s3.s3.bucket, raw));
      assert.equal(out.processed.length, 0, raw);
      assert.equal(out.rejected.length, 1, raw);
      assert.equal(out.rejected[0]!.key, raw);
    }
    // An unknown detector is found before the object is read: garbage under it is refused for the detector, not decoded.
    await fx.s3.store.put(`incoming/${t}/no-such-det/x.npy`, new TextEncoder().encode('not an array'));
    const unknown = await checkObject(s3Event(fx.s3.s3.bucket, `incoming/${t}/no-such-det/x.npy`));
    assert.equal(unknown.rejected.length, 1);
    assert.match(unknown.rejected[0]!.error, /no-such-det/);
    assert.doesNotMatch(unknown.rejected[0]!.error, /npy|magic|format/i);
    await fx.s3.store.delete(`incoming/${t}/no-such-det/x.npy`);
    const other = await checkObject(s3Event('some-other-bucket', `incoming/${t}/det/x.png`));
    assert.match(other.rejected[0]!.error, /bucket/);
    assert.deepEqual(await all(), before);
  });

  test("checkObject: an object the tenant's detector cannot take gets the rejection, naming the field, at its result key if none is there", async () => {
    // The event is asynchronous: before, only the function's log said why no result ever appeared.
    const t = fx.tenant;
    await fx.s3.store.put(`incoming/${t}/det/broken.npy`, new TextEncoder().encode('not an array'));
    const out = await checkObject(s3Event(fx.s3.s3.bucket, `incoming/${t}/det/broken.npy`));
    assert.equal(out.rejected.length, 1);
    const rec = JSON.parse(new TextDecoder().decode(await fx.s3.store.get(`tenants/${t}/results/incoming/det/broken.npy.json`)));
    assert.deepEqual(Object.keys(rec).sort(), ['checkedAt', 'detector', 'detectorVersion', 'error', 'key', 'resultKey', 'tenant']);
    assert.equal(rec.key, `incoming/${t}/det/broken.npy`);
    assert.equal(rec.detector, 'det');
    assert.equal(rec.error.code, 'INVALID_INPUT');
    assert.match(rec.error.field, /broken\.npy/);
    assert.equal(rec.error.message, out.rejected[0]!.error);
    // The same key uploaded again with a good array: the result replaces the rejection.
    await fx.s3.store.put(`incoming/${t}/det/broken.npy`, npySlice(evalSet, 0, 3));
    const again = await checkObject(s3Event(fx.s3.s3.bucket, `incoming/${t}/det/broken.npy`));
    assert.equal(again.processed[0]!.n, 3);
    const res = JSON.parse(new TextDecoder().decode(await fx.s3.store.get(`tenants/${t}/results/incoming/det/broken.npy.json`)));
    assert.equal(res.error, undefined);
    assert.equal(res.result.length, 3);
    // A rejection never replaces a record: the same event delivered again after the object was deleted, or a slow run
    // of an earlier, bad upload to the same key, leaves the result as it is.
    const resultKey = `tenants/${t}/results/incoming/det/broken.npy.json`;
    const kept = await fx.s3.store.get(resultKey);
    await fx.s3.store.delete(`incoming/${t}/det/broken.npy`);
    const gone = await checkObject(s3Event(fx.s3.s3.bucket, `incoming/${t}/det/broken.npy`));
    assert.match(gone.rejected[0]!.error, /no longer exists/);
    await fx.s3.store.put(`incoming/${t}/det/broken.npy`, new TextEncoder().encode('not an array'));
    assert.equal((await checkObject(s3Event(fx.s3.s3.bucket, `incoming/${t}/det/broken.npy`))).rejected.length, 1);
    assert.deepEqual(await fx.s3.store.get(resultKey), kept);
  });

  test('checkObject: an object over maxFileBytes gets its rejection at its result key too, without being read', async () => {
    // Refused on its size before the read, it used to get no record: the uploader's only trace was the function's log.
    const t = fx.tenant;
    const key = `incoming/${t}/det/huge.npy`;
    await fx.s3.store.put(key, npySlice(evalSet, 0, 1));
    const limit = SERVICE_DECODE_LIMITS.maxFileBytes!;
    // The bucket as the function sees it, but the object 1 byte over the limit (s3rver would need 256 MiB written).
    const calls = recording(fx.s3.store);
    const store = new Proxy(calls.store, {
      get(target, prop, receiver) {
        if (prop === 'head') return async (k: string) => ({ ...(await target.head(k))!, size: limit + 1 });
        return Reflect.get(target, prop, receiver);
      },
    });
    const out = await checkIncomingRecords({ store, logger: createLogger('silent'), runtime: {}, bucket: fx.s3.s3.bucket, incomingPrefix: 'incoming/' }, s3Event(fx.s3.s3.bucket, key));
    assert.equal(out.rejected.length, 1);
    assert.match(out.rejected[0]!.error, /more than maxFileBytes/);
    assert.ok(!calls.calls.includes(`get(${JSON.stringify(key)})`), 'not read');
    const rec = JSON.parse(new TextDecoder().decode(await fx.s3.store.get(`tenants/${t}/results/incoming/det/huge.npy.json`)));
    assert.deepEqual({ code: rec.error.code, field: rec.error.field, message: rec.error.message, key: rec.key }, { code: 'INVALID_INPUT', field: 'size', message: out.rejected[0]!.error, key });
    await fx.s3.store.delete(key);
    await fx.s3.store.delete(`tenants/${t}/results/incoming/det/huge.npy.json`);
  });

  test('checkObject: a slow check of an earlier upload does not replace the result of a newer upload to the same key', async () => {
    // Two uploads seconds apart, two concurrent invocations: the first one's result used to land last, describing
    // bytes the key no longer holds.
    const t = fx.tenant;
    const key = `incoming/${t}/det/race.npy`;
    const resultKey = `tenants/${t}/results/incoming/det/race.npy.json`;
    await fx.s3.store.put(key, npySlice(evalSet, 0, 1));
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let reached!: () => void;
    const scored = new Promise<void>((r) => (reached = r));
    // The first check, held once it has read v1's bytes.
    const slow = new Proxy(fx.s3.store, {
      get(target, prop, receiver) {
        if (prop === 'get') {
          return async (k: string) => {
            const bytes = await target.get(k);
            if (k === key) {
              reached();
              await gate;
            }
            return bytes;
          };
        }
        return Reflect.get(target, prop, receiver);
      },
    });
    const deps = (store: typeof fx.s3.store) => ({ store, logger: createLogger('silent'), runtime: {}, bucket: fx.s3.s3.bucket, incomingPrefix: 'incoming/' });
    const first = checkIncomingRecords(deps(slow), s3Event(fx.s3.s3.bucket, key));
    await scored;
    await fx.s3.store.put(key, npySlice(evalSet, 0, 4)); // v2
    assert.equal((await checkIncomingRecords(deps(fx.s3.store), s3Event(fx.s3.s3.bucket, key))).processed[0]!.n, 4);
    release();
    await first;
    assert.equal(JSON.parse(new TextDecoder().decode(await fx.s3.store.get(resultKey))).n, 4, "v2's result stands");
    await fx.s3.store.delete(key);
    await fx.s3.store.delete(resultKey);
  });

  test('audit: a run scores new objects and writes a summary with an exact binomial test; a second run scores nothing', async () => {
    const store = fx.store;
    await store.put('audits/a1/config.json', new TextEncoder().encode(JSON.stringify({ detector: 'det', prefix: 'audit-in/', alpha: 0.01 })));
    await store.put('audit-in/2026/a.npy', npySlice(evalSet, 0, 50)); // in-distribution
    await store.put('audit-in/2026/b.npy', npySlice(evalSet, 50, 100)); // OOD
    await store.put('audit-in/2026/c.txt', new TextEncoder().encode('not an image'));
    const r1 = await audit({ source: 'aws.events', audit: 'a1' });
    assert.equal(r1.audits.length, 1);
    const s1 = JSON.parse(new TextDecoder().decode(await store.get(r1.audits[0]!.summaryKey!)));
    assert.match(r1.audits[0]!.summaryKey!, /^audits\/a1\/\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3}Z\.json$/);
    assert.deepEqual(s1.counts, { objects: 3, samples: 100, flagged: s1.counts.flagged, invalid: 1 });
    assert.equal(s1.invalid[0].key, 'audit-in/2026/c.txt');
    assert.ok(s1.counts.flagged > 30, `the OOD half is flagged (${s1.counts.flagged})`);
    const cal = JSON.parse(new TextDecoder().decode(await store.get('detectors/det/v2/manifest.json'))).calibration;
    assert.equal(s1.baselineRate, cal.idFlaggedRate);
    assert.equal(s1.test, 'exact binomial (one-sided)');
    assert.equal(s1.pValue, binomialTestGreater(s1.counts.flagged, 100, cal.idFlaggedRate));
    assert.equal(s1.oodRate, s1.counts.flagged / 100);
    assert.equal(s1.alert, s1.pValue < 0.01);
    assert.equal(s1.alert, true, 'half the data is OOD: far above the ID baseline');
    assert.match(s1.scoreShift.test, /Kolmogorov/);
    assert.equal(s1.scoreShift.isDrift, true, 'half the scores come from OOD images');
    assert.ok(s1.scoreShift.pValue < 0.01 && s1.scoreShift.statistic > 0.3, JSON.stringify(s1.scoreShift));
    assert.equal(s1.lastKey, 'audit-in/2026/c.txt');
    const cursor1 = JSON.parse(new TextDecoder().decode(await store.get('audits/a1/cursor.json')));
    assert.equal(cursor1.lastKey, 'audit-in/2026/c.txt');

    const r2 = await audit({ audit: 'a1' });
    const s2 = JSON.parse(new TextDecoder().decode(await store.get(r2.audits[0]!.summaryKey!)));
    assert.notEqual(r2.audits[0]!.summaryKey, r1.audits[0]!.summaryKey);
    assert.deepEqual(s2.counts, { objects: 0, samples: 0, flagged: 0, invalid: 0 });
    assert.equal(s2.pValue, 1);
    assert.equal(s2.alert, false);
    assert.equal(s2.oodRate, null);
    assert.equal(s2.after, 'audit-in/2026/c.txt');

    // One new in-distribution object: only it is scored (all audits run when the event names none).
    await store.put('audit-in/2026/d.npy', npySlice(evalSet, 0, 10));
    const r3 = await audit({});
    const s3 = JSON.parse(new TextDecoder().decode(await store.get(r3.audits[0]!.summaryKey!)));
    assert.deepEqual({ objects: s3.counts.objects, samples: s3.counts.samples }, { objects: 1, samples: 10 });
  });

  test('audit: least recently started first; with the invocation\'s time running out, the rest are skipped and go first next time', async () => {
    const store = fx.store;
    for (const n of ['t1', 't2', 't3']) await store.put(`audits/${n}/config.json`, new TextEncoder().encode(JSON.stringify({ detector: 'det', prefix: `time-${n}/` })));
    const ran = (r: { audits: { tenant: string; name: string; summaryKey?: string; skipped?: string }[] }) => r.audits.filter((a) => a.summaryKey !== undefined).map((a) => a.name);
    const skipped = (r: { audits: { name: string; skipped?: string }[] }) => r.audits.filter((a) => a.skipped !== undefined).map((a) => a.name);
    // Lambda's context: 2 audits' worth of time, then less than the reserve (60 s) is left.
    const clock = (budget: number) => {
      let calls = 0;
      return { getRemainingTimeInMillis: () => (calls++ < budget ? 600_000 : 59_999) };
    };
    const names = (await audit({}, clock(1e9))).audits.map((a) => a.name); // every audit once, so each has a cursor
    assert.ok(['t1', 't2', 't3'].every((n) => names.includes(n)), names.join());
    const first = await audit({}, clock(2));
    assert.equal(ran(first).length, 2);
    assert.equal(skipped(first).length, first.audits.length - 2);
    assert.match(first.audits.find((a) => a.skipped)!.skipped!, /not started with 60 s of the invocation left \(needs 60 s\); it runs first next time/);
    // The skipped ones are now the least recently run: they go first, in their order.
    const second = await audit({}, clock(skipped(first).length));
    assert.deepEqual(ran(second), skipped(first));
    // Without a context (serverless offline, direct calls) nothing is skipped; with no time at all, nothing runs and
    // the run does not count as failed.
    assert.deepEqual(skipped(await audit({})), []);
    const none = await audit({}, clock(0));
    assert.deepEqual(ran(none), []);
    assert.equal(skipped(none).length, none.audits.length);

    // The reserve grows to 1.5 × the longest audit of the run: with each audit taking 50 s (a fake clock) and 70 s
    // left, the first starts (reserve 60 s) and the next does not (reserve 75 s).
    let now = 0;
    const timed = await runScheduledAudits(
      { store: fx.s3.store, logger: createLogger('silent'), runtime: {}, tenants: async () => [fx.tenant], remainingMs: () => 70_000, clock: () => (now += 50_000) },
      {},
    );
    assert.equal(ran(timed).length, 1);
    assert.match(timed.audits.find((a) => a.skipped)!.skipped!, /not started with 70 s of the invocation left \(needs 75 s\)/);

    // An audit that fails (or times out) every time is marked as started all the same, so with time for one audit per
    // run it does not take every run from the others (ordered by the last successful run, it would).
    await store.put('audits/t0-broken/config.json', new TextEncoder().encode(JSON.stringify({ detector: 'no-such-detector', prefix: 'time-t0/' })));
    const started = async (): Promise<string[]> => {
      try {
        return (await audit({}, clock(1))).audits.filter((a) => a.skipped === undefined).map((a) => a.name);
      } catch (e) {
        // The run's only started audit failed, so the run itself fails (and Lambda would retry it).
        const m = /^every audit failed: [^/]+\/([^:]+):/.exec((e as Error).message);
        assert.ok(m, String(e));
        return [m[1]!];
      }
    };
    assert.deepEqual(await started(), ['t0-broken'], 'never started: first');
    const others = (await listAudits(store)).filter((n) => n !== 't0-broken'); // t1-t3 and the other tests' audits
    const rotation: string[] = [];
    for (let i = 0; i <= others.length; i++) rotation.push(...(await started()));
    assert.deepEqual(rotation.slice(0, others.length).sort(), [...others].sort(), 'then each of the others');
    assert.equal(rotation[others.length], 't0-broken', 'and only then the broken one again');
    for (const n of ['t0-broken', 't1', 't2', 't3']) for (const o of await store.list(`audits/${n}/`)) await store.delete(o.key);
  });

  test('audit metrics: one CloudWatch EMF record per audit run (alert, failure, samples, flagged, OOD rate); an alert is also a warn line', async () => {
    const store = fx.store;
    await store.put('audits/m1/config.json', new TextEncoder().encode(JSON.stringify({ detector: 'det', prefix: 'metrics-in/', alpha: 0.01 })));
    await store.put('audits/m2/config.json', new TextEncoder().encode(JSON.stringify({ detector: 'no-such-detector', prefix: 'metrics-in/' })));
    await store.put('metrics-in/a.npy', npySlice(evalSet, 50, 100)); // OOD: an alert
    const records: Record<string, unknown>[] = [];
    const log = captureLogger();
    const r = await runScheduledAudits({ store: fx.s3.store, logger: log.logger, runtime: {}, tenants: async () => [fx.tenant], metrics: (x) => records.push(x) }, { audit: 'm1' });
    await runScheduledAudits({ store: fx.s3.store, logger: log.logger, runtime: {}, tenants: async () => [fx.tenant], metrics: (x) => records.push(x) }, { audit: 'm2' }).catch(() => undefined);
    const s = JSON.parse(new TextDecoder().decode(await store.get(r.audits[0]!.summaryKey!)));
    assert.equal(s.alert, true);
    // Every record is valid embedded metric format: each dimension and metric it declares is a top-level field of the
    // right type (string / finite number), with a CloudWatch unit, under a numeric timestamp.
    for (const rec of records as Record<string, any>[]) {
      assert.equal(typeof rec._aws.Timestamp, 'number');
      for (const d of rec._aws.CloudWatchMetrics) {
        assert.equal(typeof d.Namespace, 'string');
        for (const set of d.Dimensions) for (const name of set) assert.equal(typeof rec[name], 'string', `dimension ${name}`);
        for (const m of d.Metrics) {
          assert.ok(Number.isFinite(rec[m.Name]), `metric ${m.Name}`);
          assert.ok(['Count', 'None'].includes(m.Unit), m.Unit);
        }
      }
    }
    const [ok, failed] = records as [Record<string, any>, Record<string, any>];
    assert.deepEqual(ok._aws.CloudWatchMetrics, [{ Namespace: 'imagedrift', Dimensions: [['tenant', 'audit']], Metrics: [{ Name: 'AuditAlert', Unit: 'Count' }, { Name: 'AuditFailed', Unit: 'Count' }, { Name: 'AuditSamples', Unit: 'Count' }, { Name: 'AuditFlagged', Unit: 'Count' }, { Name: 'AuditOodRate', Unit: 'None' }] }]);
    assert.equal(typeof ok._aws.Timestamp, 'number');
    assert.deepEqual({ tenant: ok.tenant, audit: ok.audit, AuditAlert: ok.AuditAlert, AuditFailed: ok.AuditFailed, AuditSamples: ok.AuditSamples, AuditFlagged: ok.AuditFlagged, AuditOodRate: ok.AuditOodRate }, { tenant: fx.tenant, audit: 'm1', AuditAlert: 1, AuditFailed: 0, AuditSamples: 50, AuditFlagged: s.counts.flagged, AuditOodRate: s.oodRate });
    assert.deepEqual({ audit: failed.audit, AuditFailed: failed.AuditFailed, names: failed._aws.CloudWatchMetrics[0].Metrics.map((m: { Name: string }) => m.Name) }, { audit: 'm2', AuditFailed: 1, names: ['AuditFailed'] });
    const alert = log.find('drift alert');
    assert.equal(alert.length, 1);
    assert.equal(alert[0]!.level, 40, 'warn');
    assert.deepEqual([alert[0]!.tenant, alert[0]!.audit, alert[0]!.summaryKey], [fx.tenant, 'm1', r.audits[0]!.summaryKey]);
    for (const n of ['m1', 'm2']) for (const o of await store.list(`audits/${n}/`)) await store.delete(o.key);
    await store.delete('metrics-in/a.npy');
  });

  test('audit: a run that died after its summary but before the cursor write is not re-scored', async () => {
    const store = fx.store;
    const cursor = await store.get('audits/a1/cursor.json');
    await store.put('audit-in/2026/e.npy', npySlice(evalSet, 0, 5));
    const r = await audit({ audit: 'a1' });
    assert.equal(r.audits[0]!.counts!.samples, 5);
    await store.put('audits/a1/cursor.json', cursor!); // as if the cursor write after that summary had not happened
    const again = await audit({ audit: 'a1' });
    assert.equal(again.audits[0]!.counts!.objects, 0, 'recovered the position from the newer summary');
  });

  test('audit: an object key this service cannot read (a backslash) is counted invalid and passed, not a stall', async () => {
    // Legal in S3 (e.g. written by a Windows client), refused by the store's key check: reading it used to fail every run.
    const store = fx.store;
    await store.put('audits/a2/config.json', new TextEncoder().encode(JSON.stringify({ detector: 'det', prefix: 'cam/', alpha: 0.01 })));
    await store.put('cam/001.npy', npySlice(evalSet, 0, 5));
    await fx.s3.store.client.send(new PutObjectCommand({ Bucket: fx.s3.s3.bucket, Key: `tenants/${fx.tenant}/cam/002\\win.npy`, Body: npySlice(evalSet, 5, 10) }));
    await store.put('cam/003.npy', npySlice(evalSet, 10, 15));
    const r1 = await audit({ audit: 'a2' });
    const s1 = JSON.parse(new TextDecoder().decode(await store.get(r1.audits[0]!.summaryKey!)));
    assert.deepEqual(s1.counts, { objects: 3, samples: 10, flagged: s1.counts.flagged, invalid: 1 });
    assert.equal(s1.invalid[0].key, 'cam/002\\win.npy');
    assert.match(s1.invalid[0].error, /not a safe relative key/);
    assert.equal(s1.lastKey, 'cam/003.npy');
    await store.put('cam/004.npy', npySlice(evalSet, 15, 20));
    const r2 = await audit({ audit: 'a2' });
    assert.deepEqual({ objects: r2.audits[0]!.counts!.objects, samples: r2.audits[0]!.counts!.samples }, { objects: 1, samples: 5 }, 'the next run goes on after it');
  });

  test('audit: a prefix changed to one that sorts before the old cursor starts at its beginning, not never', async () => {
    // The cursor (a key under the old prefix) used to be the StartAfter of the new prefix: every key of a prefix that
    // sorts before it was skipped, run after run, with empty summaries and no error.
    const store = fx.store;
    await store.put('audits/moved/config.json', new TextEncoder().encode(JSON.stringify({ detector: 'det', prefix: 'moved-b/' })));
    await store.put('moved-b/001.npy', npySlice(evalSet, 0, 5));
    await store.put('moved-a/001.npy', npySlice(evalSet, 5, 8));
    assert.equal((await audit({ audit: 'moved' })).audits[0]!.counts!.samples, 5);
    await store.put('audits/moved/config.json', new TextEncoder().encode(JSON.stringify({ detector: 'det', prefix: 'moved-a/' })));
    const r = await audit({ audit: 'moved' });
    const s = JSON.parse(new TextDecoder().decode(await store.get(r.audits[0]!.summaryKey!)));
    assert.deepEqual({ objects: s.counts.objects, samples: s.counts.samples, after: s.after, lastKey: s.lastKey }, { objects: 1, samples: 3, after: null, lastKey: 'moved-a/001.npy' });
    await store.put('moved-a/002.npy', npySlice(evalSet, 8, 10));
    const next = (await audit({ audit: 'moved' })).audits[0]!.counts!;
    assert.deepEqual({ objects: next.objects, samples: next.samples }, { objects: 1, samples: 2 }, 'and goes on from there');
    for (const o of await store.list('audits/moved/')) await store.delete(o.key);
  });

  test('audit: a widened prefix scores the keys the old one did not cover, and none twice', async () => {
    // The old cursor (cam-w/1/b) lies inside the wider prefix, so it used to be kept as the StartAfter: cam-w/0/… sorts
    // before it and was never scored.
    const store = fx.store;
    const config = (prefix: string) => store.put('audits/wide/config.json', new TextEncoder().encode(JSON.stringify({ detector: 'det', prefix })));
    await config('cam-w/1/');
    await store.put('cam-w/1/a.npy', npySlice(evalSet, 0, 2));
    await store.put('cam-w/1/b.npy', npySlice(evalSet, 2, 5));
    assert.equal((await audit({ audit: 'wide' })).audits[0]!.counts!.samples, 5);
    await store.put('cam-w/0/a.npy', npySlice(evalSet, 5, 9));
    await store.put('cam-w/1/c.npy', npySlice(evalSet, 9, 10));
    await config('cam-w/');
    const r = await audit({ audit: 'wide' });
    const s = JSON.parse(new TextDecoder().decode(await store.get(r.audits[0]!.summaryKey!)));
    assert.deepEqual({ objects: s.counts.objects, samples: s.counts.samples, lastKey: s.lastKey }, { objects: 2, samples: 4 + 1, lastKey: 'cam-w/1/c.npy' });
    // Narrowed again: it goes on after the cursor, nothing scored twice, nothing skipped.
    await store.put('cam-w/1/d.npy', npySlice(evalSet, 10, 13));
    await config('cam-w/1/');
    const n = (await audit({ audit: 'wide' })).audits[0]!.counts!;
    assert.deepEqual({ objects: n.objects, samples: n.samples }, { objects: 1, samples: 3 });
    for (const o of [...(await store.list('audits/wide/')), ...(await store.list('cam-w/'))]) await store.delete(o.key);
  });

  test('audit: a widened prefix that stops part-way passes the old keys by in later runs too', async () => {
    // The range of keys scored under the old prefix is kept in the cursor until the new position has passed it.
    const store = fx.store;
    const config = (prefix: string, maxObjects?: number) => store.put('audits/wide2/config.json', new TextEncoder().encode(JSON.stringify({ detector: 'det', prefix, ...(maxObjects ? { maxObjects } : {}) })));
    await config('w2/b/');
    await store.put('w2/b/1.npy', npySlice(evalSet, 0, 1));
    await store.put('w2/b/2.npy', npySlice(evalSet, 1, 3));
    assert.equal((await audit({ audit: 'wide2' })).audits[0]!.counts!.samples, 3);
    await store.put('w2/a/1.npy', npySlice(evalSet, 3, 7));
    await store.put('w2/b/3.npy', npySlice(evalSet, 7, 12));
    await config('w2/', 1);
    const samples: number[] = [];
    for (let i = 0; i < 4; i++) samples.push((await audit({ audit: 'wide2' })).audits[0]!.counts!.samples);
    assert.deepEqual(samples, [4, 0, 0, 5], 'w2/a/1 (4), w2/b/1 and w2/b/2 passed by (0, 0), then w2/b/3 (5)');
    const cursor = JSON.parse(new TextDecoder().decode(await store.get('audits/wide2/cursor.json')));
    assert.deepEqual({ prefix: cursor.prefix, lastKey: cursor.lastKey, scored: cursor.scored }, { prefix: 'w2/', lastKey: 'w2/b/3.npy', scored: undefined }, 'the range is dropped once passed');
    for (const o of [...(await store.list('audits/wide2/')), ...(await store.list('w2/'))]) await store.delete(o.key);
  });

  test('audit: a prefix narrowed, then widened back, scores nothing twice', async () => {
    // Narrowing kept the cursor's position but not the wider prefix it was reached under, so widening back started at
    // the beginning and scored nw/a/… a second time.
    const store = fx.store;
    const config = (prefix: string) => store.put('audits/nw/config.json', new TextEncoder().encode(JSON.stringify({ detector: 'det', prefix })));
    const run = async () => {
      const c = (await audit({ audit: 'nw' })).audits[0]!.counts!;
      return { objects: c.objects, samples: c.samples };
    };
    await config('nw/');
    await store.put('nw/a/1.npy', npySlice(evalSet, 0, 2));
    await store.put('nw/b/1.npy', npySlice(evalSet, 2, 5));
    assert.deepEqual(await run(), { objects: 2, samples: 5 });
    await config('nw/b/');
    await store.put('nw/b/2.npy', npySlice(evalSet, 5, 6));
    assert.deepEqual(await run(), { objects: 1, samples: 1 });
    await config('nw/');
    await store.put('nw/c/1.npy', npySlice(evalSet, 6, 9));
    assert.deepEqual(await run(), { objects: 1, samples: 3 }, 'only nw/c/1: nw/a/1, nw/b/1 and nw/b/2 were scored before');
    assert.deepEqual(await run(), { objects: 0, samples: 0 });
    for (const o of [...(await store.list('audits/nw/')), ...(await store.list('nw/'))]) await store.delete(o.key);
  });

  test('audit: a cursor written before cursors named their prefix keeps the rule of its time', async () => {
    const store = fx.store;
    await store.put('audits/legacy/config.json', new TextEncoder().encode(JSON.stringify({ detector: 'det', prefix: 'leg/' })));
    await store.put('leg/1.npy', npySlice(evalSet, 0, 2));
    await store.put('leg/2.npy', npySlice(evalSet, 2, 5));
    await store.put('audits/legacy/cursor.json', new TextEncoder().encode(JSON.stringify({ lastKey: 'leg/1.npy', summaryKey: 'audits/legacy/0000.json', updatedAt: '2026-11-01T00:00:00.000Z' })));
    const c = (await audit({ audit: 'legacy' })).audits[0]!.counts!;
    assert.deepEqual({ objects: c.objects, samples: c.samples }, { objects: 1, samples: 3 });
    for (const o of [...(await store.list('audits/legacy/')), ...(await store.list('leg/'))]) await store.delete(o.key);
  });

  test('audit: an audit whose prefix has stayed empty reads only its latest summary, not every one it wrote', async () => {
    // No cursor was written while nothing had been scored, so each run listed and read every earlier summary.
    const store = fx.store;
    await store.put('audits/idle/config.json', new TextEncoder().encode(JSON.stringify({ detector: 'det', prefix: 'idle-in/' })));
    const summaryReads: number[] = [];
    for (let i = 0; i < 4; i++) {
      const rec = recording(store);
      await runAudit({ store: rec.store, logger: createLogger('silent'), runtime: {} }, 'idle');
      summaryReads.push(rec.calls.filter((c) => /^get\("audits\/idle\/\d{4}-/.test(c)).length);
    }
    assert.deepEqual(summaryReads, [0, 0, 0, 0]);
    // And the first object put there afterwards is scored.
    await store.put('idle-in/001.npy', npySlice(evalSet, 0, 2));
    assert.equal((await runAudit({ store, logger: createLogger('silent'), runtime: {} }, 'idle')).summary.counts.samples, 2);
    for (const o of await store.list('audits/idle/')) await store.delete(o.key);
  });

  test("audit: a run nearing the invocation's time limit summarises what it scored and leaves the rest to the next run", async () => {
    // Without a deadline a batch longer than one invocation was killed before its summary, every run: the cursor never
    // moved and the audit never got past that batch.
    const store = fx.store;
    await store.put('audits/timed/config.json', new TextEncoder().encode(JSON.stringify({ detector: 'det', prefix: 'timed-in/' })));
    for (let i = 1; i <= 4; i++) await store.put(`timed-in/00${i}.npy`, npySlice(evalSet, 2 * i, 2 * i + i));
    let calls = 0;
    const remainingMs = () => (++calls <= 2 ? 10 * 60_000 : AUDIT_FINISH_RESERVE_MS - 1); // time runs out after two objects
    const first = (await runAudit({ store, logger: createLogger('silent'), runtime: {}, remainingMs }, 'timed')).summary;
    assert.deepEqual({ objects: first.counts.objects, samples: first.counts.samples, lastKey: first.lastKey, pending: first.moreObjectsPending }, { objects: 2, samples: 1 + 2, lastKey: 'timed-in/002.npy', pending: true });
    const second = (await runAudit({ store, logger: createLogger('silent'), runtime: {} }, 'timed')).summary;
    assert.deepEqual({ objects: second.counts.objects, samples: second.counts.samples, after: second.after, lastKey: second.lastKey, pending: second.moreObjectsPending }, { objects: 2, samples: 3 + 4, after: 'timed-in/002.npy', lastKey: 'timed-in/004.npy', pending: false });
    // The time left is only looked at between objects: one object is always scored, so a run always moves on.
    await store.put('timed-in/005.npy', npySlice(evalSet, 20, 25));
    await store.put('timed-in/006.npy', npySlice(evalSet, 25, 26));
    const late = (await runAudit({ store, logger: createLogger('silent'), runtime: {}, remainingMs: () => 0 }, 'timed')).summary;
    assert.deepEqual({ objects: late.counts.objects, lastKey: late.lastKey, pending: late.moreObjectsPending }, { objects: 1, lastKey: 'timed-in/005.npy', pending: true });
    for (const o of [...(await store.list('audits/timed/')), ...(await store.list('timed-in/'))]) await store.delete(o.key);
  });

  test('audit: an invalid config is reported with the field', async () => {
    await fx.store.put('audits/bad/config.json', new TextEncoder().encode(JSON.stringify({ detector: 'det', prefix: '../x/', alpha: 2 })));
    // The only audit failed: the function fails (so the scheduler's retry and alarms see it), naming the field.
    await assert.rejects(audit({ audit: 'bad' }), /bad: audits\/bad\/config\.json: prefix: must not contain/);
  });

  test('audit: a rule naming an audit runs it only in the tenants that have it, and writes nothing for a missing one', async () => {
    // It used to plan the audit in every tenant: each one without it got an attempt marker written into its space, an
    // error log and AuditFailed=1; a typo with a tenant left audits/<typo>/attempt.json behind.
    await fx.store.put('audits/only-a/config.json', new TextEncoder().encode(JSON.stringify({ detector: 'det', prefix: 'only-a-in/' })));
    const other = 'tenant-without-audits';
    const log = captureLogger();
    const deps = { store: fx.s3.store, logger: log.logger, runtime: {}, tenants: async () => [fx.tenant, other] };
    const before = new Set((await fx.s3.store.list('')).map((o) => o.key));
    const r = await runScheduledAudits(deps, { audit: 'only-a' });
    assert.deepEqual(r.audits.map((a) => [a.tenant, a.name, a.error]), [[fx.tenant, 'only-a', undefined]]);
    assert.deepEqual(log.find('audit failed'), []);
    await assert.rejects(runScheduledAudits(deps, { audit: 'ghost' }), (e: unknown) => e instanceof NotFoundError && e.field === 'audit' && /no tenant has an audit named ghost/.test(e.message));
    await assert.rejects(runScheduledAudits(deps, { tenant: fx.tenant, audit: 'typo' }), /no audit typo/);
    // A rule naming a tenant without audits (a misspelt tenant) used to succeed with nothing run.
    await assert.rejects(runScheduledAudits(deps, { tenant: other }), (e: unknown) => e instanceof NotFoundError && e.field === 'tenant' && /tenant-without-audits has no audits/.test(e.message));
    const written = (await fx.s3.store.list('')).map((o) => o.key).filter((k) => !before.has(k));
    assert.deepEqual(written.filter((k) => !k.startsWith(`tenants/${fx.tenant}/audits/only-a/`)), [], 'nothing outside the audit that ran');
    for (const o of await fx.store.list('audits/only-a/')) await fx.store.delete(o.key);
  });

  test('audit and checkObject: malformed events name the field or are skipped, never a TypeError', async () => {
    await assert.rejects(audit({ tenant: 'NOPE!' }), (e: unknown) => e instanceof InputError && e.field === 'tenant');
    await assert.rejects(audit({ audit: '../x' }), (e: unknown) => e instanceof InputError && e.field === 'audit');
    // A rule's own input holds only tenant and audit: a misspelt field used to be ignored, running every audit of every
    // tenant. EventBridge's own event (a rule without input) keeps its fields.
    await assert.rejects(audit({ tenants: 'acme' } as never), (e: unknown) => e instanceof InputError && e.field === 'tenants');
    await assert.rejects(audit({ audit: 'a1', auditName: 'a1' } as never), (e: unknown) => e instanceof InputError && e.field === 'auditName');
    for (const event of [null, {}, { Records: [null] }, { Records: [{}] }]) {
      assert.deepEqual(await checkObject(event as never), { processed: [], rejected: [] }, JSON.stringify(event));
    }
  });
});
