/**
 * The HTTP bad-input battery (issue 6): hostile bodies, files and names sent to the real handlers, with a real s3rver
 * and Redis behind them. Each case must get a 4xx with the JSON error shape naming the field, write nothing anywhere
 * in the bucket, enqueue nothing, and keep memory bounded (limits are checked before allocation).
 */
import assert from 'node:assert/strict';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { handler as calibrate } from '../../handlers/calibrate.js';
import { handler as describeHandler } from '../../handlers/describe.js';
import { handler as fit } from '../../handlers/fit.js';
import { handler as jobStatus } from '../../handlers/jobStatus.js';
import { handler as predict } from '../../handlers/predict.js';
import { handler as upload } from '../../handlers/upload.js';
import type { HttpResult } from '../../src/http/events.js';
import { decodeNpy, encodeNpy } from '../../src/io/npy.js';
import { putDataset, putModel } from '../../src/service/datasets.js';
import { httpEvent, parse } from '../helpers/http-event.js';
import { REPO, SEED } from '../helpers/paths.js';
import { startServiceFixture, type ServiceFixture } from '../helpers/service.js';
import {
  b64,
  cifarWrongLength,
  complexNpy,
  emptyNpy,
  garbageOnnx,
  hugeShapeNpy,
  idxGzipBomb,
  malformedHeaderNpy,
  malformedNpz,
  npzWithShortArray,
  nonFiniteNpy,
  pngWithHeader,
  realPng,
  shortNpy,
  subgraphBombOnnx,
  truncatedJpeg,
  wrongRankOnnx,
} from './hostile-inputs.js';

type Case = readonly [name: string, call: () => Promise<HttpResult>, status: number, code: string, field: RegExp];

const outOfRange70 = join(tmpdir(), `imagedrift-out-of-range-${process.pid}.npy`);
const dataset = (json: unknown) => upload(httpEvent({ path: '/datasets', json }));
const rawDataset = (bytes: Uint8Array, query: Record<string, string>) => upload(httpEvent({ path: '/datasets', bytes, query }));
const model = (json: unknown) => upload(httpEvent({ path: '/models', json }));
const det = (h: typeof fit, op: string, id: string, json: unknown) => h(httpEvent({ path: `/detectors/${encodeURIComponent(id)}/${op}`, pathParameters: { id: encodeURIComponent(id) }, json }));
/** GET /detectors/{id} (an id) or GET /detectors (none), with query parameters. */
const getDetector = (id: string | undefined, query: Record<string, string>) =>
  describeHandler(httpEvent({ method: 'GET', path: id === undefined ? '/detectors' : `/detectors/${encodeURIComponent(id)}`, ...(id !== undefined ? { pathParameters: { id: encodeURIComponent(id) } } : {}), query }));
