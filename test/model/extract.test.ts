import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import { InputError } from '../../src/core/errors.js';
import { decodeNpy } from '../../src/io/npy.js';
import { argmaxRows, FeatureExtractor } from '../../src/model/extract.js';
import { REPO, SEED } from '../helpers/paths.js';

const { onnx } = onnxProto;
const MODEL = new Uint8Array(readFileSync(join(REPO, 'models', 'lenet5.onnx')));
const TRAIN = decodeNpy(readFileSync(join(SEED, 'concept_train_lenet.npy')));

describe('FeatureExtractor', () => {
  let fe256: FeatureExtractor;
  before(async () => {
    fe256 = await FeatureExtractor.create(MODEL, { layer: '9' });
  });
  after(async () => fe256.close());

  it('gives identical features for batch sizes 7, 256 and 1000, reporting progress per batch', async () => {
    assert.equal(fe256.batchSize, 256);
    const fe7 = await FeatureExtractor.create(MODEL, { layer: '9', batchSize: 7 });
    const fe1000 = await FeatureExtractor.create(MODEL, { layer: '9[:Tensor]', batchSize: 1000 });
    try {
      const progress: [number, number][] = [];
      const a = await fe7.extract(TRAIN, (done, total) => progress.push([done, total]));
      const b = await fe256.extract(TRAIN);
      const c = await fe1000.extract(TRAIN);
      assert.equal(progress.length, Math.ceil(1000 / 7));
      assert.deepEqual(progress[0], [7, 1000]);
      assert.deepEqual(progress.at(-2), [994, 1000]);
      assert.deepEqual(progress.at(-1), [1000, 1000]);
      for (const m of [a, b, c]) {
        assert.equal(m.rows, 1000);
        assert.equal(m.cols, 120);
        assert.equal(m.data.length, 120_000);
      }
      assert.deepEqual(a.data, b.data);
      assert.deepEqual(c.data, b.data);
    } finally {
      await fe7.close();
      await fe1000.close();
    }
  });

  it('runs onnxruntime on slices of at most 32 samples on the CPU provider, whatever the batch size', async () => {
    // A cold process page-faults in the buffers of each run size: runs of 256 cost it several times what runs of 32 do.
    const ort = await import('onnxruntime-node');
    type Run = (this: unknown, feeds: Record<string, { dims: readonly number[] }>, ...rest: unknown[]) => Promise<unknown>;
    const proto = (ort.InferenceSession as unknown as { prototype: { run: Run } }).prototype; // the class behind the factory type
    const run = proto.run;
    const rows: number[] = [];
    proto.run = function (feeds, ...rest) {
      rows.push(Object.values(feeds)[0]!.dims[0]!);
      return run.call(this, feeds, ...rest);
    };
    try {
      const progress: number[] = [];
      const m = await fe256.extract({ ...TRAIN, data: TRAIN.data.subarray(0, 300 * 1024), shape: [300, 1, 32, 32] }, (done) => progress.push(done));
      assert.equal(m.rows, 300);
      assert.deepEqual(progress, [256, 300], 'progress is still reported per batch of batchSize');
      // The batch of 256 in 8 runs of 32, the last batch of 44 in 32 + 12.
      assert.deepEqual(rows, [...Array(9).fill(32), 12]);
    } finally {
      proto.run = run;
    }
  });

  it('rejects a non-positive or non-integer batch size', async () => {
    for (const batchSize of [0, -3, 2.5, Number.NaN, Infinity]) {
      await assert.rejects(FeatureExtractor.create(MODEL, { layer: '9', batchSize }), (e: unknown) => e instanceof InputError && e.field === 'batchSize', String(batchSize));
    }
  });

  it('rejects input whose channels, height or width do not match the model, naming both shapes', async () => {
    const cases: number[][] = [
      [2, 3, 32, 32],
      [2, 1, 28, 28],
      [2, 32, 32, 1],
      [2, 32, 32],
    ];
    for (const shape of cases) {
      const data = new Float32Array(shape.reduce((x, y) => x * y, 1));
      await assert.rejects(
        fe256.extract({ data, shape }),
        (e: unknown) => e instanceof InputError && e.field === 'data' && e.detail.includes('[N,1,32,32]') && e.detail.includes(`[${shape.join(',')}]`),
      );
    }
  });

  it('names the sample that holds a NaN, and handles an empty batch', async () => {
    const data = new Float32Array(5 * 1024);
    data[3 * 1024 + 17] = Number.NaN;
    await assert.rejects(fe256.extract({ data, shape: [5, 1, 32, 32] }), (e: unknown) => e instanceof InputError && e.field === 'data[3]');
    const empty = await fe256.extract({ data: new Float32Array(0), shape: [0, 1, 32, 32] });
    assert.deepEqual([empty.rows, empty.cols, empty.data.length], [0, 120, 0]);
  });

  it('transposes NCHW input for an NHWC model', async () => {
    const dim = (d: number | string) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d });
    const model = onnx.ModelProto.encode({
      irVersion: 8,
      opsetImport: [{ domain: '', version: 13 }],
      graph: {
        name: 'nhwc',
        node: [{ opType: 'Identity', input: ['img'], output: ['out'] }],
        input: [{ name: 'img', type: { tensorType: { elemType: 1, shape: { dim: ['N', 6, 5, 3].map(dim) } } } }],
        output: [{ name: 'out', type: { tensorType: { elemType: 1, shape: { dim: ['N', 6, 5, 3].map(dim) } } } }],
      },
    }).finish();
    const fe = await FeatureExtractor.create(model, { layer: 'out', batchSize: 2 });
    try {
      assert.equal(fe.input.layout, 'NHWC');
      assert.equal(fe.dim, 90);
      const nchw = Float32Array.from({ length: 3 * 90 }, (_, i) => i);
      const m = await fe.extract({ data: nchw, shape: [3, 3, 6, 5] });
      for (let n = 0; n < 3; n++)
        for (let h = 0; h < 6; h++)
          for (let w = 0; w < 5; w++)
            for (let c = 0; c < 3; c++) assert.equal(m.data[n * 90 + (h * 5 + w) * 3 + c], nchw[n * 90 + c * 30 + h * 5 + w]);
    } finally {
      await fe.close();
    }
  });

  it('argmaxRows picks the first largest value of each row', () => {
    const m = { data: Float32Array.of(0, 3, 1, 5, 5, -1, -2, -1, -3), rows: 3, cols: 3 };
    assert.deepEqual([...argmaxRows(m)], [1, 0, 1]);
  });
});
