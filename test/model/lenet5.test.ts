import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import { ModelError } from '../../src/core/errors.js';
import { defaultPreprocess, toModelInput } from '../../src/core/preprocess.js';
import { decodeIdx } from '../../src/io/idx.js';
import { decodeNpy } from '../../src/io/npy.js';
import { readCheckpoint } from '../../src/model/ckpt.js';
import { argmaxRows, FeatureExtractor } from '../../src/model/extract.js';
import { inputSpec, listTensorNames } from '../../src/model/graph.js';
import { buildLenet5Onnx, convertCheckpoint, LENET5_CONVERTER } from '../../src/model/lenet5.js';
import { DATASETS, REPO, SEED } from '../helpers/paths.js';

const { onnx } = onnxProto;
const CKPT = readFileSync(join(SEED, 'checkpoint_lenet-10_1875.ckpt'));
const CKPT_SHA256 = 'a3f3399f23a401a09a80340ce1761843dd3641dcb74ed5eb3655c7bf3af2bc23';

describe('convertCheckpoint (LeNet5)', () => {
  const model = convertCheckpoint(CKPT, { source: 'checkpoint_lenet-10_1875.ckpt' });
  let fe: FeatureExtractor;
  before(async () => {
    fe = await FeatureExtractor.create(model, { layer: 'output' });
  });
  after(async () => fe.close());

  it('writes opset 13 / IR 8 with the tutorial tensor names and provenance metadata', () => {
    assert.ok(model.length > 240_000 && model.length < 260_000, `size ${model.length}`);
    const m = onnx.ModelProto.decode(model);
    assert.equal(Number(m.irVersion), 8);
    assert.deepEqual(m.opsetImport.map((o) => [o.domain, Number(o.version)]), [['', 13]]);
    const meta = Object.fromEntries(m.metadataProps.map((p) => [p.key, p.value]));
    assert.equal(meta.source_sha256, CKPT_SHA256);
    assert.equal(meta.converter, LENET5_CONVERTER);
    assert.equal(meta.source, 'checkpoint_lenet-10_1875.ckpt');
    const names = listTensorNames(model);
    for (const n of ['input', '8', '9', '10', '11', 'output']) assert.ok(names.includes(n), `missing tensor ${n}`);
    assert.ok(!names.includes('fc1.weight'));
    assert.deepEqual(m.graph!.output!.map((o) => o.name), ['output']);
    assert.deepEqual(inputSpec(model), { name: 'input', shape: ['N', 1, 32, 32], channels: 1, height: 32, width: 32, layout: 'NCHW' });
  });

  it('is the committed models/lenet5.onnx, byte for byte', () => {
    const committed = readFileSync(join(REPO, 'models', 'lenet5.onnx'));
    assert.equal(createHash('sha256').update(committed).digest('hex'), createHash('sha256').update(model).digest('hex'));
  });

  it('rejects a missing weight or a weight with the wrong dims, naming it', () => {
    const weights = readCheckpoint(CKPT);
    const missing = new Map(weights);
    missing.delete('fc2.bias');
    assert.throws(() => buildLenet5Onnx(missing), (e: unknown) => e instanceof ModelError && e.field === 'fc2.bias' && /missing/.test(e.detail));
    const wrong = new Map(weights);
    wrong.set('conv1.weight', { dims: [6, 3, 5, 5], type: 'Float32', data: new Float32Array(450) });
    assert.throws(() => buildLenet5Onnx(wrong), (e: unknown) => e instanceof ModelError && e.field === 'conv1.weight' && /\[6,3,5,5\]/.test(e.detail));
  });

  it('classifies the MNIST test set with at least 97.5% accuracy (28→32 bilinear, /255)', async () => {
    const images = decodeIdx(readFileSync(join(DATASETS, 'mnist', 't10k-images-idx3-ubyte.gz')));
    const labels = decodeIdx(readFileSync(join(DATASETS, 'mnist', 't10k-labels-idx1-ubyte.gz')));
    assert.deepEqual(images.shape, [10000, 28, 28]);
    const x = toModelInput(images, defaultPreprocess({ channels: 1, height: 32, width: 32 }));
    assert.deepEqual(x.shape, [10000, 1, 32, 32]);
    const predicted = argmaxRows(await fe.extract(x));
    let correct = 0;
    for (let i = 0; i < predicted.length; i++) if (predicted[i] === labels.data[i]) correct++;
    const accuracy = correct / predicted.length;
    assert.ok(accuracy >= 0.975, `accuracy ${accuracy}`);
  });

  it('predicts a near-uniform class histogram on the seed training array', async () => {
    const train = decodeNpy(readFileSync(join(SEED, 'concept_train_lenet.npy')));
    assert.deepEqual(train.shape, [1000, 1, 32, 32]);
    const predicted = argmaxRows(await fe.extract(train));
    const counts = new Array<number>(10).fill(0);
    for (const p of predicted) counts[p]!++;
    for (const [cls, c] of counts.entries()) assert.ok(c >= 50 && c <= 150, `class ${cls}: ${c} of 1000 (${counts.join(',')})`);
  });
});