const raw = (h: typeof fit, op: string, body: string, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
  h(httpEvent({ path: `/detectors/det/${op}`, pathParameters: { id: 'det' }, body, headers }));

describe('HTTP bad-input battery (real s3rver + Redis)', () => {
  let fx: ServiceFixture;
  const labels = [...Array(50).fill(0), ...Array(50).fill(1)];

  before(async () => {
    fx = await startServiceFixture();
    await putModel(fx.store, { id: 'lenet5', bytes: new Uint8Array(await readFile(`${REPO}models/lenet5.onnx`)) });
    await putDataset(fx.store, { id: 'eval', name: 'eval.npy', bytes: new Uint8Array(await readFile(`${SEED}concept_test_lenet1.npy`)) });
    const eval100 = decodeNpy(new Uint8Array(await readFile(`${SEED}concept_test_lenet1.npy`)));
    await putDataset(fx.store, { id: 'small10', name: 'small10.npy', bytes: encodeNpy((eval100.data as Float32Array).slice(0, 10 * 1024), [10, 1, 32, 32], 'float32') });
    // As the worker runs them, as the test tenant (so in fx.store).
    await fx.runJob('setup-fit', 'fit', { detector: 'det', model: 'lenet5', dataset: 'eval', layer: 'output', nCluster: 5, seed: 0 });
    await fx.runJob('setup-cal', 'calibrate', { detector: 'det', dataset: 'eval', oodLabels: labels });
    // Data and label objects a calibrate job could only fail on (each refused before enqueue since 2026-11-28).
    await putDataset(fx.store, { id: 'rank1', name: 'rank1.npy', bytes: encodeNpy(new Float32Array(100), [100], 'float32') });
    await putDataset(fx.store, { id: 'five-ch', name: 'five.npy', bytes: encodeNpy(new Float32Array(100 * 5 * 32 * 32), [100, 5, 32, 32], 'float32') });
    const text = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
    await fx.store.put('labels/zeros.json', text(Array(100).fill(0)));
    await fx.store.put('labels/short.json', text(labels.slice(1)));
    await fx.store.put('labels/half.json', text([...labels.slice(0, 99), 0.5]));
    await fx.store.put('labels/row.npy', encodeNpy(Float32Array.from(labels), [1, 100], 'float32'));
    // 70 inline samples (over the 64 answered inline) with pixels in [0, 2]: the job's preprocessing would refuse them.
    const doubled = Float32Array.from((eval100.data as Float32Array).subarray(0, 70 * 1024), (v) => 2 * v);
    await writeFile(outOfRange70, encodeNpy(doubled, [70, 1, 32, 32], 'float32'));
    idxGzipBomb(); // built before any memory is measured
    idxGzipBomb(10);
  });
  after(async () => {
    await rm(outOfRange70, { force: true });
    await fx.stop();
  });

  const cases: Case[] = [
    // Bodies
    ['body is not JSON', () => raw(fit, 'fit', '{"model": "lenet5",'), 400, 'INVALID_INPUT', /^body$/],
    ['body is a JSON array', () => raw(fit, 'fit', '[1,2,3]'), 400, 'INVALID_INPUT', /^body$/],
    ['body is JSON null', () => raw(predict, 'predict', 'null'), 400, 'INVALID_INPUT', /^body$/],
    ['body over MAX_BODY_BYTES (7 MB)', () => raw(predict, 'predict', `{"images":["${'A'.repeat(7 * 1024 * 1024)}"]}`), 413, 'PAYLOAD_TOO_LARGE', /^body$/],
    ['unknown field', () => det(fit, 'fit', 'd1', { model: 'lenet5', dataset: 'eval', layer: 'output', nCluster: 5, colour: 'blue' }), 400, 'INVALID_INPUT', /^colour$/],
    ['wrong type: nCluster as a word', () => det(fit, 'fit', 'd1', { model: 'lenet5', dataset: 'eval', layer: 'output', nCluster: 'ten' }), 400, 'INVALID_INPUT', /^nCluster$/],
    ['wrong type: images as a string', () => det(predict, 'predict', 'det', { images: 'AAAA' }), 400, 'INVALID_INPUT', /^images$/],
    ['wrong type: oodLabels as an object', () => det(calibrate, 'calibrate', 'det', { dataset: 'eval', oodLabels: { 0: 1 } }), 400, 'INVALID_INPUT', /^oodLabels$/],
    ['wrong type: threshold NaN', () => det(predict, 'predict', 'det', { dataset: 'eval', threshold: 'NaN' }), 400, 'INVALID_INPUT', /^threshold$/],
    ['negative referenceRows', () => det(calibrate, 'calibrate', 'det', { dataset: 'eval', targetFpr: 0.05, referenceRows: -5 }), 400, 'INVALID_INPUT', /^referenceRows$/],
    ['referenceRows beyond the cap', () => det(calibrate, 'calibrate', 'det', { dataset: 'eval', oodLabels: labels, referenceRows: 1e9 }), 400, 'INVALID_INPUT', /^referenceRows$/],
    ['labels of the wrong length', () => det(calibrate, 'calibrate', 'det', { dataset: 'eval', oodLabels: labels.slice(1) }), 400, 'INVALID_INPUT', /^oodLabels$/],
    ['labels other than 0/1', () => det(calibrate, 'calibrate', 'det', { dataset: 'eval', oodLabels: [...labels.slice(0, 99), 2] }), 400, 'INVALID_INPUT', /^oodLabels\[99\]$/],
    ['labels as strings', () => det(calibrate, 'calibrate', 'det', { dataset: 'eval', oodLabels: labels.map(String) }), 400, 'INVALID_INPUT', /^oodLabels\[0\]$/],
    // JSON values that a coercing schema once turned into numbers (null → 0, true → 1, [5] → 5)
    ['threshold null (once threshold 0: every sample OOD)', () => det(predict, 'predict', 'det', { dataset: 'eval', threshold: null }), 400, 'INVALID_INPUT', /^threshold$/],
    ['threshold false', () => det(predict, 'predict', 'det', { dataset: 'eval', threshold: false }), 400, 'INVALID_INPUT', /^threshold$/],
    ['threshold as an empty string', () => det(predict, 'predict', 'det', { dataset: 'eval', threshold: '' }), 400, 'INVALID_INPUT', /^threshold$/],
    ['nCluster as a one-element array', () => det(fit, 'fit', 'd1', { model: 'lenet5', dataset: 'eval', layer: 'output', nCluster: [5] }), 400, 'INVALID_INPUT', /^nCluster$/],
    ['seed null', () => det(fit, 'fit', 'd1', { model: 'lenet5', dataset: 'eval', layer: 'output', nCluster: 5, seed: null }), 400, 'INVALID_INPUT', /^seed$/],
    ['batchSize true', () => det(fit, 'fit', 'd1', { model: 'lenet5', dataset: 'eval', layer: 'output', nCluster: 5, batchSize: true }), 400, 'INVALID_INPUT', /^batchSize$/],
    ['referenceRows null (once 0: no MMD reference)', () => det(calibrate, 'calibrate', 'det', { dataset: 'eval', targetFpr: 0.05, referenceRows: null }), 400, 'INVALID_INPUT', /^referenceRows$/],
    // Request errors that need the dataset's size: refused before enqueueing, not as a failed job
    ['nCluster larger than the dataset', () => det(fit, 'fit', 'd1', { model: 'lenet5', dataset: 'small10', layer: 'output', nCluster: 50 }), 400, 'INVALID_INPUT', /^nCluster$/],
    ['knn k larger than the dataset', () => det(fit, 'fit', 'd1', { model: 'lenet5', dataset: 'eval', layer: '9', method: 'knn', k: 1e9 }), 400, 'INVALID_INPUT', /^k$/],
    ['ensemble member k larger than its share of the dataset', () => det(fit, 'fit', 'd1', { model: 'lenet5', dataset: 'eval', method: 'ensemble', members: [{ layer: '9', detector: { kind: 'knn', k: 95 } }] }), 400, 'INVALID_INPUT', /^members\[0\]\.detector\.k$/],
    ['targetFpr too small for the held-out dataset', () => det(calibrate, 'calibrate', 'det', { dataset: 'eval', targetFpr: 1e-9 }), 400, 'INVALID_INPUT', /^dataset$/],
    ['inline labels all 0', () => det(calibrate, 'calibrate', 'det', { dataset: 'eval', oodLabels: Array(100).fill(0) }), 400, 'INVALID_INPUT', /^oodLabels$/],
    // Datasets: encodings, names, ids
    ['dataset data is not base64', () => dataset({ name: 'x.npy', data: '!!not base64!!' }), 400, 'INVALID_INPUT', /^data$/],
    ['dataset name with a control character', () => dataset({ name: 'x\u0007.npy', data: b64(nonFiniteNpy()) }), 400, 'INVALID_INPUT', /^name$/],
    ['dataset name with a bidi override', () => dataset({ name: 'gpj\u202e.npy', data: b64(nonFiniteNpy()) }), 400, 'INVALID_INPUT', /^name$/],
    ['dataset name with a path', () => dataset({ name: '../../x.npy', data: b64(nonFiniteNpy()) }), 400, 'INVALID_INPUT', /^name$/],
    ['dataset id with path traversal', () => dataset({ id: '../eval', name: 'x.npy', data: b64(nonFiniteNpy()) }), 400, 'INVALID_INPUT', /^id$/],
    ['dataset id with unicode', () => dataset({ id: 'dätä', name: 'x.npy', data: b64(nonFiniteNpy()) }), 400, 'INVALID_INPUT', /^id$/],
    ['raw upload with a traversal id in the query', () => rawDataset(nonFiniteNpy(), { name: 'x.npy', id: '..' }), 400, 'INVALID_INPUT', /^id$/],
    // Datasets: hostile files
    ['.npy with a malformed header', () => dataset({ name: 'x.npy', data: b64(malformedHeaderNpy()) }), 400, 'INVALID_INPUT', /npy|header/],
    ['.npy with fewer bytes than its shape', () => dataset({ name: 'x.npy', data: b64(shortNpy()) }), 400, 'INVALID_INPUT', /npy|data|shape|byte/],
    ['.npy declaring 10^13 elements', () => dataset({ name: 'x.npy', data: b64(hugeShapeNpy()) }), 400, 'INVALID_INPUT', /npy|shape/],
    ['.npy of an unsupported dtype (complex64)', () => dataset({ name: 'x.npy', data: b64(complexNpy()) }), 400, 'INVALID_INPUT', /npy|descr|dtype/],
    ['.npy holding NaN and Inf', () => dataset({ name: 'x.npy', data: b64(nonFiniteNpy()) }), 400, 'INVALID_INPUT', /^data\[0\]$/],
    ['.npy with zero samples', () => dataset({ name: 'x.npy', data: b64(emptyNpy()) }), 400, 'INVALID_INPUT', /.+/],
    ['.npz with a malformed zip header', () => dataset({ name: 'x.npz', data: b64(malformedNpz()) }), 400, 'INVALID_INPUT', /npz|zip/],
    ['.npz holding a truncated .npy', () => dataset({ name: 'x.npz', data: b64(npzWithShortArray()) }), 400, 'INVALID_INPUT', /^x\.npz\[x\]\.data$/],
    ['IDX .gz bomb (1.1 MB → 1.1 GiB) declaring 1.5M images', () => rawDataset(idxGzipBomb(), { name: 'bomb-idx3-ubyte.gz' }), 400, 'INVALID_INPUT', /dims/],
    ['IDX .gz bomb (1.1 MB → 1.1 GiB) declaring 10 images', () => rawDataset(idxGzipBomb(10), { name: 'bomb10-idx3-ubyte.gz' }), 400, 'INVALID_INPUT', /.+/],
    ['CIFAR .bin of a wrong length', () => dataset({ name: 'data_batch_1.bin', data: b64(cifarWrongLength()) }), 400, 'INVALID_INPUT', /.+/],
    ['PNG declaring 50000 × 50000 pixels', () => dataset({ name: 'x.png', data: b64(pngWithHeader(50_000, 50_000)) }), 400, 'INVALID_INPUT', /.+/],
    ['PNG of zero width', () => dataset({ name: 'x.png', data: b64(pngWithHeader(0, 32)) }), 400, 'INVALID_INPUT', /.+/],
    ['truncated JPEG', async () => dataset({ name: 'x.jpg', data: b64(await truncatedJpeg()) }), 400, 'INVALID_INPUT', /.+/],
    ['binary body of 4.8 MiB: its base64 (6.4 MiB) exceeds the 6 MiB event limit', () => rawDataset(new Uint8Array(4.8 * 2 ** 20), { name: 'big.npy' }), 413, 'PAYLOAD_TOO_LARGE', /^body$/],
    ['presigned URL valid longer than temporary credentials (2 h)', () => upload(httpEvent({ path: '/uploads', json: { name: 'x.npy', contentLength: 100, expiresIn: 7200 } })), 400, 'INVALID_INPUT', /^expiresIn$/],
    ['presigned upload larger than the limit', () => upload(httpEvent({ path: '/uploads', json: { name: 'x.npy', contentLength: 10 * 1024 ** 4 } })), 400, 'INVALID_INPUT', /^contentLength$/],
    // Models
    ['garbage ONNX model', () => model({ id: 'junk', data: b64(garbageOnnx()) }), 400, 'INVALID_INPUT', /.+/],
    ['ONNX model of 2 million empty subgraphs (4 MiB; 0.7 GB once decoded)', () => model({ id: 'bomb', data: b64(subgraphBombOnnx()) }), 400, 'INVALID_INPUT', /^model$/],
    ['ONNX model whose input has rank 2', () => model({ id: 'rank2', data: b64(wrongRankOnnx()) }), 400, 'INVALID_INPUT', /.+/],
    // Detectors, layers, keys
    ['unknown layer', () => det(fit, 'fit', 'd1', { model: 'lenet5', dataset: 'eval', layer: 'fc99', nCluster: 5 }), 400, 'INVALID_INPUT', /^layer$/],
    ['auto detector on a layer with no measured default', () => det(fit, 'fit', 'd1', { model: 'lenet5', dataset: 'eval', method: 'auto', layer: '5' }), 400, 'INVALID_INPUT', /^layer$/],
    ['auto detector with detector parameters', () => det(fit, 'fit', 'd1', { model: 'lenet5', dataset: 'eval', method: 'auto', layer: '9', k: 3 }), 400, 'INVALID_INPUT', /^k$/],
    ['ensemble member with an unknown layer', () => det(fit, 'fit', 'd1', { model: 'lenet5', dataset: 'eval', method: 'ensemble', members: [{ layer: 'nope', detector: { kind: 'energy' } }] }), 400, 'INVALID_INPUT', /^members\[0\]\.layer$/],
    ['ensemble second member with an unknown layer (the member is named, not the list)', () => det(fit, 'fit', 'd1', { model: 'lenet5', dataset: 'eval', method: 'ensemble', members: [{ layer: 'output', detector: { kind: 'energy' } }, { layer: 'nope', detector: { kind: 'energy' } }] }), 400, 'INVALID_INPUT', /^members\[1\]\.layer$/],
    ['detector id with path traversal', () => det(fit, 'fit', '../../tenants/x', { model: 'lenet5', dataset: 'eval', layer: 'output', nCluster: 5 }), 400, 'INVALID_INPUT', /^detector$/],
    ['detector id with a NUL', () => det(predict, 'predict', 'det\u0000', { dataset: 'eval' }), 400, 'INVALID_INPUT', /^detector$/],
    ['detector id with an RTL override', () => det(predict, 'predict', '\u202edet', { dataset: 'eval' }), 400, 'INVALID_INPUT', /^detector$/],
    ['job id with path traversal', () => jobStatus(httpEvent({ method: 'GET', path: '/jobs/..%2F..%2Fetc', pathParameters: { id: '..%2F..%2Fetc' } })), 404, 'NOT_FOUND', /^id$/],
    // Path parameters a gateway already decoded: a literal '%' is not valid percent-encoding (once a URIError → 500)
    ['detector id that is a lone %', () => fit(httpEvent({ path: '/detectors/%25/fit', pathParameters: { id: '%' }, json: { model: 'lenet5', dataset: 'eval', layer: 'output', nCluster: 5 } })), 400, 'INVALID_INPUT', /^detector$/],
    ['detector id with a broken escape', () => predict(httpEvent({ path: '/detectors/%25E0%25A4%25A/predict', pathParameters: { id: '%E0%A4%A' }, json: { dataset: 'eval' } })), 400, 'INVALID_INPUT', /^detector$/],
    ['job id with a broken escape', () => jobStatus(httpEvent({ method: 'GET', path: '/jobs/%25zz', pathParameters: { id: '%zz' } })), 404, 'NOT_FOUND', /^id$/],
    ['oodLabelsKey climbing out', () => det(calibrate, 'calibrate', 'det', { dataset: 'eval', oodLabelsKey: '../../auth/api-keys.json' }), 400, 'INVALID_INPUT', /^oodLabelsKey$/],
    ['oodLabelsKey absolute', () => det(calibrate, 'calibrate', 'det', { dataset: 'eval', oodLabelsKey: '/etc/passwd' }), 400, 'INVALID_INPUT', /^oodLabelsKey$/],
    // What a calibrate job could only fail on, refused before it is enqueued
    ['calibrate on a label file uploaded as a dataset (rank 1), label-free', () => det(calibrate, 'calibrate', 'det', { dataset: 'rank1', targetFpr: 0.5 }), 400, 'INVALID_INPUT', /^dataset$/],
    ['calibrate on 5-channel images (no conversion to 1)', () => det(calibrate, 'calibrate', 'det', { dataset: 'five-ch', oodLabels: labels }), 400, 'INVALID_INPUT', /^dataset$/],
    ['oodLabelsKey: labels all 0', () => det(calibrate, 'calibrate', 'det', { dataset: 'eval', oodLabelsKey: 'labels/zeros.json' }), 400, 'INVALID_INPUT', /^oodLabelsKey$/],
    ['oodLabelsKey: 99 labels for 100 samples', () => det(calibrate, 'calibrate', 'det', { dataset: 'eval', oodLabelsKey: 'labels/short.json' }), 400, 'INVALID_INPUT', /^oodLabelsKey$/],
    ['oodLabelsKey: a label of 0.5', () => det(calibrate, 'calibrate', 'det', { dataset: 'eval', oodLabelsKey: 'labels/half.json' }), 400, 'INVALID_INPUT', /^oodLabelsKey(\[99\])?$/],
    ['oodLabelsKey: a .npy of shape [1, 100]', () => det(calibrate, 'calibrate', 'det', { dataset: 'eval', oodLabelsKey: 'labels/row.npy' }), 400, 'INVALID_INPUT', /^oodLabelsKey$/],
    ['oodLabelsKey: an object that holds no labels (a dataset manifest)', () => det(calibrate, 'calibrate', 'det', { dataset: 'eval', oodLabelsKey: 'datasets/eval/manifest.json' }), 400, 'INVALID_INPUT', /^oodLabelsKey$/],
    ['oodLabelsKey: no such object', () => det(calibrate, 'calibrate', 'det', { dataset: 'eval', oodLabelsKey: 'labels/none.json' }), 404, 'NOT_FOUND', /^oodLabelsKey$/],
    ['70 inline samples with pixels out of range (over the inline limit: a job would fail)', async () => det(predict, 'predict', 'det', { images: [b64(await readFile(outOfRange70))] }), 400, 'INVALID_INPUT', /^images\[0\]$/],
    // Describing and listing detectors: query parameters
    ['describe: version 0', () => getDetector('det', { version: '0' }), 400, 'INVALID_INPUT', /^version$/],
    ['describe: version in hexadecimal', () => getDetector('det', { version: '0x1' }), 400, 'INVALID_INPUT', /^version$/],
    ['describe: version with a fraction', () => getDetector('det', { version: '1.5' }), 400, 'INVALID_INPUT', /^version$/],
    ['describe: version beyond a safe integer', () => getDetector('det', { version: '1152921504606846976' }), 400, 'INVALID_INPUT', /^version$/],
    ['describe: a version that does not exist', () => getDetector('det', { version: '99' }), 404, 'NOT_FOUND', /^version$/],
    ['describe: unknown query parameter', () => getDetector('det', { verbose: '1' }), 400, 'INVALID_INPUT', /^verbose$/],
    ['describe: detector id with path traversal', () => getDetector('../../tenants/x', {}), 400, 'INVALID_INPUT', /^detector$/],
    ['list: limit 0', () => getDetector(undefined, { limit: '0' }), 400, 'INVALID_INPUT', /^limit$/],
    ['list: limit above 1000', () => getDetector(undefined, { limit: '1001' }), 400, 'INVALID_INPUT', /^limit$/],
    ['list: limit as a word', () => getDetector(undefined, { limit: 'all' }), 400, 'INVALID_INPUT', /^limit$/],
    ['list: cursor climbing out', () => getDetector(undefined, { after: '../../other/detectors/x' }), 400, 'INVALID_INPUT', /^after$/],
    ['list: unknown query parameter (a prefix of its own)', () => getDetector(undefined, { prefix: 'tenants/' }), 400, 'INVALID_INPUT', /^prefix$/],
    // Inline predict images
    ['inline image that is not an image', () => det(predict, 'predict', 'det', { images: [b64(new TextEncoder().encode('hello, world'))] }), 400, 'INVALID_INPUT', /^images/],
    ['inline PNG declaring 50000 × 50000 pixels', () => det(predict, 'predict', 'det', { images: [b64(pngWithHeader(50_000, 50_000))] }), 400, 'INVALID_INPUT', /.+/],
    ['inline .npy holding NaN', () => det(predict, 'predict', 'det', { images: [b64(nonFiniteNpy())] }), 400, 'INVALID_INPUT', /.+/],
    ['inline .npy declaring 10^13 elements', () => det(predict, 'predict', 'det', { images: [b64(hugeShapeNpy())] }), 400, 'INVALID_INPUT', /.+/],
    ['inline images mixing a PNG and a garbage entry', async () => det(predict, 'predict', 'det', { images: [b64(await realPng()), 'AAAA'] }), 400, 'INVALID_INPUT', /^images\[1\]/],
  ];

  test(`the battery has at least 40 cases (${cases.length})`, () => assert.ok(cases.length >= 40));

  for (const [name, call, status, code, field] of cases) {
    test(name, async () => {
      const keys = await fx.allKeys();
      const jobs = await fx.jobCount();
      const rss0 = process.memoryUsage().rss;
      const res = await call();
      const grew = process.memoryUsage().rss - rss0;
      const r = parse(res);
      if (process.env.SHOW_ERRORS) console.log(`${name} → ${res.statusCode} ${JSON.stringify(r.body)}`);
      assert.equal(r.status, status, JSON.stringify(r.body).slice(0, 400));
      assert.equal(res.headers['content-type'], 'application/json');
      assert.deepEqual(Object.keys(r.body), ['error']);
      assert.equal(r.body.error.code, code, JSON.stringify(r.body));
      assert.match(String(r.body.error.field), field, JSON.stringify(r.body));
      assert.ok(typeof r.body.error.message === 'string' && r.body.error.message.length > 10 && r.body.error.message.length < 600, r.body.error.message);
      assert.ok(grew < 300 * 1024 * 1024, `memory grew by ${(grew / 2 ** 20).toFixed(0)} MiB`);
      assert.deepEqual(await fx.allKeys(), keys, 'nothing written to S3');
      assert.equal(await fx.jobCount(), jobs, 'nothing enqueued');
    });
  }

  test('404s name the caller\'s id, never the bucket or the tenant layout behind it', async () => {
    const answers = [
      await det(predict, 'predict', 'nope', { dataset: 'eval' }),
      await det(fit, 'fit', 'd9', { model: 'lenet5', dataset: 'nope', layer: 'output', nCluster: 5 }),
      await det(fit, 'fit', 'd9', { model: 'nope', dataset: 'eval', layer: 'output', nCluster: 5 }),
      await det(calibrate, 'calibrate', 'nope', { dataset: 'eval', oodLabels: labels }),
    ].map(parse);
    for (const r of answers) {
      assert.equal(r.status, 404, JSON.stringify(r.body));
      assert.match(r.body.error.message, /nope/);
      assert.doesNotMatch(r.body.error.message, /s3:\/\/|tenants\/|imagedrift-test/);
    }
  });

  test('the service still answers after the battery', async () => {
    const r = parse(await det(predict, 'predict', 'det', { images: [b64(await realPng())] }));
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.result.length, 1);
  });
});
