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
import { dict, npyFile } from '../io/build-npy.js';
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

  /** The job's result for `images` (over SYNC_PREDICT_MAX_IMAGES), and the sync predicts of `parts` (the same samples) joined. */
  async function jobAndSync(images: string[], parts: string[][]): Promise<{ job: { result: number[]; scores: number[] }; sync: { result: number[]; scores: number[] } }> {
    const r = parse(await predict(ev({ images })));
    assert.equal(r.status, 202, JSON.stringify(r.body));
    const job = await getJobClient().queue.getJob(r.body.jobId);
    const res = await processJob(fx.processorDeps, { id: job!.id!, name: 'predict', data: job!.data, updateProgress: async () => undefined });
    assert.ok(res.kind === 'predict');
    const sync = { result: [] as number[], scores: [] as number[] };
    for (const part of parts) {
      const p = parse(await predict(ev({ images: part })));
      assert.equal(p.status, 200, JSON.stringify(p.body));
      sync.result.push(...p.body.result);
      sync.scores.push(...p.body.scores);
    }
    return { job: { result: res.result, scores: res.scores }, sync };
  }

  test('an inline int16 .npy of 65 samples is scaled in the job as in a sync predict (÷255), not read as float pixels', async () => {
    // The job's dataset was the decoded batch re-encoded as float32: preprocessing no longer saw an integer dtype, so
    // the job refused pixel 9 as outside [0, 1] where a sync predict of the same array scored it.
    const raw = Int16Array.from(evalSet.data.subarray(0, 65 * 1024), (v) => Math.round(v * 255));
    const npy = (from: number, to: number) => b64(npyFile(1, dict('<i2', [to - from, 1, 32, 32]), new Uint8Array(raw.buffer, from * 2048, (to - from) * 2048)));
    const { job, sync } = await jobAndSync([npy(0, 65)], [[npy(0, 64)], [npy(64, 65)]]);
    assert.deepEqual(job.scores, sync.scores);
    assert.deepEqual(job.result, sync.result);
  });

  test('65 inline 4×4 RGB PNGs keep their NHWC layout in the job (the .npy it stores cannot say it)', async () => {
    // [65,4,4,3] could be NCHW or NHWC by its shape: a sync predict knows the images are NHWC; the job failed with
    // 'layout is ambiguous' (or, with a detector fitted with layout NCHW, read the images transposed).
    const images: string[] = [];
    for (let i = 0; i < 65; i++) {
      const px = Uint8Array.from({ length: 48 }, (_, j) => (i * 7 + j * 13) % 256);
      images.push(b64(new Uint8Array(await sharp(Buffer.from(px), { raw: { width: 4, height: 4, channels: 3 } }).png().toBuffer())));
    }
    const { job, sync } = await jobAndSync(images, [images.slice(0, 64), images.slice(64)]);
    assert.deepEqual(job.scores, sync.scores);
    assert.deepEqual(job.result, sync.result);
  });
});
