import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import type { onnx as Onnx } from 'onnx-proto';
import { InputError, ModelError } from '../../src/core/errors.js';
import { decodeNpy } from '../../src/io/npy.js';
import { FeatureExtractor } from '../../src/model/extract.js';
import { checkMemberLayers, exposeOutputs, inputSpec, listTensorNames, parseLayerName } from '../../src/model/graph.js';
import { createSession } from '../../src/model/session.js';
import { REPO, SEED } from '../helpers/paths.js';

const { onnx } = onnxProto;
const MODEL = new Uint8Array(readFileSync(join(REPO, 'models', 'lenet5.onnx')));
const EVAL = decodeNpy(readFileSync(join(SEED, 'concept_test_lenet1.npy')));

function assertClose(a: Float32Array, b: Float32Array, msg: string): void {
  assert.equal(a.length, b.length, msg);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) <= 1e-5 * (1 + Math.abs(b[i]!)), `${msg}[${i}]: ${a[i]} vs ${b[i]}`);
}

/** A one-node Relu model with the given input shape. */
function reluModel(shape: (number | string)[], withValueInfo = true): Uint8Array {
  const vi = (name: string): Onnx.IValueInfoProto => ({
    name,
    type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT, shape: { dim: shape.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) } } },
  });
  return onnx.ModelProto.encode({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 13 }],
    graph: {
      name: 'g',
      node: [
        { opType: 'Relu', input: ['x'], output: ['r'] },
        { opType: 'Neg', input: ['r'], output: ['y'] },
      ],
      input: [vi('x')],
      output: [vi('y')],
      valueInfo: withValueInfo ? [vi('r')] : [],
    },
  }).finish();
}

const isModelError = (e: unknown): boolean => e instanceof ModelError && e.field === 'model';

