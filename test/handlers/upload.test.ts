import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { handler as upload } from '../../handlers/upload.js';
import { httpEvent, parse } from '../helpers/http-event.js';
import { REPO, SEED } from '../helpers/paths.js';
import { startServiceFixture, type ServiceFixture } from '../helpers/service.js';

const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64');

describe('upload handler (real s3rver)', () => {
  let fx: ServiceFixture;
  let npy: Uint8Array;
  let onnx: Uint8Array;
  before(async () => {
    fx = await startServiceFixture();
    npy = new Uint8Array(await readFile(`${SEED}concept_test_lenet1.npy`));
    onnx = new Uint8Array(await readFile(`${REPO}models/lenet5.onnx`));
  });
  after(() => fx.stop());

  const expectRejected = async (ev: Parameters<typeof upload>[0], status: number, code: string, field: string | undefined) => {
    const before = await fx.allKeys();
    const r = parse(await upload(ev));
    assert.equal(r.status, status, JSON.stringify(r.body));
    assert.equal(r.body.error.code, code);
    assert.equal(r.body.error.field, field);
    assert.equal(typeof r.body.error.message, 'string');
    assert.deepEqual(await fx.allKeys(), before, 'nothing may be written on bad input');
  };

  test('inline JSON dataset upload writes data then manifest', async () => {
    const r = parse(await upload(httpEvent({ path: '/datasets', json: { id: 'lenet1', name: 'concept_test_lenet1.npy', data: b64(npy) } })));
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.deepEqual(r.body.shape, [100, 1, 32, 32]);
    assert.equal(r.body.format, 'npy');
    const keys = await fx.keys();
    assert.ok(keys.includes('datasets/lenet1/manifest.json') && keys.includes(`datasets/lenet1/data-${createHash('sha256').update(npy).digest('hex').slice(0, 16)}.npy`), keys.join(','));
  });

  test('raw binary body (API Gateway base64) with ?name=', async () => {
    const r = parse(await upload(httpEvent({ path: '/datasets', bytes: npy, query: { name: 'x.npy', id: 'raw1' } })));
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(r.body.id, 'raw1');
  });

  test('raw body: the query parameters are checked by the JSON upload’s own schema (one id rule, one message)', async () => {
    const viaJson = parse(await upload(httpEvent({ path: '/datasets', json: { name: 'a.npy', data: b64(npy), id: 'bad id' } })));
    const viaQuery = parse(await upload(httpEvent({ path: '/datasets', bytes: npy, query: { name: 'a.npy', id: 'bad id' } })));
    assert.deepEqual([viaQuery.status, viaQuery.body.error], [400, viaJson.body.error]);
    await expectRejected(httpEvent({ path: '/datasets', bytes: npy, query: { id: 'noname' } }), 400, 'INVALID_INPUT', 'name');
    await expectRejected(httpEvent({ path: '/datasets', bytes: npy, query: { name: 'a.npy', colour: 'red' } }), 400, 'INVALID_INPUT', 'colour');
    await expectRejected(httpEvent({ path: '/models', bytes: onnx, query: { id: '../m' } }), 400, 'INVALID_INPUT', 'id');
  });

  test('bad inputs → 4xx naming the field, nothing written', async () => {
    await expectRejected(httpEvent({ path: '/datasets', json: { data: b64(npy) } }), 400, 'INVALID_INPUT', 'name');
    await expectRejected(httpEvent({ path: '/datasets', json: { name: 'a.npy', data: 'not base64!!' } }), 400, 'INVALID_INPUT', 'data');
    await expectRejected(httpEvent({ path: '/datasets', json: { name: 'a.npy', data: b64(npy), colour: 'red' } }), 400, 'INVALID_INPUT', 'colour');
    await expectRejected(httpEvent({ path: '/datasets', json: { name: 'a.npy', data: b64(npy), id: '../evil' } }), 400, 'INVALID_INPUT', 'id');
    await expectRejected(httpEvent({ path: '/datasets', body: '{"name":', headers: { 'content-type': 'application/json' } }), 400, 'INVALID_INPUT', 'body');
    // A file no decoder accepts: 400 from the decoder, and no manifest (nor data) for it.
    const garbage = new Uint8Array(4096).map((_, i) => (i * 37) % 251);
    const r = parse(await upload(httpEvent({ path: '/datasets', json: { name: 'noise.dat', data: b64(garbage), id: 'noise' } })));
    assert.equal(r.status, 400);
    assert.equal(r.body.error.code, 'INVALID_INPUT');
    assert.ok(!(await fx.keys()).some((k) => k.startsWith('datasets/noise/')));
    // A truncated .npy names the problem too.
    await expectRejected(httpEvent({ path: '/datasets', json: { name: 'cut.npy', data: b64(npy.subarray(0, 1000)), id: 'cut' } }), 400, 'INVALID_INPUT', 'cut.npy.data');
    // Re-using an id is a conflict.
    await expectRejected(httpEvent({ path: '/datasets', json: { id: 'lenet1', name: 'concept_test_lenet1.npy', data: b64(npy) } }), 409, 'CONFLICT', 'id');
  });

  test('bodies over 6 MB → 413', async () => {
    const big = new Uint8Array(6 * 1024 * 1024 + 10);
    await expectRejected(httpEvent({ path: '/datasets', bytes: big, query: { name: 'big.npy' } }), 413, 'PAYLOAD_TOO_LARGE', 'body');
    await expectRejected(httpEvent({ path: '/datasets', json: { name: 'big.npy', data: b64(big) } }), 413, 'PAYLOAD_TOO_LARGE', 'body');
  });

  test('models: valid ONNX → 201, invalid → 400 and nothing written', async () => {
    await expectRejected(httpEvent({ path: '/models', json: { id: 'bad', data: b64(npy.subarray(0, 512)) } }), 400, 'INVALID_INPUT', 'model');
    const r = parse(await upload(httpEvent({ path: '/models', json: { id: 'lenet5', data: b64(onnx) } })));
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(r.body.inputSpec.height, 32);
    const raw = parse(await upload(httpEvent({ path: '/models', bytes: onnx, query: { id: 'lenet5raw' } })));
    assert.equal(raw.status, 201, JSON.stringify(raw.body));
  });

  test('presigned upload: PUT then complete; an invalid staged object is rejected without a manifest', async () => {
    const p = parse(await upload(httpEvent({ path: '/uploads', json: { name: 'lenet1.npy', contentLength: npy.byteLength, id: 'big1' } })));
    assert.equal(p.status, 200, JSON.stringify(p.body));
    assert.equal(p.body.complete, '/uploads/big1/complete');
    const put = await fetch(p.body.url, { method: 'PUT', body: Buffer.from(npy), headers: { 'content-length': String(npy.byteLength) } });
    assert.equal(put.status, 200);
    const done = parse(await upload(httpEvent({ path: '/uploads/big1/complete', route: '/uploads/{id}/complete', pathParameters: { id: 'big1' } })));
    assert.equal(done.status, 201, JSON.stringify(done.body));
    assert.deepEqual(done.body.shape, [100, 1, 32, 32]);
    // Same route via POST /datasets {presign:true}; upload garbage of the declared length.
    const junk = new Uint8Array(1000).fill(7);
    const q = parse(await upload(httpEvent({ path: '/datasets', json: { presign: true, name: 'junk.npy', contentLength: junk.byteLength, id: 'junk' } })));
    assert.equal(q.status, 200, JSON.stringify(q.body));
    assert.equal((await fetch(q.body.url, { method: 'PUT', body: Buffer.from(junk) })).status, 200);
    const bad = parse(await upload(httpEvent({ path: '/uploads/junk/complete', pathParameters: { id: 'junk' } })));
    assert.equal(bad.status, 400, JSON.stringify(bad.body));
    assert.ok(!(await fx.keys()).some((k) => k.startsWith('datasets/junk/')), 'no dataset for an invalid upload');
    // Completing an upload that was never requested.
    const none = parse(await upload(httpEvent({ path: '/uploads/nope/complete', pathParameters: { id: 'nope' } })));
    assert.equal(none.status, 404);
    assert.equal(none.body.error.field, 'id');
    await expectRejected(httpEvent({ path: '/uploads', json: { name: 'x.npy', contentLength: -1 } }), 400, 'INVALID_INPUT', 'contentLength');
  });
});
