/** predict over SYNC_PREDICT_MAX_IMAGES with inline images: what is checked before the request dataset is stored and the job enqueued. */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import { handler as predict } from '../../handlers/predict.js';
import { getJobClient } from '../../src/http/queue-deps.js';
import { decodeNpy, encodeNpy } from '../../src/io/npy.js';
import { processJob } from '../../src/queue/processor.js';
import { putDataset, putModel } from '../../src/service/datasets.js';
import { httpEvent, parse } from '../helpers/http-event.js';
import { REPO, SEED } from '../helpers/paths.js';
import { startServiceFixture, type ServiceFixture } from '../helpers/service.js';

const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64');

/** Sample i of a [N,1,32,32] float [0,1] array as a 256×256 RGB PNG (8×8 blocks): about 1 KB, 192 KiB of pixels decoded. */
async function bigPng(a: { data: Float32Array }, i: number): Promise<Uint8Array> {
  const rgb = new Uint8Array(256 * 256 * 3);
  for (let y = 0; y < 256; y++) {
    for (let x = 0; x < 256; x++) rgb.fill(Math.round(a.data[i * 1024 + (y >> 3) * 32 + (x >> 3)]! * 255), (y * 256 + x) * 3, (y * 256 + x + 1) * 3);
  }
  return new Uint8Array(await sharp(Buffer.from(rgb), { raw: { width: 256, height: 256, channels: 3 } }).png().toBuffer());
}

describe('predict with inline images over SYNC_PREDICT_MAX_IMAGES (real s3rver + Redis)', () => {
  let fx: ServiceFixture;
  let evalSet: { data: Float32Array; shape: readonly number[] };
  const ev = (json: unknown) => httpEvent({ path: '/detectors/det/predict', route: '/detectors/{id}/predict', pathParameters: { id: 'det' }, json });

  before(async () => {
    fx = await startServiceFixture();
    const evalBytes = new Uint8Array(await readFile(`${SEED}concept_test_lenet1.npy`));
    evalSet = decodeNpy(evalBytes) as { data: Float32Array; shape: readonly number[] };
    await putModel(fx.store, { id: 'lenet5', bytes: new Uint8Array(await readFile(`${REPO}models/lenet5.onnx`)) });
    await putDataset(fx.store, { id: 'eval', name: 'eval.npy', bytes: evalBytes });
    await fx.runJob('setup-fit', 'fit', { detector: 'det', model: 'lenet5', dataset: 'eval', layer: 'output', nCluster: 5, seed: 0 });
    await fx.runJob('setup-cal', 'calibrate', { detector: 'det', dataset: 'eval', oodLabels: [...Array(50).fill(0), ...Array(50).fill(1)] });
  });
  after(() => fx.stop());

  test('a batch the model cannot take is a 400 naming images, before anything is stored or enqueued', async () => {
    // The dataset path refused these shapes (field `dataset`); inline they were stored and enqueued (202), failed only
    // in the worker, and the request dataset stayed in the bucket.
    const rows = evalSet.data.slice(0, 100 * 1024);
    for (const [shape, message] of [
      [[100, 1024], /got rank 2 with shape \[100,1024\]/],
      [[100, 2, 32, 16], /no channel axis of size 1, 3 or 4/],
    ] as const) {
      const jobs = await fx.jobCount();
      const keys = await fx.allKeys();
      const r = parse(await predict(ev({ images: [b64(encodeNpy(rows, shape, 'float32'))] })));
      assert.equal(r.status, 400, JSON.stringify(r.body));
      assert.equal(r.body.error.code, 'INVALID_INPUT');
      assert.equal(r.body.error.field, 'images', JSON.stringify(r.body));
      assert.match(r.body.error.message, message);
      assert.equal(await fx.jobCount(), jobs, 'no job enqueued');
      assert.deepEqual(await fx.allKeys(), keys, 'nothing stored');
    }
  });

  test('65 small PNGs (12 MiB of pixels, under 1 MB on the wire) become a job with the per-sample results of sync predicts, in order', async () => {
    // The request dataset (the decoded batch as .npy) went through the inline upload limit (6 MiB): a valid request
    // got a 400 naming `bytes`, a field it never sent.
    const images = (await Promise.all(Array.from({ length: 65 }, (_, i) => bigPng(evalSet, i)))).map(b64);
    assert.ok(JSON.stringify({ images }).length < 1024 * 1024);
    const r = parse(await predict(ev({ images })));
    assert.equal(r.status, 202, JSON.stringify(r.body));
    assert.equal(r.body.n, 65);
    const job = await getJobClient().queue.getJob(r.body.jobId);
    const dataset = job!.data.dataset as string;
    const m = JSON.parse(new TextDecoder().decode(await fx.store.get(`datasets/${dataset}/manifest.json`)));
    assert.deepEqual(m.shape, [65, 256, 256, 3]);
    assert.ok(m.bytes > 6 * 1024 * 1024 && m.ephemeral === true, JSON.stringify(m));
    const res = await processJob(fx.processorDeps, { id: job!.id!, name: 'predict', data: job!.data, updateProgress: async () => undefined });
    assert.ok(res.kind === 'predict');
    assert.equal(res.n, 65);
    const first = parse(await predict(ev({ images: images.slice(0, 64) })));
    const last = parse(await predict(ev({ images: images.slice(64) })));
    assert.deepEqual(res.scores, [...first.body.scores, ...last.body.scores], 'the scores of sync predicts of the same images, in order');
    assert.deepEqual(res.result, [...first.body.result, ...last.body.result]);
    assert.deepEqual((await fx.keys()).filter((k) => k.startsWith(`datasets/${dataset}/`)), [], 'the request dataset is gone with the result');
  });
});