describe('graph', () => {
  it('lists graph inputs and node outputs, without initializers', () => {
    assert.deepEqual(listTensorNames(MODEL), ['input', '1', '2', '3', '4', '5', '6', '7', '8', '9', '10', '11', 'output']);
  });

  it('parses the tutorial spelling of layer names', () => {
    assert.equal(parseLayerName('output[:Tensor]'), 'output');
    assert.equal(parseLayerName('output:Tensor'), 'output');
    assert.equal(parseLayerName('output'), 'output');
    assert.equal(parseLayerName(' 9 '), '9');
    assert.throws(() => parseLayerName('[:Tensor]'), (e: unknown) => e instanceof InputError && e.field === 'layer');
  });

  it('extracts every tutorial layer with the expected dimension; ReLU layers are non-negative', async () => {
    const expected: [string, number, boolean][] = [
      ['8', 120, false],
      ['9', 120, true],
      ['10', 84, false],
      ['11', 84, true],
      ['output', 10, false],
      ['output[:Tensor]', 10, false],
    ];
    const out: Record<string, Float32Array> = {};
    for (const [layer, dim, relu] of expected) {
      const fe = await FeatureExtractor.create(MODEL, { layer });
      try {
        assert.equal(fe.dim, dim, layer);
        const m = await fe.extract(EVAL);
        assert.equal(m.rows, 100);
        assert.equal(m.cols, dim);
        assert.ok(m.data.every(Number.isFinite), layer);
        if (relu) assert.ok(m.data.every((v) => v >= 0), `${layer} has negative values`);
        else assert.ok(m.data.some((v) => v < 0), `${layer} should have negative pre-activations`);
        out[layer] = m.data;
      } finally {
        await fe.close();
      }
    }
    assertClose(out['9']!, out['8']!.map((v) => Math.max(v, 0)), '9 = relu(8)');
    assertClose(out['11']!, out['10']!.map((v) => Math.max(v, 0)), '11 = relu(10)');
    assert.deepEqual(out['output[:Tensor]'], out['output']);
  });

  it('exposes tensors as outputs, using value_info types, and leaves existing outputs alone', () => {
    assert.equal(exposeOutputs(MODEL, ['output[:Tensor]']), MODEL);
    const m = onnx.ModelProto.decode(exposeOutputs(MODEL, ['9', '11', '9']));
    assert.deepEqual(m.graph!.output!.map((o) => o.name), ['output', '9', '11']);
    const dims = m.graph!.output![1]!.type!.tensorType!.shape!.dim!.map((d) => d.dimParam || Number(d.dimValue));
    assert.deepEqual(dims, ['N', 120]);
    assert.ok(!m.graph!.valueInfo!.some((v) => v.name === '9'), 'moved out of value_info');
  });

  it('exposes a tensor without value_info as float32 of unknown shape, which onnxruntime accepts', async () => {
    const exposed = exposeOutputs(reluModel(['N', 3, 8, 8], false), ['r']);
    const out = onnx.ModelProto.decode(exposed).graph!.output!.find((o) => o.name === 'r');
    assert.equal(out?.type?.tensorType?.elemType, onnx.TensorProto.DataType.FLOAT);
    assert.equal(out?.type?.tensorType?.shape, null);
    const { session } = await createSession(exposed);
    try {
      const ort = await import('onnxruntime-node');
      const x = Float32Array.from({ length: 192 }, (_, i) => i - 96);
      const r = await session.run({ x: new ort.Tensor('float32', x, [1, 3, 8, 8]) }, ['r', 'y']);
      assert.deepEqual(r.r!.dims, [1, 3, 8, 8]);
      assert.deepEqual([...(r.r!.data as Float32Array)], [...x].map((v) => Math.max(v, 0)));
    } finally {
      await session.release();
    }
  });

  it('rejects an unknown layer with an InputError listing the available tensors', async () => {
    const check = (e: unknown): boolean => e instanceof InputError && e.field === 'layer' && /"fc9"/.test(e.detail) && /available: input, 1, 2, .*, 11, output/.test(e.detail);
    assert.throws(() => exposeOutputs(MODEL, ['fc9']), check);
    await assert.rejects(FeatureExtractor.create(MODEL, { layer: 'fc9[:Tensor]' }), check);
    assert.throws(() => exposeOutputs(MODEL, ['conv1.weight']), (e: unknown) => e instanceof InputError && e.field === 'layer');
  });

  it('reads the input spec, NCHW or NHWC, and rejects what it cannot tell', () => {
    assert.deepEqual(inputSpec(reluModel(['batch', 28, 28, 3])), { name: 'x', shape: ['batch', 28, 28, 3], channels: 3, height: 28, width: 28, layout: 'NHWC' });
    assert.deepEqual(inputSpec(reluModel([1, 3, 224, 224])), { name: 'x', shape: [1, 3, 224, 224], channels: 3, height: 224, width: 224, layout: 'NCHW' });
    for (const shape of [['N', 2, 32, 32], ['N', 32, 32], ['N', 3, 'H', 'W'], ['N', 32, 32, 2]]) {
      assert.throws(() => inputSpec(reluModel(shape)), (e: unknown) => e instanceof ModelError && e.field === 'model.input', JSON.stringify(shape));
    }
  });

  it('rejects garbage and truncated ONNX bytes with ModelError(model)', () => {
    const garbage = new Uint8Array(2048);
    let s = 7;
    for (let i = 0; i < garbage.length; i++) garbage[i] = (s = (s * 1103515245 + 12345) >>> 0) >>> 24;
    for (const bytes of [garbage, MODEL.subarray(0, 1000), MODEL.subarray(0, MODEL.length - 3), new Uint8Array(0), new TextEncoder().encode('hello')]) {
      assert.throws(() => listTensorNames(bytes), isModelError);
      assert.throws(() => exposeOutputs(bytes, ['8']), isModelError);
      assert.throws(() => inputSpec(bytes), isModelError);
    }
  });
});

describe('checkMemberLayers (a fit request and a fit: one rule)', () => {
  it("names an ensemble member's unknown layer by its member, and passes known ones", () => {
    checkMemberLayers(MODEL, [{ layer: 'output' }, { layer: '9' }]);
    assert.throws(
      () => checkMemberLayers(MODEL, [{ layer: 'output' }, { layer: 'nope' }]),
      (e: unknown) => e instanceof InputError && e.field === 'members[1].layer' && /no tensor named "nope"/.test(e.detail),
    );
  });
});
